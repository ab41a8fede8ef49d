//! doc/CLI.md is the command reference: these tests walk `silin --help`
//! down every subcommand and fail when a command or one of its flags is
//! missing from the page, or has no help text of its own, so the page and
//! the binary cannot drift apart.

use std::process::Command;

/// Options every command has, documented once under "Global options".
const GLOBAL: &[&str] = &[
    "--store",
    "--key-env",
    "--key-file",
    "--unencrypted",
    "--json",
    "--help",
    "--version",
];

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_silin"))
        .args(path)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "silin {path:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The entries of a help section ("Commands:", "Options:", "Arguments:"):
/// (what, its help text), the text empty when there is none.
fn section(help: &str, title: &str) -> Vec<(String, String)> {
    help.lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            match l.split_once("  ") {
                Some((what, text)) => (what.trim().to_string(), text.trim().to_string()),
                None => (l.to_string(), String::new()),
            }
        })
        .collect()
}

/// Every command path below `path`, leaves and groups, `help` excluded.
fn commands(path: Vec<String>) -> Vec<Vec<String>> {
    let mut all = vec![path.clone()];
    for (name, _) in section(&help(&path), "Commands:") {
        if name != "help" {
            let mut sub = path.clone();
            sub.push(name);
            all.extend(commands(sub));
        }
    }
    all
}

/// The long flag of an options entry like "-h, --help" or "--cell <CELL>".
fn long_flag(entry: &str) -> Option<&str> {
    entry.split([' ', ',']).find(|w| w.starts_with("--"))
}

fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../doc/CLI.md")).unwrap()
}

/// The part of the reference under "### `silin PATH`", up to the next heading.
fn doc_section<'a>(doc: &'a str, path: &[String]) -> Option<&'a str> {
    let heading = format!("### `silin {}`", path.join(" "));
    let start = doc.find(&heading)? + heading.len();
    let rest = &doc[start..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn every_command_and_flag_is_in_the_reference() {
    let doc = reference();
    let mut missing = Vec::new();
    for path in commands(Vec::new()).into_iter().filter(|p| !p.is_empty()) {
        let h = help(&path);
        let is_group = !section(&h, "Commands:").is_empty();
        if is_group {
            if !doc.contains(&format!("`silin {} ", path.join(" "))) {
                missing.push(format!("silin {}", path.join(" ")));
            }
            continue;
        }
        let Some(text) = doc_section(&doc, &path) else {
            missing.push(format!("### `silin {}`", path.join(" ")));
            continue;
        };
        for (entry, _) in section(&h, "Options:") {
            if let Some(flag) = long_flag(&entry).filter(|f| !GLOBAL.contains(f)) {
                if !text.contains(&format!("`{flag}")) {
                    missing.push(format!("silin {} {flag}", path.join(" ")));
                }
            }
        }
    }
    for global in [
        "--store",
        "--key-env",
        "--key-file",
        "--unencrypted",
        "--json",
        "SILIN_NOW",
    ] {
        if !doc.contains(&format!("`{global}")) {
            missing.push(global.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "doc/CLI.md lacks (add them where `silin --help` shows them): {missing:#?}"
    );
}

#[test]
fn every_command_flag_and_argument_has_help_text() {
    let mut bare = Vec::new();
    for path in commands(Vec::new()) {
        let h = help(&path);
        for title in ["Commands:", "Options:", "Arguments:"] {
            for (entry, text) in section(&h, title) {
                // "[default: x]" alone is not help.
                if text.is_empty() || text.starts_with('[') {
                    bare.push(format!("silin {} {entry}", path.join(" ")));
                }
            }
        }
    }
    assert!(bare.is_empty(), "without help text: {bare:#?}");
}

#[test]
fn the_reference_names_every_member_field() {
    let doc = reference();
    let text = doc_section(&doc, &["member".into(), "set".into()]).unwrap();
    for f in silin_core::model::MEMBER_FIELDS {
        assert!(text.contains(&format!("`{f}`")), "member set: {f}");
    }
}
