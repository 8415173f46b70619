//! Values validated once at the edge of the program; the core never re-checks them.

mod attribute;
mod email;
mod event_kind;
mod timezone;

pub use attribute::{attribute_value, normalize_column_name};
pub use email::{EmailAddress, InvalidEmail};
pub use event_kind::parse_event_kind;
pub use timezone::parse_timezone;
