//! What `rapport send` shows while it works: a progress bar on a terminal, a plain line every few
//! seconds otherwise (a log file or a pipe), and nothing when asked to be quiet.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A progress bar on a terminal; a line every few seconds otherwise.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    shown: bool,
    done: AtomicU64,
    total: u64,
    last_line: std::sync::Mutex<std::time::Instant>,
}

impl Progress {
    pub(super) fn new(total: i64, shown: bool) -> Self {
        let total = total.max(0) as u64;
        let bar = (shown && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} messages  {per_sec}  eta {eta}",
                )
                .expect("valid template"),
            );
            bar
        });
        Progress {
            bar,
            shown,
            done: AtomicU64::new(0),
            total,
            last_line: std::sync::Mutex::new(std::time::Instant::now()),
        }
    }

    pub(super) fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
            return;
        }
        let mut last = self.last_line.lock().expect("not poisoned");
        if self.shown && last.elapsed() >= Duration::from_secs(5) {
            *last = std::time::Instant::now();
            eprintln!("progress: {done}/{} deliveries processed", self.total);
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
