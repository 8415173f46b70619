//! Reading a CSV file (or stdin) row by row: the header becomes named columns, each row keeps the line
//! it starts on, and rows that cannot be read as text of the right width become [`RowError`]s.
//!
//! A quoted cell still open at the end of the input is an [`OpenQuote`]: the csv crate ends the cell
//! there without a word, having read every line after the quote into it, so the whole file is refused.
//! So is a quoted cell that grows past [`RUNAWAY_QUOTE_BYTES`], as soon as it does, so that a stray
//! quote never holds the rest of a large file in memory.

use super::report::RowError;
use crate::domain::normalize_column_name;
use anyhow::{Context, bail};
use std::fmt;
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
/// properties need. A stray quote closed by another one far below takes in the lines between as one
/// cell, which would otherwise be stored, and rendered into every message to that customer. (A quote
/// never closed is an [`OpenQuote`].)
const MAX_CELL_BYTES: usize = 64 * 1024;

/// A quoted cell this long has run away (a stray quote taking in the rest of the file): the file is
/// refused there, rather than read whole into one cell, which would hold a file of any size in
/// memory. Far above what a cell may hold ([`MAX_CELL_BYTES`]), so a real cell never meets it.
const RUNAWAY_QUOTE_BYTES: u64 = 16 * MAX_CELL_BYTES as u64;

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
    reader: csv::Reader<QuoteWatch<Box<dyn Read + Send>>>,
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
        let delimiter_byte = delimiter.unwrap_or(b',');
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter_byte)
            .flexible(true)
            .has_headers(false)
            .from_reader(QuoteWatch::new(source.open()?, delimiter_byte));
        let mut header = csv::ByteRecord::new();
        let read = reader.read_byte_record(&mut header);
        if let Some(open) = reader.get_ref().open_quote() {
            let field = format!("column {} of the header", open.field + 1);
            return Err(open.refuse(&label, field).into());
        }
        if !read.with_context(|| format!("cannot read {label}"))? {
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
    /// A quote still open at the end is an [`OpenQuote`] error, never the end of the file.
    pub fn next_row(&mut self) -> anyhow::Result<Option<Result<RawRow, Vec<RowError>>>> {
        loop {
            let read = self.reader.read_byte_record(&mut self.record);
            // Checked after every read, not only at the end: once the input has ended inside a
            // quote, the row just read is the one that took in the rest of the file, and it must
            // not reach a batch that may be committed before the end is seen. A runaway quote
            // stops the read with an error of [`QuoteWatch`]'s own, reported as this.
            if let Some(open) = self.reader.get_ref().open_quote() {
                let field = self
                    .columns
                    .written
                    .get(open.field)
                    .map_or("row", String::as_str);
                return Err(open.refuse(&self.label, field.to_string()).into());
            }
            let read = read.with_context(|| format!("cannot read {}", self.label))?;
            if !read {
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

/// A quoted cell still open at the end of the input, which took in every line after its quote, or
/// open for longer than any cell ([`RUNAWAY_QUOTE_BYTES`]). No row from its line on can be trusted,
/// so the file is refused whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenQuote {
    file: String,
    /// Where the opening quote is: line (the header is line 1) and column, in characters.
    line: u64,
    column: u64,
    /// The column as written in the header, or where in the header or row the quote is.
    field: String,
    /// Lines after the quote's own that were read into the cell.
    lines_after: u64,
    /// Whether reading stopped before the end, the cell having grown past [`RUNAWAY_QUOTE_BYTES`].
    runaway: bool,
}

impl fmt::Display for OpenQuote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let swallowed = match self.lines_after {
            0 => "the rest of its line was read as part of this cell".to_string(),
            1 => "the line after it was read as part of this cell".to_string(),
            n => format!("the {n} lines after it were read as part of this cell"),
        };
        let closed = if self.runaway {
            format!(
                "is still open {} MiB later",
                RUNAWAY_QUOTE_BYTES / (1024 * 1024)
            )
        } else {
            "is never closed".to_string()
        };
        write!(
            f,
            "{}:{}:{}: {}: a quote opened here {closed}: {swallowed}\n  = hint: close the quote \
             where the cell ends, double a quote meant inside a quoted cell (\"\"), or remove the stray one",
            self.file, self.line, self.column, self.field
        )
    }
}

impl std::error::Error for OpenQuote {}

/// Where a quoted cell was opened, as [`QuoteWatch`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opening {
    line: u64,
    column: u64,
    /// The cell's index in its record.
    field: usize,
    /// Lines after the quote's own, counting a last line without a line break.
    lines_after: u64,
    /// Whether the cell ran away ([`RUNAWAY_QUOTE_BYTES`]) rather than reached the end.
    runaway: bool,
}

impl Opening {
    fn refuse(self, file: &str, field: String) -> OpenQuote {
        OpenQuote {
            file: file.to_string(),
            line: self.line,
            column: self.column,
            field,
            lines_after: self.lines_after,
            runaway: self.runaway,
        }
    }
}

/// Where [`QuoteWatch`] is in a record, by the csv crate's rules (`"` quotes, `""` inside quotes is
/// one quote, a quote elsewhere than at the start of a cell is text, `\r` and `\n` end records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    CellStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted cell: it closes the cell, unless a second quote follows.
    QuoteInQuoted,
}

/// Passes bytes to the CSV reader unchanged, following them with the same quoting rules, to tell
/// what the csv crate does not: whether the input ended inside a quoted cell, and where it opened.
/// A byte at a time, with no buffer of its own, so memory stays flat.
struct QuoteWatch<R> {
    inner: R,
    delimiter: u8,
    state: Quoting,
    /// The line (from 1, by `\n` as the csv crate counts) and the characters read of it.
    line: u64,
    column: u64,
    /// The index in its record of the cell being read.
    field: usize,
    opened: Opening,
    /// Bytes read into the quoted cell being read.
    quoted_bytes: u64,
    /// Whether `inner` has reported the end of the input.
    ended: bool,
}

impl<R> QuoteWatch<R> {
    fn new(inner: R, delimiter: u8) -> Self {
        QuoteWatch {
            inner,
            delimiter,
            state: Quoting::CellStart,
            line: 1,
            column: 0,
            field: 0,
            opened: Opening {
                line: 0,
                column: 0,
                field: 0,
                lines_after: 0,
                runaway: false,
            },
            quoted_bytes: 0,
            ended: false,
        }
    }

    /// Whether the quoted cell being read has grown past [`RUNAWAY_QUOTE_BYTES`].
    fn runaway(&self) -> bool {
        self.state == Quoting::Quoted && self.quoted_bytes > RUNAWAY_QUOTE_BYTES
    }

    /// The quote still open once the whole input has been read, or left open for longer than any
    /// cell (reading then stops), if any.
    fn open_quote(&self) -> Option<Opening> {
        let runaway = self.runaway();
        ((self.ended && self.state == Quoting::Quoted) || runaway).then(|| Opening {
            lines_after: (self.line - self.opened.line).saturating_sub(u64::from(self.column == 0)),
            runaway,
            ..self.opened
        })
    }

    fn follow(&mut self, bytes: &[u8]) {
        // The csv crate skips a UTF-8 byte-order mark at the start: so does the column count.
        let at_start = self.line == 1 && self.column == 0 && self.state == Quoting::CellStart;
        let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) if at_start && self.field == 0 => rest,
            _ => bytes,
        };
        for &byte in bytes {
            if byte == b'\n' {
                self.line += 1;
                self.column = 0;
            } else if byte & 0xC0 != 0x80 {
                // Not a UTF-8 continuation byte: a new character.
                self.column += 1;
            }
            self.state = match (self.state, byte) {
                (Quoting::Quoted, b'"') => Quoting::QuoteInQuoted,
                (Quoting::Quoted, _) => {
                    self.quoted_bytes += 1;
                    Quoting::Quoted
                }
                (Quoting::QuoteInQuoted, b'"') => Quoting::Quoted,
                (Quoting::CellStart, b'"') => {
                    self.opened = Opening {
                        line: self.line,
                        column: self.column,
                        field: self.field,
                        lines_after: 0,
                        runaway: false,
                    };
                    self.quoted_bytes = 0;
                    Quoting::Quoted
                }
                (_, b) if b == self.delimiter => {
                    self.field += 1;
                    Quoting::CellStart
                }
                (_, b'\r' | b'\n') => {
                    self.field = 0;
                    Quoting::CellStart
                }
                _ => Quoting::Unquoted,
            };
        }
    }
}

impl<R: Read> Read for QuoteWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.runaway() {
            // `CsvRows::next_row` reports it as an open quote.
            return Err(io::Error::other("a quoted cell ran away"));
        }
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended = true;
        }
        self.follow(&buf[..n]);
        Ok(n)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The quote open at the end of `input`, as (line, column, cell index, lines after it).
    fn open_quote(input: &str, delimiter: u8) -> Option<(u64, u64, usize, u64)> {
        let mut watch = QuoteWatch::new(input.as_bytes(), delimiter);
        io::copy(&mut watch, &mut io::sink()).unwrap();
        watch
            .open_quote()
            .map(|o| (o.line, o.column, o.field, o.lines_after))
    }

    #[test]
    fn closed_quotes_are_not_reported() {
        for input in [
            "a,b\n1,\"12 Main St\nPortland, OR\"\n",
            "a,b\n1,\"prefers 12\"\" hoops\"\n",
            "a,b\n1,prefers 12\" hoops\n",
            "a,b\r\n1,\"two\r\nlines\"",
            "a,b\n1,\"x\"tail\n2,\"\"\n",
            "a,b\n1,\"ends with a break\n\"",
        ] {
            assert_eq!(open_quote(input, b','), None, "{input:?}");
        }
    }

    #[test]
    fn an_open_quote_is_found_where_it_opens() {
        assert_eq!(
            open_quote(
                "email,first_name,notes\nx@example.com,X,\"prefers 12\"\" hoops\ny,Y,red\nz,Z,ok\n",
                b','
            ),
            Some((2, 17, 2, 2))
        );
        assert_eq!(open_quote("a;b\né;\"x", b';'), Some((2, 3, 1, 0)));
        assert_eq!(
            open_quote("\u{feff}\"a,b\n1,2\n", b','),
            Some((1, 1, 0, 1)),
            "after a byte-order mark, which the csv crate skips"
        );
        assert_eq!(
            open_quote("a,\"b\n1,2\n", b','),
            Some((1, 3, 1, 1)),
            "in the header"
        );
        assert_eq!(
            open_quote("a,b\r\n1,\"x\r\n2,y\r\n", b','),
            Some((2, 3, 1, 1)),
            "with CRLF line ends"
        );
    }

    /// A stray quote early in a large file stops the import a little past the longest cell, with
    /// the quote's place, instead of taking the rest of the file into memory as one cell.
    #[test]
    fn a_runaway_quote_stops_reading() {
        let mut input = String::from("email,notes\na@example.com,\"prefers 12\"\" hoops\n");
        let lines = 400_000;
        for i in 0..lines {
            input.push_str(&format!("c{i}@example.com,ok\n"));
        }
        let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Counting(
            io::Cursor<Vec<u8>>,
            std::sync::Arc<std::sync::atomic::AtomicUsize>,
        );
        impl Read for Counting {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read(buf)?;
                self.1.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                Ok(n)
            }
        }
        let total = input.len();
        let source = Counting(io::Cursor::new(input.into_bytes()), read.clone());
        let reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(QuoteWatch::new(
                Box::new(source) as Box<dyn Read + Send>,
                b',',
            ));
        let mut rows = CsvRows {
            reader,
            record: csv::ByteRecord::new(),
            columns: Columns {
                names: vec!["email".into(), "notes".into()],
                written: vec!["email".into(), "notes".into()],
            },
            label: "big.csv".into(),
        };
        rows.reader.read_byte_record(&mut rows.record).unwrap();

        let error = loop {
            match rows.next_row() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the file was read to its end"),
                Err(e) => break e.to_string(),
            }
        };

        assert!(
            error.starts_with("big.csv:2:15: notes: a quote opened here is still open 1 MiB later"),
            "{error}"
        );
        let read = read.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            read < 2 * RUNAWAY_QUOTE_BYTES as usize && read < total / 4,
            "{read} of {total} bytes read"
        );
    }
}
