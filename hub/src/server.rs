//! The hub's HTTP server (axum on tokio).
//!
//! Endpoints: `POST /v1/sync` (one envelope in, one out), `POST /v1/enrol`,
//! `GET /v1/rollup`, `GET /healthz`, `GET /metrics`. Rollup and metrics
//! answer the hub machine itself ([`TrustedPeers`]) or a request signed by
//! an enrolled office or county device; health answers anyone. Sync sessions live in
//! memory between round trips, keyed by the session id the device chose;
//! every document write is committed by the store before the answer leaves,
//! so stopping the hub (gracefully or not) loses nothing it acknowledged.
//! With [`HubConfig::tls`] every connection is TLS 1.3 (see [`crate::tls`]).

use crate::api::{self, EnrolRequest, EnrolResponse, ErrorBody, Health};
use crate::exposition;
use crate::office;
use crate::sessions::{Dropped, Ended, Limits, MemorySessions, SessionHold};
use crate::storage::HubStorage;
use crate::tls::HubCertificate;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use silin_core::identity::{
    self, Certificate, IdentityError, Office, Role, Scope, CLOCK_SKEW_SECS,
};
use silin_core::model::{check_id, parse_date};
use silin_core::sync::envelope::{
    self, Body as EnvBody, EnvelopeError, Sender, MAX_ENVELOPE_BYTES,
};
use silin_core::sync::{Session, SyncError};
use silin_core::{Store, StoreOptions};
use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

// What one peer may make the hub hold, in one place. The hub answers anyone
// on its network: before a request proves it belongs to a session the hub
// already admitted, it may cost the hub only a little memory and time.

/// Most bytes of a sync message that opens a session (a Hello) or names a
/// session the hub does not hold. A Hello is a fixed header, a digest and
/// the device's certificate: an honest one is a few hundred bytes (a few
/// KiB for a certificate listing many cells), so 64 KiB leaves room for any
/// real scope while keeping what strangers make the hub buffer small.
pub const MAX_OPENING_BYTES: usize = 64 << 10;
/// Most bytes of an enrolment request: a token, a device id, a public key
/// and a signature, about 350 bytes of JSON; 16 KiB allows any formatting.
pub const MAX_ENROL_BYTES: usize = 16 << 10;
/// Time a client has to send a request's header, and the longest a kept-
/// alive connection may sit idle between requests. Real clients send the
/// header in one packet; 10 s covers a slow phone link and still drops a
/// connection that trickles a header (or sends nothing) before it ties up a
/// socket for long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a request's body has to arrive in full. The largest message
/// ([`MAX_ENVELOPE_BYTES`], 64 MiB) arrives in about 6 s on a 100 Mbit/s
/// office LAN and in under 20 s at 30 Mbit/s of Wi-Fi; a body slower than
/// that is cut off (408) and frees its memory.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Sync sessions one device may hold at once. A device syncs one session at
/// a time; a few more cover a sync abandoned and restarted before the first
/// went idle. Opening another drops that device's oldest, never another
/// device's, so no device can crowd others out of [`HubConfig::max_sessions`].
pub const SESSIONS_PER_DEVICE: usize = 4;
/// Sync sessions held at once across all devices: a township has a few
/// hundred devices, and a held session is a few KiB of sync state.
pub const MAX_SESSIONS: usize = 1024;
/// Whole-request bound (body read and answer), past which the answer is 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("cannot listen on {addr}: {source}; stop whatever uses it or choose another --listen address")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("hub: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] silin_core::Error),
    #[error("the hub stopped on an internal error; see its log")]
    Crashed,
}

/// Who may read `/v1/rollup` and `/metrics` without signing the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TrustedPeers {
    /// Requests from a loopback address (127.0.0.0/8, ::1): the hub
    /// machine itself, where the office already holds the database.
    #[default]
    Loopback,
    /// Only these addresses (none for an empty list: every read is signed).
    Only(Vec<IpAddr>),
}

impl TrustedPeers {
    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        match self {
            TrustedPeers::Loopback => addr.is_loopback(),
            TrustedPeers::Only(list) => list.iter().any(|a| a.to_canonical() == addr),
        }
    }
}

/// How a hub runs. Every limit's default is a constant above, with why.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Scope of the hub's own office certificate: the cells it shares.
    /// `None` keeps what the store has (`*` for a new hub).
    pub scope: Option<Scope>,
    /// A sync session idle this long is dropped (the device starts anew).
    pub session_idle: Duration,
    /// Most sync sessions held at once ([`MAX_SESSIONS`]); past it the
    /// longest idle is dropped.
    pub max_sessions: usize,
    /// Most sync sessions one device holds ([`SESSIONS_PER_DEVICE`]); past
    /// it that device's oldest is dropped.
    pub sessions_per_device: usize,
    /// After a shutdown signal, how long in-flight requests may take.
    pub shutdown_grace: Duration,
    /// Requests working on the store at once; past it the hub answers 503
    /// at once rather than queueing work for anyone who connects.
    pub max_in_flight: usize,
    /// A request not done (body read and answered) in this time gets 408
    /// and its memory back: a slow or stalled sender holds nothing longer.
    pub request_timeout: Duration,
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`MAX_OPENING_BYTES`].
    pub max_opening_bytes: usize,
    /// See [`MAX_ENROL_BYTES`].
    pub max_enrol_bytes: usize,
    /// Who reads rollup and metrics unsigned (see [`TrustedPeers`]);
    /// anyone else signs with an office or county device's key.
    pub trusted_peers: TrustedPeers,
    /// Serve https with this certificate; `None` serves plain HTTP. The
    /// hub records its fingerprint in its store for the tokens it issues.
    pub tls: Option<HubCertificate>,
    /// What the office dashboard at `/` reads ([`crate::dashboard`]); on a
    /// storage without it the dashboard says it is not served there.
    /// [`serve_with`] fills it in from its SQLite store.
    pub dashboard: Option<crate::dashboard::DashboardSource>,
    /// Where the standing retention policy ([`crate::retention`]) the hub
    /// applies once a day while it serves is kept; [`serve_with`] fills it
    /// in with its store, a PostgreSQL hub with its database.
    pub retention: Option<Arc<dyn crate::retention::Standing>>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            scope: None,
            session_idle: Duration::from_secs(300),
            max_sessions: MAX_SESSIONS,
            sessions_per_device: SESSIONS_PER_DEVICE,
            shutdown_grace: Duration::from_secs(30),
            max_in_flight: 256,
            request_timeout: REQUEST_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            max_opening_bytes: MAX_OPENING_BYTES,
            max_enrol_bytes: MAX_ENROL_BYTES,
            trusted_peers: TrustedPeers::Loopback,
            tls: None,
            dashboard: None,
            retention: None,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

struct Metrics {
    registry: Registry,
    syncs_completed: Counter,
    sync_messages: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    refusals: Family<KindLabel, Counter>,
    enrolments: Counter,
    open_sessions: Gauge,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
}

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            syncs_completed: Counter::default(),
            sync_messages: Counter::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            refusals: Family::default(),
            enrolments: Counter::default(),
            open_sessions: Gauge::default(),
            latency: Family::new_with_constructor(latency_histogram),
        };
        let r = &mut m.registry;
        r.register(
            "silin_hub_syncs_completed",
            "Sync sessions that ended without a refusal",
            m.syncs_completed.clone(),
        );
        r.register(
            "silin_hub_sync_messages",
            "Sync envelopes received",
            m.sync_messages.clone(),
        );
        r.register(
            "silin_hub_sync_bytes_in",
            "Bytes of sync envelopes received",
            m.bytes_in.clone(),
        );
        r.register(
            "silin_hub_sync_bytes_out",
            "Bytes of sync envelopes sent",
            m.bytes_out.clone(),
        );
        r.register(
            "silin_hub_refusals",
            "Requests refused, by kind (malformed, too_large, identity, token, replay, clock, scope, session, bad_document)",
            m.refusals.clone(),
        );
        r.register(
            "silin_hub_enrolments",
            "Devices enrolled",
            m.enrolments.clone(),
        );
        r.register(
            "silin_hub_open_sessions",
            "Sync sessions held between round trips",
            m.open_sessions.clone(),
        );
        r.register(
            "silin_hub_request_duration_seconds",
            "Time to answer a request, by route",
            m.latency.clone(),
        );
        m
    }
}

struct Hub {
    storage: Arc<dyn HubStorage>,
    sessions: Arc<dyn SessionHold>,
    office: Office,
    config: HubConfig,
    metrics: Metrics,
    /// Permits for requests in flight (see [`HubConfig::max_in_flight`]).
    in_flight: Arc<tokio::sync::Semaphore>,
}

/// An error answer: status, stable kind, actionable message.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.kind.to_string(),
                message: self.message,
            }),
        )
            .into_response()
    }
}

/// How a refused sync message is answered.
fn classify(e: &SyncError) -> (StatusCode, &'static str, String) {
    use StatusCode as S;
    let text = e.to_string();
    match e {
        SyncError::Envelope(EnvelopeError::TooLarge(_)) => (S::PAYLOAD_TOO_LARGE, "too_large", text),
        SyncError::Envelope(EnvelopeError::Certificate(_)) | SyncError::Identity(_) => {
            (S::FORBIDDEN, "identity", text)
        }
        SyncError::Envelope(_) => (S::BAD_REQUEST, "malformed", text),
        SyncError::PeerNotEnrolled => (
            S::FORBIDDEN,
            "identity",
            "the hub syncs only with enrolled devices; enrol this device first (`silin enroll --hub URL --token T`)".into(),
        ),
        SyncError::Replayed => (S::FORBIDDEN, "replay", text),
        SyncError::ClockSkew { .. } => (S::FORBIDDEN, "clock", text),
        SyncError::OutOfScope { doc } => (
            S::FORBIDDEN,
            "scope",
            format!("this device sent cell {doc}, which is outside its certificate's scope; refused, nothing applied"),
        ),
        SyncError::BadDocument { .. } => (S::BAD_REQUEST, "bad_document", text),
        SyncError::Seal(_) => (S::BAD_REQUEST, "malformed", text),
        SyncError::UnknownCertificate => (S::CONFLICT, "unknown_certificate", text),
        SyncError::WrongSession
        | SyncError::Unexpected(_)
        | SyncError::Finished
        | SyncError::TooManyRounds => (S::CONFLICT, "session", text),
        // Something the peer sent that the store would not take.
        SyncError::Store(e) if e.is_user_error() => (S::BAD_REQUEST, "bad_document", text),
        SyncError::Store(_) => (S::INTERNAL_SERVER_ERROR, "store", text),
        // Refusals core may add later.
        #[allow(unreachable_patterns)]
        _ => (S::FORBIDDEN, "refused", text),
    }
}

impl Hub {
    /// Answers a refusal: logged with who and why, and counted.
    fn refuse(
        &self,
        peer: SocketAddr,
        device: Option<&str>,
        what: &str,
        status: StatusCode,
        kind: &'static str,
        message: String,
    ) -> ApiError {
        self.metrics
            .refusals
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
        warn!(
            %peer,
            device = device.unwrap_or("unknown"),
            kind,
            status = status.as_u16(),
            "refused {what}: {message}"
        );
        ApiError::new(status, kind, message)
    }

    fn ended(&self, ended: &Ended, why: &str) {
        self.metrics.syncs_completed.inc();
        info!(
            device = ended.device.as_deref().unwrap_or("unknown"),
            docs_sent = ended.stats.docs_sent,
            docs_received = ended.stats.docs_received,
            "sync session ended ({why})"
        );
    }

    fn limits(&self) -> Limits {
        Limits {
            max_sessions: self.config.max_sessions,
            per_device: self.config.sessions_per_device,
        }
    }

    /// Counts and logs what holding a session pushed out.
    fn dropped(&self, device: Option<&str>, dropped: &Dropped) {
        if dropped.own > 0 {
            self.metrics
                .refusals
                .get_or_create(&KindLabel {
                    kind: "session_quota".into(),
                })
                .inc_by(dropped.own as u64);
            warn!(
                device = device.unwrap_or("unknown"),
                "device holds {} sync sessions; dropped its {} oldest",
                self.config.sessions_per_device,
                dropped.own
            );
        }
        if let Some(idle) = &dropped.idle {
            warn!(
                device = idle.as_deref().unwrap_or("unknown"),
                "{} sync sessions open; dropped the longest idle", self.config.max_sessions
            );
        }
    }

    /// Drops sessions idle past the limit. A device only stops sending when
    /// it has nothing left, so going idle is how a finished session ends.
    async fn sweep(self: &Arc<Self>) {
        let hub = self.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let ended = hub
                .sessions
                .sweep(hub.storage.as_ref(), hub.config.session_idle);
            (ended, hub.sessions.count())
        })
        .await;
        match swept {
            Ok((Ok(ended), count)) => {
                for e in &ended {
                    self.ended(e, "idle");
                }
                if let Ok(n) = count {
                    self.metrics.open_sessions.set(n as i64);
                }
            }
            Ok((Err(e), _)) => warn!("could not drop idle sync sessions: {e}"),
            Err(e) => error!("sweeping sync sessions failed: {e}"),
        }
    }

    /// True when the hub holds session `id` (its messages may then be as
    /// large as [`MAX_ENVELOPE_BYTES`]; whether one really comes from the
    /// session's peer is checked once it is read, by
    /// [`SessionHold::take_for`]).
    async fn holds(self: &Arc<Self>, id: [u8; 16]) -> bool {
        let sessions = self.sessions.clone();
        match tokio::task::spawn_blocking(move || sessions.holds(&id)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                warn!("could not look up a sync session: {e}");
                false
            }
            Err(_) => false,
        }
    }

    /// Runs store work off the async threads.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Hub) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        // Store work is what a crowd can exhaust; a request gets a permit
        // only once its body is in, so slow senders hold none.
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            self.metrics
                .refusals
                .get_or_create(&KindLabel {
                    kind: "busy".into(),
                })
                .inc();
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the hub is working on as many requests as it takes at once; try again in a minute",
            ));
        };
        let hub = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&hub)
        })
        .await
        .map_err(|e| {
            error!("store task failed: {e}");
            ApiError::internal("the hub failed while working on the store; see its log")
        })
    }
}

/// Bytes of an envelope's fixed header: magic, version, kind, session id
/// (see `silin_core::sync::envelope`), enough to tell which session a
/// message names before reading the rest.
const ENVELOPE_HEAD: usize = 4 + 1 + 1 + 16;

/// The session a sync message continues, from its first bytes: `None` for
/// an opening (Hello), a bundle, or bytes that are no envelope at all.
fn continued_session(head: &[u8]) -> Option<[u8; 16]> {
    if head.len() < ENVELOPE_HEAD || &head[..4] != b"SLNS" || head[4] != envelope::VERSION {
        return None;
    }
    let kind = head[5];
    let continues = kind == envelope::Kind::Round as u8 || kind == envelope::Kind::Done as u8;
    continues.then(|| head[6..ENVELOPE_HEAD].try_into().ok())?
}

/// Why a body was not read in full.
enum BodyError {
    TooLarge,
    Timeout,
    Broken(String),
}

/// A request body read frame by frame, against a deadline for all of it.
struct BodyReader {
    body: Body,
    declared: Option<u64>,
    deadline: tokio::time::Instant,
    bytes: Vec<u8>,
    done: bool,
}

impl BodyReader {
    fn new(headers: &HeaderMap, body: Body, timeout: Duration) -> BodyReader {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        BodyReader {
            body,
            declared,
            deadline: tokio::time::Instant::now() + timeout,
            bytes: Vec::new(),
            done: false,
        }
    }

    /// Reads until at least `want` bytes are in or the body ends, refusing
    /// a body that declares or sends more than `limit` (so a large body is
    /// refused without reading the rest of it).
    async fn read(&mut self, want: usize, limit: usize) -> Result<(), BodyError> {
        use http_body_util::BodyExt;
        if self.declared.is_some_and(|n| n > limit as u64) || self.bytes.len() > limit {
            return Err(BodyError::TooLarge);
        }
        while !self.done && self.bytes.len() < want {
            let frame = tokio::time::timeout_at(self.deadline, self.body.frame())
                .await
                .map_err(|_| BodyError::Timeout)?;
            match frame {
                None => self.done = true,
                Some(Err(e)) => return Err(BodyError::Broken(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if self.bytes.len() + data.len() > limit {
                            return Err(BodyError::TooLarge);
                        }
                        self.bytes.extend_from_slice(&data);
                    }
                }
            }
        }
        Ok(())
    }

    async fn read_all(&mut self, limit: usize) -> Result<(), BodyError> {
        self.read(usize::MAX, limit).await
    }
}

/// A body that could not be read, as the hub answers it.
fn body_refusal(
    hub: &Hub,
    peer: SocketAddr,
    what: &str,
    e: BodyError,
    too_large: impl FnOnce() -> String,
) -> ApiError {
    let (status, kind, message) = match e {
        BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", too_large()),
        BodyError::Timeout => (
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request's body did not arrive within {} s; nothing was applied; try again on a steadier connection",
                hub.config.body_read_timeout.as_secs_f32()
            ),
        ),
        BodyError::Broken(e) => (
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("the request's body was cut off ({e}); nothing was applied; try again"),
        ),
    };
    hub.refuse(peer, None, what, status, kind, message)
}

async fn sync(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut reader = BodyReader::new(&headers, body, hub.config.body_read_timeout);
    let opening = hub.config.max_opening_bytes;
    // Only a message naming a session the hub holds (one that began with a
    // Hello the hub accepted) may be large; anything else is read only up
    // to the opening limit, and one declaring more is refused unread.
    let refused = |e| {
        body_refusal(&hub, peer, "sync", e, || {
            format!(
                "a sync message that opens a session (or names none the hub holds) may be at most {opening} bytes, and this one is larger; the hub read no more of it and applied nothing; start a new sync"
            )
        })
    };
    reader
        .read(ENVELOPE_HEAD, MAX_ENVELOPE_BYTES.max(opening))
        .await
        .map_err(&refused)?;
    let admitted = match continued_session(&reader.bytes) {
        Some(id) => hub.holds(id).await,
        None => false,
    };
    if admitted {
        reader.read_all(MAX_ENVELOPE_BYTES).await.map_err(|e| {
            body_refusal(&hub, peer, "sync", e, || {
                format!(
                    "a sync message may be at most {MAX_ENVELOPE_BYTES} bytes, and this one is larger; nothing was applied; update silin on this device"
                )
            })
        })?;
    } else {
        reader.read_all(opening).await.map_err(&refused)?;
    }
    let bytes = reader.bytes;
    hub.metrics.sync_messages.inc();
    hub.metrics.bytes_in.inc_by(bytes.len() as u64);
    let env = envelope::decode(&bytes).map_err(|e| {
        let (status, kind, message) = classify(&SyncError::Envelope(e));
        hub.refuse(peer, None, "sync", status, kind, message)
    })?;
    let id = env.session;
    let claimed = match &env.sender {
        Sender::Certificate(c) => Some(c.device_id.clone()),
        _ => None,
    };
    let continues = match env.body {
        // An opening always starts a new session; one that reuses a known
        // session id is refused as a replay by the session itself.
        EnvBody::Hello { .. } => false,
        EnvBody::Bundle { .. } => {
            return Err(hub.refuse(
                peer,
                claimed.as_deref(),
                "sync",
                StatusCode::BAD_REQUEST,
                "malformed",
                "this is a bundle file, not a sync message; import it on the hub machine with `silin bundle import FILE`".into(),
            ))
        }
        _ => true,
    };
    drop(env);
    let outcome = hub
        .blocking(move |hub| run_round(hub, id, continues, &bytes))
        .await?;
    let (result, session) = match outcome {
        Round::Unknown => {
            return Err(hub.refuse(
                peer,
                claimed.as_deref(),
                "sync",
                StatusCode::CONFLICT,
                "session",
                "this sync session is unknown to the hub or expired; start a new sync".into(),
            ))
        }
        Round::Ran { result, session } => (result, session),
    };
    match result {
        Ok(Some(reply)) => {
            if let Some(ended) = &session {
                hub.ended(ended, "nothing to exchange");
            }
            hub.metrics.bytes_out.inc_by(reply.len() as u64);
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], reply).into_response())
        }
        // The device's closing message: the session is over.
        Ok(None) => {
            if let Some(ended) = &session {
                hub.ended(ended, "closed by the device");
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(e) if !e.is_refusal() && !matches!(&e, SyncError::Store(s) if s.is_user_error()) => {
            error!(%peer, "sync failed on the hub's store: {e}");
            Err(ApiError::internal(format!(
                "the hub could not work on its store ({e}); try again later and tell the office"
            )))
        }
        Err(e) => {
            let device = session.and_then(|s| s.device).or(claimed);
            let (status, kind, message) = classify(&e);
            Err(hub.refuse(peer, device.as_deref(), "sync", status, kind, message))
        }
    }
}

/// What one sync message did on the hub.
enum Round {
    /// It continues a session the hub does not hold (or not for its sender).
    Unknown,
    /// It ran: the answer, and the session's figures when it ended here.
    Ran {
        result: Result<Option<Vec<u8>>, SyncError>,
        session: Option<Box<Ended>>,
    },
}

/// Runs one message of session `id` (a new one for an opening), and holds
/// the session again when it goes on. Storage work: call it off the async
/// threads.
fn run_round(hub: &Hub, id: [u8; 16], continues: bool, bytes: &[u8]) -> Round {
    let round = round_on(hub, id, continues, bytes);
    if let Ok(n) = hub.sessions.count() {
        hub.metrics.open_sessions.set(n as i64);
    }
    round
}

fn round_on(hub: &Hub, id: [u8; 16], continues: bool, bytes: &[u8]) -> Round {
    let replica: &dyn silin_core::Replica = hub.storage.as_ref();
    let held = if continues {
        match hub.sessions.take_for(replica, &id, bytes) {
            Ok(Some(s)) => Ok(s),
            Ok(None) => return Round::Unknown,
            Err(e) => Err(e),
        }
    } else {
        Session::accept(replica).and_then(|mut s| {
            s.pass_on(hub.storage.revocations_to_pass_on()?);
            Ok(s)
        })
    };
    let mut session = match held {
        Ok(s) => s,
        Err(e) => {
            return Round::Ran {
                result: Err(e),
                session: None,
            }
        }
    };
    let result = session.receive(replica, bytes);
    let ended = Ended::of(&session);
    if matches!(result, Ok(Some(_))) && !session.is_done() {
        let device = ended.device.clone();
        match hub.sessions.hold(id, session, hub.limits()) {
            Ok(dropped) => {
                hub.dropped(device.as_deref(), &dropped);
                return Round::Ran {
                    result,
                    session: None,
                };
            }
            Err(e) => {
                return Round::Ran {
                    result: Err(e),
                    session: Some(Box::new(ended)),
                }
            }
        }
    }
    Round::Ran {
        result,
        session: Some(Box::new(ended)),
    }
}

async fn enrol(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EnrolResponse>, ApiError> {
    let limit = hub.config.max_enrol_bytes;
    let mut reader = BodyReader::new(&headers, body, hub.config.body_read_timeout);
    reader.read_all(limit).await.map_err(|e| {
        body_refusal(&hub, peer, "enrolment", e, || {
            format!(
                "an enrolment request may be at most {limit} bytes, and this one is larger; the hub read no more of it and issued nothing; enrol with `silin enroll --hub URL --token T`"
            )
        })
    })?;
    let bytes = reader.bytes;
    let bad = |device: Option<&str>, message: String| {
        hub.refuse(
            peer,
            device,
            "enrolment",
            StatusCode::BAD_REQUEST,
            "malformed",
            message,
        )
    };
    let req: EnrolRequest = serde_json::from_slice(&bytes).map_err(|e| {
        bad(
            None,
            format!("the enrolment request is not the JSON the hub expects: {e}"),
        )
    })?;
    let device = req.device_id.clone();
    let dev = Some(device.as_str());
    let forbidden = |kind, message: String| {
        hub.refuse(peer, dev, "enrolment", StatusCode::FORBIDDEN, kind, message)
    };
    check_id("device_id", &device).map_err(|e| bad(dev, e.to_string()))?;
    let Some((_, fingerprint)) = api::split_token(&req.token) else {
        return Err(bad(
            dev,
            "the token is not of the form <32 hex digits>.<16 hex digits>; copy it again".into(),
        ));
    };
    if fingerprint.to_ascii_lowercase() != identity::fingerprint(&hub.office.public_key()) {
        return Err(forbidden(
            "token",
            IdentityError::OfficeMismatch.to_string(),
        ));
    }
    let public_key: [u8; 32] = hex::decode(&req.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad(dev, "public_key must be 32 bytes of hex".into()))?;
    let proof: [u8; 64] = hex::decode(&req.proof)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad(dev, "proof must be 64 bytes of hex".into()))?;
    let signed = api::enrol_proof(&req.token, &device, &public_key);
    if !identity::verify_signature(&public_key, &signed, &proof) {
        return Err(forbidden(
            "identity",
            "the enrolment request is not signed with the key it names; nothing was issued".into(),
        ));
    }
    let office = hub.office.clone();
    let token = req.token.clone();
    let issued = hub
        .blocking({
            let device = device.clone();
            move |hub| -> Result<_, (&'static str, String)> {
                let store = hub.storage.as_ref();
                let revoked = store
                    .is_revoked(&device)
                    .map_err(|e| ("store", e.to_string()))?;
                if revoked {
                    let e = IdentityError::Revoked {
                        device: device.clone(),
                    };
                    return Err(("identity", e.to_string()));
                }
                let grant = store
                    .redeem_token(&token, &device, &public_key)
                    .map_err(|e| ("store", e.to_string()))?
                    .map_err(|e| ("token", e.to_string()))?;
                let now = store.clock().timestamp();
                let days = grant.valid_days.clamp(1, office::MAX_VALID_DAYS);
                Ok(office.issue(
                    &device,
                    public_key,
                    grant.role,
                    grant.scope,
                    now,
                    now + days * 86400,
                ))
            }
        })
        .await?;
    let cert = match issued {
        Ok(c) => c,
        Err(("store", e)) => {
            error!(%peer, device, "enrolment failed on the hub's store: {e}");
            return Err(ApiError::internal(format!(
                "the hub could not work on its store ({e}); try again later"
            )));
        }
        Err((kind, message)) => return Err(forbidden(kind, message)),
    };
    hub.metrics.enrolments.inc();
    info!(
        %peer,
        device,
        role = cert.role.as_str(),
        scope = cert.scope.0.join(","),
        expires = cert.expires_text(),
        "enrolled device"
    );
    Ok(Json(EnrolResponse {
        certificate: hex::encode(cert.encode()),
        office_public_key: hex::encode(hub.office.public_key()),
        role: cert.role.as_str().to_string(),
        scope: cert.scope.0.clone(),
        expires: cert.expires_text(),
        tls_certificate: hub.config.tls.as_ref().map(|c| c.fingerprint().to_string()),
    }))
}

#[derive(Debug, serde::Deserialize)]
struct RollupQuery {
    date: Option<String>,
    level: Option<String>,
}

async fn rollup(
    State(hub): State<Arc<Hub>>,
    query: Result<Query<RollupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m);
    let Query(q) = query.map_err(|e| bad(e.body_text()))?;
    let date = q.date.ok_or_else(|| {
        bad("add ?date=YYYY-MM-DD (and optionally &level=county|township|village|group, a level a branch names such as building, or a depth 1–6)".into())
    })?;
    let date = parse_date("date", &date).map_err(|e| bad(e.to_string()))?;
    let level = q.level.unwrap_or_else(|| "county".into());
    // Outer: the store could not be read; inner: the level is not one.
    let rows = hub
        .blocking(
            move |hub| -> silin_core::Result<Result<Vec<silin_core::rollup::RollupRow>, String>> {
                // A depth (1 = county) or a level's name as this hub's
                // hierarchy has it (village, building, unit…).
                let level = hub
                    .storage
                    .hierarchy()?
                    .level(&level)
                    .map_err(|e| format!("level {level:?}: {}", e.rule));
                match level {
                    Ok(level) => hub.storage.rollup(date, level).map(Ok),
                    Err(m) => Ok(Err(m)),
                }
            },
        )
        .await?
        .map_err(|e| ApiError::internal(format!("the hub could not read its store: {e}")))?
        .map_err(bad)?;
    Ok(Json(rows).into_response())
}

async fn health(State(hub): State<Arc<Hub>>) -> Result<Json<Health>, ApiError> {
    let cells = hub
        .blocking(|hub| hub.storage.cell_count())
        .await?
        .map_err(|e| ApiError::internal(format!("the hub could not read its store: {e}")))?;
    Ok(Json(Health {
        ok: true,
        cells,
        device_id: hub.storage.device_id(),
        office: identity::fingerprint(&hub.office.public_key()),
    }))
}

async fn metrics(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &hub.metrics.registry) {
        return ApiError::internal(format!("metrics could not be written: {e}")).into_response();
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if exposition::wants_openmetrics(accept) {
        ([(header::CONTENT_TYPE, exposition::OPENMETRICS)], text).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, exposition::CLASSIC)],
            exposition::classic(&text),
        )
            .into_response()
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no endpoint {} {}; the hub serves POST /v1/sync, POST /v1/enrol, GET /v1/rollup, GET /v1/dashboard, GET /healthz, GET /metrics, and the office dashboard at /",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Longest certificate header a signed read may carry (hex): a certificate
/// is bounded by its scope (at most 4096 entries of 256 bytes), and an
/// office or county device's names a few regions.
const MAX_CERTIFICATE_HEADER: usize = 32 << 10;

/// Lets a read of rollup or metrics through when it comes from a trusted
/// address (the hub machine itself by default) or is signed by an office
/// or county device this hub's office enrolled and has not revoked.
async fn office_reads(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if hub.config.trusted_peers.trusts(peer.ip()) {
        return next.run(req).await;
    }
    // The body is not Sync; the check needs only the head.
    let (head, body) = req.into_parts();
    match check_reader(&hub, peer, &head).await {
        Ok(()) => next.run(Request::from_parts(head, body)).await,
        Err(e) => e.into_response(),
    }
}

async fn check_reader(
    hub: &Arc<Hub>,
    peer: SocketAddr,
    req: &axum::http::request::Parts,
) -> Result<(), ApiError> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(cert), Some(time), Some(sig)) = (
        header(api::CERTIFICATE_HEADER),
        header(api::TIME_HEADER),
        header(api::SIGNATURE_HEADER),
    ) else {
        return Err(hub.refuse(
            peer,
            None,
            "read",
            StatusCode::FORBIDDEN,
            "unsigned",
            "rollup and metrics answer only the hub machine itself, or a request signed by an office or county device enrolled with this hub; ask from the hub machine, or from such a device".into(),
        ));
    };
    let refuse = |device: Option<&str>, kind, message: String| {
        hub.refuse(peer, device, "read", StatusCode::FORBIDDEN, kind, message)
    };
    let cert = if cert.len() > MAX_CERTIFICATE_HEADER {
        Err(format!("over {MAX_CERTIFICATE_HEADER} characters"))
    } else {
        hex::decode(cert)
            .map_err(|_| "not hex".to_string())
            .and_then(|b| Certificate::decode(&b).map_err(|e| e.to_string()))
    };
    let cert = cert.map_err(|e| {
        refuse(
            None,
            "identity",
            format!(
                "the {} header is not a certificate this hub can read ({e}); sign the request with an enrolled device",
                api::CERTIFICATE_HEADER
            ),
        )
    })?;
    let device = cert.device_id.clone();
    let dev = Some(device.as_str());
    let (Ok(time), Some(sig)) = (
        time.parse::<i64>(),
        hex::decode(sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok()),
    ) else {
        return Err(refuse(
            dev,
            "malformed",
            format!(
                "{} must be unix seconds and {} 64 bytes of hex",
                api::TIME_HEADER,
                api::SIGNATURE_HEADER
            ),
        ));
    };
    let now = hub.storage.clock().timestamp();
    cert.verify(&hub.office.public_key(), now)
        .map_err(|e| refuse(dev, "identity", e.to_string()))?;
    if !matches!(cert.role, Role::Office | Role::County) {
        return Err(refuse(
            dev,
            "role",
            format!(
                "device {device} is enrolled as {}; rollup and metrics are for office and county devices",
                cert.role.as_str()
            ),
        ));
    }
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let proof = api::read_proof(req.method.as_str(), path, time);
    if !identity::verify_signature(&cert.public_key, &proof, &sig) {
        return Err(refuse(
            dev,
            "identity",
            format!("the request is not signed by device {device}'s key for {} {path}; sign each request anew", req.method),
        ));
    }
    if (now - time).abs() > CLOCK_SKEW_SECS {
        return Err(refuse(
            dev,
            "clock",
            format!(
                "the request was signed at {time}, more than {CLOCK_SKEW_SECS} s from the hub's clock ({now}); check the device's clock"
            ),
        ));
    }
    let revoked = {
        let device = device.clone();
        hub.blocking(move |hub| hub.storage.is_revoked(&device))
            .await?
    };
    match revoked {
        Ok(false) => Ok(()),
        Ok(true) => Err(refuse(
            dev,
            "identity",
            IdentityError::Revoked {
                device: device.clone(),
            }
            .to_string(),
        )),
        Err(e) => Err(ApiError::internal(format!(
            "the hub could not read its store ({e}); try again later"
        ))),
    }
}

/// Times every request by route.
async fn observe(
    State(hub): State<Arc<Hub>>,
    route: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let route = route.map_or_else(|| "other".to_string(), |r| r.as_str().to_string());
    let started = Instant::now();
    let resp = match tokio::time::timeout(hub.config.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            hub.metrics
                .refusals
                .get_or_create(&KindLabel {
                    kind: "timeout".into(),
                })
                .inc();
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request took too long to arrive or to answer; nothing of it was applied unless the hub answered; sync again",
            )
            .into_response()
        }
    };
    hub.metrics
        .latency
        .get_or_create(&RouteLabel { route })
        .observe(started.elapsed().as_secs_f64());
    resp
}

fn router(hub: Arc<Hub>) -> Router {
    let app = Router::new()
        .route("/v1/sync", post(sync))
        .route("/v1/enrol", post(enrol))
        .route(
            "/v1/rollup",
            get(rollup).route_layer(middleware::from_fn_with_state(hub.clone(), office_reads)),
        )
        .route("/healthz", get(health))
        .route(
            "/metrics",
            get(metrics).route_layer(middleware::from_fn_with_state(hub.clone(), office_reads)),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(hub.clone(), observe))
        .with_state(hub.clone());
    // A hub given no dashboard source serves none (a layer on a router
    // without routes would be a mistake axum refuses at start).
    let Some(source) = hub.config.dashboard.clone() else {
        return app;
    };
    // Programs read the dashboard's figures as JSON, signed like the
    // rollup; people log in to the pages.
    app.merge(
        crate::dashboard::api_router(Some(source.clone()))
            .route_layer(middleware::from_fn_with_state(hub.clone(), office_reads)),
    )
    .merge(crate::dashboard::router(
        Some(source),
        hub.config.tls.is_some(),
    ))
}

/// Serves the hub on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish, and returns. Uses the scope
/// the hub's store already has (`*` for a new hub).
pub async fn serve(
    listener: TcpListener,
    store: Arc<Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HubError> {
    serve_with(listener, store, HubConfig::default(), shutdown).await
}

/// `config` with the dashboard reading `store` (unencrypted, or opened by
/// the caller with its key in a source of its own) unless it names one.
fn with_dashboard(mut config: HubConfig, store: &Arc<Store>) -> HubConfig {
    if config.retention.is_none() {
        config.retention = Some(store.clone() as Arc<dyn crate::retention::Standing>);
    }
    if config.dashboard.is_none() {
        config.dashboard = Some(crate::dashboard::DashboardSource::new(store.clone()));
    }
    config
}

/// [`serve`] with explicit settings.
pub async fn serve_with(
    listener: TcpListener,
    store: Arc<Store>,
    config: HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HubError> {
    let config = with_dashboard(config, &store);
    let office = {
        let (store, scope) = (store.clone(), config.scope.clone());
        tokio::task::spawn_blocking(move || office::office(&store, scope.as_ref()))
            .await
            .map_err(|_| HubError::Crashed)??
    };
    {
        let (store, served) = (store.clone(), config.tls.clone());
        tokio::task::spawn_blocking(move || record_certificate(&store, served.as_ref()))
            .await
            .map_err(|_| HubError::Crashed)??;
    }
    serve_storage(
        listener,
        store,
        Arc::new(MemorySessions::new()),
        office,
        config,
        shutdown,
    )
    .await
}

/// How often a serving hub asks whether the office's standing retention
/// policy is due: the day's run comes within this of the day's start (the
/// quiet hours), and asking is one small query.
const RETENTION_CHECK: Duration = Duration::from_secs(15 * 60);

/// A background task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Applies the office's standing retention policy once a day while the
/// hub serves ([`crate::retention`]); a failure is logged and tried again
/// at the next check.
async fn standing_retention(store: Arc<dyn crate::retention::Standing>) {
    let mut tick = tokio::time::interval(RETENTION_CHECK);
    loop {
        tick.tick().await;
        let s = store.clone();
        let ran = tokio::task::spawn_blocking(move || {
            let today = s.today();
            s.run_if_due(today).map(|r| (today, r))
        })
        .await;
        match ran {
            Ok(Ok((day, Some(orders)))) => info!(
                %day,
                cells = orders.len(),
                records = orders.iter().map(|o| o.subjects.len()).sum::<usize>(),
                "applied the office's standing retention policy"
            ),
            Ok(Ok((_, None))) => {}
            Ok(Err(e)) => warn!("the standing retention policy could not be applied: {e}"),
            Err(_) => warn!("applying the standing retention policy failed"),
        }
    }
}

/// Serves the hub over any [`HubStorage`], with sessions held in
/// `sessions` between rounds (the database's, when several processes share
/// it). `office` signs the certificates it issues.
pub async fn serve_storage(
    listener: TcpListener,
    storage: Arc<dyn HubStorage>,
    sessions: Arc<dyn SessionHold>,
    office: Office,
    config: HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HubError> {
    let tls = match &config.tls {
        Some(cert) => Some(tokio_rustls::TlsAcceptor::from(cert.server_config()?)),
        None => None,
    };
    // Devices' own audit entries that come up in sessions join the log.
    storage.keep_device_audit();
    let grace = config.shutdown_grace;
    let idle = config.session_idle;
    let max_in_flight = config.max_in_flight.max(1);
    let hub = Arc::new(Hub {
        storage,
        sessions,
        office,
        config,
        metrics: Metrics::new(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(max_in_flight)),
    });
    let addr = listener.local_addr()?;
    let office_fp = identity::fingerprint(&hub.office.public_key());
    info!(
        %addr,
        device = hub.storage.device_id(),
        office = office_fp,
        tls_certificate = hub.config.tls.as_ref().map_or("none (plain HTTP)", |c| c.fingerprint()),
        "hub listening"
    );
    if hub.config.tls.is_none() && !addr.ip().is_loopback() {
        warn!(
            %addr,
            "serving plain HTTP beyond this machine: enrolment tokens, certificates and cell contents cross the network readable and alterable by anyone on it; serve https (drop --insecure-http)"
        );
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    // Resolves on the signal, or when its sender is gone.
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // Stopped with the hub, however serving ends.
    let _retention = hub
        .config
        .retention
        .clone()
        .map(|store| AbortOnDrop(tokio::spawn(standing_retention(store))));
    let housekeeping = {
        let hub = hub.clone();
        tokio::spawn(async move {
            let period = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
            let mut tick = tokio::time::interval(period);
            let mut last_renewal = Instant::now();
            loop {
                tick.tick().await;
                hub.sweep().await;
                // Keep the hub's own certificate from running out while it
                // serves for months.
                if last_renewal.elapsed() > Duration::from_secs(3600) {
                    last_renewal = Instant::now();
                    let scope = hub.config.scope.clone();
                    let r = hub
                        .blocking(move |hub| hub.storage.renew_certificate(scope.as_ref()))
                        .await;
                    if let Ok(Err(e)) = r {
                        warn!("could not renew the hub's certificate: {e}");
                    }
                }
            }
        })
    };

    let served = accept_loop(
        listener,
        router(hub.clone()),
        &hub.config,
        tls,
        stopped(stop_rx.clone()),
    );
    let deadline = {
        let rx = stop_rx.clone();
        async move {
            stopped(rx).await;
            info!("shutting down: no new connections; finishing requests in flight");
            tokio::time::sleep(grace).await;
        }
    };
    let result = tokio::select! {
        r = served => r,
        _ = deadline => {
            warn!(
                "requests still in flight after {}s; stopping without them",
                grace.as_secs()
            );
            Ok(())
        }
    };
    housekeeping.abort();
    // Counting may ask a database: off the async threads.
    let sessions = hub.sessions.clone();
    let dropped = tokio::task::spawn_blocking(move || sessions.count().unwrap_or(0))
        .await
        .unwrap_or(0);
    info!(open_sessions = dropped, "hub stopped");
    result
}

/// Keeps the fingerprint of the certificate the hub serves (`None`: plain
/// HTTP) in its store, so the tokens it issues name it
/// ([`office::issue_token`]). [`serve_with`] does so itself; a caller that
/// tells the world the hub is up before it calls [`serve_with`] does so
/// first, so no token printed after that misses it.
pub fn record_certificate(store: &Store, served: Option<&HubCertificate>) -> Result<(), HubError> {
    let served = served.map(HubCertificate::fingerprint);
    let before = store.pinned_hub_certificate()?;
    if let (Some(old), Some(new)) = (before.as_deref(), served) {
        if old != new {
            warn!(
                before = old,
                now = new,
                "the hub serves another TLS certificate than when it last served https: devices that pinned the earlier one refuse this hub until they enrol again with a new token"
            );
        }
    }
    if before.as_deref() != served {
        store.pin_hub_certificate(served)?;
    }
    Ok(())
}

/// Accepts connections until `stop` resolves, serving each with hyper's
/// HTTP/1 under the header-read timeout (after a TLS handshake, bounded by
/// the same timeout, when `tls` is given), then waits for the connections
/// still open to finish their requests (the caller bounds that wait).
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    config: &HubConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl Future<Output = ()>,
) -> Result<(), HubError> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little rather than spin.
                    warn!("could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                // A Router is always ready; no poll_ready needed.
                tower_service::Service::call(&mut app.clone(), req)
            });
        let Some(tls) = tls.clone() else {
            let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
            });
            continue;
        };
        // The handshake runs on the connection's own task, so a slow or
        // silent client holds up no one else, and gets as long as a
        // request's header would.
        let (watcher, http, handshake) =
            (graceful.watcher(), http.clone(), config.header_read_timeout);
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(handshake, tls.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let conn = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
/// Logs, at warning level, something the operator of a starting hub
/// should fix.
pub fn warn_at_start(message: &str) {
    warn!("{message}");
}

pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, HubError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("silin-hub")
        .enable_all()
        .build()?)
}

fn bind(addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<std::net::TcpListener, HubError> {
    let shown = format!("{addr:?}").trim_matches('"').to_string();
    let listener = std::net::TcpListener::bind(addr).map_err(|source| HubError::Listen {
        addr: shown,
        source,
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Runs a hub in the foreground until Ctrl-C or SIGTERM (`silin hub
/// serve`). `ready` is told the bound address once it listens.
pub fn run(
    listen: &str,
    store: Arc<Store>,
    config: HubConfig,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), HubError> {
    // Refuse a store that cannot be a hub before saying we listen.
    office::office(&store, config.scope.as_ref())?;
    record_certificate(&store, config.tls.as_ref())?;
    let listener = bind(listen)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    runtime(threads)?.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        ready(listener.local_addr()?);
        serve_with(listener, store, config, shutdown_signal()).await
    })
}

/// A hub running on its own thread, from [`spawn`].
pub struct HubHandle {
    addr: SocketAddr,
    tls_certificate: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), HubError>>>,
}

impl HubHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, or `https://ADDR` when it serves TLS, for the client.
    pub fn url(&self) -> String {
        match self.tls_certificate {
            Some(_) => format!("https://{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// SHA-256 of the certificate it serves (64 hex digits), when it
    /// serves https.
    pub fn tls_certificate(&self) -> Option<&str> {
        self.tls_certificate.as_deref()
    }

    /// Stops accepting, lets requests in flight finish, and waits for the
    /// hub to stop.
    pub fn shutdown(mut self) -> Result<(), HubError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), HubError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(Err(HubError::Crashed)),
            None => Ok(()),
        }
    }
}

impl Drop for HubHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Runs a hub over the SQLite store at `db_path` on its own thread, on
/// `addr` (port 0 picks a free one). For the demo and tests.
pub fn spawn(
    addr: impl ToSocketAddrs + std::fmt::Debug,
    db_path: impl AsRef<Path>,
) -> Result<HubHandle, HubError> {
    let store = Arc::new(Store::open(db_path, StoreOptions::default())?);
    spawn_with(addr, store, HubConfig::default())
}

/// [`spawn`] over an open store, with explicit settings.
pub fn spawn_with(
    addr: impl ToSocketAddrs + std::fmt::Debug,
    store: Arc<Store>,
    config: HubConfig,
) -> Result<HubHandle, HubError> {
    let office = office::office(&store, config.scope.as_ref())?;
    record_certificate(&store, config.tls.as_ref())?;
    let config = with_dashboard(config, &store);
    spawn_storage(addr, store, Arc::new(MemorySessions::new()), office, config)
}

/// A hub over any [`HubStorage`] on its own thread (see [`serve_storage`]):
/// for tests and benchmarks of several hub processes over one database.
pub fn spawn_storage(
    addr: impl ToSocketAddrs + std::fmt::Debug,
    storage: Arc<dyn HubStorage>,
    sessions: Arc<dyn SessionHold>,
    office: Office,
    config: HubConfig,
) -> Result<HubHandle, HubError> {
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let tls_certificate = config.tls.as_ref().map(|c| c.fingerprint().to_string());
    let rt = runtime(2)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("silin-hub".into())
        .spawn(move || {
            // The last handles on the storage are dropped here, outside the
            // runtime: a blocking database client must not be closed from
            // async code.
            let kept = (storage.clone(), sessions.clone());
            let served = rt.block_on(async move {
                let listener = TcpListener::from_std(listener)?;
                serve_storage(listener, storage, sessions, office, config, async {
                    let _ = stopped.await;
                })
                .await
            });
            drop(rt);
            drop(kept);
            served
        })?;
    Ok(HubHandle {
        addr,
        tls_certificate,
        stop: Some(stop),
        thread: Some(thread),
    })
}
