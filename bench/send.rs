//! Sending benchmark (not a test): `rapport send` of one campaign to N recipients (100,000 by default,
//! `BENCH_RECIPIENTS=N` to change) through SMTP to Postfix's `smtp-sink` on loopback, beside Postfix's
//! own `smtp-source` sending the same number of messages of the same size with the same concurrency
//! over reused connections, in the same run. Prints messages per second for both, their ratio, and
//! rapport's peak RSS. `BENCH_DKIM=rsa` (or `ed25519`) signs every message with a fresh key (RSA-2048
//! from `openssl genrsa`). Run: `cargo bench --bench send` (see bench/README.md).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod smtp_shop;
use smtp_shop::{concurrency, free_port, rapport, start_sink};

fn main() {
    let n: usize = std::env::var("BENCH_RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dkim = std::env::var("BENCH_DKIM").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let sink_addr = free_port();
    let mut sink = start_sink(sink_addr);
    smtp_shop::prepare_workspace(ws, sink_addr, n, |config| config);
    if !dkim.is_empty() {
        add_dkim(ws, &dkim);
    }

    let size = message_size(ws);
    let source = time_smtp_source(sink_addr, n, size);
    let (rapport, rss_kib) = time_rapport(ws);
    let _ = sink.kill();
    let _ = sink.wait();

    let signing = if dkim.is_empty() {
        "no DKIM".to_string()
    } else {
        format!("DKIM {dkim}")
    };
    println!(
        "send benchmark: {n} messages of about {size} bytes, concurrency {}, {signing}, smtp-sink on loopback",
        concurrency()
    );
    println!(
        "smtp-source (reused connections)   {:>8.0} msg/s  ({source:.2} s)",
        n as f64 / source
    );
    println!(
        "rapport send (render, track, build) {:>8.0} msg/s  ({rapport:.2} s)  peak RSS {:.1} MB",
        n as f64 / rapport,
        rss_kib as f64 / 1024.0
    );
    println!(
        "rapport / smtp-source               {:>8.2}",
        source / rapport
    );
}

/// Signs with a new key: `rsa` (2048 bits, from `openssl genrsa`) or `ed25519`.
fn add_dkim(ws: &Path, algorithm: &str) {
    let key = ws.join("dkim.key");
    match algorithm {
        "rsa" => assert!(
            Command::new("openssl")
                .args(["genrsa", "-traditional", "-out"])
                .arg(&key)
                .arg("2048")
                .stderr(Stdio::null())
                .status()
                .expect("openssl, to make an RSA key")
                .success()
        ),
        "ed25519" => {
            use base64::Engine as _;
            let seed: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
            std::fs::write(&key, base64::engine::general_purpose::STANDARD.encode(seed)).unwrap();
        }
        other => panic!("BENCH_DKIM={other}: use rsa or ed25519"),
    }
    let mut config = std::fs::read_to_string(ws.join("rapport.toml")).unwrap();
    config.push_str(&format!(
        "\n[dkim]\nselector = \"bench\"\ndomain = \"maplethread.example\"\nprivate_key = \"dkim.key\"\nalgorithm = \"{algorithm}\"\n"
    ));
    std::fs::write(ws.join("rapport.toml"), config).unwrap();
}

/// The size of one rendered newsletter, to give smtp-source the same payload.
fn message_size(ws: &Path) -> usize {
    let out = rapport(
        ws,
        &[
            "preview",
            "newsletter",
            "--to",
            "customer0@example.com",
            "--part",
            "eml",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.len()
}

fn time_smtp_source(sink: SocketAddr, n: usize, size: usize) -> f64 {
    let start = Instant::now();
    let status = Command::new("/usr/sbin/smtp-source")
        .args([
            "-d",
            "-s",
            &concurrency().to_string(),
            "-m",
            &n.to_string(),
            "-l",
            &size.to_string(),
        ])
        .args([
            "-f",
            "hello@maplethread.example",
            "-t",
            "customer@example.com",
        ])
        .arg(sink.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    start.elapsed().as_secs_f64()
}

/// Wall seconds and peak RSS (KiB) of `rapport send newsletter`.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also reports its rusage"
)]
fn time_rapport(ws: &Path) -> (f64, i64) {
    let start = Instant::now();
    let child = rapport(ws, &["send", "newsletter", "--wait-retries", "0"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid with valid pointers; it reaps the child and fills `usage`.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "rapport send failed"
    );
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    eprintln!(
        "rapport CPU: user {:.2} s, system {:.2} s",
        cpu(usage.ru_utime),
        cpu(usage.ru_stime)
    );
    (start.elapsed().as_secs_f64(), usage.ru_maxrss)
}
