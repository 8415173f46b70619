//! `rapport import events`: columns `email`, `kind`, `occurred_at` (required), `amount` and `id`
//! (optional); every other column is an event property. Events are never updated: a row already stored
//! (same `id`, or same customer, kind, time, amount and properties) is counted and skipped.

use super::pipeline::{BatchWriter, drive, spawn_reader};
use super::report::{ImportOptions, ImportReport, RowError, TOPICS_KEPT};
use super::source::{Columns, CsvRows, RawRow, Source};
use crate::domain::{EmailAddress, attribute_value, parse_event_kind};
use crate::store::suppressions::{self, ALL_TOPICS, Reason};
use crate::store::{CustomerFields, NewEvent, Store, Tx, customers, events};
use crate::timestamp::Timestamp;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Email keys to customer ids remembered across batches; cleared when it grows past this, so memory
/// stays flat on files with millions of customers.
const ID_CACHE_LIMIT: usize = 200_000;

/// One valid row, before its customer is looked up.
#[derive(Debug)]
struct EventRow {
    line: u64,
    email: EmailAddress,
    kind: String,
    occurred_at: Timestamp,
    amount: Option<f64>,
    source_id: Option<String>,
    properties: Map<String, Value>,
}

/// Imports events from `source`, reporting each bad row to `on_error`.
pub async fn import_events(
    store: &Store,
    source: &Source,
    options: &ImportOptions,
    on_error: &mut dyn FnMut(&RowError),
) -> anyhow::Result<ImportReport> {
    let rows = CsvRows::open(source, options.delimiter, &["email", "kind", "occurred_at"])?;
    let mut report = ImportReport::new(&rows.label, "event");
    let parser = RowParser {
        label: rows.label.clone(),
        columns: rows.columns.clone(),
    };
    let email_column =
        rows.columns.written[rows.columns.index("email").expect("required column")].clone();
    let batches = spawn_reader(rows, move |raw| parser.parse(raw));
    let mut writer = Writer {
        label: report.file.clone(),
        email_column,
        create_customers: options.create_customers,
        ids: HashMap::new(),
    };
    drive(store, batches, &mut writer, options, &mut report, on_error).await?;
    Ok(report)
}

struct RowParser {
    label: String,
    columns: Columns,
}

impl RowParser {
    fn parse(&self, raw: RawRow) -> Result<EventRow, Vec<RowError>> {
        let mut errors = Vec::new();
        let mut fail = |i: usize, problem: String| {
            errors.push(self.columns.error(&self.label, raw.line, i, problem))
        };
        let (mut email, mut kind, mut occurred_at) = (None, None, None);
        let (mut amount, mut source_id, mut properties) = (None, None, Map::new());
        for (i, cell) in raw.cells.iter().enumerate() {
            let text = cell.trim();
            match self.columns.names[i].as_str() {
                "email" => match EmailAddress::parse(text) {
                    Ok(parsed) => email = Some(parsed),
                    Err(e) => fail(i, e.to_string()),
                },
                "kind" => match parse_event_kind(text) {
                    Ok(k) => kind = Some(k),
                    Err(problem) => fail(i, problem),
                },
                "occurred_at" => match Timestamp::parse_flexible(text) {
                    Ok(t) => occurred_at = Some(t),
                    Err(_) if text.is_empty() => {
                        fail(i, "is empty: every event needs a time".to_string())
                    }
                    Err(problem) => fail(i, problem),
                },
                "amount" if !text.is_empty() => match parse_amount(text) {
                    Ok(a) => amount = Some(a),
                    Err(problem) => fail(i, problem),
                },
                "id" if !text.is_empty() => source_id = Some(text.to_string()),
                "amount" | "id" => {}
                name => {
                    if let Some(value) = attribute_value(cell) {
                        properties.insert(name.to_string(), value);
                    }
                }
            }
        }
        match (email, kind, occurred_at) {
            (Some(email), Some(kind), Some(occurred_at)) if errors.is_empty() => Ok(EventRow {
                line: raw.line,
                email,
                kind,
                occurred_at,
                amount,
                source_id,
                properties,
            }),
            _ => Err(errors),
        }
    }
}

/// A plain decimal number: `12.50`, `-3`. Currency signs and thousands separators are refused, so
/// that `1,234` can never silently become 1.
fn parse_amount(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(a) if a.is_finite() && !text.contains(['e', 'E', 'x']) => Ok(a),
        _ => Err(format!(
            "{text:?} is not an amount: write a plain number such as 12.50, without currency signs"
        )),
    }
}

/// Identifies an event for re-imports: its source id when it has one, else all it says.
fn fingerprint(row: &EventRow) -> i64 {
    match &row.source_id {
        Some(id) => events::fingerprint_of(&format!("id\0{id}")),
        None => {
            let amount = row.amount.map(|a| a.to_string()).unwrap_or_default();
            let properties = serde_json::to_string(&row.properties).expect("JSON map serializes");
            events::fingerprint_of(&format!(
                "event\0{}\0{}\0{amount}\0{properties}",
                row.kind,
                row.occurred_at.micros()
            ))
        }
    }
}

struct Writer {
    label: String,
    email_column: String,
    create_customers: bool,
    ids: HashMap<String, i64>,
}

impl Writer {
    /// Looks up the customers of `keys` that are not cached yet.
    async fn resolve(&mut self, tx: &mut Tx, keys: &[&str]) -> anyhow::Result<()> {
        if self.ids.len() > ID_CACHE_LIMIT {
            self.ids.clear();
        }
        let mut missing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !self.ids.contains_key(*k))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        self.ids
            .extend(customers::customer_ids_by_keys(tx, &missing).await?);
        Ok(())
    }
}

impl BatchWriter for Writer {
    type Item = EventRow;

    async fn write(
        &mut self,
        tx: &mut Tx,
        rows: Vec<EventRow>,
        report: &mut ImportReport,
        errors: &mut Vec<RowError>,
    ) -> anyhow::Result<()> {
        let now = Timestamp::now();
        let keys: Vec<&str> = rows.iter().map(|r| r.email.key()).collect();
        self.resolve(tx, &keys).await?;
        if self.create_customers {
            let mut unknown: HashMap<&str, CustomerFields> = HashMap::new();
            for row in rows
                .iter()
                .filter(|r| !self.ids.contains_key(r.email.key()))
            {
                unknown
                    .entry(row.email.key())
                    .or_insert_with(|| CustomerFields::bare(&row.email, now));
            }
            if !unknown.is_empty() {
                let created: Vec<CustomerFields> = unknown.into_values().collect();
                customers::insert_missing_customers(tx, &created, now).await?;
                report.customers_created += created.len() as u64;
                self.resolve(tx, &keys).await?;
            }
        }
        let mut new_events = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(&customer_id) = self.ids.get(row.email.key()) else {
                report.rejected += 1;
                errors.push(RowError {
                    file: self.label.clone(),
                    line: row.line,
                    field: self.email_column.clone(),
                    problem: format!(
                        "no customer has the address {}: import customers first, or pass --create-customers",
                        row.email
                    ),
                });
                continue;
            };
            new_events.push(NewEvent {
                customer_id,
                kind: row.kind.clone(),
                occurred_at: row.occurred_at,
                amount: row.amount,
                properties: row.properties.clone(),
                source_id: row.source_id.clone(),
                fingerprint: fingerprint(row),
            });
        }
        let inserted = events::insert_events(tx, &new_events, now).await?;
        report.inserted += inserted;
        report.unchanged += new_events.len() as u64 - inserted;
        for row in &rows {
            let Some(&customer_id) = self.ids.get(row.email.key()) else {
                continue;
            };
            let (key, at) = (row.email.key(), row.occurred_at);
            if row.kind == "email.resubscribed" {
                // An earlier batch may have applied the unsubscribe that this opt-in takes back.
                suppressions::lift_imported(tx, key, event_topic(row), at).await?;
                continue;
            }
            let Some((topic, reason)) = opt_out(row) else {
                continue;
            };
            // Every row, applied now or before (a file imported again): the command warns about a
            // topic no campaign has whenever it meets one.
            let topics = &mut report.opt_out_topics;
            if topic != ALL_TOPICS && (topics.contains_key(topic) || topics.len() < TOPICS_KEPT) {
                *topics.entry(topic.to_string()).or_default() += 1;
            }
            let detail = format!("imported: {} line {}", self.label, row.line);
            if suppressions::suppress_imported(tx, customer_id, key, topic, reason, &detail, at)
                .await?
            {
                report.suppressed += 1;
            }
        }
        Ok(())
    }
}

/// The topic of an imported opt-out or opt-in: its `topic` column, or every topic when it has none.
fn event_topic(row: &EventRow) -> &str {
    match row.properties.get("topic").and_then(Value::as_str) {
        Some(topic) if !topic.trim().is_empty() => topic.trim(),
        _ => ALL_TOPICS,
    }
}

/// The columns of an imported `email.bounced` that may say how it bounced, as other tools export it.
const BOUNCE_TYPE_COLUMNS: [&str; 2] = ["bounce_type", "type"];

/// Whether a bounce type names a soft bounce, as tools spell it: `soft`, `temporary`, `transient`,
/// `SoftBounce`, `soft_bounce`, SendGrid's `blocked`, in any letter case. Anything else (`hard`,
/// `permanent`, `HardBounce`, SendGrid's `bounce`, a type rapport does not know) is taken as hard:
/// a bounce wrongly kept stops mail that a customer may still want, a bounce wrongly ignored keeps
/// writing to an address that does not exist, which mailbox providers hold against the shop.
fn is_soft_bounce(bounce_type: &str) -> bool {
    let word: String = bounce_type
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let word = word.strip_suffix("bounce").unwrap_or(&word);
    matches!(word, "soft" | "temporary" | "transient" | "blocked")
}

/// The suppression that an imported event asks for, if it is an opt-out that another tool recorded:
/// `email.unsubscribed` (from its `topic`, or from everything when it has none or `*`),
/// `email.bounced` unless its bounce type says soft ([`is_soft_bounce`]: a mailbox full for a day is
/// no reason to stop mailing) or `email.complained`. Imported history must stop mail as rapport's own opt-outs do:
/// an owner moving a list over from another tool brings its unsubscribes with it.
fn opt_out(row: &EventRow) -> Option<(&str, Reason)> {
    match row.kind.as_str() {
        "email.unsubscribed" => Some((event_topic(row), Reason::Unsubscribe)),
        "email.bounced" => {
            let soft = BOUNCE_TYPE_COLUMNS
                .iter()
                .filter_map(|column| row.properties.get(*column).and_then(Value::as_str))
                .any(is_soft_bounce);
            (!soft).then_some((ALL_TOPICS, Reason::HardBounce))
        }
        "email.complained" => Some((ALL_TOPICS, Reason::Complaint)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_identifiers() {
        assert_eq!(parse_event_kind("Purchase").unwrap(), "purchase");
        assert_eq!(parse_event_kind("cart.add").unwrap(), "cart.add");
        assert!(parse_event_kind("add to cart").is_err());
        assert!(parse_event_kind("").is_err());
    }

    #[test]
    fn amounts_are_plain_numbers() {
        assert_eq!(parse_amount("12.50"), Ok(12.5));
        assert!(parse_amount("$12").is_err());
        assert!(parse_amount("1e9").is_err());
        assert!(parse_amount("NaN").is_err());
        assert!(parse_amount("inf").is_err());
    }

    #[test]
    fn bounce_types_as_tools_spell_them() {
        for soft in [
            "soft",
            "Temporary",
            "transient",
            "SoftBounce",
            "soft_bounce",
            "blocked",
        ] {
            assert!(is_soft_bounce(soft), "{soft}");
        }
        for hard in ["hard", "Permanent", "HardBounce", "bounce", "maybe", ""] {
            assert!(!is_soft_bounce(hard), "{hard}");
        }
    }
}
