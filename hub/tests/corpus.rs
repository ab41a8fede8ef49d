//! The hub under every hostile input we keep: each file of every fuzz
//! corpus (fuzz/corpus/*) and the trust boundary's regression inputs, sent
//! over real HTTP on loopback both as a raw request body (what anyone can
//! send) and as an item in a round of a session the hub admitted, signed
//! with an enrolled lead's real key (what a modified app can send). After
//! every input the hub answers `/healthz`, both cells still read back, and
//! at the end the process's peak memory is reported and bounded.

use silin_core::identity::{Role, Scope};
use silin_core::model::RegionPath;
use silin_core::sync::envelope::{self, Body, Envelope, Item, Sender};
use silin_core::sync::Session;
use silin_core::{Durability, Store, StoreOptions};
use silin_hub::{client, office, HubConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn open(p: &Path) -> Store {
    Store::open(
        p,
        StoreOptions {
            durability: Durability::Normal,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Every file of every corpus, in a stable order.
fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut files = Vec::new();
    for target in std::fs::read_dir(&root).unwrap() {
        for f in std::fs::read_dir(target.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            files.push((p, bytes));
        }
    }
    files.sort();
    files
}

/// The trust boundary's regression inputs (core/tests/trust_boundary.rs,
/// core/src/guard.rs): a sync message whose bloom filter asks for 2^32-1
/// probes, a compressed-change chunk, and a change chunk declaring 2^40
/// bytes.
fn regressions() -> Vec<(PathBuf, Vec<u8>)> {
    let bloom = vec![
        0x42, 0, 0, 1, 0, 8, 1, 8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0,
    ];
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2, 3, 1, 2, 3];
    let mut compressed = vec![0x42, 0, 0, 0, 1, chunk.len() as u8];
    compressed.append(&mut chunk);
    let huge = vec![
        0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20,
    ];
    vec![
        ("regression/bloom".into(), bloom),
        ("regression/compressed".into(), compressed),
        ("regression/huge-chunk".into(), huge),
    ]
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn the_hub_serves_on_after_every_corpus_and_regression_input() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("hub.db"), StoreOptions::default()).unwrap());
    let hub =
        silin_hub::server::spawn_with("127.0.0.1:0", store.clone(), HubConfig::default()).unwrap();
    let url = hub.url();
    let path = |s: &str| RegionPath::parse(s).unwrap();
    let cell = store
        .create_cell("一组", &path("两当县/城关镇/东关村/一组"), None)
        .unwrap();
    let far = store
        .create_cell("三组", &path("两当县/城关镇/远村/三组"), None)
        .unwrap();
    // The lead's phone stays empty, so every session runs past its opening.
    let lead = open(&dir.path().join("lead.db"));
    let token = office::issue_token(
        &store,
        Role::Lead,
        Scope::parse(std::slice::from_ref(&cell)).unwrap(),
        30,
    )
    .unwrap();
    client::enroll(&lead, &url, &token).unwrap();
    let key = lead.device_key().unwrap();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |body: &[u8]| -> (u16, Vec<u8>) {
        let mut r = agent.post(format!("{url}/v1/sync")).send(body).unwrap();
        (r.status().as_u16(), r.body_mut().read_to_vec().unwrap())
    };
    let healthy = || {
        let mut r = agent.get(format!("{url}/healthz")).call().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: serde_json::Value =
            serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
        assert_eq!(v["ok"], true);
    };

    let inputs: Vec<_> = corpus().into_iter().chain(regressions()).collect();
    assert!(inputs.len() >= 20, "the corpus is there: {}", inputs.len());
    let mut refused = 0;
    for (n, (name, bytes)) in inputs.iter().enumerate() {
        // As anyone can send it.
        let (status, _) = post(bytes);
        assert!(
            status < 500,
            "{}: raw body answered {status}",
            name.display()
        );
        healthy();

        // As a modified app can: an item of an admitted session, signed.
        for (i, doc) in [&cell, &far].into_iter().enumerate() {
            let (_s, hello) = Session::initiate(&lead).unwrap();
            let (status, reply) = post(&hello);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
            let reply = envelope::decode(&reply).unwrap();
            let doc = doc.clone();
            let item = match (n + i) % 4 {
                0 => Item::Sync {
                    doc,
                    message: bytes.clone(),
                },
                1 => Item::Changes {
                    doc,
                    bytes: bytes.clone(),
                },
                2 => Item::Whole {
                    doc,
                    bytes: bytes.clone(),
                },
                _ => Item::Refused {
                    doc,
                    reason: String::from_utf8_lossy(bytes).chars().take(100).collect(),
                },
            };
            let mut env = Envelope {
                session: reply.session,
                challenge: reply.challenge,
                round: 1,
                time: lead.clock().timestamp(),
                sender: Sender::Anonymous,
                body: Body::Round { items: vec![item] },
                signature: None,
            };
            env.signature = Some(key.sign(&env.signed_part()));
            let (status, body) = post(&env.encode());
            assert!(
                status < 500,
                "{}: as an item answered {status}: {}",
                name.display(),
                String::from_utf8_lossy(&body)
            );
            if status != 200 {
                refused += 1;
            }
            healthy();
        }
    }
    // Nothing moved, nothing outside the lead's scope reached it, and the
    // hub's cells still read back.
    store.cell(&cell).unwrap();
    store.cell(&far).unwrap();
    assert!(lead.cells(&[]).unwrap().is_empty());
    let peak = peak_rss_kib();
    println!(
        "{} inputs, {refused} items ended their session (the far cell: outside the lead's scope); peak memory of the test process (hub included): {} MiB",
        inputs.len(),
        peak / 1024
    );
    assert!(peak < 512 * 1024, "peak memory {peak} KiB");
    hub.shutdown().unwrap();
}
