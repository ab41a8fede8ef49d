//! `silin hub … --postgres URL`: the hub on a PostgreSQL database that
//! several `silin hub serve` processes share (behind a reverse proxy), each
//! given the same office key file.

use crate::output::{CliError, Out};
use silin_core::identity::{Role, Scope};
use silin_core::store::TokenGrant;
use silin_core::Replica;
use silin_hub::pg::{PgError, PgSessions, PgStorage};
use silin_hub::storage::HubStorage;
use std::path::Path;
use std::sync::Arc;

pub struct Serve<'a> {
    pub listen: &'a str,
    pub url: &'a str,
    pub office_key: &'a Path,
    pub pool: u32,
    pub scope: Scope,
    pub tls_cert: Option<(&'a Path, &'a Path)>,
    pub insecure_http: bool,
}

fn pg_error(e: PgError) -> CliError {
    match e {
        PgError::BadUrl { .. } | PgError::Newer { .. } | PgError::NotOurs { .. } => {
            CliError::Usage(e.to_string())
        }
        e => CliError::Io(std::io::Error::other(e.to_string())),
    }
}

fn office_error(e: silin_core::Error) -> CliError {
    match e {
        silin_core::Error::Incompatible(m) => CliError::Usage(m),
        e => CliError::Core(e),
    }
}

/// The database, laid out to this build's layout.
fn open(url: &str, pool: u32) -> Result<PgStorage, CliError> {
    let storage = PgStorage::connect(url, pool).map_err(pg_error)?;
    storage.migrate().map_err(pg_error)?;
    Ok(storage)
}

/// The database and its office: the key from `office_key` (which must be
/// the key the database already trusts), and the hub's own device enrolled
/// by it over `scope` (`None`: the scope it has, `*` for a new hub).
fn with_office(
    url: &str,
    office_key: &Path,
    pool: u32,
    scope: Option<&Scope>,
) -> Result<(PgStorage, silin_core::identity::Office), CliError> {
    let storage = open(url, pool)?;
    let pinned = storage.office_public_key()?;
    let office = silin_hub::office::key_file_office(office_key, pinned).map_err(office_error)?;
    let scope = match (scope, storage.certificate()?) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => c.scope,
        (None, None) => Scope::everything(),
    };
    storage.enrol_hub(&office, &scope).map_err(office_error)?;
    Ok((storage, office))
}

pub fn serve(out: &Out, args: Serve<'_>) -> Result<(), CliError> {
    std::net::ToSocketAddrs::to_socket_addrs(args.listen).map_err(|e| {
        CliError::Usage(format!(
            "--listen {:?} is not an address to listen on ({e}); write it like 0.0.0.0:8080",
            args.listen
        ))
    })?;
    let listener = std::net::TcpListener::bind(args.listen).map_err(|source| {
        CliError::Io(std::io::Error::other(
            silin_hub::HubError::Listen {
                addr: args.listen.to_string(),
                source,
            }
            .to_string(),
        ))
    })?;
    listener.set_nonblocking(true)?;
    let (storage, office) = with_office(args.url, args.office_key, args.pool, Some(&args.scope))?;
    // Behind a reverse proxy the proxy usually speaks TLS to devices; a
    // process reached directly beyond loopback serves https itself, with
    // the office's certificate (every process the same one).
    let loopback = listener.local_addr()?.ip().is_loopback();
    let certificate = match args.tls_cert {
        Some((cert, key)) => {
            Some(silin_hub::tls::HubCertificate::from_pem_files(cert, key).map_err(office_error)?)
        }
        None if !(loopback || args.insecure_http) => Some(
            silin_hub::tls::HubCertificate::self_signed(args.office_key).map_err(office_error)?,
        ),
        None => None,
    };
    storage
        .pin_hub_certificate(certificate.as_ref().map(|c| c.fingerprint()))
        .map_err(office_error)?;
    let scheme = if certificate.is_some() {
        "https"
    } else {
        "http"
    };
    let device = HubStorage::device_id(&storage);
    let target = storage.target().to_string();
    let sessions = Arc::new(PgSessions::new(&storage));
    let storage: Arc<dyn HubStorage> = Arc::new(storage);
    let config = silin_hub::HubConfig {
        scope: Some(args.scope),
        tls: certificate,
        ..Default::default()
    };
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
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let json = serde_json::json!({
            "listen": addr.to_string(), "url": format!("{scheme}://{addr}"), "device_id": device,
        });
        let _ = out.print(&json, || {
            format!(
                "silin hub listening on {scheme}://{addr} (PostgreSQL {target}); Ctrl-C to stop"
            )
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
    served.map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))
}

pub fn issue_token(
    url: &str,
    office_key: &Path,
    role: Role,
    scope: Scope,
    days: i64,
) -> Result<String, CliError> {
    let (storage, office) = with_office(url, office_key, 1, None)?;
    let token = storage.issue_token(
        &office,
        &TokenGrant {
            role,
            scope,
            valid_days: days,
        },
        silin_hub::office::TOKEN_VALID_SECS,
    )?;
    // Devices pin the certificate the hub last served, from the token.
    Ok(match storage.pinned_hub_certificate()? {
        Some(fp) => silin_hub::api::token_with_certificate(&token, &fp),
        None => token,
    })
}

pub fn revoke(url: &str, device: &str) -> Result<(), CliError> {
    Ok(open(url, 1)?.revoke(device)?)
}
