//! The README's "Using the command" section, pasted into bash as a reader
//! would: every indented command block runs, in order, in one shell, in an
//! empty directory, with the built `silin` first on PATH. A command that
//! fails fails the test, so the README cannot show commands that do not
//! run. The hub block is run too: `silin hub serve` on 127.0.0.1:0 instead
//! of 0.0.0.0:8080, with `HUB` set to its address as the README says.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The README's dates (a report for 2026-11-29, monitoring until
/// 2026-12-10) are about this day, whatever the real one.
const NOW: &str = "2026-11-29T10:00:00+08:00";

const SERVE: &str = "silin hub serve --listen 0.0.0.0:8080 --db hub.db";

/// The command blocks (lines indented four spaces) of the README section
/// headed `## Using the command`.
fn blocks() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("## Using the command\n")
        .expect("README has a \"Using the command\" section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut blocks = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for line in section.lines() {
        match line.strip_prefix("    ") {
            Some(cmd) => current.push(cmd.to_string()),
            None if line.trim().is_empty() => {}
            None => {
                if !current.is_empty() {
                    blocks.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

fn path_with_silin() -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_silin")).parent().unwrap();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// The hub, started as the README's serve line says but on a free
/// loopback port; killed when dropped.
struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, line: &str) -> (Hub, String) {
    let line = line.replace("0.0.0.0:8080", "127.0.0.1:0");
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_silin"))
        .arg("--json")
        .args(&args)
        .current_dir(dir)
        .env("SILIN_NOW", NOW)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let hub = Hub(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("hub serve printed {first:?}: {e}"));
    (hub, v["url"].as_str().unwrap().to_string())
}

#[test]
fn every_command_in_the_readme_runs_as_written() {
    let blocks = blocks();
    assert!(blocks.len() >= 4, "{blocks:#?}");
    for line in blocks.iter().flatten() {
        // A synopsis (alternatives, optional parts) is not a command.
        assert!(
            !line.contains(" | ") && !line.contains('…') && !line.contains("[--"),
            "not a command one can paste: {line}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut hub = None;
    let mut script = String::from(
        "set -eE -o pipefail\n\
         trap 'echo \"README command failed: $BASH_COMMAND\" >&2' ERR\n",
    );
    for block in &blocks {
        for line in block {
            if line == SERVE {
                let (h, url) = serve(dir.path(), line);
                hub = Some(h);
                script.push_str(&format!("HUB={url}\n"));
                continue;
            }
            if line.contains("\"$DEVICE\"") && !script.contains("DEVICE=") {
                // The README says where the id comes from; here it is
                // read from the JSON the way a script would.
                script.push_str(
                    "DEVICE=$(silin --json init | sed -n 's/.*\"device_id\":\"\\([^\"]*\\)\".*/\\1/p')\n",
                );
            }
            script.push_str(line);
            script.push('\n');
        }
    }
    assert!(hub.is_some(), "the README shows `{SERVE}`");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path_with_silin())
        .env("SILIN_NOW", NOW)
        .env_remove("HUB")
        .env_remove("DEVICE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's commands failed:\n{stderr}\n--- stdout:\n{stdout}\n--- script:\n{script}"
    );
    assert!(stderr.trim().is_empty(), "{stderr}");

    // What the commands did, as the README says they do.
    let silin = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_silin"))
            .arg("--json")
            .args(args)
            .current_dir(dir.path())
            .env("SILIN_NOW", NOW)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    for store in ["silin.db", "phone.db", "hub.db"] {
        let cells = silin(&["--store", store, "cells"]);
        assert_eq!(cells[0]["name"], "三组第5联户", "{store}: {cells}");
    }
    let rollup = silin(&["rollup", "--date", "2026-11-29"]);
    assert_eq!(rollup[0]["reported"], 1);
    assert!(dir.path().join("cell.automerge").exists());
    assert!(stdout.contains("enrolled device"), "{stdout}");
    assert!(stdout.contains("revoked device"), "{stdout}");
}
