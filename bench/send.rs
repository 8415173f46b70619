//! Sending benchmark (not a test): `rapport send` of one campaign to N recipients (100,000 by default,
//! `BENCH_RECIPIENTS=N` to change) through SMTP to Postfix's `smtp-sink` on loopback, beside Postfix's
//! own `smtp-source` sending the same number of messages of the same size with the same concurrency
//! over reused connections, in the same run. Prints messages per second for both, their ratio,
//! rapport's peak RSS, and what each message costs in CPU to each client and to the sink, with the
//! cores that half smtp-source's rate would take at rapport's cost. `BENCH_DKIM=rsa` (or `ed25519`) signs every message with a fresh key (RSA-2048
//! from `openssl genrsa`). Run: `cargo bench --bench send` (see bench/README.md).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

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
    let sink_cpu = || cpu_seconds(sink.id());
    let before = sink_cpu();
    let source = time_smtp_source(sink_addr, n, size);
    let between = sink_cpu();
    let rapport = time_rapport(ws);
    let sink_for_rapport = sink_cpu() - between;
    let sink_for_source = between - before;
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
        "smtp-source (reused connections)   {:>8.0} msg/s  ({:.2} s)",
        n as f64 / source.wall,
        source.wall
    );
    println!(
        "rapport send (render, track, build) {:>8.0} msg/s  ({:.2} s)  peak RSS {:.1} MB",
        n as f64 / rapport.wall,
        rapport.wall,
        rapport.peak_rss_kib as f64 / 1024.0
    );
    println!(
        "rapport / smtp-source               {:>8.2}",
        source.wall / rapport.wall
    );
    // The machine is shared by the client and the sink: what each message costs them both in CPU
    // bounds the rate, whatever the latency.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_message = |seconds: f64| seconds / n as f64 * 1e6;
    let busy = |cpu: f64, wall: f64| cpu / wall;
    println!(
        "CPU per message, client + smtp-sink: smtp-source {:.0} + {:.0} µs, rapport {:.0} + {:.0} µs",
        per_message(source.cpu),
        per_message(sink_for_source),
        per_message(rapport.cpu),
        per_message(sink_for_rapport)
    );
    println!(
        "cores busy (of {cores}): {:.2} during smtp-source, {:.2} during rapport; rapport at half smtp-source's rate would need {:.2}",
        busy(source.cpu + sink_for_source, source.wall),
        busy(rapport.cpu + sink_for_rapport, rapport.wall),
        (rapport.cpu + sink_for_rapport) / (2.0 * source.wall)
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

/// `smtp-source` sending `n` messages of `size` bytes over reused connections.
fn time_smtp_source(sink: SocketAddr, n: usize, size: usize) -> Measured {
    let mut command = Command::new("/usr/sbin/smtp-source");
    command
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
        .arg(sink.to_string());
    measure(command, "smtp-source")
}

/// `rapport send newsletter`.
fn time_rapport(ws: &Path) -> Measured {
    let mut command = rapport(ws, &["send", "newsletter", "--wait-retries", "0"]);
    command.stdout(Stdio::null());
    let measured = measure(command, "rapport send");
    eprintln!(
        "rapport CPU: user {:.2} s, system {:.2} s",
        measured.user, measured.system
    );
    measured
}

/// What a finished child process took.
struct Measured {
    /// Seconds from spawn to exit.
    wall: f64,
    /// CPU seconds, user and system.
    user: f64,
    system: f64,
    /// `user + system`.
    cpu: f64,
    peak_rss_kib: i64,
}

/// Runs `command` to its end, which must be a success, and says what it took (`wait4`'s rusage).
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also reports its rusage"
)]
fn measure(mut command: Command, what: &str) -> Measured {
    let start = std::time::Instant::now();
    let child = command.spawn().unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid with valid pointers; it reaps the child and fills `usage`.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{what} failed"
    );
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let (user, system) = (seconds(usage.ru_utime), seconds(usage.ru_stime));
    Measured {
        wall: start.elapsed().as_secs_f64(),
        user,
        system,
        cpu: user + system,
        peak_rss_kib: usage.ru_maxrss,
    }
}

/// The CPU seconds (user and system) that a running process has used so far, from
/// `/proc/PID/stat`: how the bench charges smtp-sink, which runs throughout.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are the 14th and 15th fields of the line, in clock ticks.
    let ticks = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf only reads a system constant.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}
