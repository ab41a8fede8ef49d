//! Stores encrypted at rest by default: what `silin` creates is SQLCipher
//! under a fresh key in an owner-only file beside it, every command finds
//! the key there, no planted name or number is in the files, and a plain
//! hub store from before is encrypted in place by `silin hub encrypt` —
//! refused while a hub serves it. `--unencrypted` beside a key flag is
//! refused. The real binary, real files.

mod support;

use support::{County, Hub, Office, MARKER_MEMBER};

/// Whether `text` lies anywhere in the store's `.db`, `-wal` or `-shm`.
fn in_files(o: &Office, store: &str, text: &str) -> bool {
    ["", "-wal", "-shm"].iter().any(|suffix| {
        let p = o.path(&format!("{store}{suffix}"));
        std::fs::read(p).is_ok_and(|b| b.windows(text.len()).any(|w| w == text.as_bytes()))
    })
}

fn starts_plain(o: &Office, store: &str) -> bool {
    std::fs::read(o.path(store))
        .unwrap()
        .starts_with(b"SQLite format 3\0")
}

fn key_mode(o: &Office, store: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let key = silin_hub::store_key::beside(&o.path(store));
    std::fs::metadata(key).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_store_silin_creates_is_encrypted_under_an_owner_only_key_file() {
    let c = County::new();
    let o = &c.office;
    assert!(!starts_plain(o, "hub.db"));
    assert_eq!(key_mode(o, "hub.db"), 0o600);
    let key = std::fs::read_to_string(silin_hub::store_key::beside(&o.path("hub.db"))).unwrap();
    assert_eq!(key.trim().len(), 64, "{key}");
    for m in c.markers() {
        assert!(!in_files(o, "hub.db", &m), "{m} in the encrypted files");
    }
    // Every command finds the key beside the store.
    let shown = o.json("hub.db", &["cell", "show", "--cell", &c.cell]);
    assert!(shown.to_string().contains(MARKER_MEMBER));

    // Without its key file the store is refused, naming the file, and
    // nothing is written; `--key-file` finds it elsewhere.
    let kept = o.path("elsewhere.key");
    std::fs::rename(silin_hub::store_key::beside(&o.path("hub.db")), &kept).unwrap();
    let (_, err) = o.fails("hub.db", 2, &["cell", "show", "--cell", &c.cell]);
    assert!(err.contains("hub.db.store-key"), "{err}");
    let k = kept.to_str().unwrap();
    let shown = o.json(
        "hub.db",
        &["--key-file", k, "cell", "show", "--cell", &c.cell],
    );
    assert!(shown.to_string().contains(MARKER_MEMBER));

    // A key file others may read is refused.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, err) = o.fails("hub.db", 2, &["--key-file", k, "cells"]);
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn a_hub_command_on_a_new_database_makes_it_encrypted_and_unencrypted_is_asked_for() {
    let o = Office::new();
    o.json(
        "new-hub.db",
        &["hub", "token", "--role", "lead", "--scope", "两当县"],
    );
    assert!(!starts_plain(&o, "new-hub.db"));
    assert_eq!(key_mode(&o, "new-hub.db"), 0o600);

    o.json(
        "plain-hub.db",
        &[
            "--unencrypted",
            "hub",
            "token",
            "--role",
            "lead",
            "--scope",
            "两当县",
        ],
    );
    assert!(starts_plain(&o, "plain-hub.db"));
    assert!(!silin_hub::store_key::beside(&o.path("plain-hub.db")).exists());
}

#[test]
fn hub_encrypt_turns_a_plain_hub_store_into_an_encrypted_one_and_waits_for_the_hub_to_stop() {
    let c = County::unencrypted();
    let o = &c.office;
    let markers = c.markers();
    assert!(starts_plain(o, "hub.db"));
    assert!(markers.iter().all(|m| in_files(o, "hub.db", m)));
    let before = std::fs::read(o.path("hub.db")).unwrap();

    // While a hub serves the store, nothing changes.
    {
        let _hub = Hub::start(o, "hub.db");
        let (_, err) = o.fails("hub.db", 1, &["hub", "encrypt"]);
        assert!(err.contains("another program has"), "{err}");
        assert!(!silin_hub::store_key::beside(&o.path("hub.db")).exists());
        assert!(starts_plain(o, "hub.db"));
    }
    assert!(markers.iter().all(|m| in_files(o, "hub.db", m)));
    assert_eq!(std::fs::read(o.path("hub.db")).unwrap().len(), before.len());

    let done = o.json("hub.db", &["hub", "encrypt"]);
    assert_eq!(done["cells"], 1, "{done}");
    assert!(done["key_file"]
        .as_str()
        .unwrap()
        .ends_with("hub.db.store-key"));
    assert!(!starts_plain(o, "hub.db"));
    assert_eq!(key_mode(o, "hub.db"), 0o600);
    for m in &markers {
        assert!(!in_files(o, "hub.db", m), "{m} left in the files");
    }
    assert!(!o.path("hub.db.encrypting").exists());
    // The register is all there, and the hub serves it.
    let shown = o.json("hub.db", &["cell", "show", "--cell", &c.cell]);
    assert!(shown.to_string().contains(MARKER_MEMBER));
    assert_eq!(o.json("hub.db", &["check"])["ok"], true);
    o.json("hub.db", &["audit", "--verify"]);
    drop(Hub::start(o, "hub.db"));

    // Encrypting again is refused, changing nothing.
    let (_, err) = o.fails("hub.db", 2, &["hub", "encrypt"]);
    assert!(err.contains("not a plain SQLite store"), "{err}");
}

#[test]
fn unencrypted_with_a_key_flag_is_refused_and_writes_nothing() {
    let o = Office::new();
    let key = o.path("lead.key");
    let k = key.to_str().unwrap();
    let (_, err) = o.fails("lead.db", 2, &["--unencrypted", "--key-file", k, "init"]);
    assert!(
        err.contains("--unencrypted") && err.contains("--key-file"),
        "{err}"
    );
    assert!(err.contains("leave out"), "{err}");
    assert!(!o.path("lead.db").exists() && !key.exists());

    // The key in the environment, set: refused all the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_silin"))
        .arg("--store")
        .arg(o.path("lead.db"))
        .args(["--unencrypted", "--key-env", "SILIN_TEST_KEY", "init"])
        .env("SILIN_TEST_KEY", "correct horse")
        .env("SILIN_NOW", support::NOW)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("--unencrypted") && err.contains("--key-env"),
        "{err}"
    );
    assert!(!o.path("lead.db").exists());

    // On an existing store, and on a plain hub store to be encrypted:
    // refused, the store as it was.
    let c = County::unencrypted();
    let o = &c.office;
    let beside = silin_hub::store_key::beside(&o.path("hub.db"));
    let b = beside.to_str().unwrap();
    for args in [
        &["--unencrypted", "--key-file", b, "cells"][..],
        &["--unencrypted", "--key-file", b, "hub", "encrypt"],
    ] {
        let (_, err) = o.fails("hub.db", 2, args);
        assert!(
            err.contains("--unencrypted") && err.contains("--key-file"),
            "{err}"
        );
        assert!(!beside.exists(), "{args:?}");
        assert!(starts_plain(o, "hub.db"), "{args:?}");
    }
}
