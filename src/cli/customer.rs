//! `rapport customer EMAIL`: one customer's attributes, the emails waiting to go to them (and when),
//! then their events newest first. `--unsubscribe [--topic TOPIC]` first records an unsubscribe
//! received another way (a reply, a mailto `List-Unsubscribe` request); a topic must be one a
//! campaign of `rapport.toml` has, or the opt-out would block nothing.

use super::table;
use crate::clock::Clock;
use crate::diagnostic::did_you_mean;
use crate::domain::EmailAddress;
use crate::store::suppressions::{ALL_TOPICS, suppressions_of};
use crate::store::tracking::unsubscribe_by_hand;
use crate::store::{Customer, Event, Store};
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The customer's address (any letter case).
    pub email: String,
    /// How many events to show.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    /// Record that the customer asked to be unsubscribed (by reply, by a mailto unsubscribe, by
    /// phone): from everything, or from `--topic` only. Sending stops at once, as for the link.
    #[arg(long)]
    pub unsubscribe: bool,
    /// With --unsubscribe: only this topic (a campaign's `topic` in rapport.toml), not every email.
    #[arg(long, requires = "unsubscribe")]
    pub topic: Option<String>,
}

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    let topic = match args.topic.as_deref() {
        Some(wanted) => campaign_topic(&workspace, wanted)?,
        None => ALL_TOPICS,
    };
    let store = workspace.open_store().await?;
    let email = EmailAddress::parse(&args.email)?;
    let Some(customer) = store.customer_by_key(email.key()).await? else {
        let hint = suggestion(&store, email.key()).await?;
        anyhow::bail!("no customer has the address {email}{hint}");
    };
    if args.unsubscribe {
        let mut tx = store.begin().await?;
        let added = unsubscribe_by_hand(
            &mut tx,
            customer.id,
            &customer.email_key,
            topic,
            Clock::from_env()?.now(),
        )
        .await?;
        tx.commit().await?;
        let from = match args.topic.as_deref() {
            Some(topic) => format!("the topic {topic:?}"),
            None => "every email".to_string(),
        };
        if added {
            println!("{} is unsubscribed from {from}.\n", customer.email);
        } else {
            println!("{} was already unsubscribed from {from}.\n", customer.email);
        }
    }
    let events = store
        .events_of_customer(customer.id, args.limit.max(0))
        .await?;
    let total = store.count_events_of_customer(customer.id).await?;
    let waiting = store.waiting_for_customer(customer.id).await?;
    let mut tx = store.begin_read().await?;
    let stopped = suppressions_of(&mut tx, &customer.email_key).await?;
    tx.rollback().await?;
    store.close().await;
    print!("{}", render(&customer, &stopped, &events, total));
    if !waiting.is_empty() {
        let rows: Vec<Vec<String>> = waiting
            .into_iter()
            .map(|(campaign, run, status, due)| {
                vec![campaign, run.to_string(), status, due.to_string()]
            })
            .collect();
        print!(
            "\nEmails waiting to be sent\n{}",
            table::render(&["CAMPAIGN", "RUN", "STATUS", "DUE"], &rows, &[1])
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The topic `wanted` as a campaign of `rapport.toml` has it. Sending checks opt-outs by exact topic,
/// so one no campaign has (a typo, `Newsletter` for `newsletter`) would be stored and block nothing:
/// it is refused, with the nearest topic and the list of them.
fn campaign_topic<'w>(workspace: &'w Workspace, wanted: &str) -> anyhow::Result<&'w str> {
    let topics = workspace.config.topics();
    if let Some(topic) = topics.iter().find(|t| **t == wanted) {
        return Ok(topic);
    }
    let hint = if wanted == ALL_TOPICS {
        "leave out --topic to unsubscribe from every email".to_string()
    } else {
        known_topics(
            wanted,
            &topics,
            "leave out --topic to unsubscribe from every email",
        )
    };
    anyhow::bail!(
        "no campaign in rapport.toml has the topic {wanted:?}: nothing was recorded\n  = hint: {hint}"
    )
}

/// A hint for a topic no campaign has: the nearest topic, and every topic (or `otherwise` when no
/// campaign is declared).
pub(super) fn known_topics(wanted: &str, topics: &[&str], otherwise: &str) -> String {
    if topics.is_empty() {
        return format!("no campaign is declared yet; {otherwise}");
    }
    let near = did_you_mean(wanted, topics.iter().copied())
        .map(|near| format!("did you mean \"{near}\"? "))
        .unwrap_or_default();
    format!("{near}the topics are {}", topics.join(", "))
}

/// A "did you mean" from stored addresses, or how to add the customer.
pub(super) async fn suggestion(store: &Store, key: &str) -> anyhow::Result<String> {
    Ok(match store.nearest_customer_key(key).await? {
        Some(near) => format!("\n  = hint: did you mean {near}?"),
        None => "\n  = hint: import the customer first: rapport import customers FILE".to_string(),
    })
}

/// The whole page: a header, the fields (with the mail the customer must not get: `stopped`, their
/// suppressions), the attributes, then the timeline.
pub fn render(
    customer: &Customer,
    stopped: &[(String, String, Timestamp)],
    events: &[Event],
    total_events: i64,
) -> String {
    let mut out = format!("{} <{}>\n", customer.display_name(), customer.email);
    let mut fields: Vec<(String, String)> = vec![
        (
            "first name".into(),
            customer.first_name.clone().unwrap_or_default(),
        ),
        (
            "last name".into(),
            customer.last_name.clone().unwrap_or_default(),
        ),
        (
            "time zone".into(),
            customer.timezone.clone().unwrap_or_default(),
        ),
        ("locale".into(), customer.locale.clone().unwrap_or_default()),
        ("customer since".into(), customer.created_at.to_string()),
        ("status".into(), customer.status.clone()),
        ("no mail".into(), no_mail(stopped)),
    ];
    fields.extend(
        customer
            .attributes
            .0
            .iter()
            .map(|(k, v)| (k.clone(), plain(v))),
    );
    let width = fields
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (name, value) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        out.push_str(&format!("  {name:<width$}  {value}\n"));
    }
    out.push('\n');
    if total_events == 0 {
        out.push_str("No events yet.\n");
        return out;
    }
    out.push_str(&format!(
        "Events ({} of {total_events}, newest first)\n",
        events.len()
    ));
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let details = e
                .properties
                .0
                .iter()
                .map(|(k, v)| format!("{k}={}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ");
            let amount = e.amount.map(|a| format!("{a:.2}")).unwrap_or_default();
            vec![e.occurred_at.to_string(), e.kind.clone(), amount, details]
        })
        .collect();
    let table = table::render(&["WHEN", "KIND", "AMOUNT", "DETAILS"], &rows, &[2]);
    for line in table.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    let older = total_events - events.len() as i64;
    if older > 0 {
        out.push_str(&format!("  … {older} older events (use --limit)\n"));
    }
    out
}

/// What the customer's suppressions stop: `everything (hard_bounce since 2026-11-01 09:12 UTC)`, or
/// the topics they opted out of, each with its reason and date; empty when nothing is stopped.
fn no_mail(stopped: &[(String, String, Timestamp)]) -> String {
    stopped
        .iter()
        .map(|(topic, reason, since)| {
            let what = if topic == ALL_TOPICS {
                "everything".to_string()
            } else {
                format!("topic {topic:?}")
            };
            format!("{what} ({reason} since {since})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A JSON value as an owner would write it: strings without quotes, control characters made visible.
fn plain(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}
