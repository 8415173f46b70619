//! CSV import of customers and events: streamed in batches, every bad row reported with its line and
//! field and skipped, good rows committed batch by batch (or, with `--strict`, all or nothing).

mod customers;
mod events;
mod pipeline;
mod report;
mod source;

pub use customers::import_customers;
pub use events::import_events;
pub use report::{ImportOptions, ImportReport, RowError};
pub use source::Source;
