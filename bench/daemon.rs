//! Daemon benchmark (not a test): `rapport daemon` delivering a one-shot campaign to N recipients
//! (100,000 by default, `BENCH_RECIPIENTS=N` to change) through SMTP to Postfix's `smtp-sink` on
//! loopback. Prints the messages per second from the fire to the end of the run, and the daemon's
//! peak RSS, which DESIGN.md wants to stay within a few tens of MB whatever the audience.
//! Run: `cargo bench --bench daemon` (see bench/README.md).

mod smtp_shop;
use rapport::campaign::RunSummary;
use rapport::config::DatabaseUrl;
use rapport::store::Store;
use smtp_shop::{concurrency, free_port, rapport, start_sink};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::var("BENCH_RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let sink_addr = free_port();
    let mut sink = start_sink(sink_addr);
    // A campaign `blast` to everyone a few seconds from now, read in UTC.
    let at = (chrono::Utc::now() + chrono::Duration::seconds(8)).format("%Y-%m-%dT%H:%M:%S");
    smtp_shop::prepare_workspace(ws, sink_addr, n, |config| {
        let config = config.replace("timezone = \"America/Los_Angeles\"", "timezone = \"UTC\"");
        format!(
            "{config}\n[[campaign]]\nname = \"blast\"\nsegment = \"all_customers\"\ntemplate = \"newsletter\"\nat = \"{at}\"\n"
        )
    });

    // Reaped below by wait4, which also reads its peak RSS.
    #[allow(clippy::zombie_processes)]
    let daemon = rapport(ws, &["daemon", "--no-server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (fired, finished) = runtime.block_on(wait_for_the_run(ws, n));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM) };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid with valid pointers; it reaps the child and fills `usage`.
    let pid = unsafe { libc::wait4(daemon.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the daemon failed"
    );
    let _ = sink.kill();
    let _ = sink.wait();

    let seconds = (finished - fired).as_secs_f64();
    println!(
        "daemon benchmark: a one-shot campaign to {n} recipients, concurrency {}, smtp-sink on loopback",
        concurrency()
    );
    println!(
        "rapport daemon {:>8.0} msg/s  ({seconds:.2} s from the fire to the end of the run)  peak RSS {:.1} MB",
        n as f64 / seconds,
        usage.ru_maxrss as f64 / 1024.0
    );
}

/// Polls the database until the `blast` run exists (the fire) and until all `n` are sent.
async fn wait_for_the_run(ws: &Path, n: usize) -> (Instant, Instant) {
    let url = DatabaseUrl::parse("sqlite://rapport.db".to_string()).unwrap();
    let store = Store::open_read_only(&url, ws).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3600);
    let run = loop {
        if let Some(run) = store.latest_run("blast").await.unwrap() {
            break run;
        }
        assert!(Instant::now() < deadline, "the campaign never fired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let fired = Instant::now();
    loop {
        let summary = RunSummary::load(&store, "blast", run.id).await.unwrap();
        if summary.sent as usize >= n {
            break;
        }
        assert!(!summary.is_finished(), "the run ended with {summary}");
        assert!(
            Instant::now() < deadline,
            "the run did not finish within an hour"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let finished = Instant::now();
    store.close().await;
    (fired, finished)
}
