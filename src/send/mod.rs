//! Sending: talking SMTP to the relay and deciding what each reply means for a delivery.

mod reply;
mod smtp;
mod smtp_url;

pub use reply::{Failure, Stage, classify};
pub use smtp::{SmtpConnection, Timeouts};
pub use smtp_url::{SmtpServer, TlsMode};
