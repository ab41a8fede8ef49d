//! Files given as `--store` (or `--db`, or to `bundle import`) that are not
//! what they should be. Each is refused with exit 2 and one line naming the
//! file and what is wrong with it; the file keeps its bytes and nothing new
//! (no -wal, -shm or -journal, no store) appears beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-11-29T10:00:00+08:00";

fn silin(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_silin"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env("SILIN_NOW", NOW)
        .output()
        .unwrap()
}

fn ok(store: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = silin(store, &a);
    assert!(
        out.status.success(),
        "silin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every entry under `dir`: files with their bytes, directories marked.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut all = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all.insert(p.clone(), None);
            all.extend(snapshot(&p));
        } else {
            all.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
        }
    }
    all
}

/// Runs `silin --store store args`, expects exit `code` with one line on
/// stderr containing every word of `says`, nothing on stdout, and `dir`
/// exactly as it was. Returns the line.
fn refused(dir: &Path, store: &Path, args: &[&str], code: i32, says: &[&str]) -> String {
    let before = snapshot(dir);
    let out = silin(store, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "silin {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {args:?}");
    for w in says {
        assert!(err.contains(w), "silin {args:?} should say {w:?}: {err}");
    }
    let after = snapshot(dir);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "silin {args:?} changed or left files: {changed:?}"
    );
    err
}

/// The commands that open a store, each as a script would type it.
fn store_commands(file: &str) -> Vec<Vec<String>> {
    let cell = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f";
    [
        vec!["init"],
        vec!["init", "--name", "东关村网格员"],
        vec!["cells"],
        vec!["check"],
        vec!["cell", "show", "--cell", cell],
        vec!["cell", "create", "--name", "x", "--path", "a/b/c/d"],
        vec!["household", "add", "--cell", cell],
        vec!["rollup", "--date", "2026-11-29"],
        vec!["list", "vulnerable"],
        vec!["hub", "token", "--role", "lead", "--scope", "两当县"],
        vec![
            "hub",
            "revoke",
            "--device",
            "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f",
        ],
        vec![
            "hub", "token", "--db", file, "--role", "lead", "--scope", "x",
        ],
    ]
    .into_iter()
    .map(|a| a.into_iter().map(String::from).collect())
    .collect()
}

fn refused_everywhere(dir: &Path, store: &Path, says: &[&str]) {
    let name = store.to_str().unwrap();
    for args in store_commands(name) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(dir, store, &args, 2, says);
    }
}

/// A real store with one cell, as a starting point to damage.
fn a_store(dir: &Path) -> (PathBuf, String) {
    a_store_made(dir, &["--unencrypted"])
}

/// [`a_store`] made with `flags` before `init` (none: encrypted, with its
/// key file beside it).
fn a_store_made(dir: &Path, flags: &[&str]) -> (PathBuf, String) {
    let store = dir.join("office.db");
    let mut init = flags.to_vec();
    init.extend(["init", "--name", "东关村网格员"]);
    ok(&store, &init);
    let cell = ok(
        &store,
        &[
            "cell",
            "create",
            "--name",
            "三组第5联户",
            "--path",
            "两当县/城关镇/东关村/三组",
        ],
    )["cell_id"]
        .as_str()
        .unwrap()
        .to_string();
    (store, cell)
}

#[test]
fn an_empty_file_is_not_taken_for_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    refused_everywhere(
        dir.path(),
        &empty,
        &["empty.db", "empty", "not a silin store"],
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_not_blamed_on_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "姓名,身份证号\n王芳,11010519491231002X\n").unwrap();
    refused_everywhere(dir.path(), &csv, &["people.csv", "not an SQLite file"]);
    let err = refused(dir.path(), &csv, &["cells"], 2, &[]);
    assert!(!err.contains("key"), "no key was given: {err}");

    // With a key, the same file is still no store, encrypted or not.
    let out = Command::new(env!("CARGO_BIN_EXE_silin"))
        .arg("--store")
        .arg(&csv)
        .args(["--key-env", "SILIN_BAD_FILES_KEY", "cells"])
        .env("SILIN_BAD_FILES_KEY", "correct horse")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("people.csv") && err.contains("not an SQLite file"),
        "{err}"
    );
}

#[test]
fn a_directory_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("stores");
    std::fs::create_dir(&d).unwrap();
    refused_everywhere(dir.path(), &d, &["stores", "directory"]);
}

/// The store's bytes cut short four ways, each written to a file of its
/// own in `dir`.
fn truncated_copies(dir: &Path, bytes: &[u8]) -> Vec<(&'static str, PathBuf)> {
    [
        ("half.db", bytes.len() / 2),
        ("page.db", 4096),
        ("header.db", 60),
        ("short.db", bytes.len() - 1),
    ]
    .into_iter()
    .map(|(name, cut)| {
        let p = dir.join(name);
        std::fs::write(&p, &bytes[..cut]).unwrap();
        (name, p)
    })
    .collect()
}

#[test]
fn a_truncated_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = a_store(dir.path());
    let bytes = std::fs::read(&store).unwrap();
    std::fs::remove_file(&store).unwrap();
    for (name, p) in truncated_copies(dir.path(), &bytes) {
        refused_everywhere(dir.path(), &p, &[name, "truncated"]);
    }
}

#[test]
fn a_truncated_encrypted_store_is_refused_with_its_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = a_store_made(dir.path(), &[]);
    let bytes = std::fs::read(&store).unwrap();
    let key = std::fs::read(silin_hub::store_key::beside(&store)).unwrap();
    for (name, p) in truncated_copies(dir.path(), &bytes) {
        let key_file = silin_hub::store_key::beside(&p);
        std::fs::write(&key_file, &key).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        refused_everywhere(dir.path(), &p, &[name, "not a silin store"]);
    }
}

#[cfg(unix)]
#[test]
fn a_read_only_store_is_refused_without_leaving_journal_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = a_store(dir.path());
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o444)).unwrap();
    refused_everywhere(
        dir.path(),
        &store,
        &["cannot write", "office.db", "read-only"],
    );
}

#[test]
fn a_corrupted_bundle_changes_nothing_in_a_fresh_store() {
    let dir = tempfile::tempdir().unwrap();
    let (office, _) = a_store(dir.path());
    let bundle = dir.path().join("cells.bundle");
    ok(
        &office,
        &["bundle", "export", "--out", bundle.to_str().unwrap()],
    );
    let good = std::fs::read(&bundle).unwrap();

    let phone_dir = tempfile::tempdir().unwrap();
    let phone = phone_dir.path().join("phone.db");
    ok(&phone, &["init"]);

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    let mut unsigned = good.clone();
    let last = unsigned.len() - 1;
    unsigned[last] ^= 0x01;
    for (name, bytes) in [
        ("junk.bundle", b"SILINBDL\x01\x00\xff\xff".to_vec()),
        ("empty.bundle", Vec::new()),
        ("cut.bundle", good[..good.len() / 3].to_vec()),
        ("flipped.bundle", flipped),
        ("unsigned.bundle", unsigned),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, &bytes).unwrap();
        let err = refused(
            phone_dir.path(),
            &phone,
            &["bundle", "import", file.to_str().unwrap()],
            2,
            &[],
        );
        assert!(err.contains("bundle"), "{name}: {err}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bytes,
            "{name} itself changed"
        );
    }
    // The good one still goes in.
    let v = ok(&phone, &["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(v["changed"], 1);
}

#[test]
fn hub_serve_on_a_taken_port_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let db = dir.path().join("hub.db");
    // A port someone else holds is not the caller's bad input (exit 1, as
    // the hub contract says), but it must not leave a new hub store behind.
    refused(
        dir.path(),
        &dir.path().join("silin.db"),
        &[
            "hub",
            "serve",
            "--listen",
            &addr,
            "--db",
            db.to_str().unwrap(),
        ],
        1,
        &[&addr, "cannot listen"],
    );
    assert!(!db.exists());
}

#[test]
fn init_creates_a_store_only_where_no_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("new.db");
    let v = ok(&store, &["init"]);
    assert_eq!(v["created"], true);
    // Again: the same store, kept as it was.
    let before = std::fs::read(&store).unwrap();
    let again = ok(&store, &["init"]);
    assert_eq!(again["device_id"], v["device_id"]);
    assert_eq!(again["created"], false);
    assert_eq!(std::fs::read(&store).unwrap(), before);
    // Into a directory that does not exist: refused, nothing made.
    let nowhere = dir.path().join("no/such/dir/x.db");
    let out = silin(&nowhere, &["init"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!dir.path().join("no").exists());
}
