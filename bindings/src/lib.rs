//! silin-ffi: the silin library as Android, iOS and Python apps load it.
//!
//! The app-facing contract is udl/silin.udl; uniffi generates the Kotlin,
//! Swift and Python bindings from it (bindings/generate) and the Rust
//! scaffolding at build time. This crate only converts: records and enums to
//! and from silin-core's types, core / sync / hub errors to the two error
//! enums apps see, and callback interfaces to core observers. Every rule of
//! the register and of sync lives in silin-core and silin-hub.

mod convert;
#[cfg(feature = "rust-crypto")]
mod crypto_provider;
mod error;
mod hot;
mod log;
mod offthread;
mod register;
mod registry;
mod session;
mod status;
mod store;

pub use convert::*;
pub use error::{ObserverError, StoreError, SyncError};
pub use hot::close_visit_writer;
pub use log::{set_logger, LogLevel, Logger};
pub use register::*;
pub use session::SyncSession;
pub use status::{SyncPhase, SyncStatus, SyncStatusObserver};
pub use store::{CellObserver, Store};

/// Stops sending silin's log to the app's logger.
pub fn clear_logger() {
    log::install(None, LogLevel::Error);
}

pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

pub fn member_fields() -> Vec<String> {
    silin_core::model::MEMBER_FIELDS
        .iter()
        .map(|f| f.to_string())
        .collect()
}

pub fn check_resident_id(id_number: String) -> Result<String, StoreError> {
    Ok(silin_core::model::check_resident_id(
        &id_number,
        convert::today(),
    )?)
}

pub fn today() -> String {
    convert::today().to_string()
}

uniffi::include_scaffolding!("silin");
