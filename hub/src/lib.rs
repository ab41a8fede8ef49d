//! silin-hub: the township office's sync hub, and the client devices use to
//! reach it.
//!
//! Leads' and grid workers' phones keep their cells offline and meet the hub
//! when they reach the office network. The hub is one process over the same
//! silin-core store a phone uses (SQLite by default): it enrols devices with
//! one-time tokens the office prints on paper, answers sync sessions — the
//! same envelope a phone-to-phone session or a bundle file uses, carried in
//! HTTP bodies — and gives the office the five-level zero-report rollup,
//! health and Prometheus metrics. The [`client`] half (enrol, sync) is
//! blocking and small, so the phone FFI library can use it with default
//! features off; the [`server`] half (axum on tokio) is the `server` feature.
//! Beyond the hub machine the hub serves https ([`tls`]); devices pin its
//! certificate at enrolment and accept no other (client feature `tls`).

pub mod api;
#[cfg(feature = "server")]
pub mod audit;
pub mod client;
#[cfg(feature = "server")]
pub mod dashboard;
#[cfg(feature = "server")]
pub mod enrolment;
#[cfg(feature = "server")]
pub mod exposition;
#[cfg(feature = "server")]
pub mod lists;
#[cfg(feature = "server")]
pub mod office;
#[cfg(feature = "server")]
pub mod pg;
#[cfg(feature = "tls")]
mod pin;
#[cfg(feature = "server")]
pub mod reads;
#[cfg(feature = "server")]
pub mod retention;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod sessions;
#[cfg(feature = "server")]
pub mod storage;
#[cfg(feature = "server")]
pub mod store_key;
#[cfg(feature = "server")]
pub mod tls;
#[cfg(feature = "server")]
pub mod users;

pub use client::{enroll, sync, CertificateMismatch, ClientError, EnrolOutcome};
#[cfg(feature = "server")]
pub use server::{serve, spawn, HubConfig, HubError, HubHandle};
