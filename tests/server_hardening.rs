//! The tracking server against hostile clients, and `rapport serve` as a process: a slowloris client
//! is disconnected without holding up anyone else, bodies are bounded, and SIGTERM exits cleanly.

mod common;
#[path = "server_support/http.rs"]
mod http;
#[path = "server_support/setup.rs"]
mod setup;

use common::{Engine, stderr};
use rapport::server::Limits;
use rapport::token::Purpose;
use std::io::BufRead;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Trickles header lines on `stream` until the server closes it; returns whether it did within
/// `patience` (a client that never finishes its headers must be cut off).
async fn trickle_until_closed(mut stream: TcpStream, patience: Duration) -> bool {
    let trickle = async {
        let mut buf = [0u8; 256];
        loop {
            if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {} // an error answer (408) before the close
                Err(_) => {}
            }
        }
    };
    tokio::time::timeout(patience, trickle).await.is_ok()
}

/// Clients that never finish their headers are disconnected, and a normal request made while they
/// hold their connections is answered.
async fn slow_clients_are_cut_off_without_starving_others(engine: Engine) {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(2),
        max_connections: 16,
        ..Limits::default()
    };
    let t = setup::start_with(engine, limits).await;
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut stream = TcpStream::connect(t.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(tokio::spawn(trickle_until_closed(
            stream,
            Duration::from_secs(30),
        )));
    }

    let normal = http::get(t.addr, &t.path("c0@example.com", Purpose::Unsubscribe)).await;

    assert_eq!(normal.status, 200);
    assert!(
        slow.iter().all(|s| !s.is_finished()),
        "the slow clients were still connected"
    );
    for client in slow {
        assert!(client.await.unwrap(), "a slow client was disconnected");
    }
    assert_eq!(http::get(t.addr, "/healthz").await.text(), "ok\n");
    t.stop().await;
}
on_both_databases!(slowloris, slow_clients_are_cut_off_without_starving_others);

/// A body over the limit is refused with 413 and changes nothing.
async fn oversized_bodies_are_refused(engine: Engine) {
    let t = setup::start(engine).await;
    let path = t.path("c0@example.com", Purpose::Unsubscribe);
    let before = t.written().await;
    let body = format!("List-Unsubscribe=One-Click&pad={}", "x".repeat(32 * 1024));

    let answer = http::post(t.addr, &path, &body).await;

    assert_eq!(answer.status, 413);
    assert_eq!(t.written().await, before);
    t.stop().await;
}
on_both_databases!(body_limit, oversized_bodies_are_refused);

/// `rapport serve --listen 127.0.0.1:0` prints where it listens, answers, and exits 0 on SIGTERM.
async fn rapport_serve_runs_and_stops_on_sigterm(engine: Engine) {
    let t = setup::start(engine).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(t.shop.path())
        .env("RAPPORT_DATABASE_URL", &t.shop.database_url)
        .env_remove("RAPPORT_WORKSPACE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no address in {line:?}"));

    assert_eq!(http::get(addr, "/healthz").await.text(), "ok\n");
    let path = t.path("c1@example.com", Purpose::Unsubscribe);
    assert_eq!(
        http::post(addr, &path, "List-Unsubscribe=One-Click")
            .await
            .status,
        200
    );
    assert_eq!(t.suppressions().await["c1@example.com"], ["news"]);

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = child.wait_with_output().unwrap();
    assert!(status.success(), "{status}: {}", stderr(&output));
    t.stop().await;
}
on_both_databases!(serve_binary, rapport_serve_runs_and_stops_on_sigterm);
