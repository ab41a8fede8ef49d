//! `silin bundle export` seals by default on an enrolled device: the grid
//! worker's file is for the devices it has met that may hold the cell (the
//! hub here), carries no name in the clear, and is refused by a phone it
//! is not for, with nothing written; `--to` names only devices met;
//! `--plaintext` writes a readable file on purpose. Real hub process.

mod support;

use support::{County, Hub, MARKER_MEMBER};

fn contains(file: &std::path::Path, s: &str) -> bool {
    let bytes = std::fs::read(file).unwrap();
    bytes.windows(s.len()).any(|w| w == s.as_bytes())
}

#[test]
fn a_grid_workers_bundle_is_sealed_to_the_devices_it_met_and_refused_by_others() {
    let c = County::new();
    let (o, cell) = (&c.office, &c.cell);
    let token = |role: &str, scope: &str| {
        o.id(&["hub", "token", "--role", role, "--scope", scope], "token")
    };
    let (gw, lead) = (
        token("grid_worker", "两当县/城关镇/东关村"),
        token("lead", cell),
    );
    let hub = Hub::start(o, "hub.db");
    let url = hub.url();
    for (phone, t) in [("gw.db", &gw), ("lead.db", &lead)] {
        o.json(phone, &["init"]);
        o.json(phone, &["enroll", "--hub", &url, "--token", t]);
        o.json(phone, &["sync", "--hub", &url]);
    }
    drop(hub);

    // By default: sealed to the one device met that may hold the cell.
    let sealed = o.path("gw.bundle");
    let out = o.json(
        "gw.db",
        &["bundle", "export", "--out", sealed.to_str().unwrap()],
    );
    assert_eq!(
        (out["docs"].as_u64(), out["sealed_to"].as_u64()),
        (Some(1), Some(1))
    );
    for m in c.markers() {
        assert!(!contains(&sealed, &m), "{m}");
    }

    // The lead's phone is not one of them: refused, its file unchanged.
    let before = std::fs::read(o.path("lead.db")).unwrap();
    let (_, err) = o.fails(
        "lead.db",
        2,
        &["bundle", "import", sealed.to_str().unwrap()],
    );
    assert!(err.contains("not this one"), "{err}");
    assert_eq!(std::fs::read(o.path("lead.db")).unwrap(), before);
    // The worker has not met the lead, so it cannot seal a file to it.
    let lead_id = o.json("lead.db", &["init"])["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, err) = o.fails(
        "gw.db",
        2,
        &[
            "bundle",
            "export",
            "--out",
            sealed.to_str().unwrap(),
            "--to",
            &lead_id,
        ],
    );
    assert!(err.contains("has not been met"), "{err}");

    // The hub opens it.
    let imported = o.json("hub.db", &["bundle", "import", sealed.to_str().unwrap()]);
    assert_eq!(imported["docs"], 1);

    // Unsealed only when asked for, and then the name is in the clear.
    let plain = o.path("plain.bundle");
    let out = o.json(
        "gw.db",
        &[
            "bundle",
            "export",
            "--out",
            plain.to_str().unwrap(),
            "--plaintext",
        ],
    );
    assert_eq!(out["sealed_to"], 0);
    assert!(contains(&plain, MARKER_MEMBER));
}
