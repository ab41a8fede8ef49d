//! Numbered migrations of the PostgreSQL layout (`hub/sql/pg/NNN_*.sql`).
//!
//! Several hub processes may start against one database at once. Each step
//! runs in a transaction of its own that first takes a transaction-scoped
//! advisory lock, then reads the recorded layout: the first process applies
//! the step, the others wait for it and then find it done. A crash or lost
//! connection rolls the step back and releases the lock with it.

use super::{PgError, Result};
use postgres::{Client, Transaction};

/// Entry i takes the database from layout i to i+1. Append only: a shipped
/// migration never changes.
const MIGRATIONS: &[&str] = &[
    include_str!("../../sql/pg/001_layout.sql"),
    include_str!("../../sql/pg/002_region_levels.sql"),
    include_str!("../../sql/pg/003_analyst_role.sql"),
    include_str!("../../sql/pg/004_office_lists.sql"),
    include_str!("../../sql/pg/005_check_schedule.sql"),
    include_str!("../../sql/pg/006_device_audit.sql"),
    include_str!("../../sql/pg/007_erasure.sql"),
];

/// The layout this build writes.
pub const LAYOUT: i64 = MIGRATIONS.len() as i64;

/// The advisory lock every silin hub migration takes ("silin" in ASCII):
/// any fixed number does, as long as no other program on the same
/// database uses it.
const LOCK: i64 = 0x73_69_6c_69_6e;

/// What [`PgStorage::migrate`](super::PgStorage::migrate) found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The layout the database is at now.
    pub layout: i64,
    /// The steps this call applied, in order; empty when the database was
    /// already current (or another process brought it there meanwhile).
    pub applied: Vec<i64>,
}

/// Brings the database to [`LAYOUT`], one step per transaction, and refuses
/// a database laid out by a newer build or by another program.
pub(crate) fn migrate(client: &mut Client) -> Result<Migrated> {
    let mut applied = Vec::new();
    loop {
        let mut tx = client.transaction()?;
        tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({LOCK})"))?;
        let current = recorded(&mut tx)?;
        if current > LAYOUT {
            return Err(PgError::Newer {
                found: current,
                known: LAYOUT,
            });
        }
        if current == LAYOUT {
            tx.commit()?;
            return Ok(Migrated {
                layout: current,
                applied,
            });
        }
        let next = current + 1;
        let step = |source| PgError::Migration {
            version: next,
            source,
        };
        // A negative layout is none of ours either.
        let Some(sql) = usize::try_from(current)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
        else {
            return Err(not_ours(&mut tx, vec!["schema_migrations".into()]));
        };
        tx.batch_execute(sql).map_err(step)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at)
             VALUES ($1, extract(epoch FROM now())::bigint)",
            &[&next],
        )
        .map_err(step)?;
        tx.commit().map_err(step)?;
        applied.push(next);
    }
}

/// The layout recorded in the database; 0 for one silin never laid out,
/// after making the table that records it. Run under the lock.
fn recorded(tx: &mut Transaction<'_>) -> Result<i64> {
    let ours: bool = tx
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
        .try_get(0)?;
    if !ours {
        // Tables we did not make are another program's: laying ours out
        // beside them would mix two applications in one schema.
        let mut tables = Vec::new();
        for row in tx.query(
            "SELECT tablename::text FROM pg_tables
             WHERE schemaname = current_schema() ORDER BY tablename",
            &[],
        )? {
            tables.push(row.try_get::<_, String>(0)?);
        }
        if !tables.is_empty() {
            return Err(not_ours(tx, tables));
        }
        tx.batch_execute(
            "CREATE TABLE schema_migrations (
                 version    bigint PRIMARY KEY,
                 applied_at bigint NOT NULL
             )",
        )?;
    }
    let row = tx.query_one("SELECT max(version) FROM schema_migrations", &[])?;
    // Other tools keep a table of this name with text versions.
    match row.try_get::<_, Option<i64>>(0) {
        Ok(v) => Ok(v.unwrap_or(0)),
        Err(_) => Err(not_ours(tx, vec!["schema_migrations".into()])),
    }
}

fn not_ours(tx: &mut Transaction<'_>, tables: Vec<String>) -> PgError {
    let schema = tx
        .query_one("SELECT current_schema()::text", &[])
        .and_then(|r| r.try_get(0))
        .unwrap_or_else(|_| "?".into());
    PgError::NotOurs { schema, tables }
}
