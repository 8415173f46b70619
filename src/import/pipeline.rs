//! The import pipeline shared by customers and events: a reader thread parses rows into batches while
//! the async side writes the previous batch, so parsing and database work overlap and memory holds at
//! most a few batches however large the file.

use super::report::{ImportOptions, ImportReport, RowError};
use super::source::{CsvRows, OpenQuote, RawRow};
use crate::store::{Store, Tx};
use tokio::sync::mpsc;

/// Rows per batch handed from the reader to the writer: small, so memory stays flat.
const BATCH_ROWS: usize = 1000;
/// Rows per transaction (when not `--strict`): large, so commits are few and each page of an index is
/// written once for many rows.
const COMMIT_ROWS: usize = 20_000;
/// Batches parsed ahead of the writer.
const BATCHES_AHEAD: usize = 2;

/// Parsed rows and the problems of rejected ones, in file order.
pub(crate) struct Batch<T> {
    pub items: Vec<T>,
    pub errors: Vec<RowError>,
    pub rejected: u64,
}

/// Writes one batch of parsed rows inside the caller's transaction, counting into the report and
/// adding problems only the database can see (such as an unknown customer).
pub(crate) trait BatchWriter {
    type Item: Send + 'static;
    async fn write(
        &mut self,
        tx: &mut Tx,
        items: Vec<Self::Item>,
        report: &mut ImportReport,
        errors: &mut Vec<RowError>,
    ) -> anyhow::Result<()>;
}

/// Batches arriving from the reader thread.
pub(crate) struct Batches<T> {
    receiver: mpsc::Receiver<anyhow::Result<Batch<T>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T> Batches<T> {
    /// The next batch; `None` once the reader has finished. A reader that panicked is an error, never
    /// mistaken for the end of the file.
    async fn next(&mut self) -> Option<anyhow::Result<Batch<T>>> {
        if let Some(batch) = self.receiver.recv().await {
            return Some(batch);
        }
        let thread = self.thread.take()?;
        match thread.join() {
            Ok(()) => None,
            Err(_) => Some(Err(anyhow::anyhow!(
                "the CSV reader stopped unexpectedly (a bug: please report it)"
            ))),
        }
    }
}

/// Parses `rows` on a thread of its own, sending batches of `parse`d rows.
pub(crate) fn spawn_reader<T, F>(mut rows: CsvRows, mut parse: F) -> Batches<T>
where
    T: Send + 'static,
    F: FnMut(RawRow) -> Result<T, Vec<RowError>> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(BATCHES_AHEAD);
    let thread = std::thread::spawn(move || {
        let new_batch = || Batch {
            items: Vec::with_capacity(BATCH_ROWS),
            errors: Vec::new(),
            rejected: 0,
        };
        let mut batch = new_batch();
        loop {
            let parsed = match rows.next_row() {
                Ok(Some(Ok(raw))) => parse(raw),
                Ok(Some(Err(errors))) => Err(errors),
                Ok(None) => break,
                Err(e) => {
                    let _ = sender.blocking_send(Err(e));
                    return;
                }
            };
            match parsed {
                Ok(item) => batch.items.push(item),
                Err(errors) => {
                    batch.rejected += 1;
                    batch.errors.extend(errors);
                }
            }
            if batch.items.len() + batch.rejected as usize >= BATCH_ROWS
                && sender
                    .blocking_send(Ok(std::mem::replace(&mut batch, new_batch())))
                    .is_err()
            {
                return;
            }
        }
        if !batch.items.is_empty() || batch.rejected > 0 {
            let _ = sender.blocking_send(Ok(batch));
        }
    });
    Batches {
        receiver,
        thread: Some(thread),
    }
}

/// Receives batches and writes them, committing every [`COMMIT_ROWS`] rows (so an interruption keeps
/// whole rows only), or, with `--strict`, all in one transaction that is rolled back if any row was
/// rejected. A quote left open ([`OpenQuote`]) rolls back what is not committed yet: the file cannot
/// be trusted. Problems go to `on_error` in line order as they are found.
pub(crate) async fn drive<W: BatchWriter>(
    store: &Store,
    mut batches: Batches<W::Item>,
    writer: &mut W,
    options: &ImportOptions,
    report: &mut ImportReport,
    on_error: &mut dyn FnMut(&RowError),
) -> anyhow::Result<()> {
    let mut tx: Option<Tx> = None;
    let mut uncommitted = 0;
    // Rows read so far, and the report as of the last commit, for an open quote found later.
    let mut rows: u64 = 0;
    let mut committed: Option<(u64, ImportReport)> = None;
    while let Some(batch) = batches.next().await {
        let Batch {
            items,
            mut errors,
            rejected,
        } = match batch {
            Ok(batch) => batch,
            Err(e) if e.is::<OpenQuote>() => {
                if let Some(open) = tx.take() {
                    open.rollback().await?;
                }
                return Err(e.context(match committed {
                    None => "nothing was written".to_string(),
                    Some((rows, kept)) => format!(
                        "the first {rows} rows were committed before the quote was found and are \
                         kept ({kept}); nothing after them was written"
                    ),
                }));
            }
            Err(e) if options.strict => return Err(e.context("nothing was written (--strict)")),
            Err(e) => {
                if let Some(open) = tx.take() {
                    open.commit().await?;
                }
                return Err(e.context(format!("rows before the failure were imported ({report})")));
            }
        };
        report.rejected += rejected;
        rows += items.len() as u64 + rejected;
        uncommitted += items.len();
        let open = match tx.as_mut() {
            Some(open) => open,
            None => tx.insert(store.begin().await?),
        };
        writer.write(open, items, report, &mut errors).await?;
        if !options.strict && uncommitted >= COMMIT_ROWS {
            tx.take().expect("open transaction").commit().await?;
            committed = Some((rows, report.clone()));
            tracing::debug!(rows = uncommitted, file = %report.file, "committed a part of the import");
            uncommitted = 0;
        }
        errors.sort_by_key(|e| e.line);
        errors.iter().for_each(&mut *on_error);
    }
    let Some(open) = tx else { return Ok(()) };
    if options.strict && report.rejected > 0 {
        open.rollback().await?;
        let rejected = report.rejected;
        *report = ImportReport {
            rejected,
            written: false,
            ..ImportReport::new(&report.file, report.what)
        };
    } else {
        open.commit().await?;
    }
    Ok(())
}
