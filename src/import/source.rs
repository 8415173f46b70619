//! Reading a CSV file (or stdin) row by row: the header becomes named columns, each row keeps the line
//! it starts on, and rows that cannot be read as text of the right width become [`RowError`]s.

use super::report::RowError;
use crate::domain::normalize_column_name;
use anyhow::{Context, bail};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;

/// Where the rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    /// `-` means standard input.
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(arg))
        }
    }

    /// How messages name it.
    pub fn label(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".to_string(),
            Source::File(path) => path.display().to_string(),
        }
    }

    fn open(&self) -> anyhow::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Source::Stdin => Box::new(io::stdin()),
            Source::File(path) => {
                let file =
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
                Box::new(BufReader::with_capacity(1 << 16, file))
            }
        })
    }
}

/// The longest cell a row may have, in bytes: far more than any name, attribute or event's
/// properties need. A quote left open takes in the rest of the file as one cell, which would
/// otherwise be stored, and rendered into every message to that customer.
const MAX_CELL_BYTES: usize = 64 * 1024;

/// One data row: the line it starts on and its cells, one per header column.
#[derive(Debug)]
pub struct RawRow {
    pub line: u64,
    pub cells: Vec<String>,
}

/// The header: each column's name as written and as an identifier (`First Name` → `first_name`).
#[derive(Debug, Clone)]
pub struct Columns {
    pub written: Vec<String>,
    pub names: Vec<String>,
}

impl Columns {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// A problem with the cell in `column` of the row starting at `line` of `file`.
    pub fn error(&self, file: &str, line: u64, column: usize, problem: String) -> RowError {
        RowError {
            file: file.to_string(),
            line,
            field: self.written[column].clone(),
            problem,
        }
    }
}

/// A CSV reader positioned after the header.
pub struct CsvRows {
    reader: csv::Reader<Box<dyn Read + Send>>,
    record: csv::ByteRecord,
    pub columns: Columns,
    pub label: String,
}

impl CsvRows {
    /// Opens `source` and reads its header; `required` columns must be present.
    pub fn open(
        source: &Source,
        delimiter: Option<u8>,
        required: &[&str],
    ) -> anyhow::Result<CsvRows> {
        let label = source.label();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter.unwrap_or(b','))
            .flexible(true)
            .has_headers(false)
            .from_reader(source.open()?);
        let mut header = csv::ByteRecord::new();
        if !reader
            .read_byte_record(&mut header)
            .with_context(|| format!("cannot read {label}"))?
        {
            bail!(
                "{label} is empty: its first line must name the columns, e.g. `{}`",
                required.join(",")
            );
        }
        let columns = parse_header(&label, &header)?;
        for name in required {
            if columns.index(name).is_none() {
                bail!(
                    "{label}:1: the header has no `{name}` column{}",
                    missing_column_hint(&columns, name, delimiter)
                );
            }
        }
        Ok(CsvRows {
            reader,
            record: csv::ByteRecord::new(),
            columns,
            label,
        })
    }

    /// The next row, or the row's problems; `None` at the end of the file. Blank lines are skipped.
    pub fn next_row(&mut self) -> anyhow::Result<Option<Result<RawRow, Vec<RowError>>>> {
        loop {
            if !self
                .reader
                .read_byte_record(&mut self.record)
                .with_context(|| format!("cannot read {}", self.label))?
            {
                return Ok(None);
            }
            let line = self.record.position().map_or(0, |p| p.line());
            if self.record.len() == 1 && self.record[0].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(self.decode(line)));
        }
    }

    /// The row read last, as text, or its problems: a width other than the header's, a cell longer
    /// than [`MAX_CELL_BYTES`], not UTF-8, or holding a NUL byte.
    fn decode(&self, line: u64) -> Result<RawRow, Vec<RowError>> {
        let error = |field: &str, problem: String| RowError {
            file: self.label.clone(),
            line,
            field: field.to_string(),
            problem,
        };
        // A cell too long first: it says more about a quote left open than the width it leaves.
        let too_long: Vec<RowError> = self
            .record
            .iter()
            .enumerate()
            .filter(|(_, bytes)| bytes.len() > MAX_CELL_BYTES)
            .map(|(i, bytes)| {
                let column = self.columns.written.get(i).map_or("row", String::as_str);
                error(
                    column,
                    format!(
                        "is {} bytes long, more than a cell may hold ({MAX_CELL_BYTES}): is a quote left open \
                         there, taking in the lines after it?",
                        bytes.len()
                    ),
                )
            })
            .collect();
        if !too_long.is_empty() {
            return Err(too_long);
        }
        let expected = self.columns.names.len();
        if self.record.len() != expected {
            return Err(vec![error(
                "row",
                format!(
                    "has {} fields but the header has {expected} columns (a missing quote or a stray delimiter?)",
                    self.record.len()
                ),
            )]);
        }
        let mut cells = Vec::with_capacity(expected);
        let mut errors = Vec::new();
        for (i, bytes) in self.record.iter().enumerate() {
            match std::str::from_utf8(bytes) {
                Ok(text) if text.contains('\0') => errors.push(error(
                    &self.columns.written[i],
                    "contains a NUL byte, which the database cannot store: remove it from the file"
                        .to_string(),
                )),
                Ok(text) => cells.push(text.to_string()),
                Err(e) => errors.push(error(
                    &self.columns.written[i],
                    format!(
                        "is not valid UTF-8 (bad byte at position {}): save the file as UTF-8",
                        e.valid_up_to() + 1
                    ),
                )),
            }
        }
        if errors.is_empty() {
            Ok(RawRow { line, cells })
        } else {
            Err(errors)
        }
    }
}

fn parse_header(label: &str, header: &csv::ByteRecord) -> anyhow::Result<Columns> {
    let mut written = Vec::with_capacity(header.len());
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (i, bytes) in header.iter().enumerate() {
        let column = i + 1;
        let Ok(text) = std::str::from_utf8(bytes) else {
            bail!(
                "{label}:1: column {column} of the header is not valid UTF-8: save the file as UTF-8"
            );
        };
        let text = text
            .trim()
            .trim_start_matches('\u{feff}')
            .trim()
            .to_string();
        let Some(name) = normalize_column_name(&text) else {
            bail!("{label}:1: column {column} of the header has no name");
        };
        if let Some(first) = names.iter().position(|n| *n == name) {
            bail!(
                "{label}:1: columns {} and {column} are both `{name}`: rename or remove one",
                first + 1
            );
        }
        written.push(text);
        names.push(name);
    }
    Ok(Columns { written, names })
}

/// Why a required column may be missing: the wrong delimiter, or a column named a little differently.
fn missing_column_hint(columns: &Columns, name: &str, delimiter: Option<u8>) -> String {
    let found = columns
        .written
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let delimiter = delimiter_hint(columns, delimiter);
    if !delimiter.is_empty() {
        return delimiter;
    }
    let near = crate::diagnostic::did_you_mean(name, columns.names.iter().map(String::as_str))
        .or_else(|| {
            columns
                .names
                .iter()
                .map(String::as_str)
                .find(|n| n.contains(name))
        });
    match near.and_then(|n| columns.index(n)) {
        Some(i) => format!(
            " (found {found})\n  = hint: rename the column `{}` to `{name}`",
            columns.written[i]
        ),
        None => format!(
            " (found {found})\n  = hint: add a `{name}` column; docs/import.md lists the columns"
        ),
    }
}

fn delimiter_hint(columns: &Columns, delimiter: Option<u8>) -> String {
    let only = match columns.written.as_slice() {
        [only] if delimiter.is_none() => only,
        _ => return String::new(),
    };
    for (sep, name, flag) in [
        (';', "semicolons", "';'"),
        ('\t', "tabs", "tab"),
        ('|', "bars", "'|'"),
    ] {
        if only.contains(sep) {
            return format!(
                "\n  = hint: the header looks separated by {name}: pass --delimiter {flag}"
            );
        }
    }
    String::new()
}
