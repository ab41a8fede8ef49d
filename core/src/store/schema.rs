//! Opening the SQLite file: encryption key, pragmas, numbered migrations.

use crate::error::{Error, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use std::path::Path;

/// Numbered migrations; entry i takes the file from layout i to i+1.
/// Append only: a shipped migration never changes.
const MIGRATIONS: &[&str] = &[
    include_str!("../../sql/001_init.sql"),
    include_str!("../../sql/002_snapshots.sql"),
    include_str!("../../sql/003_sync.sql"),
    include_str!("../../sql/004_enrolled_keys.sql"),
    include_str!("../../sql/005_hub_tables_out.sql"),
    include_str!("../../sql/006_region_levels.sql"),
    include_str!("../../sql/007_erasure_orders.sql"),
    include_str!("../../sql/008_check_schedule.sql"),
    include_str!("../../sql/009_device_audit.sql"),
];

/// The layout after which enrolment tokens and enrolled keys are the hub's
/// to lay out (silin-hub creates them where it serves).
const HUB_TABLES_OUT: i64 = 5;
/// Tables layouts 3 and 4 made in every store that only a hub fills.
const HUB_TABLES: [&str; 2] = ["enrol_tokens", "enrolled"];

/// How long a statement waits for another connection's lock before it
/// fails with [`Error::Busy`]. A writer holds the lock for one user action
/// (one document's compaction at most), milliseconds; only a projection
/// rebuild or a vacuum of a large store holds it for longer.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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
    inspect(path, key.is_some())?;
    create_private(path)?;
    let conn = Connection::open_with_flags(path, flags)?;
    // Before the first read: another program may be writing the file (a hub
    // serving while a bundle is imported), and every statement from here on
    // should wait for it rather than fail.
    conn.busy_handler(Some(wait_for_lock))?;
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
        Err(rusqlite::Error::SqliteFailure(e, m)) if e.code == ErrorCode::DatabaseCorrupt => {
            return Err(not_a_store(
                path,
                format!(
                    "it is damaged ({}); restore it from a copy",
                    m.unwrap_or_else(|| e.to_string())
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    // A database silin never laid out but which holds tables is another
    // program's: refuse it before anything (even the journal mode) changes.
    let layout: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if layout == 0 && objects > 0 {
        return Err(not_a_store(
            path,
            "it is another program's SQLite database; choose a new file",
        ));
    }
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    use_wal(&conn)?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync};
         PRAGMA foreign_keys = ON;"
    ))?;
    migrate(&conn, layout)?;
    Ok(conn)
}

/// Called by SQLite while another connection holds a lock this one needs;
/// `tries` counts the calls for this one wait. It polls every millisecond,
/// where SQLite's own timeout backs off to 100 ms sleeps: a writer done in a
/// millisecond should not keep the other program waiting for a hundred.
fn wait_for_lock(tries: i32) -> bool {
    let poll = std::time::Duration::from_millis(1);
    if poll * u32::try_from(tries).unwrap_or(u32::MAX) >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(poll);
    true
}

/// Switches a new file to WAL (an existing store already is). The switch
/// needs the file to itself, and SQLite refuses it at once, without waiting,
/// when another program is opening the same new file: try again until that
/// one is done.
fn use_wal(conn: &Connection) -> Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let outcome = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
        let again = match &outcome {
            Ok(mode) => !mode.eq_ignore_ascii_case("wal"),
            Err(e) => e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy),
        };
        if !again || std::time::Instant::now() >= deadline {
            // A file system without shared memory keeps its rollback journal,
            // as before; only an error is one.
            outcome?;
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Size of the SQLite file header (the start of page 1).
const HEADER: usize = 100;

/// A new store file is created readable and writable by its owner only
/// (whatever the umask): it holds named people's health records. SQLite
/// gives its -wal and -shm files the database file's permissions, and an
/// empty file is a new database to it.
fn create_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // Let SQLite meet the problem and report it the usual way.
            Err(_) => {}
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn not_a_store(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotAStore {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Looks at the file before SQLite does, to refuse what SQLite would open
/// wrongly or only half-way: a directory or device, a read-only file (SQLite
/// falls back to reading and leaves -wal/-shm files beside it), a file that
/// is not SQLite at all (SQLite would blame the key), a truncated one. Reads
/// at most the 100-byte header; writes nothing. A missing file or an empty
/// one passes: SQLite lays out a new store there (an empty file is also what
/// a device killed while creating its store leaves behind).
fn inspect(path: &Path, keyed: bool) -> Result<()> {
    use std::io::Read;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if meta.is_dir() {
        return Err(Error::CannotWrite {
            path: path.to_path_buf(),
            reason: "a directory, not a store file".into(),
        });
    }
    if !meta.is_file() {
        return Err(not_a_store(path, "it is not a regular file"));
    }
    let read_only = || Error::CannotWrite {
        path: path.to_path_buf(),
        reason: "read-only".into(),
    };
    // The permission bits first: a superuser could write the file anyway,
    // but a file marked read-only is not one to change behind its owner.
    if meta.permissions().readonly() {
        return Err(read_only());
    }
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(read_only()),
        Err(e) => return Err(e.into()),
    };
    let len = meta.len();
    if len == 0 {
        return Ok(());
    }
    let mut header = Vec::with_capacity(HEADER);
    file.by_ref().take(HEADER as u64).read_to_end(&mut header)?;
    if !header.starts_with(SQLITE_MAGIC) {
        // An encrypted store looks like noise, but always whole pages of at
        // least 512 bytes; anything else cannot be one, key or no key.
        if len % 512 == 0 {
            return Ok(());
        }
        return Err(not_a_store(
            path,
            if keyed {
                "it is not an SQLite file, encrypted or not"
            } else {
                "it is not an SQLite file"
            },
        ));
    }
    if header.len() < HEADER {
        return Err(not_a_store(
            path,
            format!("it is truncated ({len} bytes, shorter than an SQLite header); restore it from a copy"),
        ));
    }
    // While a -wal or -journal file is beside it, the main file may be mid-
    // checkpoint or mid-rollback; SQLite itself knows how to read that.
    let beside = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        Path::new(&p).exists()
    };
    if beside("-wal") || beside("-journal") {
        return Ok(());
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(not_a_store(
            path,
            "its SQLite header is damaged (page size); restore it from a copy",
        ));
    }
    // The header's page count is trustworthy only when the version it was
    // written for matches the change counter (SQLite's own rule).
    let pages = u64::from(be32(28));
    let counted = be32(92) == be32(24) && pages > 0;
    if len % page_size != 0 || (counted && len < pages * page_size) {
        let expected = if counted {
            format!("{} bytes", pages * page_size)
        } else {
            format!("a multiple of {page_size} bytes")
        };
        return Err(not_a_store(
            path,
            format!("it is truncated ({len} bytes where its header records {expected}); restore it from a copy"),
        ));
    }
    Ok(())
}

/// Brings the file from layout `current` (its `user_version`, read when it
/// was opened) to [`LAYOUT`], one migration per transaction.
fn migrate(conn: &Connection, current: i64) -> Result<()> {
    let newer = |layout: i64| {
        Error::Incompatible(format!(
            "this store has layout {layout}, newer than this build understands ({LAYOUT}); update silin"
        ))
    };
    if current > LAYOUT {
        return Err(newer(current));
    }
    if current == LAYOUT {
        return Ok(());
    }
    loop {
        // The layout is read again under the write lock: another program
        // opening the same file may have run this migration meanwhile.
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let layout: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if layout > LAYOUT {
            return Err(newer(layout));
        }
        let Some(sql) = usize::try_from(layout).ok().and_then(|i| MIGRATIONS.get(i)) else {
            tx.commit()?;
            return Ok(());
        };
        tx.execute_batch(sql)?;
        if layout + 1 == HUB_TABLES_OUT {
            drop_unused_hub_tables(&tx)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {};", layout + 1))?;
        tx.commit()?;
    }
}

/// Drops the hub's tables from a store that never served as a hub (every
/// phone); a hub's file keeps them, rows and all, for silin-hub to carry on
/// with. Conditional DDL is not SQL, so this step is code.
fn drop_unused_hub_tables(tx: &Transaction) -> Result<()> {
    for table in HUB_TABLES {
        let used: bool =
            tx.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), [], |r| {
                r.get(0)
            })?;
        if !used {
            tx.execute_batch(&format!("DROP TABLE {table};"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_new_store_and_its_journal_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("private.db");
        let conn = open(&p, None, Durability::Full).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        for f in ["private.db", "private.db-wal", "private.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}: {mode:o}");
        }
    }

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

    fn tables(c: &Connection) -> Vec<String> {
        let mut s = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let names = s.query_map([], |r| r.get(0)).unwrap();
        names.map(|n| n.unwrap()).collect()
    }

    #[test]
    fn a_phone_store_carries_no_hub_table() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("phone.db"), None, Durability::Full).unwrap();
        let t = tables(&c);
        for hub in HUB_TABLES {
            assert!(!t.iter().any(|n| n == hub), "{hub} in {t:?}");
        }
        assert!(t.iter().any(|n| n == "revoked"), "{t:?}");
    }

    #[test]
    fn a_layout_4_hub_keeps_its_tokens_and_a_layout_4_phone_loses_the_empty_tables() {
        let dir = tempfile::tempdir().unwrap();
        let at_layout_4 = |name: &str, hub: bool| {
            let p = dir.path().join(name);
            let c = Connection::open(&p).unwrap();
            for sql in &MIGRATIONS[..4] {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch("PRAGMA user_version = 4;").unwrap();
            if hub {
                c.execute(
                    "INSERT INTO enrol_tokens (token_hash, role, scope, valid_days, expires) VALUES (x'01', 'lead', '*', 30, 99)",
                    [],
                )
                .unwrap();
            }
            p
        };
        let hub = open(&at_layout_4("hub.db", true), None, Durability::Full).unwrap();
        let kept: i64 = hub
            .query_row("SELECT count(*) FROM enrol_tokens", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
        // Unused, the hub's other table goes like a phone's.
        assert!(!tables(&hub).iter().any(|n| n == "enrolled"));
        let phone = open(&at_layout_4("phone.db", false), None, Durability::Full).unwrap();
        let t = tables(&phone);
        assert!(
            !t.iter().any(|n| n == "enrol_tokens" || n == "enrolled"),
            "{t:?}"
        );
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
            Err(Error::NotAStore { .. })
        ));
        assert_eq!(std::fs::read(&p).unwrap(), before);
    }

    /// Every file in `dir` with its bytes.
    fn contents(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                (e.file_name(), bytes)
            })
            .collect();
        v.sort();
        v
    }

    fn refused(dir: &Path, p: &Path, key: Option<&StoreKey>) -> Error {
        let before = contents(dir);
        let e = open(p, key, Durability::Full).expect_err("should be refused");
        assert_eq!(contents(dir), before, "{e} left the directory changed");
        e
    }

    #[test]
    fn files_that_are_not_stores_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let text = d.join("people.csv");
        std::fs::write(&text, "姓名,身份证号\n王芳,11010519491231002X\n").unwrap();
        for key in [None, Some(&StoreKey::new("k"))] {
            let e = refused(d, &text, key);
            assert!(
                matches!(&e, Error::NotAStore { reason, .. } if reason.contains("not an SQLite file")),
                "{e}"
            );
        }
        let e = refused(d, d, None);
        assert!(matches!(e, Error::CannotWrite { .. }), "{e}");
        assert!(e.to_string().contains("directory"), "{e}");

        let good = d.join("good.db");
        drop(open(&good, None, Durability::Full).unwrap());
        let bytes = std::fs::read(&good).unwrap();
        assert!(bytes.len() >= 8192, "a laid-out store has several pages");
        for cut in [50, 4096, bytes.len() - 4096, bytes.len() - 1] {
            let p = d.join(format!("cut{cut}.db"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let e = refused(d, &p, None);
            assert!(e.to_string().contains("truncated"), "cut at {cut}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_store_is_refused_without_journal_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ro.db");
        drop(open(&p, None, Durability::Full).unwrap());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
        let e = refused(dir.path(), &p, None);
        assert!(e.to_string().contains("read-only"), "{e}");
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
