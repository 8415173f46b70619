//! Running a campaign: plan a run from its segment, then deliver it, message by message, with the
//! guarantees of DESIGN.md (leased before sent, marked after; opt-outs checked at send time).

mod checks;
mod decision;
mod deliver;
mod link;
mod outcome;
mod pass;
mod plan;
mod summary;

pub use checks::{Skip, send_time_check, send_time_checks};
pub use decision::{Decision, decide};
pub use deliver::{Delivery, DeliveryOptions, RateHold, Round, deliver_run};
pub use link::{Link, Links};
pub use pass::{Pass, Passed, deliver_pass};
pub use plan::{Start, audience, plan_fire, plan_triggers, start_run, triggered_run};
pub use summary::RunSummary;
