//! silin-core: the offline-first heart of silin, a register for
//! neighbourhood micro-grid cells (3–5 households under a lead householder).
//!
//! Each cell is one automerge document ([`cell::CellDoc`]) — households,
//! members, visits, daily reports, tasks — kept in a local SQLite file
//! ([`store::Store`]) together with query projections derived from the
//! documents. Replicas of a cell on the lead's phone, a grid worker's phone
//! and the township hub edit offline and merge without loss; concurrent
//! edits of one field surface as conflicts. [`model`] holds the domain types
//! and their validation; [`region`] the hierarchy's levels as data (the
//! countryside's county/township/village/group, a community's buildings and
//! units); [`rollup`] the daily zero-report rollup at any of them.
//! Nothing here knows about FFI, HTTP or the command line.

pub mod audit;
pub mod cell;
pub mod clock;
pub mod erasure;
pub mod error;
pub mod guard;
pub mod identity;
pub mod model;
pub mod privacy;
pub mod region;
pub mod register;
pub mod replica;
pub mod rollup;
pub mod rules;
pub mod store;
pub mod sync;
pub mod wire;

pub use clock::Clock;
pub use error::{Error, Result};
pub use replica::Replica;
pub use store::{Durability, Observer, Store, StoreKey, StoreOptions};
pub use sync::bundle;
