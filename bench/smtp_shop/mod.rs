//! What the SMTP benchmarks (`send`, `daemon`) share: Postfix's `smtp-sink` on a free loopback port,
//! the real `rapport` binary, and the example shop made by `rapport init`, sending through the sink
//! with no rate limit, no weekly cap and no quiet hours, to `n` customers.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Workers, as smtp-source's sessions in the send bench: 4, or `BENCH_CONCURRENCY`.
pub fn concurrency() -> usize {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// smtp-sink without a dump folder: it accepts and discards, as fast as it can.
pub fn start_sink(addr: SocketAddr) -> Child {
    let mut command = Command::new("/usr/sbin/smtp-sink");
    if unsafe { libc::geteuid() } == 0 {
        command.args(["-u", "nobody"]);
    }
    let child = command
        .arg(addr.to_string())
        .arg("256")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp-sink (Debian package postfix)");
    while TcpStream::connect(addr).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// The real binary in workspace `ws`, with no environment overrides from the caller's shell.
pub fn rapport(ws: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
    command
        .args(args)
        .current_dir(ws)
        .env_remove("RAPPORT_DATABASE_URL")
        .env_remove("RAPPORT_WORKSPACE")
        .env_remove("RAPPORT_CLOCK");
    command
}

/// `rapport init` in `ws`, its config changed by `edit` after the bench settings, and `n` customers
/// imported (`customer{i}@example.com`, in America/Chicago).
pub fn prepare_workspace(
    ws: &Path,
    sink: SocketAddr,
    n: usize,
    edit: impl FnOnce(String) -> String,
) {
    let ok = rapport(ws, &["init", "."])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let config = std::fs::read_to_string(ws.join("rapport.toml")).unwrap();
    let config = config
        .replace("transport = \"outbox\"", "transport = \"smtp\"")
        .replace(
            "smtp_url = \"smtp://127.0.0.1:2525\"",
            &format!("smtp_url = \"smtp://{sink}\""),
        )
        .replace(
            "concurrency = 8",
            &format!("concurrency = {}", concurrency()),
        )
        .replace("rate = [\"20/s\", \"5000/day\"]", "")
        .replace("max_per_week = 2", "")
        .replace("quiet_hours = \"21:00-08:00\"", "");
    assert!(
        !config.contains("quiet_hours ="),
        "the bench sends at any hour: rapport.toml still has quiet hours"
    );
    std::fs::write(ws.join("rapport.toml"), edit(config)).unwrap();
    let mut csv = std::io::BufWriter::new(std::fs::File::create(ws.join("customers.csv")).unwrap());
    writeln!(csv, "email,first_name,last_name,timezone").unwrap();
    for i in 0..n {
        writeln!(
            csv,
            "customer{i}@example.com,First{i},Last{i},America/Chicago"
        )
        .unwrap();
    }
    drop(csv);
    let ok = rapport(ws, &["import", "customers", "customers.csv"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
}
