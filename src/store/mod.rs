//! The store: every query the engine runs, on SQLite (the embedded default) and PostgreSQL.
//!
//! One API, two databases: each query is written once with `$N` placeholders (which both accept) and
//! compiled for each driver by the `on_pool!`/`on_tx!` macros, so the two cannot drift apart; the
//! schema lives in `migrations/sqlite` and `migrations/postgres`, applied when the store opens.
//! Composable writes take a [`Tx`] that the caller owns and commits.

#[macro_use]
mod dispatch;
pub(crate) mod customers;
mod db;
pub mod deliveries;
pub mod due_times;
#[macro_use]
pub mod events;
pub mod links;
pub mod runs;
mod sample;
mod segments;
pub mod sent;
pub mod stats;
mod summary;
pub mod suppressions;
pub mod tracking;
mod wal_writes;

pub use customers::{Customer, CustomerFields};
pub use db::{Dialect, Store, Tx};
pub use events::{EngineEvent, Event, NewEvent};
pub use segments::{Trigger, plan_members, plan_triggered};
pub use summary::{Purchase, RECENT_PURCHASES, Summary};
