//! The crate's error type. Variants are grouped by what the caller can do
//! about them: fix the input, name something that exists, supply the right
//! key, or report a fault of the device or file.

use crate::model::ValidationError;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value broke a field's rule; nothing was written.
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    /// An id that names nothing in this store.
    #[error(
        "no {what} with id {id} in this store; list them with `silin cells` or `silin cell show`"
    )]
    NotFound { what: &'static str, id: String },

    /// The store file is encrypted and the key given does not open it, or a
    /// key was given for a plaintext store. The file is left untouched.
    #[error("the store could not be opened with the key given (wrong key, or a key given for an unencrypted store / none for an encrypted one); nothing was changed")]
    WrongKey,

    /// A key was given but this build cannot encrypt; we refuse rather than
    /// write plaintext.
    #[error("encryption at rest was requested but this build has no SQLCipher; refusing to store plaintext")]
    EncryptionUnavailable,

    /// The file is not a silin store, or was written by a newer version.
    #[error("{0}")]
    Incompatible(String),

    /// The file named as a store is something else: not SQLite, truncated,
    /// empty, another program's database, not a regular file. It was left
    /// exactly as it was.
    #[error("{} is not a silin store: {reason}; nothing was changed", path.display())]
    NotAStore { path: PathBuf, reason: String },

    /// The store's file cannot be written (read-only, a directory), so it is
    /// not opened at all: SQLite would otherwise open it half-way and leave
    /// journal files beside it.
    #[error("cannot write {}, it is {reason}; nothing was changed", path.display())]
    CannotWrite { path: PathBuf, reason: String },

    /// A peer's change was refused at the trust boundary (it would move the
    /// cell, break the layout, or its bytes are hostile); nothing of it was
    /// kept.
    #[error("changes to cell {doc} were refused: {reason}; nothing was applied")]
    Refused { doc: String, reason: String },

    /// This device's role may not make this edit (see [`crate::rules`]);
    /// nothing was written.
    #[error("not allowed on this device: {0}; nothing was written")]
    NotAllowed(#[from] crate::rules::RuleError),

    /// A document's bytes do not decode, or contradict what the store recorded.
    #[error("document {doc} is damaged: {reason}")]
    Damaged { doc: String, reason: String },

    /// An erasure order could not be issued or followed.
    #[error(transparent)]
    Erasure(#[from] crate::erasure::ErasureError),

    /// The device's own audit log does not verify at entry `seq` (see
    /// [`crate::audit`]): it was altered after it was written.
    #[error("audit entry {seq}: {problem}; the audit log was altered after it was written: keep this copy of the store for investigation")]
    AuditBroken { seq: i64, problem: String },

    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),

    /// Another program (or another `Store` on the same file) kept the
    /// store's write lock for longer than a write waits, or moved a document
    /// on underneath this one. Nothing was written; the same call again
    /// works once the other writer is done.
    #[error("another program is writing this store; nothing was changed; try again in a moment")]
    Busy,

    #[error("storage error: {0}")]
    Sqlite(rusqlite::Error),

    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        // SQLITE_BUSY always means another connection holds a lock this one
        // needs (the wait for it ran out, or waiting could deadlock): say so
        // in the one way callers can act on.
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) => Error::Busy,
            _ => Error::Sqlite(e),
        }
    }
}

impl Error {
    pub fn not_found(what: &'static str, id: &str) -> Error {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// True when the caller gave something wrong (bad value, unknown id,
    /// wrong key), as opposed to a failure of the device or file.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::Invalid(_)
                | Error::NotFound { .. }
                | Error::Refused { .. }
                | Error::NotAllowed(_)
                | Error::WrongKey
                | Error::EncryptionUnavailable
                | Error::NotAStore { .. }
                | Error::CannotWrite { .. }
                | Error::Erasure(_)
        )
    }
}
