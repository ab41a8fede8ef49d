//! The hub commands' contract (shared/CLI.md): `hub token`, `hub revoke`,
//! `hub serve`, `enroll`, `sync` — JSON shapes, and exit 2 for bad input, 1
//! for a hub that cannot be reached, always one line on stderr. The whole
//! flow against a running hub is in tests/e2e/tests/hub.rs.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

struct Silin {
    dir: tempfile::TempDir,
}

impl Silin {
    fn new() -> Silin {
        Silin {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn db(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn raw(&self, store: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_silin"))
            .arg("--store")
            .arg(self.db(store))
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap()
    }

    fn json(&self, store: &str, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.raw(store, &a);
        assert!(
            out.status.success(),
            "silin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn fails(&self, store: &str, code: i32, args: &[&str]) -> String {
        let out = self.raw(store, args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "silin {args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "nothing on stdout on failure");
        err
    }
}

const TOKEN_SHAPE: &str = "0123456789abcdef0123456789abcdef.0123456789abcdef";

#[test]
fn hub_token_prints_a_one_time_token_naming_the_office() {
    let s = Silin::new();
    let hub = s.db("hub.db");
    let hub = hub.to_str().unwrap();
    let a = s.json(
        "x.db",
        &[
            "hub",
            "token",
            "--db",
            hub,
            "--role",
            "grid_worker",
            "--scope",
            "两当县/城关镇",
            "两当县/站儿巷镇",
        ],
    );
    let b = s.json(
        "hub.db",
        &[
            "hub",
            "token",
            "--role",
            "lead",
            "--scope",
            "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f",
            "--valid-days",
            "30",
        ],
    );
    let (ta, tb) = (a["token"].as_str().unwrap(), b["token"].as_str().unwrap());
    assert_eq!(a.as_object().unwrap().len(), 1);
    for t in [ta, tb] {
        let (secret, office) = t.split_once('.').unwrap();
        assert_eq!((secret.len(), office.len()), (32, 16), "{t}");
    }
    assert_ne!(ta, tb);
    // Same hub store (--db, or --store by default): same office.
    assert_eq!(ta.split_once('.').unwrap().1, tb.split_once('.').unwrap().1);
}

#[test]
fn hub_commands_refuse_bad_input_with_exit_2() {
    let s = Silin::new();
    let hub = s.db("hub.db");
    let hub = hub.to_str().unwrap();
    fn token<'a>(hub: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["hub", "token", "--db", hub];
        a.extend_from_slice(extra);
        a
    }
    let err = s.fails(
        "hub.db",
        2,
        &token(hub, &["--role", "mayor", "--scope", "两当县"]),
    );
    assert!(err.contains("mayor"), "{err}");
    s.fails(
        "hub.db",
        2,
        &token(hub, &["--role", "lead", "--scope", "a//b"]),
    );
    s.fails("hub.db", 2, &token(hub, &["--role", "lead"]));
    s.fails(
        "hub.db",
        2,
        &token(
            hub,
            &["--role", "lead", "--scope", "a", "--valid-days", "0"],
        ),
    );
    s.fails(
        "hub.db",
        2,
        &token(
            hub,
            &["--role", "lead", "--scope", "a", "--valid-days", "x"],
        ),
    );

    let err = s.fails(
        "hub.db",
        2,
        &[
            "hub",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--postgres",
            "postgres://office/silin",
        ],
    );
    assert!(err.contains("PostgreSQL"), "{err}");
    s.fails("hub.db", 2, &["hub", "serve", "--listen", "not an address"]);
    s.fails(
        "hub.db",
        2,
        &["hub", "serve", "--listen", "127.0.0.1:0", "--scope", "a//b"],
    );

    s.fails("hub.db", 2, &["hub", "revoke", "--device", "not-an-id"]);
    let err = s.fails(
        "nothing.db",
        2,
        &[
            "hub",
            "revoke",
            "--device",
            "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f",
        ],
    );
    assert!(err.contains("nothing.db"), "{err}");
    assert!(!s.db("nothing.db").exists(), "bad input writes nothing");

    assert!(!s.db("hub.db").exists(), "bad input writes nothing");
    s.json("phone.db", &["init"]);

    // Device side: no store, bad URL, bad token.
    s.fails("none.db", 2, &["sync", "--hub", "http://127.0.0.1:1"]);
    s.fails(
        "phone.db",
        2,
        &["enroll", "--hub", "http://127.0.0.1:1", "--token", "abc"],
    );
    let err = s.fails(
        "phone.db",
        2,
        &["enroll", "--hub", "ftp://office", "--token", TOKEN_SHAPE],
    );
    assert!(err.contains("ftp://office"), "{err}");
    s.fails("phone.db", 2, &["sync", "--hub", "http://"]);
}

#[test]
fn revoke_prints_the_device_and_keeps_it_revoked() {
    let s = Silin::new();
    s.json(
        "hub.db",
        &["hub", "token", "--role", "lead", "--scope", "两当县"],
    );
    let id = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f";
    let v = s.json("hub.db", &["hub", "revoke", "--device", id]);
    assert_eq!(v, serde_json::json!({"device_id": id, "revoked": true}));
    // Twice is fine.
    s.json("hub.db", &["hub", "revoke", "--device", id]);
}

#[test]
fn an_unreachable_hub_exits_1_naming_the_url() {
    let s = Silin::new();
    s.json("phone.db", &["init"]);
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}");
    for args in [
        vec!["sync", "--hub", url.as_str()],
        vec!["enroll", "--hub", url.as_str(), "--token", TOKEN_SHAPE],
    ] {
        let err = s.fails("phone.db", 1, &args);
        assert!(err.contains(&url), "{err}");
        assert!(err.contains("running"), "says what to check: {err}");
    }
}

#[test]
fn hub_serve_on_a_taken_address_or_a_phone_store_fails_in_one_line() {
    let s = Silin::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = s.fails("hub.db", 1, &["hub", "serve", "--listen", &addr]);
    assert!(err.contains(&addr), "{err}");

    // A store enrolled as a grid worker's phone.
    s.json("phone.db", &["init"]);
    let phone = s.db("phone.db");
    assert!(enrol_by_hand(&s.db("other-hub.db"), &phone));
    let err = s.fails(
        "hub.db",
        2,
        &[
            "hub",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            phone.to_str().unwrap(),
        ],
    );
    assert!(err.contains("grid_worker"), "{err}");
}

/// Enrols the store at `phone` as a grid worker of the office whose store is
/// at `hub`, without a running hub.
fn enrol_by_hand(hub: &std::path::Path, phone: &std::path::Path) -> bool {
    use silin_core::identity::{Role, Scope};
    use silin_core::{Store, StoreOptions};
    let hub = Store::open(hub, StoreOptions::default()).unwrap();
    let phone = Store::open(phone, StoreOptions::default()).unwrap();
    let office = hub.office(&Scope::everything()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let cert = office.issue(
        &phone.device_id(),
        phone.device_key().unwrap().public_key(),
        Role::GridWorker,
        Scope::parse(&["两当县".into()]).unwrap(),
        now,
        now + 86400,
    );
    phone
        .install_certificate(&cert, &office.public_key())
        .is_ok()
}

/// True when `needle` occurs in the database at `db` or its -wal file.
fn db_holds(db: &std::path::Path, needle: &[u8]) -> bool {
    ["", "-wal"].iter().any(|suffix| {
        let mut p = db.as_os_str().to_os_string();
        p.push(suffix);
        std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
    })
}

fn key_file(db: &std::path::Path) -> ([u8; 32], u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = silin_hub::office::key_path(db);
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    let text = std::fs::read_to_string(&p).unwrap();
    (hex::decode(text.trim()).unwrap().try_into().unwrap(), mode)
}

#[test]
fn hub_token_keeps_the_office_key_in_an_owner_only_file_and_moves_an_old_one_out() {
    let s = Silin::new();
    // A fresh hub database.
    s.json(
        "hub.db",
        &["hub", "token", "--role", "lead", "--scope", "两当县"],
    );
    let db = s.db("hub.db");
    let (seed, mode) = key_file(&db);
    assert_eq!(mode, 0o600);
    assert!(!db_holds(&db, &seed));

    // A database of the older layout, the key inside.
    let old = s.db("old.db");
    let seed = {
        use silin_core::{Store, StoreOptions};
        let store = Store::open(&old, StoreOptions::default()).unwrap();
        let office = store
            .office(&silin_core::identity::Scope::everything())
            .unwrap();
        office.key.seed()
    };
    assert!(db_holds(&old, &seed));
    let token = s.json(
        "old.db",
        &["hub", "token", "--role", "lead", "--scope", "两当县"],
    );
    let fingerprint = token["token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    let public = silin_core::identity::KeyPair::from_seed(&seed).public_key();
    assert_eq!(fingerprint, silin_core::identity::fingerprint(&public));
    assert_eq!(key_file(&old), (seed, 0o600));
    assert!(!db_holds(&old, &seed));
}
