//! `rapport segment list|count|show|explain`: the owner's view of their segments.
//!
//! Membership always comes from the compiled SQL query; `explain` and the figures of `show` come from
//! the reference interpreter over the customer's stored events, which the property test keeps equal.

use super::table;
use crate::domain::EmailAddress;
use crate::segment::explain::{explain, figure_columns, figure_value};
use crate::segment::{Facts, Library, compile};
use crate::store::{Customer, Store};
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
    /// Evaluate as of this instant instead of now, e.g. 2026-01-31 or 2026-01-31T09:00:00Z.
    #[arg(long, global = true, value_parser = parse_now)]
    pub now: Option<Timestamp>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every segment: name, member count and description (its first comment line).
    List,
    /// How many customers are in the segment.
    Count { name: String },
    /// The members: email, name and the figures the rule uses.
    Show {
        name: String,
        /// How many members to show.
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Whether one customer is in the segment, and why: each clause with its value and figures.
    Explain { name: String, email: String },
}

fn parse_now(raw: &str) -> Result<Timestamp, String> {
    Timestamp::parse_flexible(raw)
}

/// Events of one customer read for explain and show (all of them, in practice).
const EVENTS_PER_CUSTOMER: i64 = 1_000_000;

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    let library = Library::load(&workspace.segments_dir())?;
    let now = args.now.unwrap_or_else(Timestamp::now);
    let store = workspace.open_store().await?;
    let result = match args.command {
        Command::List => list(&store, &library, now).await,
        Command::Count { name } => count(&store, &library, &name, now).await,
        Command::Show { name, limit } => show(&store, &library, &name, limit, now).await,
        Command::Explain { name, email } => explain_one(&store, &library, &name, &email, now).await,
    };
    store.close().await;
    result
}

async fn list(store: &Store, library: &Library, now: Timestamp) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    let mut broken = 0;
    for file in library.files.values() {
        let members = match library.rule(&file.name) {
            Ok(rule) => store
                .count_segment(&compile(&rule.expr, store.dialect(), now)?)
                .await?
                .to_string(),
            Err(_) => {
                broken += 1;
                "invalid".to_string()
            }
        };
        rows.push(vec![file.name.clone(), members, file.description.clone()]);
    }
    if rows.is_empty() {
        println!("No segments yet: write one in segments/NAME.seg (see docs/segments.md)");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}",
        table::render(&["NAME", "MEMBERS", "DESCRIPTION"], &rows, &[1])
    );
    if broken > 0 {
        eprintln!("{broken} segments are invalid: run `rapport check` to see why");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn count(
    store: &Store,
    library: &Library,
    name: &str,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let rule = library.rule(name)?;
    let n = store
        .count_segment(&compile(&rule.expr, store.dialect(), now)?)
        .await?;
    println!("{n}");
    Ok(ExitCode::SUCCESS)
}

async fn show(
    store: &Store,
    library: &Library,
    name: &str,
    limit: i64,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let rule = library.rule(name)?;
    let condition = compile(&rule.expr, store.dialect(), now)?;
    let mut members: Vec<Customer> = Vec::new();
    store
        .for_each_member(&condition, Some(limit.max(0)), |c| {
            members.push(c);
            Ok(())
        })
        .await?;
    let columns = figure_columns(&rule);
    let mut rows = Vec::new();
    for customer in &members {
        let events = store
            .events_of_customer(customer.id, EVENTS_PER_CUSTOMER)
            .await?;
        let facts = Facts {
            customer,
            events: &events,
            now,
        };
        let mut row = vec![customer.email.clone(), customer.display_name()];
        row.extend(columns.iter().map(|(_, leaf)| figure_value(leaf, &facts)));
        rows.push(row);
    }
    let mut header = vec!["EMAIL", "NAME"];
    header.extend(columns.iter().map(|(label, _)| label.as_str()));
    println!("{}", table::render(&header, &rows, &[]));
    let total = store.count_segment(&condition).await?;
    println!("{} of {total} members", members.len());
    Ok(ExitCode::SUCCESS)
}

async fn explain_one(
    store: &Store,
    library: &Library,
    name: &str,
    email: &str,
    now: Timestamp,
) -> anyhow::Result<ExitCode> {
    let rule = library.rule(name)?;
    let email = EmailAddress::parse(email)?;
    let Some(customer) = store.customer_by_key(email.key()).await? else {
        anyhow::bail!(
            "no customer has the address {email}\n  = hint: rapport customer EMAIL shows one customer"
        );
    };
    let inside = store
        .segment_contains(&compile(&rule.expr, store.dialect(), now)?, customer.id)
        .await?;
    let events = store
        .events_of_customer(customer.id, EVENTS_PER_CUSTOMER)
        .await?;
    let facts = Facts {
        customer: &customer,
        events: &events,
        now,
    };
    let verdict = if inside { "is in" } else { "is not in" };
    println!("{} {verdict} segment {name:?}", customer.email);
    println!("{}", explain(&rule, &facts));
    if facts.eval(&rule.expr) != inside {
        eprintln!(
            "warning: the database and the explanation disagree about this customer; please report it"
        );
    }
    Ok(ExitCode::SUCCESS)
}
