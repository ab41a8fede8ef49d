//! Opening the SQLite file: encryption key, pragmas, numbered migrations.

use crate::error::{Error, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;

/// Numbered migrations; entry i takes the file from layout i to i+1.
/// Append only: a shipped migration never changes.
const MIGRATIONS: &[&str] = &[
    include_str!("../../sql/001_init.sql"),
    include_str!("../../sql/002_snapshots.sql"),
    include_str!("../../sql/003_sync.sql"),
];

/// The layout this build writes.
pub const LAYOUT: i64 = MIGRATIONS.len() as i64;

/// How hard a commit tries to reach the disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync on every commit: an acknowledged write survives power loss.
    /// What a phone needs.
    #[default]
    Full,
    /// fsync at checkpoints only: survives the app being killed, may lose
    /// the last commits on power loss. For simulations and bulk loads.
    Normal,
}

/// A key handed in by the app. 64 hex digits are used as the raw 256-bit
/// key (no key derivation: what an app holding a Keystore/Keychain secret
/// wants); anything else is a passphrase run through SQLCipher's KDF.
#[derive(Clone)]
pub struct StoreKey(String);

impl StoreKey {
    pub fn new(secret: impl Into<String>) -> StoreKey {
        StoreKey(secret.into())
    }

    fn pragma_value(&self) -> String {
        let s = self.0.as_str();
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            format!("\"x'{s}'\"")
        } else {
            format!("'{}'", s.replace('\'', "''"))
        }
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

pub(crate) fn open(
    path: &Path,
    key: Option<&StoreKey>,
    durability: Durability,
) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // SQLCipher refuses an empty key with a generic error; it opens no
    // store, so say so in the typed way (and touch no file).
    if key.is_some_and(|k| k.0.is_empty()) {
        return Err(Error::WrongKey);
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // SQLCipher logs a wrong key to stderr by itself; the typed error
    // below is the one message the caller should see.
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
    if let Some(key) = key {
        conn.execute_batch(&format!("PRAGMA key = {};", key.pragma_value()))?;
        // Keying the connection resets the log level; silence it again.
        let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
        // Fail closed: a build without SQLCipher ignores PRAGMA key silently
        // and would write plaintext.
        let cipher: Option<String> = conn
            .query_row("PRAGMA cipher_version", [], |r| r.get(0))
            .ok();
        if cipher.filter(|v| !v.is_empty()).is_none() {
            return Err(Error::EncryptionUnavailable);
        }
    }
    // The first read decrypts page 1: a wrong key (or a key for a plaintext
    // file, or none for an encrypted one) fails here, before anything writes.
    let objects = match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(n) => n,
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::NotADatabase => {
            return Err(Error::WrongKey)
        }
        Err(e) => return Err(e.into()),
    };
    // A database silin never laid out but which holds tables is another
    // program's: refuse it before anything (even the journal mode) changes.
    let layout: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if layout == 0 && objects > 0 {
        return Err(Error::Incompatible(format!(
            "{} is another program's database, not a silin store; choose a new file",
            path.display()
        )));
    }
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {sync};
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;"
    ))?;
    migrate(&conn, layout)?;
    Ok(conn)
}

/// Brings the file from layout `current` (its `user_version`, read when it
/// was opened) to [`LAYOUT`], one migration per transaction.
fn migrate(conn: &Connection, current: i64) -> Result<()> {
    if current > LAYOUT {
        return Err(Error::Incompatible(format!(
            "this store has layout {current}, newer than this build understands ({LAYOUT}); update silin"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let to = i as i64 + 1;
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {to};"))?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_file_reaches_current_layout_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        drop(open(&p, None, Durability::Full).unwrap());
        let c = open(&p, None, Durability::Full).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, LAYOUT);
    }

    #[test]
    fn layout_1_documents_survive_the_move_of_snapshots() {
        use crate::cell::CellDoc;
        use crate::model::{CellInfo, RegionPath};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        let info = CellInfo {
            id: crate::model::new_id(),
            name: "第一联户".into(),
            path: RegionPath::parse("两当县/城关镇/广香村/一组").unwrap(),
            lead: None,
        };
        let snapshot = CellDoc::create(&info, &automerge::ActorId::random(), 0)
            .unwrap()
            .save();
        {
            let c = Connection::open(&p).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch("PRAGMA user_version = 1;").unwrap();
            c.execute(
                "INSERT INTO docs (id, snapshot, heads, snapshot_bytes, chunk_count) VALUES (?1, ?2, x'', ?3, 0)",
                rusqlite::params![info.id, snapshot, snapshot.len() as i64],
            )
            .unwrap();
        }
        let c = open(&p, None, Durability::Full).unwrap();
        let moved: Vec<u8> = c
            .query_row(
                "SELECT snapshot FROM snapshots WHERE id = ?1",
                [&info.id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(moved, snapshot);
        let has_column: i64 = c
            .query_row(
                "SELECT count(*) FROM pragma_table_info('docs') WHERE name = 'snapshot'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(has_column, 0);
    }

    #[test]
    fn another_programs_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("other.db");
        Connection::open(&p)
            .unwrap()
            .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
        let before = std::fs::read(&p).unwrap();
        assert!(matches!(
            open(&p, None, Durability::Full),
            Err(Error::Incompatible(_))
        ));
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    #[test]
    fn newer_layout_is_refused_not_downgraded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        let c = open(&p, None, Durability::Full).unwrap();
        c.execute_batch("PRAGMA user_version = 99;").unwrap();
        drop(c);
        assert!(matches!(
            open(&p, None, Durability::Full),
            Err(Error::Incompatible(_))
        ));
    }
}
