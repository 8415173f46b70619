//! `rapport import customers`: upsert by email (trimmed, case-insensitive). Columns `email` (required),
//! `first_name`, `last_name`, `timezone`, `locale`, `created_at`; every other column is a custom
//! attribute. An empty cell leaves what is stored as it is, so partial files enrich, never erase.

use super::pipeline::{BatchWriter, drive, spawn_reader};
use super::report::{ImportOptions, ImportReport, RowError};
use super::source::{Columns, CsvRows, RawRow, Source};
use crate::domain::{EmailAddress, attribute_value, parse_timezone};
use crate::store::{CustomerFields, Store, Tx, customers};
use crate::timestamp::Timestamp;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Names no attribute may take, because they are customer fields stored elsewhere.
const RESERVED: [&str; 3] = ["status", "updated_at", "email_key"];

/// One valid row.
#[derive(Debug)]
struct CustomerRow {
    email: EmailAddress,
    details: Details,
}

/// A row's optional fields: `None` (an empty cell) leaves the stored value alone.
#[derive(Debug, Default)]
struct Details {
    first_name: Option<String>,
    last_name: Option<String>,
    timezone: Option<String>,
    locale: Option<String>,
    created_at: Option<Timestamp>,
    attributes: Map<String, Value>,
}

/// Imports customers from `source`, reporting each bad row to `on_error`.
pub async fn import_customers(
    store: &Store,
    source: &Source,
    options: &ImportOptions,
    on_error: &mut dyn FnMut(&RowError),
) -> anyhow::Result<ImportReport> {
    let rows = CsvRows::open(source, options.delimiter, &["email"])?;
    if let Some(name) = rows
        .columns
        .names
        .iter()
        .find(|n| RESERVED.contains(&n.as_str()))
    {
        anyhow::bail!(
            "{}:1: `{name}` cannot be imported: rapport manages it; rename the column",
            rows.label
        );
    }
    let mut report = ImportReport::new(&rows.label, "customer");
    let parser = RowParser {
        label: rows.label.clone(),
        columns: rows.columns.clone(),
    };
    let batches = spawn_reader(rows, move |raw| parser.parse(raw));
    drive(store, batches, &mut Writer, options, &mut report, on_error).await?;
    Ok(report)
}

struct RowParser {
    label: String,
    columns: Columns,
}

impl RowParser {
    fn parse(&self, raw: RawRow) -> Result<CustomerRow, Vec<RowError>> {
        let mut errors = Vec::new();
        let mut fail = |i: usize, problem: String| {
            errors.push(self.columns.error(&self.label, raw.line, i, problem))
        };
        let mut email = None;
        let mut row = Details::default();
        for (i, cell) in raw.cells.iter().enumerate() {
            let name = self.columns.names[i].as_str();
            let text = cell.trim();
            if text.is_empty() && name != "email" {
                continue;
            }
            match name {
                "email" => match EmailAddress::parse(text) {
                    Ok(parsed) => email = Some(parsed),
                    Err(e) if text.is_empty() => fail(
                        i,
                        format!("is empty: every customer needs an address ({})", e.1),
                    ),
                    Err(e) => fail(i, e.to_string()),
                },
                "first_name" | "last_name" => match person_name(text) {
                    Ok(value) if name == "first_name" => row.first_name = Some(value),
                    Ok(value) => row.last_name = Some(value),
                    Err(problem) => fail(i, problem),
                },
                "timezone" => match parse_timezone(text) {
                    Ok(tz) => row.timezone = Some(tz.name().to_string()),
                    Err(problem) => fail(i, problem),
                },
                "locale" => match locale(text) {
                    Ok(value) => row.locale = Some(value),
                    Err(problem) => fail(i, problem),
                },
                "created_at" => match Timestamp::parse_flexible(text) {
                    Ok(t) => row.created_at = Some(t),
                    Err(problem) => fail(i, problem),
                },
                _ => {
                    if let Some(value) = attribute_value(cell) {
                        row.attributes.insert(name.to_string(), value);
                    }
                }
            }
        }
        match email {
            Some(email) if errors.is_empty() => Ok(CustomerRow {
                email,
                details: row,
            }),
            _ => Err(errors),
        }
    }
}

/// A first or last name: trimmed, one line, of a reasonable length.
fn person_name(text: &str) -> Result<String, String> {
    if text.chars().any(char::is_control) {
        return Err("contains a line break or control character".to_string());
    }
    if text.chars().count() > 200 {
        return Err("is longer than 200 characters".to_string());
    }
    Ok(text.to_string())
}

/// `en`, `en-US`, `pt_BR` (normalised to `pt-BR`).
fn locale(text: &str) -> Result<String, String> {
    let normalized = text.replace('_', "-");
    let mut parts = normalized.split('-');
    let language_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if language_ok && rest_ok {
        Ok(normalized)
    } else {
        Err(format!(
            "{text:?} is not a locale: write it like \"en-US\" or \"fr\""
        ))
    }
}

struct Writer;

impl BatchWriter for Writer {
    type Item = CustomerRow;

    /// Reads the stored versions of the batch's customers, merges each row over them in file order,
    /// and writes only the customers that changed.
    async fn write(
        &mut self,
        tx: &mut Tx,
        rows: Vec<CustomerRow>,
        report: &mut ImportReport,
        _errors: &mut Vec<RowError>,
    ) -> anyhow::Result<()> {
        let now = Timestamp::now();
        let keys: Vec<&str> = rows.iter().map(|r| r.email.key()).collect();
        let mut state: HashMap<String, (CustomerFields, bool)> =
            customers::customers_by_keys(tx, &keys)
                .await?
                .into_iter()
                .map(|c| (c.email_key.clone(), (CustomerFields::from(c), false)))
                .collect();
        for row in &rows {
            let previous = state.get(row.email.key()).map(|(fields, _)| fields);
            let merged = merge(previous, row, now);
            match previous {
                None => report.inserted += 1,
                Some(p) if *p == merged => {
                    report.unchanged += 1;
                    continue;
                }
                Some(_) => report.updated += 1,
            }
            state.insert(row.email.key().to_string(), (merged, true));
        }
        let changed: Vec<CustomerFields> = state
            .into_values()
            .filter(|(_, changed)| *changed)
            .map(|(f, _)| f)
            .collect();
        customers::upsert_customers(tx, &changed, now).await
    }
}

/// The stored fields updated by one row: given values replace, empty cells keep what was there.
fn merge(previous: Option<&CustomerFields>, row: &CustomerRow, now: Timestamp) -> CustomerFields {
    let mut fields = previous
        .cloned()
        .unwrap_or_else(|| CustomerFields::bare(&row.email, now));
    let replace = |slot: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            slot.clone_from(value);
        }
    };
    let details = &row.details;
    replace(&mut fields.first_name, &details.first_name);
    replace(&mut fields.last_name, &details.last_name);
    replace(&mut fields.timezone, &details.timezone);
    replace(&mut fields.locale, &details.locale);
    if let Some(t) = details.created_at {
        fields.created_at = t;
    }
    for (name, value) in &details.attributes {
        fields.attributes.insert(name.clone(), value.clone());
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_normalised() {
        assert_eq!(locale("pt_BR").unwrap(), "pt-BR");
        assert!(locale("english").is_err());
    }
}
