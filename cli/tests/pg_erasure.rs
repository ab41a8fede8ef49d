//! `silin hub erase` and `silin hub retain` on a PostgreSQL hub, as a
//! township office that scaled out runs them: the county's cell is served
//! by `silin hub serve --postgres`; the office erases a resident there with
//! its office key; a county device syncs and the resident is gone from its
//! store's files; the office sets a daily retention policy and ends it; the
//! database's audit log says who erased how much. The real binary, a real
//! hub process, a real PostgreSQL.

#[path = "../../hub/tests/support/pg.rs"]
mod pg_support;
mod support;

use serde_json::Value;
use silin_core::{Clock, Store, StoreOptions};
use silin_hub::client;
use support::{County, Hub, DAY, MARKER_BIRTH, MARKER_MEMBER, MARKER_SERIAL, NOW};

/// Whether `text` lies in the store's `.db`, `-wal` or `-shm`.
fn in_files(db: &std::path::Path, text: &str) -> bool {
    ["", "-wal", "-shm"].iter().any(|suffix| {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        std::fs::read(p).is_ok_and(|b| b.windows(text.len()).any(|w| w == text.as_bytes()))
    })
}

fn members(device: &Store, cell: &str) -> Vec<String> {
    device
        .cell(cell)
        .unwrap()
        .households
        .iter()
        .flat_map(|h| h.members.iter().map(|m| m.name.clone()))
        .collect()
}

#[test]
fn the_office_erases_and_keeps_a_retention_policy_on_a_postgres_hub() {
    let Some(db) = pg_support::fresh_database() else {
        return;
    };
    let c = County::new();
    let o = &c.office;
    let url = db.url();
    // The SQLite hub makes the office key; the PostgreSQL hub is given it,
    // and a county device carries the cell from one to the other.
    let sqlite = Hub::start(o, "hub.db");
    let key = o.path("hub.db.office-key");
    let key = key.to_str().unwrap();
    let pg = Hub::start_postgres(url, std::path::Path::new(key));
    let token = o.json(
        "none.db",
        &[
            "hub",
            "token",
            "--postgres",
            url,
            "--office-key",
            key,
            "--role",
            "county",
            "--scope",
            "两当县",
        ],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let device_db = o.path("county.db");
    let device = Store::open(
        &device_db,
        StoreOptions {
            clock: Clock::parse(NOW).unwrap(),
            ..Default::default()
        },
    )
    .unwrap();
    client::enroll(&device, &pg.url(), &token).unwrap();
    client::sync(&device, &sqlite.url()).unwrap();
    assert_eq!(client::sync(&device, &pg.url()).unwrap().docs_sent, 1);
    drop(sqlite);
    assert!(members(&device, &c.cell).contains(&MARKER_MEMBER.to_string()));

    // The office signs the order: without its key nothing is erased.
    let erase = [
        "hub",
        "erase",
        "--postgres",
        url,
        "--cell",
        &c.cell,
        "--member",
        &c.member,
    ];
    let refused = o.run("none.db", &erase);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--office-key"));
    let mut with_key = erase.to_vec();
    with_key.extend(["--office-key", key, "--reason", "申请 31"]);
    let mut json = vec!["--json"];
    json.extend(&with_key);
    let out = o.run("none.db", &json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let erased: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(erased["cell"], c.cell.as_str());
    assert_eq!(
        (erased["epoch"].clone(), erased["subjects"].clone()),
        (1.into(), 1.into())
    );

    // The device follows at its next sync, and keeps nothing of them.
    client::sync(&device, &pg.url()).unwrap();
    let left = members(&device, &c.cell);
    assert!(!left.contains(&MARKER_MEMBER.to_string()), "{left:?}");
    assert!(!left.is_empty(), "the rest of the household stays");
    drop(device);
    for marker in [
        MARKER_MEMBER.to_string(),
        c.id_number.clone(),
        format!("{MARKER_BIRTH}{MARKER_SERIAL}"),
    ] {
        assert!(!in_files(&device_db, &marker), "{marker}");
    }

    // A daily retention policy: applied for today, kept, then ended.
    let retain = ["hub", "retain", "--postgres", url, "--checks-days", "30"];
    let refused = o.run("none.db", &retain);
    assert_eq!(refused.status.code(), Some(2));
    let mut daily = retain.to_vec();
    daily.extend(["--office-key", key, "--daily"]);
    let ran = o.json("none.db", &daily);
    assert_eq!(
        (ran["date"].clone(), ran["daily"].clone()),
        (DAY.into(), true.into())
    );
    assert_eq!(ran["records"], 0);
    let stop = ["hub", "retain", "--postgres", url, "--stop-daily"];
    assert_eq!(o.json("none.db", &stop)["stopped"], true);
    assert_eq!(o.json("none.db", &stop)["stopped"], false);

    let log = o.json("none.db", &["audit", "--postgres", url]);
    let actions: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "erase" || e["action"] == "retention_policy")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let cell_target = format!("cell={}", c.cell);
    assert_eq!(
        actions,
        [
            ("erase".to_string(), cell_target),
            ("retention_policy".into(), "daily".into()),
            ("erase".into(), "retention".into()),
            ("retention_policy".into(), "ended".into()),
        ]
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(MARKER_MEMBER) && !text.contains(&c.id_number));
    let _ = pg;
}
