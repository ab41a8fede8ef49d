//! The hub over real HTTP on loopback: enrolment with one-time tokens, sync
//! of a grid worker and a lead, refusals (token reuse, another office's
//! token, replayed and tampered envelopes, expired sessions), health,
//! metrics, logs, and a graceful shutdown in the middle of syncing.

use silin_core::identity::{Role, Scope};
use silin_core::model::{NewVisit, RegionPath, VisitKind};
use silin_core::sync::Session;
use silin_core::{Durability, Store, StoreOptions};
use silin_hub::client::{self, ClientError};
use silin_hub::{office, HubConfig, HubHandle};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const TOWNSHIP: &str = "两当县/城关镇";

/// Everything the hubs of this test binary log, for the tests that check a
/// refusal was logged.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        struct W(Arc<Mutex<Vec<u8>>>);
        impl Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_writer(move || W(sink.clone()))
            .with_ansi(false)
            .with_env_filter("silin_hub=info")
            .try_init()
            .unwrap();
        buf
    })
    .clone()
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).to_string()
}

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

struct Township {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    hub: HubHandle,
}

impl Township {
    fn new(config: HubConfig) -> Township {
        logs();
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(dir.path().join("hub.db"), StoreOptions::default()).unwrap());
        let hub = silin_hub::server::spawn_with("127.0.0.1:0", store.clone(), config).unwrap();
        Township { dir, store, hub }
    }

    fn token(&self, role: Role, scope: &str) -> String {
        office::issue_token(
            &self.store,
            role,
            Scope::parse(&[scope.into()]).unwrap(),
            30,
        )
        .unwrap()
    }

    fn device(&self, name: &str) -> Store {
        open(&self.dir.path().join(format!("{name}.db")))
    }

    /// A new device enrolled over `scope`.
    fn enrolled(&self, name: &str, role: Role, scope: &str) -> Store {
        let s = self.device(name);
        let out = client::enroll(&s, &self.hub.url(), &self.token(role, scope)).unwrap();
        assert_eq!(out.device_id, s.device_id());
        assert_eq!(out.role, role.as_str());
        assert_eq!(out.scope, vec![scope.to_string()]);
        s
    }

    fn post(&self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .post(format!("{}{path}", self.hub.url()))
            .send(body)
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_vec().unwrap())
    }

    /// `GET path` with `headers`: status and body, whatever the status.
    fn get_with(&self, path: &str, headers: &[(&str, String)]) -> (u16, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent.get(format!("{}{path}", self.hub.url()));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let mut r = req.call().unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_vec().unwrap())
    }

    fn get(&self, path: &str) -> String {
        let mut r = ureq::get(format!("{}{path}", self.hub.url()))
            .call()
            .unwrap();
        r.body_mut().read_to_string().unwrap()
    }
}

fn error_kind(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    v["error"].as_str().unwrap().to_string()
}

fn visit(store: &Store, cell: &str, note: &str) -> String {
    let mut v = NewVisit::new(
        VisitKind::DoorKnock,
        chrono::Local::now().fixed_offset(),
        "网格员",
    );
    v.note = Some(note.into());
    store.record_visit(cell, v).unwrap()
}

fn cell(store: &Store, name: &str) -> String {
    let path = RegionPath::parse(&format!("{TOWNSHIP}/东关村/{name}")).unwrap();
    store.create_cell(name, &path, None).unwrap()
}

fn ids(store: &Store) -> Vec<String> {
    let mut v: Vec<_> = store
        .cells(&[])
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    v.sort();
    v
}

/// Every row of every table, through a separate read-only connection.
fn dump(p: &Path) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open_with_flags(p, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .iter()
        .map(|t| {
            let mut s = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = s.column_count();
            let mut rows: Vec<String> = s
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i)
                                .map(|v| format!("{v:?}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| v.join("|"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.sort();
            rows.insert(0, t.clone());
            rows
        })
        .collect()
}

#[test]
fn grid_worker_and_lead_enrol_and_sync_through_the_hub() {
    let t = Township::new(HubConfig::default());
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    let ours = cell(&worker, "一组");
    let theirs = cell(&worker, "二组");
    visit(&worker, &ours, "first round");
    let up = client::sync(&worker, &t.hub.url()).unwrap();
    assert_eq!(up.docs_sent, 2);
    assert_eq!(ids(&t.store), ids(&worker));

    // The lead's token covers its own cell only.
    let lead = t.enrolled("lead", Role::Lead, &ours);
    let down = client::sync(&lead, &t.hub.url()).unwrap();
    assert_eq!(down.docs_received, 1);
    assert_eq!(ids(&lead), vec![ours.clone()]);
    assert_eq!(lead.cell(&ours).unwrap(), t.store.cell(&ours).unwrap());

    // The lead's edit reaches the worker through the hub; the other cell
    // never reaches the lead.
    visit(&lead, &ours, "lead's check");
    client::sync(&lead, &t.hub.url()).unwrap();
    client::sync(&worker, &t.hub.url()).unwrap();
    assert_eq!(worker.heads(&ours).unwrap(), lead.heads(&ours).unwrap());
    assert_eq!(worker.cell(&ours).unwrap(), lead.cell(&ours).unwrap());
    client::sync(&lead, &t.hub.url()).unwrap();
    assert!(!ids(&lead).contains(&theirs));

    // Nothing changed: one round trip.
    let again = client::sync(&worker, &t.hub.url()).unwrap();
    assert_eq!((again.round_trips, again.docs_received), (1, 0));

    // A token enrols one device; a second device is refused with a typed error.
    let token = t.token(Role::GridWorker, TOWNSHIP);
    client::enroll(&t.device("first"), &t.hub.url(), &token).unwrap();
    let second = t.device("second");
    match client::enroll(&second, &t.hub.url(), &token) {
        Err(ClientError::Refused {
            status,
            kind,
            message,
        }) => {
            assert_eq!((status, kind.as_str()), (403, "token"));
            assert!(message.contains("already used"), "{message}");
        }
        other => panic!("token reuse: {other:?}"),
    }
    assert!(second.certificate().unwrap().is_none());
    // A token naming another office is refused by the hub before it is spent.
    let (secret, _) = token.split_once('.').unwrap();
    let foreign = format!("{secret}.0123456789abcdef");
    assert!(matches!(
        client::enroll(&second, &t.hub.url(), &foreign),
        Err(ClientError::Refused { status: 403, .. })
    ));
    // An unenrolled device cannot sync.
    assert!(matches!(
        client::sync(&second, &t.hub.url()),
        Err(ClientError::Refused { status: 403, .. })
    ));

    // Health, rollup and metrics.
    let health = client::health(&t.hub.url()).unwrap();
    assert!(health.ok);
    assert_eq!(health.cells, 2);
    assert_eq!(health.device_id, t.store.device_id());
    let today = chrono::Local::now().date_naive();
    let rollup: serde_json::Value =
        serde_json::from_str(&t.get(&format!("/v1/rollup?date={today}&level=township"))).unwrap();
    assert_eq!(rollup[0]["path"], TOWNSHIP);
    assert_eq!(rollup[0]["cells"], 2);
    let metrics = t.get("/metrics");
    for line in [
        "silin_hub_enrolments_total 3",
        "silin_hub_refusals_total{kind=\"token\"} 2",
        "silin_hub_refusals_total{kind=\"identity\"} 1",
        "silin_hub_syncs_completed_total",
        "silin_hub_sync_bytes_in_total",
        // Every finished sync told the hub so.
        "silin_hub_open_sessions 0",
        "silin_hub_request_duration_seconds_count{route=\"/v1/sync\"}",
    ] {
        assert!(metrics.contains(line), "metrics lack {line:?}:\n{metrics}");
    }
    metrics_read_right_in_both_formats(&t);
}

/// A scraper asking for OpenMetrics gets it; one asking for the classic text
/// format (or nothing) gets text the classic parser reads with counters
/// typed as counters.
fn metrics_read_right_in_both_formats(t: &Township) {
    let url = format!("{}/metrics", t.hub.url());
    let mut om = ureq::get(&url)
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .call()
        .unwrap();
    let om_type = om
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        om_type.starts_with("application/openmetrics-text"),
        "{om_type}"
    );
    assert!(om.body_mut().read_to_string().unwrap().ends_with("# EOF\n"));

    let mut classic = ureq::get(&url)
        .header("Accept", "text/plain")
        .call()
        .unwrap();
    let ct = classic
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = classic.body_mut().read_to_string().unwrap();
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let enrolments = parsed
        .samples
        .iter()
        .find(|s| s.metric == "silin_hub_enrolments_total")
        .expect("the enrolment counter is read");
    assert!(
        matches!(enrolments.value, prometheus_parse::Value::Counter(v) if v == 3.0),
        "{:?}",
        enrolments.value
    );
    assert!(parsed
        .samples
        .iter()
        .any(|s| s.metric == "silin_hub_open_sessions"
            && matches!(s.value, prometheus_parse::Value::Gauge(_))));
}

#[test]
fn replayed_and_tampered_envelopes_are_refused_and_change_nothing() {
    let t = Township::new(HubConfig::default());
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    let c = cell(&worker, "一组");
    visit(&worker, &c, "to be tampered with");
    let hub_file = t.dir.path().join("hub.db");

    // A recorded opening, sent again, is refused and logged.
    let (_, hello) = Session::initiate(&worker).unwrap();
    assert_eq!(t.post("/v1/sync", &hello).0, 200);
    let (status, body) = t.post("/v1/sync", &hello);
    assert_eq!((status, error_kind(&body).as_str()), (403, "replay"));
    let logged = log_text();
    assert!(
        logged.lines().any(|l| l.contains("refused sync")
            && l.contains("replay")
            && l.contains(&worker.device_id())),
        "no replay refusal logged:\n{logged}"
    );

    // A tampered opening: 4xx, and the hub's file holds the same rows.
    let before = dump(&hub_file);
    let (_, mut hello) = Session::initiate(&worker).unwrap();
    let n = hello.len();
    hello[n - 70] ^= 0x01;
    let (status, _) = t.post("/v1/sync", &hello);
    assert!((400..500).contains(&status), "{status}");
    assert_eq!(dump(&hub_file), before);

    // A real opening, then the round carrying the new cell tampered with.
    let (mut s, hello) = Session::initiate(&worker).unwrap();
    let (status, reply) = t.post("/v1/sync", &hello);
    assert_eq!(status, 200);
    let mut round = s
        .receive(&worker, &reply)
        .unwrap()
        .expect("the hub lacks the cell");
    let before = dump(&hub_file);
    let mid = round.len() / 2;
    round[mid] ^= 0x40;
    let (status, body) = t.post("/v1/sync", &round);
    assert!((400..500).contains(&status), "{status}");
    error_kind(&body);
    assert_eq!(dump(&hub_file), before);
    assert!(t.store.cells(&[]).unwrap().is_empty());

    // Garbage is malformed; the session the tampered round broke is gone.
    let (status, body) = t.post("/v1/sync", b"not an envelope");
    assert_eq!((status, error_kind(&body).as_str()), (400, "malformed"));
    let metrics = t.get("/metrics");
    assert!(
        metrics.contains("silin_hub_refusals_total{kind=\"replay\"} 1"),
        "{metrics}"
    );

    // The real sync still works afterwards.
    client::sync(&worker, &t.hub.url()).unwrap();
    assert_eq!(t.store.heads(&c).unwrap(), worker.heads(&c).unwrap());
}

#[test]
fn an_idle_session_expires_and_its_next_round_is_told_to_start_again() {
    let t = Township::new(HubConfig {
        session_idle: Duration::from_millis(200),
        ..Default::default()
    });
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    cell(&worker, "一组");
    let (mut s, hello) = Session::initiate(&worker).unwrap();
    let (_, reply) = t.post("/v1/sync", &hello);
    let round = s.receive(&worker, &reply).unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let (status, body) = t.post("/v1/sync", &round);
    assert_eq!((status, error_kind(&body).as_str()), (409, "session"));
    assert!(t.get("/metrics").contains("silin_hub_open_sessions 0"));
    client::sync(&worker, &t.hub.url()).unwrap();
    assert_eq!(ids(&t.store).len(), 1);
}

#[test]
fn shutdown_while_a_device_syncs_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let hub = silin_hub::spawn("127.0.0.1:0", &db).unwrap();
    let url = hub.url();
    let token = {
        // The office issues the token on the hub machine, through its own
        // connection to the hub's file.
        let office_desk = Store::open(&db, StoreOptions::default()).unwrap();
        office::issue_token(
            &office_desk,
            Role::GridWorker,
            Scope::parse(&[TOWNSHIP.into()]).unwrap(),
            30,
        )
        .unwrap()
    };
    let worker = Arc::new(open(&dir.path().join("worker.db")));
    client::enroll(&worker, &url, &token).unwrap();
    let c = cell(&worker, "一组");

    // N visits, one sync: all on the hub.
    let mut acknowledged: Vec<String> = (0..20)
        .map(|i| visit(&worker, &c, &format!("v{i}")))
        .collect();
    client::sync(&worker, &url).unwrap();

    // Keep recording and syncing while the hub is stopped under it.
    let syncing = {
        let (worker, c, url) = (worker.clone(), c.clone(), url.clone());
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            for i in 0.. {
                let v = visit(&worker, &c, &format!("w{i}"));
                match client::sync(&worker, &url) {
                    Ok(_) => acked.push(v),
                    Err(e @ (ClientError::Unreachable { .. } | ClientError::Refused { .. })) => {
                        eprintln!("{} syncs acknowledged, then: {e}", acked.len());
                        break;
                    }
                    Err(e) => panic!("sync failed otherwise: {e}"),
                }
            }
            acked
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    hub.shutdown().unwrap();
    let more = syncing.join().unwrap();
    assert!(
        !more.is_empty(),
        "no sync was acknowledged before the shutdown"
    );
    acknowledged.extend(more);

    let reopened = Store::open(&db, StoreOptions::default()).unwrap();
    let held: std::collections::HashSet<String> = reopened
        .cell(&c)
        .unwrap()
        .visits
        .into_iter()
        .map(|v| v.id)
        .collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|v| !held.contains(*v)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged visits lost: {lost:?}",
        lost.len()
    );
    assert!(reopened.check().unwrap().ok);
}

/// Drives `session` with the hub over HTTP from `first` to its end.
fn finish(t: &Township, store: &Store, session: &mut Session, first: Vec<u8>) {
    let mut msg = first;
    loop {
        let (status, body) = t.post("/v1/sync", &msg);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        match session.receive(store, &body).unwrap() {
            Some(next) => msg = next,
            None => {
                if let Some(done) = session.close_message() {
                    assert_eq!(t.post("/v1/sync", &done).0, 204);
                }
                return;
            }
        }
    }
}

#[test]
fn a_session_id_used_by_another_device_is_refused_and_the_owner_finishes() {
    let t = Township::new(HubConfig::default());
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    let thief = t.enrolled("thief", Role::GridWorker, TOWNSHIP);
    let c = cell(&worker, "一组");
    let (mut s, hello) = Session::initiate(&worker).unwrap();
    let (_, reply) = t.post("/v1/sync", &hello);
    let round = s.receive(&worker, &reply).unwrap().unwrap();
    // The thief re-signs the worker's round (same session, challenge and
    // round number) with its own key: the hub neither takes it nor drops
    // the worker's session.
    let mut env = silin_core::sync::envelope::decode(&round).unwrap();
    env.signature = Some(thief.device_key().unwrap().sign(&env.signed_part()));
    let (status, body) = t.post("/v1/sync", &env.encode());
    assert_eq!((status, error_kind(&body).as_str()), (409, "session"));
    finish(&t, &worker, &mut s, round);
    assert_eq!(t.store.heads(&c).unwrap(), worker.heads(&c).unwrap());
}

#[test]
fn stalled_senders_are_cut_off_and_an_honest_device_still_syncs() {
    use std::io::Read;
    let t = Township::new(HubConfig {
        request_timeout: Duration::from_millis(800),
        ..Default::default()
    });
    let addr = t.hub.url().trim_start_matches("http://").to_string();
    // 500 connections that promise a body and stall after ten bytes.
    let stalled: Vec<std::net::TcpStream> = (0..500)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.write_all(
                b"POST /v1/sync HTTP/1.1\r\nHost: hub\r\nContent-Length: 1000000\r\n\r\n0123456789",
            )
            .unwrap();
            c
        })
        .collect();
    // Meanwhile a device enrols and syncs as usual.
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    let c = cell(&worker, "一组");
    client::sync(&worker, &t.hub.url()).unwrap();
    assert_eq!(t.store.heads(&c).unwrap(), worker.heads(&c).unwrap());
    // Each stalled sender is answered 408 once its time is up.
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 408");
    }
    assert!(t
        .get("/metrics")
        .contains("silin_hub_refusals_total{kind=\"timeout\"} 500"));
    assert!(t.get("/healthz").contains("\"ok\":true"));
}

/// An enrolment request for `device_id` made with `key`, as a client sends it.
fn enrol_request(token: &str, device_id: &str, key: &silin_core::identity::KeyPair) -> Vec<u8> {
    let public_key = key.public_key();
    serde_json::to_vec(&silin_hub::api::EnrolRequest {
        token: token.to_string(),
        device_id: device_id.to_string(),
        public_key: hex::encode(public_key),
        proof: hex::encode(key.sign(&silin_hub::api::enrol_proof(token, device_id, &public_key))),
    })
    .unwrap()
}

#[test]
fn a_token_replayed_with_another_key_and_a_squatted_device_id_are_refused() {
    let t = Township::new(HubConfig::default());
    let honest = t.device("honest");
    let token = t.token(Role::Lead, TOWNSHIP);
    let key = honest.device_key().unwrap();
    let id = honest.device_id();
    // The honest device enrols; its answer is lost, so it asks again with
    // the same key: that works.
    assert_eq!(
        t.post("/v1/enrol", &enrol_request(&token, &id, &key)).0,
        200
    );
    assert_eq!(
        t.post("/v1/enrol", &enrol_request(&token, &id, &key)).0,
        200
    );
    // Someone who saw the token replays it for the same id with their key.
    let stranger = silin_core::identity::KeyPair::from_seed(&[9; 32]);
    let (status, body) = t.post("/v1/enrol", &enrol_request(&token, &id, &stranger));
    assert_eq!((status, error_kind(&body).as_str()), (403, "token"));
    // With a fresh token of their own, they claim the honest device's id.
    let fresh = t.token(Role::GridWorker, TOWNSHIP);
    let (status, body) = t.post("/v1/enrol", &enrol_request(&fresh, &id, &stranger));
    assert_eq!((status, error_kind(&body).as_str()), (403, "token"));
    assert!(String::from_utf8_lossy(&body).contains("already enrolled with another key"));
    // The fresh token was not spent by the refusal: a new device uses it.
    let newcomer = t.device("newcomer");
    client::enroll(&newcomer, &t.hub.url(), &fresh).unwrap();
}

/// Sends `head` on a new connection and reads one HTTP answer: its status
/// and body. The socket's read timeout only keeps a broken hub from hanging
/// the test.
fn raw_exchange(t: &Township, head: &[u8]) -> (u16, String) {
    use std::io::Read;
    let addr = t.hub.url().trim_start_matches("http://").to_string();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(head).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = c
            .read(&mut buf)
            .expect("the hub answers without the rest of the body");
        assert!(n > 0, "the hub closed without answering: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("the answer has a length");
            if got.len() >= end + 4 + length {
                let status = text[9..12].parse().unwrap();
                return (status, text[end + 4..end + 4 + length].to_string());
            }
        }
    }
}

/// The first bytes of an envelope of `kind` naming `session`.
fn envelope_head(kind: silin_core::sync::envelope::Kind, session: [u8; 16]) -> Vec<u8> {
    let mut head = b"SLNS".to_vec();
    head.push(silin_core::sync::envelope::VERSION);
    head.push(kind as u8);
    head.extend_from_slice(&session);
    head
}

#[test]
fn an_oversized_message_without_a_session_is_refused_unread_and_the_hub_serves_on() {
    use silin_core::sync::envelope::Kind;
    let t = Township::new(HubConfig::default());
    let post = |path: &str, declared: usize, start: &[u8]| {
        let mut req =
            format!("POST {path} HTTP/1.1\r\nHost: hub\r\nContent-Length: {declared}\r\n\r\n")
                .into_bytes();
        req.extend_from_slice(start);
        raw_exchange(&t, &req)
    };
    // An opening that declares 10 MB and sends only its header: refused at
    // once, without waiting for (or reading) the rest.
    let (status, body) = post("/v1/sync", 10_000_000, &envelope_head(Kind::Hello, [7; 16]));
    assert_eq!(
        (status, error_kind(body.as_bytes()).as_str()),
        (413, "too_large"),
        "{body}"
    );
    assert!(body.contains("65536 bytes"), "{body}");
    // A later round naming a session the hub does not hold is no larger.
    let (status, body) = post("/v1/sync", 100_000, &envelope_head(Kind::Round, [8; 16]));
    assert_eq!(
        (status, error_kind(body.as_bytes()).as_str()),
        (413, "too_large")
    );
    // Nor an enrolment request, nor anything past the largest envelope.
    let (status, body) = post("/v1/enrol", 1_000_000, b"{\"token\":");
    assert_eq!(
        (status, error_kind(body.as_bytes()).as_str()),
        (413, "too_large")
    );
    let (status, _) = post("/v1/sync", 1 << 30, b"SLNS");
    assert_eq!(status, 413);
    assert!(t.get("/healthz").contains("\"ok\":true"));
    assert!(t
        .get("/metrics")
        .contains("silin_hub_refusals_total{kind=\"too_large\"} 4"));

    // A device in an admitted session still sends rounds far past the
    // opening limit.
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    let c = cell(&worker, "一组");
    let visits = (0..500)
        .map(|_| {
            let mut v = NewVisit::new(
                VisitKind::DoorKnock,
                chrono::Local::now().fixed_offset(),
                "网格员",
            );
            v.note = Some(hex::encode(silin_core::identity::random_bytes::<240>()));
            v
        })
        .collect();
    worker.record_visits(&c, visits).unwrap();
    let up = client::sync(&worker, &t.hub.url()).unwrap();
    assert!(up.bytes_up > 100_000, "{up:?}");
    assert_eq!(t.store.heads(&c).unwrap(), worker.heads(&c).unwrap());
}

#[test]
fn a_connection_that_stalls_in_its_header_is_closed() {
    use std::io::Read;
    let t = Township::new(HubConfig {
        header_read_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let addr = t.hub.url().trim_start_matches("http://").to_string();
    let half = {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        c.write_all(b"POST /v1/sync HTTP/1.1\r\nHost: hu").unwrap();
        c
    };
    let silent = std::net::TcpStream::connect(&addr).unwrap();
    for mut c in [half, silent] {
        // Generous: only a hub that never closes the socket reaches it.
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut rest = Vec::new();
        match c.read_to_end(&mut rest) {
            // Closed, perhaps after a 408 answer.
            Ok(_) => assert!(
                rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
                "{rest:?}"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("the hub kept a stalled connection open: {e}"),
        }
    }
    assert!(t.get("/healthz").contains("\"ok\":true"));
}

#[test]
fn a_device_opening_many_sessions_drops_only_its_own() {
    let quota = silin_hub::server::SESSIONS_PER_DEVICE;
    // Room for the honest device and one device's quota: past it, a hub
    // dropping the longest idle session would drop the honest one.
    let t = Township::new(HubConfig {
        max_sessions: quota + 1,
        ..Default::default()
    });
    let honest = t.enrolled("honest", Role::GridWorker, TOWNSHIP);
    let c = cell(&honest, "一组");
    let (mut s, hello) = Session::initiate(&honest).unwrap();
    let (status, reply) = t.post("/v1/sync", &hello);
    assert_eq!(status, 200);
    let round = s
        .receive(&honest, &reply)
        .unwrap()
        .expect("the hub lacks the cell");

    // Another device opens sessions and never finishes them.
    let greedy = t.enrolled("greedy", Role::GridWorker, TOWNSHIP);
    cell(&greedy, "二组");
    let opened: Vec<(Session, Vec<u8>)> = (0..quota + 6)
        .map(|_| {
            let (mut s, hello) = Session::initiate(&greedy).unwrap();
            let (status, reply) = t.post("/v1/sync", &hello);
            assert_eq!(status, 200);
            let next = s.receive(&greedy, &reply).unwrap().unwrap();
            (s, next)
        })
        .collect();
    let metrics = t.get("/metrics");
    assert!(
        metrics.contains(&format!("silin_hub_open_sessions {}", quota + 1)),
        "{metrics}"
    );

    // The honest device's session is still held and finishes.
    finish(&t, &honest, &mut s, round);
    assert_eq!(t.store.heads(&c).unwrap(), honest.heads(&c).unwrap());
    // The greedy device's oldest are gone; its newest goes on.
    let (status, body) = t.post("/v1/sync", &opened[0].1);
    assert_eq!((status, error_kind(&body).as_str()), (409, "session"));
    let (mut last, next) = opened.into_iter().last().unwrap();
    finish(&t, &greedy, &mut last, next);
}

/// The headers of a read signed by `store`'s device for `signed_path` at `time`.
fn read_headers(store: &Store, signed_path: &str, time: i64) -> Vec<(&'static str, String)> {
    let cert = store.certificate().unwrap().unwrap();
    let sig = store
        .device_key()
        .unwrap()
        .sign(&silin_hub::api::read_proof("GET", signed_path, time));
    vec![
        (
            silin_hub::api::CERTIFICATE_HEADER,
            hex::encode(cert.encode()),
        ),
        (silin_hub::api::TIME_HEADER, time.to_string()),
        (silin_hub::api::SIGNATURE_HEADER, hex::encode(sig)),
    ]
}

#[test]
fn rollup_and_metrics_answer_only_the_hub_machine_and_signed_office_devices() {
    use silin_core::model::Level;
    use silin_hub::server::TrustedPeers;
    // Trust no address: these requests come from 127.0.0.1 but are judged
    // as a request from any other machine is.
    let t = Township::new(HubConfig {
        trusted_peers: TrustedPeers::Only(vec![]),
        ..Default::default()
    });
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    cell(&worker, "一组");
    client::sync(&worker, &t.hub.url()).unwrap();
    let today = t.store.clock().now().date_naive();
    let rollup_path = format!("/v1/rollup?date={today}&level=township");

    // Unsigned: refused, with what to do; health stays open.
    for path in [rollup_path.as_str(), "/metrics"] {
        let (status, body) = t.get_with(path, &[]);
        assert_eq!((status, error_kind(&body).as_str()), (403, "unsigned"));
        assert!(String::from_utf8_lossy(&body).contains("office or county device"));
    }
    assert!(t.get("/healthz").contains("\"ok\":true"));

    // A lead's signed request: enrolled, but not an office's role.
    let hub = client::Hub::new(&t.hub.url()).unwrap();
    let lead = t.enrolled("lead", Role::Lead, TOWNSHIP);
    match hub.rollup(&lead, today, Level::Township) {
        Err(ClientError::Refused { status, kind, .. }) => {
            assert_eq!((status, kind.as_str()), (403, "role"))
        }
        other => panic!("a lead read the rollup: {other:?}"),
    }
    // The unenrolled cannot sign at all.
    assert!(matches!(
        hub.rollup(&t.device("stranger"), today, Level::Township),
        Err(ClientError::Identity(_))
    ));

    // An office device's and a county device's signed requests are answered.
    let office = t.enrolled("office", Role::Office, TOWNSHIP);
    let rows = hub.rollup(&office, today, Level::Township).unwrap();
    assert_eq!((rows[0].path.as_str(), rows[0].cells), (TOWNSHIP, 1));
    let county = t.enrolled("county", Role::County, "两当县");
    assert_eq!(
        client::rollup(&county, &t.hub.url(), today, Level::County).unwrap()[0].cells,
        1
    );
    let metrics = String::from_utf8(hub.signed_get(&office, "/metrics").unwrap()).unwrap();
    assert!(
        metrics.contains("silin_hub_refusals_total{kind=\"unsigned\"} 2"),
        "{metrics}"
    );

    // A signature covers one request: the rollup's, sent for metrics, is refused.
    let now = t.store.clock().timestamp();
    let (status, body) = t.get_with("/metrics", &read_headers(&office, &rollup_path, now));
    assert_eq!((status, error_kind(&body).as_str()), (403, "identity"));
    // So is one signed outside the allowed clock skew.
    let then = now - silin_core::identity::CLOCK_SKEW_SECS - 60;
    let (status, body) = t.get_with(&rollup_path, &read_headers(&office, &rollup_path, then));
    assert_eq!((status, error_kind(&body).as_str()), (403, "clock"));
    let (status, _) = t.get_with(&rollup_path, &read_headers(&office, &rollup_path, now));
    assert_eq!(status, 200);
    // A certificate from another office is refused.
    let other = Township::new(HubConfig::default());
    let foreign = other.enrolled("foreign", Role::Office, TOWNSHIP);
    let (status, body) = t.get_with(&rollup_path, &read_headers(&foreign, &rollup_path, now));
    assert_eq!((status, error_kind(&body).as_str()), (403, "identity"));
    // Garbage in the headers is refused, not a crash.
    let mut junk = read_headers(&office, &rollup_path, now);
    junk[0].1 = "zz".repeat(40_000);
    junk[2].1 = "00".into();
    assert_eq!(t.get_with(&rollup_path, &junk).0, 403);
    // And once the office revokes the device, its signature no longer reads.
    t.store.revoke(&office.device_id()).unwrap();
    match hub.rollup(&office, today, Level::Township) {
        Err(ClientError::Refused {
            status, message, ..
        }) => {
            assert_eq!(status, 403);
            assert!(message.contains("revoked"), "{message}");
        }
        other => panic!("a revoked device read the rollup: {other:?}"),
    }
}

/// True when `needle` occurs in the database at `db` or its -wal file.
/// (Reading the file drops this process's POSIX locks on it; harmless here,
/// where no other process uses it.)
fn file_holds(db: &Path, needle: &[u8]) -> bool {
    ["", "-wal"].iter().any(|suffix| {
        let mut p = db.as_os_str().to_os_string();
        p.push(suffix);
        std::fs::read(&p)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn key_in_file(db: &Path) -> [u8; 32] {
    let text = std::fs::read_to_string(office::key_path(db)).unwrap();
    hex::decode(text.trim()).unwrap().try_into().unwrap()
}

#[test]
fn a_new_hub_keeps_its_office_key_in_an_owner_only_file_beside_the_database() {
    let t = Township::new(HubConfig::default());
    let db = t.dir.path().join("hub.db");
    let key_file = office::key_path(&db);
    assert_eq!(key_file, t.dir.path().join("hub.db.office-key"));
    assert_eq!(mode(&key_file), 0o600);
    for suffix in ["", "-wal", "-shm"] {
        let p = t.dir.path().join(format!("hub.db{suffix}"));
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
    let seed = key_in_file(&db);
    let office_key = silin_core::identity::KeyPair::from_seed(&seed).public_key();
    // The hub signs with the file's key; the database never held it.
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    assert_eq!(worker.office_public_key().unwrap(), Some(office_key));
    assert!(!file_holds(&db, &seed));
    // A hub whose key file is gone refuses to start rather than become a
    // new office its devices do not trust.
    std::fs::rename(&key_file, t.dir.path().join("aside")).unwrap();
    let e = office::office(&t.store, None).unwrap_err();
    assert!(e.to_string().contains("is missing"), "{e}");
    assert!(!key_file.exists());
    std::fs::rename(t.dir.path().join("aside"), &key_file).unwrap();
    assert_eq!(
        office::office(&t.store, None).unwrap().public_key(),
        office_key
    );
    // A key file others can read is refused, with the fix.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let e = office::office(&t.store, None).unwrap_err();
    assert!(e.to_string().contains("chmod 600"), "{e}");
}

/// Makes `store` a hub of the older layout: a new office key inside its
/// meta table (where silin-core once kept it), and the hub's own office
/// certificate from it.
fn office_key_inside(store: &Store) -> silin_core::identity::Office {
    let office = silin_core::identity::Office {
        key: silin_core::identity::KeyPair::generate(),
    };
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
    office
}

/// A hub database of the older layout: the office key inside (in the
/// store's meta table, as silin-core once kept it, beside the hub's own
/// office certificate), one device enrolled by it.
fn old_layout_hub(dir: &Path) -> (std::path::PathBuf, [u8; 32], Store) {
    let db = dir.join("old.db");
    let phone = open(&dir.join("phone.db"));
    let seed = {
        let store = open(&db);
        let office = office_key_inside(&store);
        let now = store.clock().timestamp();
        let cert = office.issue(
            &phone.device_id(),
            phone.device_key().unwrap().public_key(),
            Role::GridWorker,
            Scope::parse(&[TOWNSHIP.into()]).unwrap(),
            now,
            now + 86400 * 30,
        );
        phone
            .install_certificate(&cert, &office.public_key())
            .unwrap();
        office.key.seed()
    };
    assert!(
        file_holds(&db, &seed),
        "the old layout keeps the key inside"
    );
    (db, seed, phone)
}

#[test]
fn an_old_hub_database_has_its_office_key_moved_out_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (db, seed, phone) = old_layout_hub(dir.path());
    let store = Arc::new(open(&db));
    let hub =
        silin_hub::server::spawn_with("127.0.0.1:0", store.clone(), HubConfig::default()).unwrap();
    // The same office, now from its file; nothing of it left in the database.
    assert_eq!(key_in_file(&db), seed);
    assert_eq!(mode(&office::key_path(&db)), 0o600);
    assert!(!file_holds(&db, &seed));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM meta WHERE key = 'office_key'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
    // The device enrolled by the old layout syncs as before.
    let c = cell(&phone, "一组");
    client::sync(&phone, &hub.url()).unwrap();
    assert_eq!(store.heads(&c).unwrap(), phone.heads(&c).unwrap());
    hub.shutdown().unwrap();
}

#[test]
fn a_move_cut_short_is_finished_and_a_different_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (db, seed, _) = old_layout_hub(dir.path());
    let key_file = office::key_path(&db);
    let write_key = |seed: [u8; 32]| {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_file)
            .unwrap();
        writeln!(f, "{}", hex::encode(seed)).unwrap();
    };
    // Another key in the file than in the database: which one the devices
    // trust is for a person to say; nothing is changed.
    write_key([5; 32]);
    let store = open(&db);
    let e = office::office(&store, None).unwrap_err();
    assert!(e.to_string().contains("is not the one inside"), "{e}");
    assert!(file_holds(&db, &seed));
    // The file written, the database not yet cleared (a crash between the
    // two): the next open clears it.
    write_key(seed);
    let office = office::office(&store, None).unwrap();
    assert_eq!(office.key.seed(), seed);
    assert!(!file_holds(&db, &seed));
}

/// A township whose hub serves https on loopback with its self-signed
/// certificate, made beside its database before it starts.
fn tls_township(config: HubConfig) -> Township {
    logs();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let store = Arc::new(Store::open(&db, StoreOptions::default()).unwrap());
    let cert = silin_hub::tls::HubCertificate::self_signed(&db).unwrap();
    let hub = silin_hub::server::spawn_with(
        "127.0.0.1:0",
        store.clone(),
        HubConfig {
            tls: Some(cert),
            ..config
        },
    )
    .unwrap();
    Township { dir, store, hub }
}

const OTHER_CERTIFICATE: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[test]
fn a_device_enrols_over_https_pinning_the_hub_certificate_from_its_token_and_syncs() {
    let t = tls_township(HubConfig::default());
    let url = t.hub.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let served = t.hub.tls_certificate().unwrap().to_string();
    // The self-signed certificate and its owner-only key beside the database.
    let db = t.dir.path().join("hub.db");
    let (cert_file, key_file) = (
        silin_hub::tls::cert_path(&db),
        silin_hub::tls::key_path(&db),
    );
    assert_eq!(key_file, t.dir.path().join("hub.db.tls-key.pem"));
    assert_eq!(mode(&key_file), 0o600);
    let pem = std::fs::read_to_string(&cert_file).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

    // The token names the office and then the certificate.
    let token = t.token(Role::GridWorker, TOWNSHIP);
    let parsed = silin_hub::api::parse_token(&token).unwrap();
    assert_eq!(parsed.tls_certificate, Some(served.as_str()));

    let worker = t.device("worker");
    let out = client::enroll(&worker, &url, &token).unwrap();
    assert_eq!(out.role, "grid_worker");
    assert_eq!(
        worker.pinned_hub_certificate().unwrap().as_deref(),
        Some(served.as_str())
    );
    let c = cell(&worker, "一组");
    visit(&worker, &c, "over https");
    let up = client::sync(&worker, &url).unwrap();
    assert_eq!(up.docs_sent, 1);
    assert_eq!(t.store.heads(&c).unwrap(), worker.heads(&c).unwrap());
    // The hub's own word in the enrolment answer, and plain HTTP on its
    // port gets nowhere.
    let plain = url.replacen("https://", "http://", 1);
    assert!(client::health(&plain).is_err());
    let pinned = client::Hub::with_pin(&url, Some(&served)).unwrap();
    assert!(pinned.health().unwrap().ok);
    // A rollup asked from an enrolled office device goes through the pin too.
    let office_device = t.enrolled("office", Role::Office, TOWNSHIP);
    let today = t.store.clock().today();
    client::rollup(
        &office_device,
        &url,
        today,
        silin_core::model::Level::County,
    )
    .unwrap();
}

#[test]
fn a_client_pinned_to_another_certificate_is_refused_and_sends_nothing() {
    let t = tls_township(HubConfig::default());
    let url = t.hub.url();
    let served = t.hub.tls_certificate().unwrap().to_string();
    let mismatch = |r: Result<_, ClientError>| match r {
        Err(ClientError::Unreachable {
            certificate: Some(m),
            reason,
            url: u,
        }) => {
            assert_eq!(u, url);
            assert!(
                reason.contains("not the one this device pinned"),
                "{reason}"
            );
            m
        }
        other => panic!("expected a certificate mismatch, got {other:?}"),
    };

    // A token whose certificate part names another certificate: the
    // handshake is refused, the token is not spent, nothing is installed.
    let token = t.token(Role::GridWorker, TOWNSHIP);
    let forged = format!("{}.{OTHER_CERTIFICATE}", token.rsplit_once('.').unwrap().0);
    let victim = t.device("victim");
    let m = mismatch(client::enroll(&victim, &url, &forged).map(|_| ()));
    assert_eq!(m.pinned, OTHER_CERTIFICATE);
    assert_eq!(m.presented, served);
    assert!(victim.certificate().unwrap().is_none());
    assert_eq!(victim.pinned_hub_certificate().unwrap(), None);
    client::enroll(&victim, &url, &token).unwrap();

    // A device that pinned another certificate (another hub's) refuses
    // this one when it syncs, and the hub never hears from it.
    victim.pin_hub_certificate(Some(OTHER_CERTIFICATE)).unwrap();
    let before = t.get_pinned("/metrics", &served);
    let m = mismatch(client::sync(&victim, &url).map(|_| ()));
    assert_eq!(
        (m.pinned.as_str(), m.presented.as_str()),
        (OTHER_CERTIFICATE, served.as_str())
    );
    let after = t.get_pinned("/metrics", &served);
    let messages = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("silin_hub_sync_messages_total"))
            .map(str::to_string)
    };
    assert_eq!(messages(&before), messages(&after));
    // The typed error reads as what to do, and is not the caller's input.
    let e = client::Hub::with_pin(&url, Some(OTHER_CERTIFICATE))
        .unwrap()
        .health()
        .unwrap_err();
    assert!(!e.is_user_error());
    assert!(e.to_string().contains("enrol again"), "{e}");

    // An https hub with nothing pinned is refused before anything is sent.
    match client::Hub::new(&url).unwrap().health() {
        Err(ClientError::BadUrl { reason, .. }) => {
            assert!(reason.contains("pinned no TLS certificate"), "{reason}")
        }
        other => panic!("no pin: {other:?}"),
    }
    let fresh = t.device("fresh");
    let old_style = token.rsplit_once('.').unwrap().0.to_string();
    assert!(matches!(
        client::enroll(&fresh, &url, &old_style),
        Err(ClientError::BadUrl { .. })
    ));
}

impl Township {
    /// `GET path` over https pinned to `pin`, signed by the hub's own
    /// office device.
    fn get_pinned(&self, path: &str, pin: &str) -> String {
        let hub = client::Hub::with_pin(&self.hub.url(), Some(pin)).unwrap();
        String::from_utf8(hub.signed_get(&self.store, path).unwrap()).unwrap()
    }
}

#[test]
fn the_self_signed_certificate_is_made_once_and_office_files_are_served_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let first = silin_hub::tls::HubCertificate::self_signed(&db).unwrap();
    let again = silin_hub::tls::HubCertificate::self_signed(&db).unwrap();
    assert_eq!(first.fingerprint(), again.fingerprint());
    let pem = std::fs::read(silin_hub::tls::cert_path(&db)).unwrap();
    let der: Vec<u8> = {
        let b64: String = String::from_utf8(pem)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64_decode(&b64)
    };
    assert_eq!(
        silin_hub::api::certificate_fingerprint(&der),
        first.fingerprint()
    );

    // Another hub's pair, given as the office's own files, is served as is.
    let other = dir.path().join("other.db");
    let theirs = silin_hub::tls::HubCertificate::self_signed(&other).unwrap();
    let given = silin_hub::tls::HubCertificate::from_pem_files(
        &silin_hub::tls::cert_path(&other),
        &silin_hub::tls::key_path(&other),
    )
    .unwrap();
    assert_eq!(given.fingerprint(), theirs.fingerprint());
    // A key that is not the certificate's, a key others can read, and a
    // missing file are refused, each saying what is wrong.
    let e = silin_hub::tls::HubCertificate::from_pem_files(
        &silin_hub::tls::cert_path(&other),
        &silin_hub::tls::key_path(&db),
    )
    .unwrap_err();
    assert!(e.to_string().contains("own key"), "{e}");
    {
        use std::os::unix::fs::PermissionsExt;
        let key = silin_hub::tls::key_path(&other);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let e = silin_hub::tls::HubCertificate::from_pem_files(
        &silin_hub::tls::cert_path(&other),
        &silin_hub::tls::key_path(&other),
    )
    .unwrap_err();
    assert!(e.to_string().contains("chmod 600"), "{e}");
    let e = silin_hub::tls::HubCertificate::from_pem_files(
        &dir.path().join("nothing.pem"),
        &silin_hub::tls::key_path(&db),
    )
    .unwrap_err();
    assert!(e.to_string().contains("nothing.pem"), "{e}");
}

/// Standard base64 without padding checks, for reading a PEM body.
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= u32::from(*d) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn a_connection_that_stalls_in_its_tls_handshake_is_closed() {
    use std::io::Read;
    let t = tls_township(HubConfig {
        header_read_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let addr = t.hub.addr();
    let mut silent = std::net::TcpStream::connect(addr).unwrap();
    // Generous: only a hub that never closes the socket reaches it.
    silent
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut rest = Vec::new();
    match silent.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{rest:?}"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the hub kept a silent connection open: {e}"),
    }
    let served = t.hub.tls_certificate().unwrap().to_string();
    assert!(
        client::Hub::with_pin(&t.hub.url(), Some(&served))
            .unwrap()
            .health()
            .unwrap()
            .ok
    );
}

#[test]
fn a_plain_http_hub_issues_tokens_without_a_certificate_and_forgets_one_it_served() {
    // Served https once, then plain HTTP on loopback: tokens name no
    // certificate, and devices enrol over http as before.
    let t = tls_township(HubConfig::default());
    let db = t.dir.path().join("hub.db");
    assert!(silin_hub::api::parse_token(&t.token(Role::Lead, TOWNSHIP))
        .unwrap()
        .tls_certificate
        .is_some());
    let Township { dir, store, hub } = t;
    hub.shutdown().unwrap();
    let plain =
        silin_hub::server::spawn_with("127.0.0.1:0", store.clone(), HubConfig::default()).unwrap();
    assert!(plain.url().starts_with("http://"));
    let t = Township {
        dir,
        store,
        hub: plain,
    };
    let token = t.token(Role::GridWorker, TOWNSHIP);
    assert_eq!(token.split('.').count(), 2, "{token}");
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    assert_eq!(worker.pinned_hub_certificate().unwrap(), None);
    assert!(
        silin_hub::tls::cert_path(&db).exists(),
        "kept for the next https start"
    );
}

#[test]
fn an_encrypted_old_hub_database_has_its_office_key_moved_out_too() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sealed.db");
    let opened = || {
        Store::open(
            &db,
            StoreOptions {
                key: Some(silin_core::StoreKey::new("a passphrase the hub is given")),
                durability: Durability::Normal,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let inside = |store: &Store| -> i64 {
        store
            .with_connection(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM meta WHERE key = 'office_key'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    };
    let seed = {
        let store = opened();
        let office = office_key_inside(&store);
        assert_eq!(inside(&store), 1);
        office.key.seed()
    };
    let store = opened();
    let office = office::office(&store, None).unwrap();
    assert_eq!(office.key.seed(), seed);
    assert_eq!(key_in_file(&db), seed);
    assert_eq!(inside(&store), 0, "the key is still inside the database");
}

#[test]
fn the_dashboard_figures_as_json_answer_only_the_hub_machine_and_signed_office_devices() {
    use silin_hub::server::TrustedPeers;
    let t = Township::new(HubConfig {
        trusted_peers: TrustedPeers::Only(vec![]),
        ..Default::default()
    });
    let worker = t.enrolled("worker", Role::GridWorker, TOWNSHIP);
    cell(&worker, "一组");
    client::sync(&worker, &t.hub.url()).unwrap();
    let today = t.store.clock().now().date_naive();
    let path = format!("/v1/dashboard?date={today}");

    let (status, body) = t.get_with(&path, &[]);
    assert_eq!((status, error_kind(&body).as_str()), (403, "unsigned"));
    let hub = client::Hub::new(&t.hub.url()).unwrap();
    let lead = t.enrolled("lead", Role::Lead, TOWNSHIP);
    match hub.signed_get(&lead, &path) {
        Err(ClientError::Refused { status, kind, .. }) => {
            assert_eq!((status, kind.as_str()), (403, "role"))
        }
        other => panic!("a lead read the dashboard: {other:?}"),
    }
    let office = t.enrolled("office", Role::Office, TOWNSHIP);
    let v: serde_json::Value =
        serde_json::from_slice(&hub.signed_get(&office, &path).unwrap()).unwrap();
    assert_eq!(v["day"], today.to_string());
    assert_eq!(v["villages"][0]["cells"], 1);
    assert_eq!(v["villages"][0]["missing"], 1);
    assert!(v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["device_id"] == worker.device_id().as_str() && d["days_since"] == 0));
    // The pages themselves want a login, whoever asks.
    let (status, body) = t.get_with("/", &[]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("id=\"login\""));
}
