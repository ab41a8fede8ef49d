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

    // PostgreSQL: every process needs the office key file; a URL that
    // cannot be read is bad input; a server that cannot be reached is not.
    let serve_pg =
        |url: &'static str| vec!["hub", "serve", "--listen", "127.0.0.1:0", "--postgres", url];
    let out = s.raw("hub.db", &serve_pg("postgres://office/silin"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--office-key"), "{err}");
    let key = s.db("office-key");
    let key = key.to_str().unwrap();
    let mut bad_url = serve_pg("host=127.0.0.1 port=notaport");
    bad_url.extend(["--office-key", key]);
    let err = s.fails("hub.db", 2, &bad_url);
    assert!(err.contains("--postgres URL"), "{err}");
    // Port 1 on loopback: nothing listens there.
    let mut unreachable = serve_pg("host=127.0.0.1 port=1 user=silin dbname=silin");
    unreachable.extend(["--office-key", key]);
    let err = s.fails("hub.db", 1, &unreachable);
    assert!(err.contains("cannot reach PostgreSQL"), "{err}");
    let err = s.fails(
        "hub.db",
        2,
        &[
            "hub",
            "user",
            "add",
            "--postgres",
            "host=x",
            "--name",
            "zhang",
        ],
    );
    // The password is checked before any database is reached.
    assert!(err.contains("password is empty"), "{err}");
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
    let keyed = |p: &std::path::Path| StoreOptions {
        key: silin_hub::store_key::of_store(p).unwrap(),
        ..Default::default()
    };
    let hub = Store::open(hub, keyed(hub)).unwrap();
    let phone = Store::open(phone, keyed(phone)).unwrap();
    let office = silin_hub::office::office(&hub, Some(&Scope::everything())).unwrap();
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
    // A fresh hub database, unencrypted so that its bytes can be searched.
    s.json(
        "hub.db",
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
    let db = s.db("hub.db");
    let (seed, mode) = key_file(&db);
    assert_eq!(mode, 0o600);
    assert!(!db_holds(&db, &seed));

    // A database of the older layout, the key inside.
    let old = s.db("old.db");
    let seed = {
        use silin_core::identity::{KeyPair, Office, Role, Scope};
        use silin_core::{Store, StoreOptions};
        let store = Store::open(&old, StoreOptions::default()).unwrap();
        let office = Office {
            key: KeyPair::generate(),
        };
        // Where silin-core once kept the office key, beside the hub's own
        // office certificate.
        store
            .with_connection(|c| {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('office_key', ?1)",
                    [&office.key.seed()[..]],
                )?;
                Ok(())
            })
            .unwrap();
        let now = store.clock().timestamp();
        let own = office.issue(
            &store.device_id(),
            store.device_key().unwrap().public_key(),
            Role::Office,
            Scope::everything(),
            now,
            now + 365 * 86400,
        );
        store
            .install_certificate(&own, &office.public_key())
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

/// A `silin hub serve --json` process, stopped (by its own id) when dropped.
struct Serving {
    child: std::process::Child,
    line: Value,
}

impl Serving {
    fn start(s: &Silin, db: &str, args: &[&str]) -> Serving {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_silin"))
            .arg("--json")
            .args(["hub", "serve", "--db"])
            .arg(s.db(db))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let line = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        Serving { child, line }
    }

    fn url(&self) -> &str {
        self.line["url"].as_str().unwrap()
    }

    /// The URL a device on this machine reaches it at (0.0.0.0 → 127.0.0.1).
    fn local_url(&self) -> String {
        self.url().replacen("0.0.0.0", "127.0.0.1", 1)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(s: &Silin, db: &str) -> String {
    let v = s.json(
        db,
        &["hub", "token", "--role", "grid_worker", "--scope", "两当县"],
    );
    v["token"].as_str().unwrap().to_string()
}

#[test]
fn hub_serve_beyond_loopback_serves_https_with_a_self_signed_certificate_devices_pin() {
    use std::os::unix::fs::PermissionsExt;
    let s = Silin::new();
    let hub = Serving::start(&s, "hub.db", &["--listen", "0.0.0.0:0"]);
    let url = hub.url();
    assert!(url.starts_with("https://0.0.0.0:"), "{url}");
    assert_eq!(
        url.trim_start_matches("https://"),
        hub.line["listen"].as_str().unwrap()
    );
    // Certificate and owner-only key beside the database.
    let db = s.db("hub.db");
    let cert = silin_hub::tls::cert_path(&db);
    let key = silin_hub::tls::key_path(&db);
    assert_eq!(cert, s.db("hub.db.tls-cert.pem"));
    assert!(std::fs::read_to_string(&cert)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // The token names the certificate; the device pins it and syncs over https.
    let t = token(&s, "hub.db");
    let served = silin_hub::api::parse_token(&t)
        .unwrap()
        .tls_certificate
        .unwrap()
        .to_string();
    s.json("phone.db", &["init"]);
    let local = hub.local_url();
    let enrolled = s.json("phone.db", &["enroll", "--hub", &local, "--token", &t]);
    assert_eq!(enrolled["role"], "grid_worker");
    let synced = s.json("phone.db", &["sync", "--hub", &local]);
    assert_eq!(synced["round_trips"], 1);
    for field in ["docs_sent", "docs_received", "bytes_up", "bytes_down"] {
        assert!(synced[field].is_u64(), "{field}: {synced}");
    }

    // A second hub (another certificate) at the same kind of address is
    // refused by the pinned device: exit 1, both fingerprints named.
    let other = Serving::start(&s, "other.db", &["--listen", "127.0.0.1:0", "--tls"]);
    assert!(other.url().starts_with("https://127.0.0.1:"));
    let err = s.fails("phone.db", 1, &["sync", "--hub", other.url()]);
    assert!(err.contains(&served), "{err}");
    assert!(err.contains("not the one this device pinned"), "{err}");

    // Restarted, the hub serves the same certificate.
    drop(hub);
    let again = Serving::start(&s, "hub.db", &["--listen", "0.0.0.0:0"]);
    assert!(again.url().starts_with("https://"));
    s.json("phone.db", &["sync", "--hub", &again.local_url()]);
    assert_eq!(token(&s, "hub.db").rsplit('.').next().unwrap(), served);
}

#[test]
fn hub_serve_gives_plain_http_on_loopback_and_with_insecure_http_only() {
    let s = Silin::new();
    let loopback = Serving::start(&s, "hub.db", &["--listen", "127.0.0.1:0"]);
    assert!(loopback.url().starts_with("http://127.0.0.1:"));
    assert!(!silin_hub::tls::cert_path(&s.db("hub.db")).exists());
    let keys: Vec<&String> = loopback.line.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["device_id", "listen", "url"]);
    // Its tokens name no certificate, and devices enrol over http as before.
    let t = token(&s, "hub.db");
    assert_eq!(t.split('.').count(), 2, "{t}");
    s.json("phone.db", &["init"]);
    s.json(
        "phone.db",
        &["enroll", "--hub", loopback.url(), "--token", &t],
    );
    s.json("phone.db", &["sync", "--hub", loopback.url()]);

    let insecure = Serving::start(&s, "open.db", &["--listen", "0.0.0.0:0", "--insecure-http"]);
    assert!(
        insecure.url().starts_with("http://0.0.0.0:"),
        "{}",
        insecure.url()
    );
    assert!(!silin_hub::tls::cert_path(&s.db("open.db")).exists());

    // Contradictory or half-given TLS options are refused before anything starts.
    let cert = s.db("hub.db.tls-cert.pem");
    let cert = cert.to_str().unwrap();
    for args in [
        vec!["--insecure-http", "--tls"],
        vec!["--tls-cert", cert],
        vec!["--tls-key", cert],
    ] {
        let mut a = vec!["hub", "serve", "--listen", "127.0.0.1:0", "--db"];
        let db = s.db("refused.db");
        a.push(db.to_str().unwrap());
        a.extend(args);
        s.fails("refused.db", 2, &a);
        assert!(!s.db("refused.db").exists());
    }
}

/// A hub that has served a few hundred cells (enough commits for its
/// background WAL checkpoint) still sees every token `silin hub token`
/// writes while it runs. With the checkpoint on a connection of its own,
/// the hub's connection stopped seeing the other program's commits and
/// refused the new token as unknown.
#[test]
fn a_busy_hub_sees_the_tokens_written_while_it_serves() {
    let s = Silin::new();
    let first = token(&s, "hub.db");
    let hub = Serving::start(&s, "hub.db", &["--listen", "127.0.0.1:0"]);
    let url = hub.url().to_string();
    s.json("p1.db", &["init"]);
    s.json("p1.db", &["enroll", "--hub", &url, "--token", &first]);
    {
        let p1 = s.db("p1.db");
        let phone = silin_core::Store::open(
            &p1,
            silin_core::StoreOptions {
                key: silin_hub::store_key::of_store(&p1).unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
        for i in 0..200 {
            let path = silin_core::model::RegionPath::parse(&format!("两当县/城关镇/东关村/组{i}"))
                .unwrap();
            phone.create_cell(&format!("{i}组"), &path, None).unwrap();
        }
    }
    s.json("p1.db", &["sync", "--hub", &url]);
    let second = token(&s, "hub.db");
    s.json("p2.db", &["init"]);
    s.json("p2.db", &["enroll", "--hub", &url, "--token", &second]);
    let synced = s.json("p2.db", &["sync", "--hub", &url]);
    assert_eq!(synced["docs_received"], 200);
    for phone in ["p3.db", "p4.db"] {
        let t = token(&s, "hub.db");
        s.json(phone, &["init"]);
        let enrolled = s.json(phone, &["enroll", "--hub", &url, "--token", &t]);
        assert_eq!(enrolled["role"], "grid_worker", "{phone}");
    }
}
