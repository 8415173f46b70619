//! What an import tells the owner: one line per problem, and a summary.

use crate::wording::plural;
use std::fmt;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Write nothing at all if any row is bad.
    pub strict: bool,
    /// Events only: create a customer for an unknown address instead of rejecting the row.
    pub create_customers: bool,
    /// Field separator; `,` unless told otherwise.
    pub delimiter: Option<u8>,
}

/// One problem in one row: `customers.csv:7: email: "bob@" is not a valid email address: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The file as named on the command line, or `<stdin>`.
    pub file: String,
    /// The line where the row starts (the header is line 1).
    pub line: u64,
    /// The column, as written in the header, or `row` for problems with the whole row.
    pub field: String,
    pub problem: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.problem
        )
    }
}

/// Counts of an import; `rejected` counts rows, not problems.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub file: String,
    /// What a row holds: `customer` or `event`.
    pub what: &'static str,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Events with `--create-customers`: customers created for unknown addresses.
    pub customers_created: u64,
    /// Events: opt-outs (unsubscribes, bounces, complaints) that suppressed an address.
    pub suppressed: u64,
    /// Events: unsubscribes from a single topic, applied now or by an earlier import, by topic (at
    /// most 100 topics), so that the command can warn about a topic no campaign has.
    pub opt_out_topics: std::collections::BTreeMap<String, u64>,
    /// False when `--strict` discarded everything because of a bad row.
    pub written: bool,
}

/// How many distinct opt-out topics a report keeps: a shop has a handful.
pub const TOPICS_KEPT: usize = 100;

impl ImportReport {
    pub(crate) fn new(file: &str, what: &'static str) -> Self {
        ImportReport {
            file: file.to_string(),
            what,
            written: true,
            ..Default::default()
        }
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.written {
            return write!(
                f,
                "{}: {} rejected; nothing was written (--strict): fix the rows above and import again",
                self.file,
                plural(self.rejected, "row")
            );
        }
        write!(
            f,
            "{}: {} inserted",
            self.file,
            plural(self.inserted, self.what)
        )?;
        if self.what == "customer" {
            write!(
                f,
                ", {} updated, {} unchanged",
                self.updated, self.unchanged
            )?;
        } else {
            write!(f, ", {} already stored", self.unchanged)?;
        }
        write!(f, ", {} rejected", plural(self.rejected, "row"))?;
        if self.customers_created > 0 {
            write!(
                f,
                "; {} created",
                plural(self.customers_created, "new customer")
            )?;
        }
        if self.suppressed > 0 {
            write!(f, "; {} applied", plural(self.suppressed, "opt-out"))?;
        }
        Ok(())
    }
}
