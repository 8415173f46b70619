//! The tracking and unsubscribe server: the open pixel, tracked clicks, the unsubscribe page with RFC
//! 8058 one-click unsubscribe, the preferences page, and a health check. `rapport serve` runs it
//! alone; the daemon embeds it through [`serve`] with its own listener and cancellation token.
//!
//! Invariants: a token that does not verify for its endpoint gets 404 and nothing is written; a GET
//! never changes a subscription; a click redirects only to a link stored for that delivery; every
//! value shown in a page is escaped; internal errors are logged, never shown.

mod claim;
mod error;
mod listen;
mod machine;
mod optout;
mod page;
mod preferences;
mod routes;
mod state;
mod track;
mod unsubscribe;

pub use error::ServerError;
pub use listen::{Limits, serve};
pub use machine::is_machine;
pub use page::escape;
pub use routes::router;
pub use state::{AppState, Shop};
pub use track::PIXEL;
