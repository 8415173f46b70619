//! `rapport.toml`: the workspace configuration an owner edits by hand.

mod duration;
mod load;
mod model;
mod values;

pub use duration::Span;
pub use load::{CONFIG_FILE, DATABASE_URL_ENV, SMTP_URL_ENV, load, parse};
pub use model::{
    CampaignConfig, Config, CourtesyConfig, DatabaseConfig, DeliveryConfig, DkimAlgorithm,
    DkimConfig, SenderConfig, TrackingConfig, Transport,
};
pub use values::{
    BaseUrl, CronSchedule, DatabaseUrl, Identifier, QuietHours, Rate, Rates, Secret, SenderMailbox,
    TimeZone,
};
