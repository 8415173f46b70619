//! Messages: a rendered template turned into exactly what a customer receives, with tracked links,
//! the open pixel, signed unsubscribe links and the headers mailbox providers require.

mod compose;
pub mod dkim;
mod envelope;
mod quoted_printable;
mod tracking;

pub use compose::{ComposeError, Composed, Composer, DeliveryRef, PREVIEW, message_id};
pub use envelope::{Envelope, build_message};
pub use tracking::{Tracked, Tracker};
