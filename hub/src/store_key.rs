//! The key a SQLite hub's database is encrypted with at rest.
//!
//! A hub database holds every cell of the township: the health and travel
//! records of named villagers. A new one is encrypted by default
//! (SQLCipher), with a fresh random key kept in a file, never on a command
//! line (where `ps` and the shell history would show it): beside the
//! database (`<db>.store-key`, mode 0600) unless the office keeps it
//! elsewhere. Beside the database it protects what leaves the machine
//! without it — a copied database file, a backup of the database alone, a
//! disk sold on — not a reader of the whole directory; keeping the key file
//! on other media (`--key-file`) or the key in the environment
//! (`--key-env`) protects more.

use std::path::{Path, PathBuf};

use silin_core::{Error, Result, StoreKey};

use crate::office::{cannot_write, refuse_shared, write_new_file};

/// Longest key file read: a key is 64 hex digits or a passphrase line.
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// The key file kept beside the hub database at `db`.
pub fn beside(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".store-key");
    PathBuf::from(name)
}

/// The key in the file beside the store at `db`, if it has one: what a
/// program opening a store `silin` made passes to `Store::open`.
pub fn of_store(db: &Path) -> Result<Option<StoreKey>> {
    read(&beside(db))
}

/// The key in the file at `path`, `None` when there is no file. The file
/// holds one line: 64 hex digits (the key itself, as written by
/// [`create`]) or a passphrase (SQLCipher derives the key from it). Refused
/// when others than its owner may read it, when empty, or when too long
/// to be a key.
pub fn read(path: &Path) -> Result<Option<StoreKey>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(path, e)),
    };
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
        return Err(Error::Incompatible(format!(
            "the store key file {} is not a key (a file of one line, at most {MAX_KEY_FILE_BYTES} bytes); give the file the database was encrypted with",
            path.display()
        )));
    }
    refuse_shared(path, "store key")?;
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(path, e))?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(Error::Incompatible(format!(
            "the store key file {} is empty; restore it from the hub's backup",
            path.display()
        )));
    }
    Ok(Some(StoreKey::new(line)))
}

/// Writes a fresh random key to a new file at `path` (0600, synced with its
/// directory entry before this returns) and returns it. When another
/// process wrote the file first, its key is returned instead: two commands
/// setting up the same new hub agree on one key.
pub fn create(path: &Path) -> Result<StoreKey> {
    let key = hex::encode(silin_core::identity::random_bytes::<32>());
    if write_new_file(path, format!("{key}\n").as_bytes())? {
        Ok(StoreKey::new(key))
    } else {
        read(path)?.ok_or_else(|| cannot_write(path, "it vanished"))
    }
}

/// Why a store could not be encrypted in place; in every case nothing
/// was changed.
#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    #[error("{} is not a plain SQLite store (encrypted already, or not a store); nothing was changed", .0.display())]
    NotPlain(PathBuf),
    #[error("there is a key file at {} already; move it aside (the store gets a new key) and run again; nothing was changed", .0.display())]
    KeyFileExists(PathBuf),
    #[error("another program has {} open (a running `silin hub serve`, an app); stop it and run again; nothing was changed", .0.display())]
    InUse(PathBuf),
    #[error(transparent)]
    Store(#[from] Error),
}

/// Encrypts the plain store at `db` in place, under a fresh key written to
/// the new key file `key_file` first; returns nothing until the encrypted
/// store has replaced the plain one and both are on disk.
///
/// Refused, changing nothing, while another program has the store open (a
/// running hub or app would go on writing the plain file): the store is
/// held exclusively from the first read to the swap. The plain bytes are
/// overwritten with zeros once the encrypted file is in place; on flash
/// and copy-on-write file systems that does not reach every old block, and
/// copies made before (backups) are not touched — doc/PRIVACY.md.
pub fn encrypt_in_place(db: &Path, key_file: &Path) -> std::result::Result<(), EncryptError> {
    use rusqlite::{Connection, OpenFlags};
    if !is_plain(db) {
        return Err(EncryptError::NotPlain(db.into()));
    }
    if key_file.exists() {
        return Err(EncryptError::KeyFileExists(key_file.into()));
    }
    let sql = |e: rusqlite::Error| cannot_write(db, e);
    if open_elsewhere(db).map_err(|e| cannot_write(db, e))? {
        return Err(EncryptError::InUse(db.into()));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql)?;
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
    // Leaving WAL needs the only connection to the file, so this fails at
    // once while a hub or app has the store open; exclusive locking then
    // holds the file from here to the swap. Without a WAL, nothing of the
    // plain store is left beside the encrypted one.
    let left_wal = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        })
        .and_then(|mode| {
            conn.execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE;
                 BEGIN EXCLUSIVE; SELECT count(*) FROM sqlite_master; COMMIT;",
            )?;
            Ok(mode)
        });
    match left_wal {
        Ok(mode) if mode.eq_ignore_ascii_case("delete") => {}
        Ok(_) => return Err(EncryptError::InUse(db.into())),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) =>
        {
            return Err(EncryptError::InUse(db.into()))
        }
        Err(e) => return Err(sql(e).into()),
    }
    let layout: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    let mut tmp = db.as_os_str().to_os_string();
    tmp.push(".encrypting");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let hex = hex::encode(silin_core::identity::random_bytes::<32>());
    let undo = |e: Error| {
        let _ = std::fs::remove_file(&tmp);
        e
    };
    write_new_file(&tmp, b"").map_err(undo)?;
    let exported = conn
        .execute(
            &format!("ATTACH DATABASE ?1 AS encrypted KEY \"x'{hex}'\""),
            [tmp.to_string_lossy()],
        )
        .and_then(|_| conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(())))
        .and_then(|()| {
            conn.execute_batch(&format!(
                "PRAGMA encrypted.user_version = {layout}; DETACH DATABASE encrypted;"
            ))
        });
    exported.map_err(|e| undo(sql(e)))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| undo(cannot_write(&tmp, e)))?;
    // The key is on disk before the encrypted file takes the store's name,
    // and only then: a crash before leaves the plain store as it was (and
    // a temporary file the next run removes), after, the encrypted one
    // with its key. Only a crash between the two leaves a key file beside
    // the plain store, which every command then refuses as the wrong key.
    if !write_new_file(key_file, format!("{hex}\n").as_bytes()).map_err(undo)? {
        let _ = std::fs::remove_file(&tmp);
        return Err(EncryptError::KeyFileExists(key_file.into()));
    }
    let undo = |e: Error| {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_file(key_file);
        e
    };
    // The plain file, kept open to overwrite what it held once the
    // encrypted one has its name.
    let mut plain = std::fs::OpenOptions::new()
        .write(true)
        .open(db)
        .map_err(|e| undo(cannot_write(db, e)))?;
    std::fs::rename(&tmp, db).map_err(|e| undo(cannot_write(db, e)))?;
    sync_dir(db)?;
    wipe(&mut plain).map_err(|e| cannot_write(db, e))?;
    drop(conn);
    Ok(())
}

/// Whether another process has the WAL-mode database at `db` open: every
/// open connection holds a shared lock on one byte of the `-shm` file
/// (SQLite's "dead man switch", which tells the last connection to close
/// that it is the last), so a conflicting write lock there belongs to a
/// live connection of another process (locks die with their process).
/// Asked before this process opens the database; leaving WAL mode, next,
/// is refused too while another connection is open.
#[cfg(unix)]
fn open_elsewhere(db: &Path) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    /// The byte SQLite's unix VFS locks: after the 8 WAL lock bytes at 120.
    const DMS_BYTE: libc::off_t = 128;
    let mut shm = db.as_os_str().to_os_string();
    shm.push("-shm");
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&shm)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    // SAFETY: `flock` is plain data, fully initialised here; the fd is
    // open for the duration of the call; F_GETLK only writes into `lock`.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = DMS_BYTE;
    lock.l_len = 1;
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) };
    if r == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

#[cfg(not(unix))]
fn open_elsewhere(_db: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Overwrites a file's bytes with zeros and syncs them.
fn wipe(f: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Seek, Write};
    let len = f.metadata()?.len();
    f.seek(std::io::SeekFrom::Start(0))?;
    let zeros = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        #[cfg(unix)]
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| cannot_write(dir, e))?;
    }
    Ok(())
}

/// Whether the database at `db` is a plain SQLite file, readable by
/// anyone who gets a copy of it (its first bytes are SQLite's header; an
/// encrypted file's are random). Never for a database this process holds
/// open: closing any descriptor of a file drops every POSIX lock the
/// process holds on it, SQLite's included, and another process would then
/// take itself for the last user and remove the write-ahead log under it.
pub fn is_plain(db: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(db)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"SQLite format 3\0")
}

fn unreadable(path: &Path, e: std::io::Error) -> Error {
    Error::Incompatible(format!(
        "cannot read the store key file {}: {e}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_read_back_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = beside(&dir.path().join("hub.db"));
        assert!(read(&path).unwrap().is_none());
        create(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert!(text.trim().bytes().all(|b| b.is_ascii_hexdigit()));
        // A second create keeps the first file's key.
        create(&path).unwrap();
        assert!(read(&path).unwrap().is_some());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_shared_empty_or_oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(read(&path).unwrap_err().to_string().contains("empty"));
        std::fs::write(&path, "x".repeat(2000)).unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("not a key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&path, "a passphrase\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(read(&path).unwrap_err().to_string().contains("chmod 600"));
        }
    }
}
