//! `rapport.toml`: the workspace configuration an owner edits by hand.

/// Implements `TryFrom<String>` from a parse function, for `#[serde(try_from = "String")]`.
macro_rules! parsed_from_string {
    ($ty:ty, $parse:expr) => {
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                $parse(raw)
            }
        }
    };
}

mod duration;
mod load;
mod model;
mod timing;
mod values;

pub use duration::Span;
pub use load::{
    CONFIG_FILE, DATABASE_URL_ENV, PREVIOUS_SECRETS_ENV, PUBLISHED_SECRETS, PublishedSecret,
    SMTP_URL_ENV, TRACKING_SECRET_ENV, load, parse, published_secret,
};
pub use model::{
    CampaignConfig, Config, CourtesyConfig, DatabaseConfig, DeliveryConfig, DkimAlgorithm,
    DkimConfig, SenderConfig, TrackingConfig, Transport,
};
pub use timing::{CronSchedule, EventKind, LocalDateTime, LocalTime, QuietHours};
pub use values::{
    BaseUrl, Currency, DatabaseUrl, Identifier, Rate, Rates, Secret, SenderMailbox, TimeZone,
};
