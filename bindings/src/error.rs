//! The two error enums apps see, and how every core, sync and hub error
//! lands in one of their variants. The grouping is by what the app can do:
//! fix the input, enrol, retry, start a new sync, or report a fault.

use silin_core::identity::IdentityError;
use silin_core::sync::SyncError as CoreSyncError;
use silin_hub::client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid {field}: {rule}")]
    Invalid { field: String, rule: String },
    #[error("no {what} with id {id} in this store")]
    NotFound { what: String, id: String },
    #[error("{detail}")]
    WrongKey { detail: String },
    #[error("{detail}")]
    EncryptionUnavailable { detail: String },
    #[error("{detail}")]
    Closed { detail: String },
    #[error("{detail}")]
    Incompatible { detail: String },
    #[error("cell {cell_id} is damaged: {detail}")]
    Damaged { cell_id: String, detail: String },
    #[error("{detail}")]
    Storage { detail: String },
    #[error("{detail}")]
    NotAllowed { detail: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{detail}")]
    NotEnrolled { detail: String },
    #[error("{detail}")]
    Refused { detail: String },
    #[error("{detail}")]
    Malformed { detail: String },
    #[error("{detail}")]
    SessionFailed { detail: String },
    #[error("{detail}")]
    ClockSkew { detail: String },
    #[error("{detail}")]
    BadHubUrl { url: String, detail: String },
    #[error("{detail}")]
    BadToken { detail: String },
    #[error("{detail}")]
    HubUnreachable { url: String, detail: String },
    #[error("{detail}")]
    HubRefused {
        status: u16,
        kind: String,
        detail: String,
    },
    #[error("invalid {field}: {rule}")]
    Invalid { field: String, rule: String },
    #[error("no {what} with id {id} in this store")]
    NotFound { what: String, id: String },
    #[error("{detail}")]
    Closed { detail: String },
    #[error("{detail}")]
    Storage { detail: String },
    #[error("{detail}")]
    Cancelled { detail: String },
}

/// An app's observer failed. silin carries on: one broken observer must not
/// undo or block a committed write.
#[derive(Debug, thiserror::Error)]
pub enum ObserverError {
    #[error("the observer failed")]
    Failed,
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ObserverError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ObserverError::Failed
    }
}

const CLOSED: &str = "the store was closed; open it again to go on";

impl SyncError {
    pub(crate) fn cancelled() -> SyncError {
        SyncError::Cancelled {
            detail: "the sync was cancelled between two round trips; what it had brought is kept, and the next sync carries on".into(),
        }
    }

    /// The variant's name, for logs: never a value from the register.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SyncError::NotEnrolled { .. } => "not_enrolled",
            SyncError::Refused { .. } => "refused",
            SyncError::Malformed { .. } => "malformed",
            SyncError::SessionFailed { .. } => "session_failed",
            SyncError::ClockSkew { .. } => "clock_skew",
            SyncError::BadHubUrl { .. } => "bad_hub_url",
            SyncError::BadToken { .. } => "bad_token",
            SyncError::HubUnreachable { .. } => "hub_unreachable",
            SyncError::HubRefused { .. } => "hub_refused",
            SyncError::Invalid { .. } => "invalid",
            SyncError::NotFound { .. } => "not_found",
            SyncError::Closed { .. } => "closed",
            SyncError::Storage { .. } => "storage",
            SyncError::Cancelled { .. } => "cancelled",
        }
    }
}

impl StoreError {
    pub(crate) fn closed() -> StoreError {
        StoreError::Closed {
            detail: CLOSED.to_string(),
        }
    }

    pub(crate) fn invalid(field: &str, rule: &str) -> StoreError {
        StoreError::Invalid {
            field: field.to_string(),
            rule: rule.to_string(),
        }
    }
}

impl From<silin_core::model::ValidationError> for StoreError {
    fn from(e: silin_core::model::ValidationError) -> Self {
        StoreError::Invalid {
            field: e.field,
            rule: e.rule,
        }
    }
}

impl From<silin_core::Error> for StoreError {
    fn from(e: silin_core::Error) -> Self {
        use silin_core::Error as E;
        let detail = e.to_string();
        match e {
            E::Invalid(v) => v.into(),
            E::NotFound { what, id } => StoreError::NotFound {
                what: what.to_string(),
                id,
            },
            E::WrongKey => StoreError::WrongKey { detail },
            E::EncryptionUnavailable => StoreError::EncryptionUnavailable { detail },
            E::Incompatible(_) | E::NotAStore { .. } => StoreError::Incompatible { detail },
            E::CannotWrite { .. } => StoreError::Storage { detail },
            E::Damaged { doc, reason } => StoreError::Damaged {
                cell_id: doc,
                detail: reason,
            },
            // A peer's refused change: the stored cell is intact; the detail
            // says what was refused.
            E::Refused { doc, .. } => StoreError::Damaged {
                cell_id: doc,
                detail,
            },
            E::NotAllowed(_) => StoreError::NotAllowed { detail },
            // Phones only follow erasure orders; issuing one is the office's.
            E::Erasure(_) => StoreError::NotAllowed { detail },
            E::Busy | E::AuditBroken { .. } | E::Automerge(_) | E::Sqlite(_) | E::Io(_) => {
                StoreError::Storage { detail }
            }
        }
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        let detail = e.to_string();
        match e {
            StoreError::Invalid { field, rule } => SyncError::Invalid { field, rule },
            StoreError::NotFound { what, id } => SyncError::NotFound { what, id },
            StoreError::Closed { detail } => SyncError::Closed { detail },
            _ => SyncError::Storage { detail },
        }
    }
}

impl From<silin_core::Error> for SyncError {
    fn from(e: silin_core::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<IdentityError> for SyncError {
    fn from(e: IdentityError) -> Self {
        let detail = e.to_string();
        match e {
            IdentityError::NotEnrolled => SyncError::NotEnrolled { detail },
            IdentityError::Malformed(_) => SyncError::Malformed { detail },
            _ => SyncError::Refused { detail },
        }
    }
}

impl From<CoreSyncError> for SyncError {
    fn from(e: CoreSyncError) -> Self {
        use CoreSyncError as E;
        let detail = e.to_string();
        match e {
            E::Store(e) => e.into(),
            E::Identity(e) => e.into(),
            E::Envelope(_) | E::BadDocument { .. } => SyncError::Malformed { detail },
            // Recipients the caller named, or a file sealed to other devices.
            E::Seal(silin_core::sync::seal::SealError::Broken) => SyncError::Malformed { detail },
            E::Seal(_) => SyncError::Refused { detail },
            E::ClockSkew { .. } => SyncError::ClockSkew { detail },
            E::Replayed | E::OutOfScope { .. } | E::PeerNotEnrolled => {
                SyncError::Refused { detail }
            }
            E::UnknownCertificate
            | E::WrongSession
            | E::Unexpected(_)
            | E::Finished
            | E::Suspended(_)
            | E::TooManyRounds => SyncError::SessionFailed { detail },
        }
    }
}

impl From<ClientError> for SyncError {
    fn from(e: ClientError) -> Self {
        let detail = e.to_string();
        match e {
            ClientError::BadUrl { url, .. } => SyncError::BadHubUrl { url, detail },
            ClientError::BadToken => SyncError::BadToken { detail },
            ClientError::Unreachable { url, .. } => SyncError::HubUnreachable { url, detail },
            ClientError::Refused { status, kind, .. } => SyncError::HubRefused {
                status,
                kind,
                detail,
            },
            ClientError::Sync(e) => e.into(),
            ClientError::Identity(e) => e.into(),
            ClientError::Protocol(_) => SyncError::Malformed { detail },
            ClientError::Store(e) => e.into(),
        }
    }
}
