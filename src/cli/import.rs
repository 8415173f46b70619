//! `rapport import customers|events FILE`: load a CSV export into the workspace database.

use crate::import::{ImportOptions, Source, import_customers, import_events};
use crate::workspace::Workspace;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Bad rows are reported as FILE:LINE: field: problem and skipped; the exit code is 1 when \
any row was rejected. Importing the same file again changes nothing. Formats: docs/import.md"
)]
pub struct Args {
    /// What the file holds.
    #[arg(value_enum)]
    pub what: What,
    /// The CSV file, with a header row; - reads standard input.
    pub file: String,
    /// Write nothing at all if any row is bad.
    #[arg(long)]
    pub strict: bool,
    /// Events: create a customer for an address not seen before, instead of rejecting the row.
    #[arg(long)]
    pub create_customers: bool,
    /// Field separator: a single character such as ';', or `tab`.
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// One row per customer: email, first_name, last_name, timezone, locale, created_at, attributes...
    Customers,
    /// One row per event: email, kind, occurred_at, amount, id, properties...
    Events,
}

fn parse_delimiter(raw: &str) -> Result<u8, String> {
    match raw {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if raw.len() == 1 && raw.is_ascii() => Ok(raw.as_bytes()[0]),
        _ => Err(format!(
            "{raw:?} is not a single character: use e.g. ';' or tab"
        )),
    }
}

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !(args.create_customers && args.what == What::Customers),
        "--create-customers applies to events only"
    );
    let workspace = Workspace::load(dir)?;
    let store = workspace.open_store().await?;
    let options = ImportOptions {
        strict: args.strict,
        create_customers: args.create_customers,
        delimiter: args.delimiter,
    };
    let source = Source::from_arg(&args.file);
    let mut print = |e: &crate::import::RowError| eprintln!("{e}");
    let report = match args.what {
        What::Customers => import_customers(&store, &source, &options, &mut print).await,
        What::Events => import_events(&store, &source, &options, &mut print).await,
    };
    store.close().await;
    let report = report?;
    println!("{report}");
    warn_of_unknown_topics(&workspace, &report);
    Ok(if report.rejected > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Imported unsubscribes from a topic that no campaign has are stored, and stop nothing until a
/// campaign has that topic: often a topic named differently in the other tool (`Offers` for
/// `offers`). Says so, with the nearest topic.
fn warn_of_unknown_topics(workspace: &Workspace, report: &crate::import::ImportReport) {
    let topics = workspace.config.topics();
    for (topic, n) in &report.opt_out_topics {
        if topics.contains(&topic.as_str()) {
            continue;
        }
        let hint = super::customer::known_topics(
            topic,
            &topics,
            "they apply once a campaign in rapport.toml has this topic",
        );
        eprintln!(
            "warning: {}: {} from the topic {topic:?}, which no campaign in rapport.toml has: \
             they stop no mail until one does\n  = hint: {hint}",
            report.file,
            crate::wording::plural(*n, "unsubscribe"),
        );
    }
}
