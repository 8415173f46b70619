//! `rapport daemon`: what runs for months on a small VPS. Two loops share one store and one clock:
//! the [`Planner`] fires schedules and turns triggering events into deliveries (at least every
//! minute), and the [`Courier`] delivers every unfinished run's due deliveries through the same
//! engine as `rapport send`. All state lives in the database, so a restart resumes where it was.

mod courier;
mod planner;
mod run;

pub use courier::Courier;
pub use planner::Planner;
pub use run::{CampaignComposers, run_daemon};
