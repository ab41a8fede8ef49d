//! Two `silin hub serve --postgres` processes over one real PostgreSQL:
//! 200 devices sync at once, every session's rounds alternate between the
//! two processes, devices of one cell edit it concurrently through both,
//! and every replica converges with no change lost or duplicated.

#[path = "../../hub/tests/support/pg.rs"]
mod pg_support;

use silin_core::identity::{KeyPair, Office, Role, Scope};
use silin_core::model::{NewVisit, RegionPath, VisitKind};
use silin_core::sync::{Session, SyncStats};
use silin_core::{Durability, Store, StoreOptions};
use silin_hub::client::{self, ClientError};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::time::Duration;

const CELLS: usize = 20;
const DEVICES: usize = 200;
const VISITS_EACH: usize = 3;

/// A `silin hub serve` process, killed when dropped.
struct HubProcess {
    child: Child,
    url: String,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_hub(db: &str, key: &Path) -> HubProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_silin"))
        .args(["--json", "hub", "serve", "--listen", "127.0.0.1:0"])
        .args(["--postgres", db, "--office-key"])
        .arg(key)
        .env("RUST_LOG", "silin_hub=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("silin runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("hub serve printed {line:?} ({e})"));
    HubProcess {
        url: v["url"].as_str().unwrap().to_string(),
        child,
    }
}

fn open(p: &Path) -> Store {
    Store::open(
        p,
        StoreOptions {
            durability: Durability::Normal,
            cache_docs: 4,
            ..Default::default()
        },
    )
    .unwrap()
}

fn enrol(store: &Store, office: &Office, role: Role, scope: &[String]) {
    let now = store.clock().timestamp();
    let cert = office.issue(
        &store.device_id(),
        store.device_key().unwrap().public_key(),
        role,
        Scope::parse(scope).unwrap(),
        now,
        now + 30 * 86400,
    );
    store
        .install_certificate(&cert, &office.public_key())
        .unwrap();
}

/// One message to one hub; a busy hub (503) is asked again, as an app's
/// backoff would.
fn exchange(hub: &client::Hub, message: &[u8]) -> Option<Vec<u8>> {
    for _ in 0..100 {
        match hub.exchange(message) {
            Err(ClientError::Refused { status: 503, .. }) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => return other.unwrap_or_else(|e| panic!("{}: {e}", hub.url())),
        }
    }
    panic!("{} stayed busy", hub.url())
}

/// A whole session whose round `i` goes to `hubs[(start + i) % 2]`.
fn sync_alternating(store: &Store, hubs: &[client::Hub; 2], start: usize) -> SyncStats {
    let (mut session, mut message) = Session::initiate(store).unwrap();
    let mut i = start;
    loop {
        let reply = exchange(&hubs[i % 2], &message).expect("an answer to a round");
        i += 1;
        match session.receive(store, &reply).unwrap() {
            Some(next) => message = next,
            None => {
                if let Some(done) = session.close_message() {
                    assert_eq!(exchange(&hubs[i % 2], &done), None);
                }
                return session.stats();
            }
        }
    }
}

fn visit(device: usize, n: usize) -> NewVisit {
    let at = chrono::Local::now().fixed_offset();
    let mut v = NewVisit::new(VisitKind::DoorKnock, at, "王建国");
    v.note = Some(format!("device {device} visit {n}"));
    v
}

#[test]
fn two_hub_processes_over_one_postgres_serve_200_devices_and_every_replica_converges() {
    let Some(db) = pg_support::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("office-key");
    let a = start_hub(db.url(), &key);
    // The second process is given the key file the first one made.
    let b = start_hub(db.url(), &key);
    let seed = std::fs::read_to_string(&key).unwrap();
    let office = Office {
        key: KeyPair::from_seed(&hex::decode(seed.trim()).unwrap().try_into().unwrap()),
    };
    let hubs = [
        client::Hub::new(&a.url).unwrap(),
        client::Hub::new(&b.url).unwrap(),
    ];

    // The county office's device lays out the cells and hands them over.
    let county = open(&dir.path().join("county.db"));
    enrol(&county, &office, Role::County, &["两当县".into()]);
    let cells: Vec<String> = (0..CELLS)
        .map(|i| {
            let path = RegionPath::parse(&format!("两当县/城关镇/村{}/组{i}", i % 4)).unwrap();
            county
                .create_cell(&format!("{i}组"), &path, Some("王建国"))
                .unwrap()
        })
        .collect();
    sync_alternating(&county, &hubs, 0);

    // Two devices enrol the way a phone does, one through each process,
    // with tokens the office prints from the shared database.
    for (i, hub) in [&a, &b].into_iter().enumerate() {
        let out = Command::new(env!("CARGO_BIN_EXE_silin"))
            .args([
                "--json",
                "hub",
                "token",
                "--postgres",
                db.url(),
                "--office-key",
            ])
            .arg(&key)
            .args(["--role", "lead", "--scope", &cells[i]])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let phone = open(&dir.path().join(format!("enrolled{i}.db")));
        let got = client::enroll(&phone, &hub.url, token["token"].as_str().unwrap()).unwrap();
        assert_eq!(got.role, "lead");
        // The same token again, at the other process: spent.
        let again = open(&dir.path().join(format!("again{i}.db")));
        let other = if i == 0 { &b } else { &a };
        assert!(client::enroll(&again, &other.url, token["token"].as_str().unwrap()).is_err());
    }

    // 200 phones, ten per cell, each a lead-scoped replica of its cell.
    let devices: Vec<Store> = (0..DEVICES)
        .map(|i| {
            let s = open(&dir.path().join(format!("phone{i}.db")));
            enrol(&s, &office, Role::Lead, &[cells[i % CELLS].clone()]);
            s
        })
        .collect();
    // Three phases, every device at once in each: pull the cell; record
    // visits and push them; pull everyone's.
    let phase = |what: &'static str, act: &(dyn Fn(usize, &Store) + Sync)| {
        std::thread::scope(|s| {
            let running: Vec<_> = devices
                .iter()
                .enumerate()
                .map(|(i, store)| s.spawn(move || act(i, store)))
                .collect();
            for (i, t) in running.into_iter().enumerate() {
                if t.join().is_err() {
                    panic!("device {i} failed in phase {what:?}");
                }
            }
        })
    };
    phase("pull", &|i, store| {
        assert!(store.cells(&[]).unwrap().is_empty());
        sync_alternating(store, &hubs, i);
        assert_eq!(store.cells(&[]).unwrap().len(), 1, "device {i}");
    });
    phase("push", &|i, store| {
        let cell = store.cells(&[]).unwrap().remove(0).id;
        for n in 0..VISITS_EACH {
            store.record_visit(&cell, visit(i, n)).unwrap();
        }
        let pushed = sync_alternating(store, &hubs, i + 1);
        assert!(pushed.docs_sent >= 1, "device {i} pushed nothing");
    });
    phase("pull again", &|i, store| {
        sync_alternating(store, &hubs, i);
    });

    // The county device pulls everything; every phone of a cell holds the
    // same document, with every device's visits exactly once.
    sync_alternating(&county, &hubs, 1);
    let per_cell = DEVICES / CELLS * VISITS_EACH;
    for (c, cell) in cells.iter().enumerate() {
        let view = county.cell(cell).unwrap();
        assert_eq!(view.visits.len(), per_cell, "cell {c}");
        let mut notes: Vec<_> = view.visits.iter().filter_map(|v| v.note.clone()).collect();
        notes.sort();
        notes.dedup();
        assert_eq!(notes.len(), per_cell, "cell {c}: a visit twice");
        let heads = county.heads(cell).unwrap();
        for d in (c..DEVICES).step_by(CELLS) {
            // A device that synced before the last pushes may lag by one
            // session; one more brings it level.
            if devices[d].heads(cell).unwrap() != heads {
                sync_alternating(&devices[d], &hubs, d);
            }
            assert_eq!(devices[d].heads(cell).unwrap(), heads, "device {d}");
            assert_eq!(devices[d].cell(cell).unwrap(), view, "device {d}");
        }
    }
    // Both processes answer from the one database.
    for hub in &hubs {
        let h = hub.health().unwrap();
        assert_eq!(h.cells, CELLS as i64);
    }
}

/// `silin --json hub user add --postgres URL …` with `password` on stdin.
fn add_user(db: &str, name: &str, role: &str, password: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_silin"))
        .args(["--json", "hub", "user", "add", "--postgres", db])
        .args(["--name", name, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("silin runs");
    // A command refused before it reads its input (a bad role) closes the
    // pipe first: what it says is in its output.
    let _ = writeln!(child.stdin.take().unwrap(), "{password}");
    child.wait_with_output().unwrap()
}

#[test]
fn a_dashboard_login_added_with_postgres_is_kept_hashed_for_every_hub_process() {
    let Some(db) = pg_support::fresh_database() else {
        return;
    };
    let out = add_user(db.url(), " 张会计 ", "county", "县里的口令 2026");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["user"], "张会计");
    assert_eq!(v["role"], "county");

    // The database was laid out by the command; any process reads the login.
    let storage = silin_hub::pg::PgStorage::connect(db.url(), 1).unwrap();
    let users = storage.users();
    assert_eq!(
        users.verify("张会计", "县里的口令 2026").unwrap(),
        Some(silin_hub::users::UserRole::County)
    );
    assert_eq!(users.verify("张会计", "县里的口令 2025").unwrap(), None);
    assert_eq!(users.verify("nobody", "县里的口令 2026").unwrap(), None);
    let stored: String = db
        .client()
        .query_one("SELECT password_hash FROM hub_users", &[])
        .unwrap()
        .get(0);
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("口令"));

    // The name is taken, a short password and an unknown role are refused:
    // exit 2, nothing added.
    for (name, role, password, says) in [
        ("张会计", "office", "another password", "already exists"),
        ("李出纳", "office", "short", "at least 8"),
        (
            "李出纳",
            "admin",
            "long enough password",
            "office or county",
        ),
    ] {
        let out = add_user(db.url(), name, role, password);
        assert_eq!(out.status.code(), Some(2), "{name} {role}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
    assert_eq!(users.list().unwrap().len(), 1);

    // An analyst login (counts only) goes in beside it.
    let out = add_user(db.url(), "钱分析", "analyst", "只看统计数 2026");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        users.verify("钱分析", "只看统计数 2026").unwrap(),
        Some(silin_hub::users::UserRole::Analyst)
    );
    assert_eq!(users.list().unwrap().len(), 2);
}
