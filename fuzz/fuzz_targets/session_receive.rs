//! The real trust boundary, end to end: fuzzed items inside envelopes that
//! pass every cryptographic check (signed with an enrolled lead's real key,
//! in a session the hub admitted), delivered to the hub's side of a session,
//! to the phone's side (as the hub's answer), and as a bundle; plus raw
//! bytes as an unauthenticated opening. Whatever arrives, nothing panics, a
//! refused item leaves the cell readable, and no cell outside the lead's
//! scope ever reaches the lead's phone.
//!
//! The first byte picks the path, the second the kind of item; the rest is
//! the item's payload (a document, changes or a sync message) for the
//! lead's own cell.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silin_core::identity::{Office, Role, Scope};
use silin_core::model::RegionPath;
use silin_core::sync::envelope::{self, Body, Envelope, Item, Sender};
use silin_core::sync::{bundle, Session};
use silin_core::{Store, StoreOptions};
use std::sync::OnceLock;

struct World {
    _dir: tempfile::TempDir,
    hub: Store,
    lead: Store,
    cell: String,
    far: String,
}

fn open(dir: &std::path::Path, name: &str) -> Store {
    Store::open(
        dir.join(name),
        StoreOptions {
            durability: silin_core::Durability::Normal,
            ..Default::default()
        },
    )
    .expect("a store")
}

fn enrol(store: &Store, office: &Office, role: Role, scope: &[&str]) {
    let now = store.clock().timestamp();
    let scope: Vec<String> = scope.iter().map(|s| s.to_string()).collect();
    let cert = office.issue(
        &store.device_id(),
        store.device_key().expect("a key").public_key(),
        role,
        Scope::parse(&scope).expect("a scope"),
        now - 60,
        now + 365 * 86400,
    );
    store
        .install_certificate(&cert, &office.public_key())
        .expect("enrolled");
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // automerge's own panics are contained by design; a panic outside
        // `contain` still unwinds out of the target and fails the run.
        std::panic::set_hook(Box::new(|_| {}));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let hub = open(dir.path(), "hub.db");
        let office = Office {
            key: silin_core::identity::KeyPair::from_seed(&[42; 32]),
        };
        enrol(&hub, &office, Role::Office, &["县/镇"]);
        let path = |s: &str| RegionPath::parse(s).expect("a path");
        let cell = hub
            .create_cell("一组", &path("县/镇/村/组"), Some("王建国"))
            .expect("a cell");
        let far = hub
            .create_cell("三组", &path("县/镇/远村/组"), None)
            .expect("a cell");
        // The lead's phone stays empty, so every session with the hub has
        // something to sync and runs past its opening.
        let lead = open(dir.path(), "lead.db");
        enrol(&lead, &office, Role::Lead, &[&cell]);
        World {
            _dir: dir,
            hub,
            lead,
            cell,
            far,
        }
    })
}

fn item(kind: u8, doc: &str, payload: &[u8]) -> Item {
    let doc = doc.to_string();
    match kind % 6 {
        0 => Item::Sync {
            doc,
            message: payload.to_vec(),
        },
        1 => Item::Changes {
            doc,
            bytes: payload.to_vec(),
        },
        2 => Item::Whole {
            doc,
            bytes: payload.to_vec(),
        },
        3 => Item::Want { doc },
        4 => Item::Since {
            doc,
            heads: Vec::new(),
        },
        _ => Item::Refused {
            doc,
            reason: String::from_utf8_lossy(payload).chars().take(200).collect(),
        },
    }
}

fn signed(store: &Store, mut env: Envelope) -> Vec<u8> {
    env.signature = Some(store.device_key().expect("a key").sign(&env.signed_part()));
    env.encode()
}

fuzz_target!(|data: &[u8]| {
    let [path, kind, payload @ ..] = data else {
        return;
    };
    let w = world();
    // Mostly the lead's own cell; sometimes a cell outside its scope.
    let doc = if kind & 0x80 == 0 { &w.cell } else { &w.far };
    match path % 4 {
        // The hub's side: a round of an admitted session.
        0 => {
            let (_a, hello) = Session::initiate(&w.lead).expect("an opening");
            let mut b = Session::accept(&w.hub).expect("a session");
            let Ok(Some(reply)) = b.receive(&w.hub, &hello) else {
                return;
            };
            let reply = envelope::decode(&reply).expect("our own reply decodes");
            let round = signed(
                &w.lead,
                Envelope {
                    session: reply.session,
                    challenge: reply.challenge,
                    round: 1,
                    time: w.lead.clock().timestamp(),
                    sender: Sender::Anonymous,
                    body: Body::Round {
                        items: vec![item(*kind, doc, payload)],
                    },
                    signature: None,
                },
            );
            let _ = b.receive(&w.hub, &round);
        }
        // A bundle signed by the lead.
        1 => {
            let cert = w.lead.certificate().ok().flatten().expect("enrolled");
            let file = signed(
                &w.lead,
                Envelope {
                    session: silin_core::identity::random_bytes(),
                    challenge: [0; 16],
                    round: 0,
                    time: w.lead.clock().timestamp(),
                    sender: Sender::Certificate(cert),
                    body: Body::Bundle {
                        items: vec![item(*kind, doc, payload)],
                        revocations: Vec::new(),
                        orders: Vec::new(),
                    },
                    signature: None,
                },
            );
            let _ = bundle::import(&w.hub, &file);
        }
        // The phone's side: the hub's answer replaced by fuzzed items in a
        // reply the hub really signed... as far as the lead can tell, so
        // the hub's key signs it.
        2 => {
            let (mut a, hello) = Session::initiate(&w.lead).expect("an opening");
            let mut b = Session::accept(&w.hub).expect("a session");
            let Ok(Some(reply)) = b.receive(&w.hub, &hello) else {
                return;
            };
            let Ok(Some(_round)) = a.receive(&w.lead, &reply) else {
                return;
            };
            let reply = envelope::decode(&reply).expect("our own reply decodes");
            let answer = signed(
                &w.hub,
                Envelope {
                    session: reply.session,
                    challenge: reply.challenge,
                    round: 1,
                    time: w.hub.clock().timestamp(),
                    sender: Sender::Anonymous,
                    body: Body::Round {
                        items: vec![item(*kind, doc, payload)],
                    },
                    signature: None,
                },
            );
            let _ = a.receive(&w.lead, &answer);
        }
        // Raw bytes as an opening nobody has admitted yet.
        _ => {
            let mut b = Session::accept(&w.hub).expect("a session");
            let _ = b.receive(&w.hub, payload);
        }
    }
    // Whatever happened: both cells read back on the hub, and the lead's
    // phone holds nothing outside its scope.
    w.hub.cell(&w.cell).expect("the lead's cell reads back");
    w.hub.cell(&w.far).expect("the far cell reads back");
    assert!(!w.lead.has_cell(&w.far).expect("a query"));
});
