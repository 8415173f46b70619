//! Sending: talking SMTP to the relay and deciding what each reply means for a delivery.

mod backoff;
mod outbox;
mod rate;
mod reply;
mod smtp;
mod smtp_url;
mod watched;

pub use backoff::Backoff;
pub use outbox::write_message;
pub use rate::RateLimiter;
pub use reply::{Failure, Stage, classify};
pub use smtp::{SmtpConnection, Timeouts};
pub use smtp_url::{SmtpServer, TlsMode};
