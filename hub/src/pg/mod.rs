//! The hub's PostgreSQL backend: one database that several stateless hub
//! processes serve at once (`--postgres URL`).
//!
//! [`PgStorage`] holds a pool of connections to it and lays it out with the
//! numbered migrations under `hub/sql/pg/` ([`PgStorage::migrate`]). The
//! processes share nothing but the database, so what two of them may do at
//! once must be made safe there, never by a lock inside one process: the
//! layout gives each document a row to lock (`SELECT ... FOR UPDATE`) while
//! a change is merged and a `version` to revalidate a cached copy by, makes
//! a document's chunk sequence numbers unique, and keeps sync sessions
//! where any process can serve the next round; migrations take an advisory
//! lock.
//!
//! The connection string is PostgreSQL's own, in either form:
//! `postgresql://USER@HOST:PORT/DBNAME` or
//! `host=HOST port=PORT user=USER dbname=DBNAME`. Connections are plain
//! (no TLS): the database belongs on the hub machine or its private network.
//!
//! The client is blocking and drives its own small runtime: call it from
//! `tokio::task::spawn_blocking` or a thread of its own, never on the
//! server's async tasks, where it would panic.
//!
//! Over the laid-out database, `PgStorage` is a whole hub storage: the sync
//! [`silin_core::Replica`] (`replica`), the hub's tokens, rollup and own
//! certificate ([`crate::storage::HubStorage`], `hub`), and [`PgSessions`]
//! holds sync sessions between rounds (`sessions`), and the office audit
//! log of tokens, revocations and logins is kept beside them (`audit`).
//! hub/doc/postgres.md says how several processes stay correct together.

mod audit;
mod erasure;
mod hub;
mod lists;
mod migrate;
mod projection;
mod reads;
mod replica;
mod retention;
mod sessions;
mod users;

pub use lists::{record_list, RecordError};
pub use migrate::{Migrated, LAYOUT};
pub use sessions::PgSessions;
pub use users::PgUsers;

use postgres::config::Host;
use postgres::{Config, NoTls};
use r2d2_postgres::PostgresConnectionManager;
use silin_core::Clock;
use std::sync::Arc;
use std::time::Duration;

/// The pool of connections a hub process shares among its requests.
pub type PgPool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
/// One connection taken from [`PgPool`]; back to the pool when dropped.
pub type PgConnection = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// How long opening a connection may take when the URL sets no
/// `connect_timeout`: an unreachable host should fail a start, not hang it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a free connection before it gives up: as
/// long as a phone waits to connect to the hub (see `client`).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong with the PostgreSQL database, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("the --postgres URL cannot be read: {reason}; write it as postgresql://USER@HOST:PORT/DBNAME or host=HOST port=PORT user=USER dbname=DBNAME")]
    BadUrl { reason: String },
    #[error("cannot reach PostgreSQL at {target}: {reason}; check the --postgres URL and that the server runs")]
    Connect { target: String, reason: String },
    #[error("no PostgreSQL connection came free in time ({0}); the database may be down or overloaded, or the pool too small for the load")]
    Busy(String),
    #[error("the PostgreSQL database is at layout {found}, newer than this hub knows ({known}); run a newer silin hub against it (a hub never downgrades a database)")]
    Newer { found: i64, known: i64 },
    #[error("PostgreSQL schema {schema:?} already holds tables silin did not lay out ({}); give the hub a database of its own", tables.join(", "))]
    NotOurs { schema: String, tables: Vec<String> },
    #[error("migrating the PostgreSQL database to layout {version} failed: {}; the step ran in one transaction, so the database is as it was before it", reason(.source))]
    Migration {
        version: i64,
        #[source]
        source: postgres::Error,
    },
    #[error("PostgreSQL: {}", reason(.0))]
    Database(#[from] postgres::Error),
}

impl From<r2d2::Error> for PgError {
    fn from(e: r2d2::Error) -> PgError {
        PgError::Busy(e.to_string())
    }
}

pub type Result<T, E = PgError> = std::result::Result<T, E>;

/// What one hub process keeps of its own beside the pool.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// What time it is: certificates, tokens, seen sessions and held
    /// sessions read it from here.
    pub clock: Clock,
    /// Documents this process keeps decoded between requests; each is
    /// revalidated against the database before use.
    pub cache_docs: usize,
    /// A document is compacted (one snapshot, no chunks) by the write that
    /// would make this many chunks.
    pub compact_after_chunks: i64,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            clock: Clock::system(),
            cache_docs: 256,
            compact_after_chunks: 128,
        }
    }
}

/// A hub's connection pool to its PostgreSQL database, and what this
/// process keeps beside it (decoded documents, its automerge actor). Clones
/// share both: they are the same process to the database.
#[derive(Clone)]
pub struct PgStorage {
    pool: PgPool,
    target: String,
    local: Arc<replica::Local>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PgStorage {
    /// Opens a pool of up to `pool_size` connections (at least one) to the
    /// database at `url`. Fails at once, with the server's reason, when the
    /// URL is malformed or the database cannot be reached or refuses us.
    /// The database is not laid out yet: call [`PgStorage::migrate`].
    pub fn connect(url: &str, pool_size: u32) -> Result<PgStorage> {
        PgStorage::connect_with(url, pool_size, PgOptions::default())
    }

    /// [`PgStorage::connect`] with this process's clock and cache sizes.
    pub fn connect_with(url: &str, pool_size: u32, options: PgOptions) -> Result<PgStorage> {
        let mut config: Config = url
            .parse()
            .map_err(|e: postgres::Error| PgError::BadUrl { reason: reason(&e) })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("silin-hub");
        }
        let target = describe(&config);
        let unreachable = |reason: String| PgError::Connect {
            target: target.clone(),
            reason,
        };
        // One connection first, by hand: the pool would retry a refused
        // connection until its timeout and keep only a summary of why.
        config.connect(NoTls).map_err(|e| unreachable(reason(&e)))?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            // Connections open as requests need them; the one above has
            // shown the server answers.
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(PgStorage {
            pool,
            target,
            local: Arc::new(replica::Local::new(options)),
        })
    }

    /// Brings the database to this build's layout ([`LAYOUT`]); safe to run
    /// from several processes at once. Refuses a database laid out by a
    /// newer build ([`PgError::Newer`]) or holding another program's tables
    /// ([`PgError::NotOurs`]).
    pub fn migrate(&self) -> Result<Migrated> {
        migrate::migrate(&mut *self.conn()?)
    }

    /// The layout the database is at (0 when silin never laid it out).
    pub fn layout(&self) -> Result<i64> {
        let mut c = self.conn()?;
        let ours: bool = c
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
            .try_get(0)?;
        if !ours {
            return Ok(0);
        }
        let v: Option<i64> = c
            .query_one("SELECT max(version) FROM schema_migrations", &[])?
            .try_get(0)?;
        Ok(v.unwrap_or(0))
    }

    /// A connection from the pool, waiting for one to come free.
    pub fn conn(&self) -> Result<PgConnection> {
        Ok(self.pool.get()?)
    }

    /// The pool itself, for code that manages its connections.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where the database is, without any password: for logs and errors.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A failure of the database while `doing` something, as silin's
    /// storage error: an I/O fault (the server answers 500 and the device
    /// syncs again later), naming the database and what was being done.
    fn failed(&self, doing: &str, e: impl Into<PgError>) -> silin_core::Error {
        use std::io::ErrorKind;
        let e = e.into();
        let kind = match &e {
            PgError::Busy(_) => ErrorKind::TimedOut,
            PgError::Database(p) if p.is_closed() => ErrorKind::ConnectionAborted,
            _ => ErrorKind::Other,
        };
        let reason = match &e {
            PgError::Database(p) => reason(p),
            e => e.to_string(),
        };
        silin_core::Error::Io(std::io::Error::new(
            kind,
            format!(
                "the hub's PostgreSQL database {} failed while {doing}: {reason}",
                self.target
            ),
        ))
    }

    /// A pooled connection for silin's own work, its failure as
    /// [`PgStorage::failed`].
    fn client(&self, doing: &str) -> silin_core::Result<PgConnection> {
        self.conn().map_err(|e| self.failed(doing, e))
    }
}

/// The whole of a client error: its own text says only "db error" where
/// the server gave a reason, and leaves out the I/O error under it.
fn reason(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!("; {hint}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

/// `user@host:port/dbname` from the parsed connection string; the password
/// is never part of it.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost".to_string()
    } else {
        hosts.join(",")
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("?");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{hosts}:{port}/{db}")
}
