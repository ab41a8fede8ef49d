//! `silin hub serve` in the foreground, the same for the SQLite and the
//! PostgreSQL hub: the port bound before anything is created, plain HTTP
//! only where it cannot leave the machine, one line saying where it
//! listens, and the server until Ctrl-C or SIGTERM.

use crate::output::{CliError, Out};
use silin_core::identity::Office;
use silin_hub::sessions::SessionHold;
use silin_hub::storage::HubStorage;
use silin_hub::tls::HubCertificate;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

/// How the hub speaks to devices.
pub struct Tls<'a> {
    /// The office's certificate and key (PEM files).
    pub files: Option<(&'a Path, &'a Path)>,
    /// https on a loopback address too.
    pub always: bool,
    /// Plain HTTP beyond loopback.
    pub insecure_http: bool,
}

fn other(e: impl std::fmt::Display) -> CliError {
    CliError::Io(std::io::Error::other(e.to_string()))
}

fn certificate_error(e: silin_core::Error) -> CliError {
    match e {
        silin_core::Error::Incompatible(m) => CliError::Usage(m),
        e => CliError::Core(e),
    }
}

/// Binds `listen` first: a hub that cannot listen must create nothing.
pub fn bind(listen: &str) -> Result<TcpListener, CliError> {
    std::net::ToSocketAddrs::to_socket_addrs(listen).map_err(|e| {
        CliError::Usage(format!(
            "--listen {listen:?} is not an address to listen on ({e}); write it like 0.0.0.0:8080"
        ))
    })?;
    let listener = TcpListener::bind(listen).map_err(|source| {
        other(silin_hub::HubError::Listen {
            addr: listen.to_string(),
            source,
        })
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Plain HTTP only where it cannot leave the machine, or when asked for;
/// https elsewhere, with the office's certificate or the hub's own
/// self-signed one kept beside `beside` (devices pin either).
pub fn certificate(
    listener: &TcpListener,
    tls: &Tls<'_>,
    beside: &Path,
) -> Result<Option<HubCertificate>, CliError> {
    let loopback = listener.local_addr()?.ip().is_loopback();
    Ok(match tls.files {
        Some((cert, key)) => {
            Some(HubCertificate::from_pem_files(cert, key).map_err(certificate_error)?)
        }
        None if tls.always || !(loopback || tls.insecure_http) => {
            Some(HubCertificate::self_signed(beside).map_err(certificate_error)?)
        }
        None => None,
    })
}

/// What the hub serves, for the line saying where it listens.
pub struct Serving {
    pub device: String,
    /// "store hub.db", "PostgreSQL host=…".
    pub what: String,
    /// What the operator should fix, logged once the hub starts.
    pub warnings: Vec<String>,
}

/// Serves until Ctrl-C or SIGTERM, after printing where it listens.
pub fn run(
    out: &Out,
    listener: TcpListener,
    serving: Serving,
    storage: Arc<dyn HubStorage>,
    sessions: Arc<dyn SessionHold>,
    office: Office,
    config: silin_hub::HubConfig,
) -> Result<(), CliError> {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let pinned = config.tls.as_ref().map_or(String::new(), |c| {
        format!(
            "; devices pin its TLS certificate, SHA-256 {}",
            c.fingerprint()
        )
    });
    silin_hub::server::init_logging();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("silin-hub")
        .enable_all()
        .build()?;
    // Dropped after the runtime: a blocking database client must not be
    // closed from async code.
    let kept = (storage.clone(), sessions.clone());
    let Serving {
        device,
        what,
        warnings,
    } = serving;
    for w in &warnings {
        silin_hub::server::warn_at_start(w);
    }
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let json = serde_json::json!({
            "listen": addr.to_string(), "url": format!("{scheme}://{addr}"), "device_id": device,
        });
        let _ = out.print(&json, || {
            format!("silin hub listening on {scheme}://{addr} ({what}{pinned}); Ctrl-C to stop")
        });
        silin_hub::server::serve_storage(
            listener,
            storage,
            sessions,
            office,
            config,
            silin_hub::server::shutdown_signal(),
        )
        .await
    });
    drop(runtime);
    drop(kept);
    served.map_err(|e| match e {
        silin_hub::HubError::Store(e) => certificate_error(e),
        e => other(e),
    })
}
