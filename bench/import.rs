//! Import benchmark (not a test): generates 100,000 customers and 1,000,000 events as CSV, imports them
//! into a fresh SQLite workspace with the real release binary, and prints rows per second and the peak
//! resident memory of each import process. Run: `cargo bench --bench import` (see bench/README.md).
//! `BENCH_EVENTS=N` changes the number of events.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CUSTOMERS: usize = 100_000;
const KINDS: [&str; 3] = ["purchase", "visit", "purchase"];
const CATEGORIES: [&str; 5] = ["garden", "tools", "fabric", "seeds", "kitchen"];

fn main() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path();
    run(ws, &["init", "."]);
    write_customers(&ws.join("customers.csv"));
    write_events(&ws.join("events.csv"), events);
    let size = std::fs::metadata(ws.join("events.csv")).unwrap().len();
    println!(
        "rapport import benchmark: {CUSTOMERS} customers, {events} events ({} MB of CSV), SQLite",
        size >> 20
    );

    let (secs, rss) = run(ws, &["import", "customers", "customers.csv"]);
    report("import customers", CUSTOMERS, secs, rss);
    let (secs, rss) = run(ws, &["import", "events", "events.csv"]);
    report("import events", events, secs, rss);
    let (secs, rss) = run(ws, &["import", "events", "events.csv"]);
    report("re-import events (all already stored)", events, secs, rss);
}

fn report(what: &str, rows: usize, secs: f64, rss_kib: i64) {
    println!(
        "{what:<40} {rows:>9} rows  {secs:>7.2} s  {:>9.0} rows/s  peak RSS {:>5.1} MB",
        rows as f64 / secs,
        rss_kib as f64 / 1024.0
    );
}

/// Runs the release binary in `ws`; returns wall seconds and the child's peak RSS in KiB.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also reports its rusage"
)]
fn run(ws: &Path, args: &[&str]) -> (f64, i64) {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .current_dir(ws)
        .env_remove("RAPPORT_DATABASE_URL")
        .env_remove("RAPPORT_WORKSPACE")
        .spawn()
        .expect("spawn rapport");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid with valid pointers; it reaps the child and fills `usage`.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "rapport {args:?} failed"
    );
    (start.elapsed().as_secs_f64(), usage.ru_maxrss)
}

fn write_customers(path: &Path) {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "email,first_name,last_name,timezone,city,loyalty_tier").unwrap();
    for i in 0..CUSTOMERS {
        let tz = ["America/Los_Angeles", "America/New_York", "Europe/Paris"][i % 3];
        writeln!(
            out,
            "customer{i}@example.com,First{i},Last{i},{tz},City{},tier{}",
            i % 97,
            i % 4
        )
        .unwrap();
    }
}

fn write_events(path: &Path, events: usize) {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "email,kind,occurred_at,amount,id,category").unwrap();
    for i in 0..events {
        let customer = (i * 7919) % CUSTOMERS;
        let kind = KINDS[i % KINDS.len()];
        let day = 1 + (i % 28);
        let month = 1 + (i / 28) % 12;
        let second = i % 86_400;
        let when = format!(
            "2026-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            second / 3600,
            (second / 60) % 60,
            second % 60
        );
        if kind == "purchase" {
            let amount = 5.0 + (i % 200) as f64 * 1.25;
            writeln!(
                out,
                "customer{customer}@example.com,{kind},{when},{amount:.2},order-{i},{}",
                CATEGORIES[i % 5]
            )
            .unwrap();
        } else {
            writeln!(out, "customer{customer}@example.com,{kind},{when},,,").unwrap();
        }
    }
}
