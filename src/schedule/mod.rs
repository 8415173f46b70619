//! Time in the owner's terms: when a campaign fires (cron schedules and one-shot times in the
//! workspace time zone, with daylight-saving days handled so that each fire happens once), and when
//! each recipient's message is due (`deliver_at` and quiet hours in the recipient's own time zone).

mod due;
mod fires;
mod local;

pub use due::{Deferral, Timing};
pub use fires::{Catchup, When, catch_up, fires_between, next_fire};
pub use local::{instant_of, next_local_time};
