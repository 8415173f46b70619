//! `cargo bench --bench tracking`: the tracking server under load on SQLite. A workspace made by the
//! real binary (`rapport init`, `import`, `send` to the outbox) with `BENCH_CUSTOMERS` customers
//! (default 1,000); then `BENCH_CLIENTS` concurrent HTTP/1.1 clients (default 16) fetch the open
//! pixel of every delivery `BENCH_ROUNDS` times (default 5) over keep-alive connections, each open a
//! committed write, and the same for tracked clicks. Prints requests per second.

use rapport::server::{AppState, Limits, serve};
use rapport::store::Store;
use rapport::token::{Purpose, Signer};
use rapport::workspace::Workspace;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const SECRET: &str = "8f1e0b6c2d4a9e7f3b5c1d0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rapport(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(args)
        .current_dir(dir)
        .env_remove("RAPPORT_DATABASE_URL")
        .output()
        .expect("run rapport");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn workspace(dir: &Path, customers: usize) {
    rapport(dir, &["init", "."]);
    let mut csv = String::from("email,first_name\n");
    for i in 0..customers {
        csv.push_str(&format!("c{i}@example.com,First{i}\n"));
    }
    std::fs::write(dir.join("customers.csv"), csv).unwrap();
    rapport(dir, &["import", "customers", "customers.csv"]);
    std::fs::write(dir.join("segments/everyone.seg"), "email exists\n").unwrap();
    let config = std::fs::read_to_string(dir.join("rapport.toml")).unwrap();
    let secret_line = config
        .lines()
        .find(|l| l.starts_with("secret"))
        .unwrap()
        .to_string();
    let config = config.replace(&secret_line, &format!("secret = \"{SECRET}\""));
    let config = format!(
        "{config}\n[[campaign]]\nname = \"bench\"\nsegment = \"everyone\"\ntemplate = \"winback\"\n"
    );
    std::fs::write(dir.join("rapport.toml"), config).unwrap();
    rapport(dir, &["send", "bench"]);
}

/// Sends `paths` over one keep-alive connection; returns how many answers had `status`.
async fn client(addr: std::net::SocketAddr, paths: Vec<String>, status: &str) -> usize {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut stream = BufReader::new(stream);
    let mut ok = 0;
    for path in paths {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench-client\r\n\r\n");
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        ok += usize::from(line.contains(status));
        let mut length = 0;
        loop {
            let mut header = String::new();
            stream.read_line(&mut header).await.unwrap();
            if header == "\r\n" {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
    }
    ok
}

async fn load(
    addr: std::net::SocketAddr,
    paths: Vec<String>,
    clients: usize,
    status: &'static str,
    what: &str,
) {
    let total = paths.len();
    let mut shares = vec![Vec::new(); clients];
    for (i, path) in paths.into_iter().enumerate() {
        shares[i % clients].push(path);
    }
    let started = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|s| tokio::spawn(client(addr, s, status)))
        .collect();
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(ok, total, "every {what} answered {status}");
    println!(
        "{what}: {total} requests from {clients} clients in {seconds:.2} s: {:.0} requests/s",
        total as f64 / seconds
    );
}

/// The path of `purpose` for every delivery, `rounds` times over.
fn paths(signer: &Signer, ids: &[i64], rounds: usize, purpose: Purpose) -> Vec<String> {
    let mut out = Vec::with_capacity(ids.len() * rounds);
    for _ in 0..rounds {
        for id in ids {
            out.push(format!("/{}/{}", purpose.path(), signer.sign(*id, purpose)));
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let customers = env_or("BENCH_CUSTOMERS", 1_000);
    let clients = env_or("BENCH_CLIENTS", 16);
    let rounds = env_or("BENCH_ROUNDS", 5);
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path(), customers);
    let ws = Workspace::load(dir.path()).unwrap();
    let store = Arc::new(
        Store::open(&ws.config.database.url, dir.path())
            .await
            .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let state = AppState::new(store.clone(), &ws.config);
    let server = tokio::spawn(serve(listener, state, Limits::default(), cancel.clone()));
    let signer = Signer::new(SECRET.as_bytes());
    let ids: Vec<i64> = (1..=customers as i64).collect();
    load(
        addr,
        paths(&signer, &ids, rounds, Purpose::Open),
        clients,
        " 200 ",
        "opens (SQLite)",
    )
    .await;
    load(
        addr,
        paths(&signer, &ids, rounds, Purpose::Click(0)),
        clients,
        " 302 ",
        "clicks (SQLite)",
    )
    .await;
    let events = store.count_events().await.unwrap();
    println!(
        "events stored: {events} ({customers} sent + {} opens + {} clicks)",
        customers * rounds,
        customers * rounds
    );
    cancel.cancel();
    server.await.unwrap().unwrap();
}
