//! The device side: enrol with the township hub and sync with it over HTTP.
//!
//! Blocking calls on a small HTTP client, made off the UI thread by the
//! apps (through the FFI library) and by the `silin` command. Plain http by
//! default — a township office LAN — and https with the `tls` feature, to a
//! hub whose certificate the device pinned at enrolment (the token names
//! its SHA-256 fingerprint) and to no other.

use crate::api::{self, EnrolRequest, EnrolResponse, ErrorBody, Health};
use serde::Serialize;
use silin_core::identity::{self, Certificate, IdentityError};
use silin_core::model::Level;
use silin_core::rollup::RollupRow;
use silin_core::sync::envelope::MAX_ENVELOPE_BYTES;
use silin_core::sync::{Session, SyncError, SyncStats};
use silin_core::Store;
use std::ops::ControlFlow;
use std::time::Duration;

const JSON: &str = "application/json";
/// Why an https hub is not reached without a pinned certificate.
const NOT_PINNED: &str = "this device pinned no TLS certificate for an https hub; enrol with a token the hub printed while serving https (it ends with the certificate's fingerprint), or use the hub's http:// address on the office network";
const OCTETS: &str = "application/octet-stream";
/// Largest JSON answer read from a hub (enrolment, health, errors).
const MAX_JSON_BYTES: u64 = 1 << 20;
/// Largest rollup or metrics answer: a county's rollup at group level is a
/// row per group, a few thousand rows of about 100 bytes.
const MAX_ROLLUP_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("hub URL {url:?} is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("the enrolment token is not of the form <32 hex digits>.<16 hex digits>[.<64 hex digits>]; copy it again from the office's paper or ask for a new one")]
    BadToken,
    #[error("cannot reach the hub at {url} ({reason}); check that the hub is running and that this device is on the office network")]
    Unreachable {
        url: String,
        reason: String,
        /// Set when the host answered https with another certificate than
        /// the one this device pinned: nothing was sent to it.
        certificate: Option<CertificateMismatch>,
    },
    #[error("the hub refused: {message}")]
    Refused {
        status: u16,
        kind: String,
        message: String,
    },
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("the hub's answer is not what a silin hub sends ({0}); check the URL points at the township hub")]
    Protocol(String),
    #[error(transparent)]
    Store(#[from] silin_core::Error),
}

impl ClientError {
    /// True when what the caller gave (URL, token, credentials, data) was
    /// refused, as opposed to a failure of the network, the hub or the device.
    pub fn is_user_error(&self) -> bool {
        match self {
            ClientError::BadUrl { .. } | ClientError::BadToken | ClientError::Identity(_) => true,
            ClientError::Refused { status, .. } => (400..500).contains(status),
            ClientError::Sync(SyncError::Store(e)) | ClientError::Store(e) => e.is_user_error(),
            ClientError::Sync(e) => e.is_refusal(),
            ClientError::Unreachable { .. } | ClientError::Protocol(_) => false,
        }
    }
}

/// An https hub presented another TLS certificate than the pinned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateMismatch {
    /// SHA-256 of the certificate pinned at enrolment (64 hex digits).
    pub pinned: String,
    /// SHA-256 of the certificate the host presented.
    pub presented: String,
}

/// What enrolment gave this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrolOutcome {
    pub device_id: String,
    pub role: String,
    pub scope: Vec<String>,
    pub expires: String,
}

/// A hub at a base URL, with one connection pool.
#[derive(Debug, Clone)]
pub struct Hub {
    base: String,
    agent: ureq::Agent,
    https: bool,
    /// The one TLS certificate accepted from an https hub (SHA-256, hex).
    pin: Option<String>,
    /// What a refused handshake was shown.
    #[cfg(feature = "tls")]
    presented: crate::pin::Presented,
}

impl Hub {
    /// `url` is `http://host:port` (a bare `host:port` means http); a
    /// trailing slash or path prefix is kept as the base of every endpoint.
    /// An `https://` hub needs a pinned certificate: see [`Hub::with_pin`]
    /// and [`Hub::for_store`]; without one, every call is refused
    /// ([`ClientError::NotPinned`]) before anything is sent.
    pub fn new(url: &str) -> Result<Hub, ClientError> {
        Hub::with_pin(url, None)
    }

    /// The hub at `url` as the device of `store` knows it: an https hub
    /// must present the certificate the store pinned at enrolment.
    pub fn for_store(url: &str, store: &Store) -> Result<Hub, ClientError> {
        Hub::with_pin(url, store.pinned_hub_certificate()?.as_deref())
    }

    /// [`Hub::new`], accepting from an https hub only the certificate whose
    /// SHA-256 is `pin` (64 hex digits; ignored for http).
    pub fn with_pin(url: &str, pin: Option<&str>) -> Result<Hub, ClientError> {
        let url = url.trim();
        let bad = |reason: &str| ClientError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let full = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let uri: ureq::http::Uri = full
            .parse()
            .map_err(|_| bad("write it like http://192.168.1.10:8080"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if cfg!(feature = "tls") => {}
            Some("https") => {
                return Err(bad(
                    "this build speaks plain http only; use the hub's http:// address",
                ))
            }
            _ => return Err(bad("only http:// hub addresses are supported")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad(
                "it names no host; write it like http://192.168.1.10:8080",
            ));
        }
        let https = uri.scheme_str() == Some("https");
        let pin = match pin {
            Some(p) if api::is_certificate_fingerprint(p) => Some(p.to_ascii_lowercase()),
            Some(_) => return Err(ClientError::BadToken),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            // A whole county's first sync moves tens of megabytes per round
            // trip over an office LAN; no single call may hang forever.
            .timeout_global(Some(Duration::from_secs(600)))
            .user_agent(concat!("silin/", env!("CARGO_PKG_VERSION")))
            .build();
        #[cfg(feature = "tls")]
        let presented = crate::pin::Presented::default();
        let agent = match (&pin, https) {
            #[cfg(feature = "tls")]
            (Some(pin), true) => {
                use ureq::unversioned::resolver::DefaultResolver;
                use ureq::unversioned::transport::{Connector, TcpConnector};
                let tls = crate::pin::PinnedTls::new(pin, presented.clone())
                    .map_err(|e| ClientError::Protocol(format!("TLS set-up: {e}")))?;
                let connector = ().chain(TcpConnector::default()).chain(tls);
                ureq::Agent::with_parts(config, connector, DefaultResolver::default())
            }
            _ => config.into(),
        };
        Ok(Hub {
            base: full.trim_end_matches('/').to_string(),
            agent,
            https,
            pin,
            #[cfg(feature = "tls")]
            presented,
        })
    }

    /// The certificate this client accepts from an https hub (SHA-256, hex).
    pub fn pinned_certificate(&self) -> Option<&str> {
        self.pin.as_deref()
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, reason: String) -> ClientError {
        ClientError::Unreachable {
            url: self.base.clone(),
            reason,
            certificate: None,
        }
    }

    fn call(
        &self,
        path: &str,
        body: Option<(&str, &[u8])>,
        limit: u64,
    ) -> Result<Vec<u8>, ClientError> {
        self.call_with(path, body, &[], limit)
    }

    fn call_with(
        &self,
        path: &str,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, String)],
        limit: u64,
    ) -> Result<Vec<u8>, ClientError> {
        let url = format!("{}{path}", self.base);
        if self.https && self.pin.is_none() {
            return Err(ClientError::BadUrl {
                url: self.base.clone(),
                reason: NOT_PINNED.into(),
            });
        }
        let sent = match body {
            Some((ct, bytes)) => {
                let mut req = self.agent.post(&url).content_type(ct);
                for (k, v) in headers {
                    req = req.header(*k, v);
                }
                req.send(bytes)
            }
            None => {
                let mut req = self.agent.get(&url);
                for (k, v) in headers {
                    req = req.header(*k, v);
                }
                req.call()
            }
        };
        let mut resp = sent.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    ClientError::Protocol(format!("an answer over {limit} bytes"))
                }
                other => self.transport_error(other),
            })?;
        // 204: the hub took a closing message and has nothing to say.
        if status == 200 || status == 204 {
            return Ok(bytes);
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => ClientError::Refused {
                status,
                kind: e.error,
                message: e.message,
            },
            Err(_) => ClientError::Refused {
                status,
                kind: "http".into(),
                message: format!(
                    "HTTP status {status} from {url}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).trim()
                ),
            },
        })
    }

    fn transport_error(&self, e: ureq::Error) -> ClientError {
        #[cfg(feature = "tls")]
        if let Some(presented) = self
            .presented
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let pinned = self.pin.clone().unwrap_or_default();
            return ClientError::Unreachable {
                url: self.base.clone(),
                reason: format!(
                    "it presented a TLS certificate with SHA-256 {presented}, not the one this device pinned at enrolment ({pinned}), and was sent nothing: it may not be your township's hub, so do not sync over this network; if the office replaced the hub's certificate, enrol again with a new token"
                ),
                certificate: Some(CertificateMismatch { pinned, presented }),
            };
        }
        match e {
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Timeout(_) => self.unreachable(e.to_string()),
            ureq::Error::BadUri(reason) => ClientError::BadUrl {
                url: self.base.clone(),
                reason,
            },
            other => ClientError::Protocol(other.to_string()),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<T, ClientError> {
        let bytes = self.call(path, body.map(|b| (JSON, b)), MAX_JSON_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// `GET /healthz`.
    pub fn health(&self) -> Result<Health, ClientError> {
        self.json("/healthz", None)
    }

    /// `GET path` (with its query) signed by the device of `store`: its
    /// certificate, the time, and its signature over method, path and time
    /// (see [`api::read_proof`]). The hub answers such reads of rollup and
    /// metrics from enrolled office and county devices only.
    pub fn signed_get(&self, store: &Store, path: &str) -> Result<Vec<u8>, ClientError> {
        let cert = store.certificate()?.ok_or(IdentityError::NotEnrolled)?;
        let key = store.device_key()?;
        let time = store.clock().timestamp();
        // The hub checks the path as it receives it: the base URL's own
        // path prefix is part of it.
        let full = format!("{}{path}", self.base);
        let signed_path = full
            .parse::<ureq::http::Uri>()
            .ok()
            .and_then(|u| u.path_and_query().map(|p| p.as_str().to_string()))
            .ok_or_else(|| ClientError::BadUrl {
                url: full.clone(),
                reason: "it has no path to sign".into(),
            })?;
        let sig = key.sign(&api::read_proof("GET", &signed_path, time));
        let headers = [
            (api::CERTIFICATE_HEADER, hex::encode(cert.encode())),
            (api::TIME_HEADER, time.to_string()),
            (api::SIGNATURE_HEADER, hex::encode(sig)),
        ];
        self.call_with(path, None, &headers, MAX_ROLLUP_BYTES)
    }

    /// The zero-report rollup on `date` at `level`, asked as the device of
    /// `store`, which must be an office or county device enrolled with this
    /// hub (or any device, from the hub machine itself).
    pub fn rollup(
        &self,
        store: &Store,
        date: chrono::NaiveDate,
        level: Level,
    ) -> Result<Vec<RollupRow>, ClientError> {
        // The hub reads a depth whatever its branches call it.
        let level = level.depth();
        let bytes = self.signed_get(store, &format!("/v1/rollup?date={date}&level={level}"))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Enrols the device of `store` with a one-time token; see [`enroll`].
    /// An https hub must present the certificate the token names (else the
    /// one this client was made with, [`Hub::with_pin`]).
    pub fn enroll(&self, store: &Store, token: &str) -> Result<EnrolOutcome, ClientError> {
        let token = token.trim();
        let parsed = api::parse_token(token).ok_or(ClientError::BadToken)?;
        let named = parsed.tls_certificate.map(str::to_ascii_lowercase);
        if self.https && named.is_some() && named != self.pin {
            return Hub::with_pin(&self.base, named.as_deref())?.enroll(store, token);
        }
        let fingerprint = parsed.office;
        let device_id = store.device_id();
        let key = store.device_key()?;
        let public_key = key.public_key();
        let request = EnrolRequest {
            token: token.to_string(),
            device_id: device_id.clone(),
            public_key: hex::encode(public_key),
            proof: hex::encode(key.sign(&api::enrol_proof(token, &device_id, &public_key))),
        };
        let body =
            serde_json::to_vec(&request).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let answer: EnrolResponse = self.json("/v1/enrol", Some(&body))?;
        let office: [u8; 32] = hex::decode(&answer.office_public_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ClientError::Protocol("office key is not 32 bytes of hex".into()))?;
        // The token names the office that issued it: a hub with another
        // office key is not this township's hub, whatever it answers.
        if identity::fingerprint(&office) != fingerprint.to_ascii_lowercase() {
            return Err(IdentityError::OfficeMismatch.into());
        }
        let cert_bytes = hex::decode(&answer.certificate)
            .map_err(|_| ClientError::Protocol("certificate is not hex".into()))?;
        let cert = Certificate::decode(&cert_bytes)?;
        cert.verify(&office, store.clock().timestamp())?;
        // Over https the answer came through the pinned certificate; the
        // hub's own word on what it serves must agree with it.
        let pin = if self.https {
            if let Some(said) = answer.tls_certificate.as_deref() {
                if Some(said.to_ascii_lowercase()) != self.pin {
                    return Err(ClientError::Protocol(format!(
                        "the hub says it serves TLS certificate {said}, but its connection presented {}",
                        self.pin.as_deref().unwrap_or("none")
                    )));
                }
            }
            self.pin.clone()
        } else {
            // Over plain http nothing in the answer is authenticated but
            // by the office key; only the token's word is taken.
            named
        };
        store.install_certificate(&cert, &office)?;
        // A new enrolment replaces what the device trusted: office key,
        // certificate and the hub's TLS certificate alike.
        store.pin_hub_certificate(pin.as_deref())?;
        Ok(EnrolOutcome {
            device_id: cert.device_id.clone(),
            role: cert.role.as_str().to_string(),
            scope: cert.scope.0.clone(),
            expires: cert.expires_text(),
        })
    }

    /// Sends one sync message and returns the hub's answer, `None` when the
    /// hub ended the session (its answer to a closing message). For callers
    /// that run a [`Session`] themselves, such as a test spreading one
    /// session over several hub processes.
    pub fn exchange(&self, message: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        let reply = self.call(
            "/v1/sync",
            Some((OCTETS, message)),
            MAX_ENVELOPE_BYTES as u64,
        )?;
        Ok((!reply.is_empty()).then_some(reply))
    }

    /// Syncs `store` with the hub; `on_round` sees the figures after each
    /// round trip (for a progress display).
    pub fn sync(
        &self,
        store: &Store,
        mut on_round: impl FnMut(&SyncStats),
    ) -> Result<SyncStats, ClientError> {
        let mut watch = |step: SyncStep, session: &Session| {
            if step == SyncStep::Sending {
                on_round(&session.stats());
            }
            ControlFlow::Continue(())
        };
        let stats = self.sync_watched(store, &mut watch)?;
        // Only a watcher that breaks stops a sync early.
        Ok(stats.unwrap_or_default())
    }

    /// Syncs `store` with the hub, telling `watch` each step with the
    /// session so far (for a status display). A `Break` from `watch` before
    /// a message is sent ([`SyncStep::Connecting`], [`SyncStep::Sending`])
    /// stops the sync at that round boundary (any other step's answer is
    /// ignored): every round already applied
    /// stays committed, nothing of a later one is, and the next sync starts
    /// afresh. Returns `None` when stopped so.
    pub fn sync_watched(
        &self,
        store: &Store,
        watch: &mut dyn FnMut(SyncStep, &Session) -> ControlFlow<()>,
    ) -> Result<Option<SyncStats>, ClientError> {
        // Name the hub reached here last time, so both sides refer to the
        // certificates they already hold; if the hub no longer holds ours
        // (rebuilt, or another hub at this address), start again unnamed.
        let hint = store.peer_at(&self.base)?;
        match self.sync_once(store, hint.as_deref(), watch) {
            Err(ClientError::Refused { kind, .. })
                if hint.is_some() && kind == "unknown_certificate" =>
            {
                self.sync_once(store, None, watch)
            }
            other => other,
        }
    }

    fn sync_once(
        &self,
        store: &Store,
        hint: Option<&str>,
        watch: &mut dyn FnMut(SyncStep, &Session) -> ControlFlow<()>,
    ) -> Result<Option<SyncStats>, ClientError> {
        let (mut session, mut message) = Session::initiate_to(store, hint)?;
        let limit = MAX_ENVELOPE_BYTES as u64;
        let mut step = SyncStep::Connecting;
        loop {
            if watch(step, &session).is_break() {
                return Ok(None);
            }
            let reply = self.call("/v1/sync", Some((OCTETS, &message)), limit)?;
            // What comes back is applied whatever the watcher says: a round
            // is committed whole or not at all.
            let _ = watch(SyncStep::Receiving, &session);
            match session.receive(store, &reply)? {
                Some(next) => {
                    step = SyncStep::Sending;
                    message = next;
                }
                None => {
                    // One round trip said nothing changed, and the hub
                    // ended the session itself; otherwise tell it we are
                    // done with the signed closing message. Best effort: an
                    // idle session also ends.
                    if let Some(peer) = session.peer_id() {
                        store.remember_peer_at(&self.base, peer)?;
                    }
                    if let Some(done) = session.close_message() {
                        let url = format!("{}/v1/sync", self.base);
                        let _ = self.agent.post(&url).content_type(OCTETS).send(&done[..]);
                    }
                    let _ = watch(SyncStep::Finished, &session);
                    return Ok(Some(session.stats()));
                }
            }
        }
    }
}

/// What a sync with the hub is about to do, as [`Hub::sync_watched`] tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStep {
    /// The opening message is about to go to the hub.
    Connecting,
    /// A round was applied; the next message is about to go.
    Sending,
    /// The hub answered; its message is about to be checked and applied.
    Receiving,
    /// The sync is over; the session's figures are final.
    Finished,
}

/// Enrols this device: proves it holds its key, receives a certificate from
/// the hub, checks that the hub's office is the one named in the token and
/// that the certificate is signed by it and is for this device, then pins
/// the office key and installs the certificate. An https hub must present
/// the TLS certificate the token names (else the one the store pinned
/// before); the device pins it.
pub fn enroll(store: &Store, hub_url: &str, token: &str) -> Result<EnrolOutcome, ClientError> {
    let named = api::parse_token(token.trim())
        .ok_or(ClientError::BadToken)?
        .tls_certificate
        .map(str::to_string);
    match named {
        Some(pin) => Hub::with_pin(hub_url, Some(&pin))?.enroll(store, token),
        None => Hub::for_store(hub_url, store)?.enroll(store, token),
    }
}

/// Syncs the store with the hub at `hub_url`: every cell both sides' scopes
/// cover ends the same on both. An https hub must present the certificate
/// pinned at enrolment.
pub fn sync(store: &Store, hub_url: &str) -> Result<SyncStats, ClientError> {
    Hub::for_store(hub_url, store)?.sync(store, |_| {})
}

/// The zero-report rollup from the hub at `hub_url`, asked as the office or
/// county device of `store` (see [`Hub::rollup`]).
pub fn rollup(
    store: &Store,
    hub_url: &str,
    date: chrono::NaiveDate,
    level: Level,
) -> Result<Vec<RollupRow>, ClientError> {
    Hub::for_store(hub_url, store)?.rollup(store, date, level)
}

/// The hub's health: reachable, how many cells it holds, its office.
pub fn health(hub_url: &str) -> Result<Health, ClientError> {
    Hub::new(hub_url)?.health()
}
