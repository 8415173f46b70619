//! Runs the examples of docs/tracking.md (each `curl` against the real server, with `TOKEN` replaced
//! by a real token for the shop of the examples) and of docs/operations.md (`rapport serve`).

mod common;
#[path = "server_support/http.rs"]
mod http;
#[path = "server_support/setup.rs"]
mod setup;

use common::{Engine, repo_file};
use rapport::token::Purpose;
use std::io::BufRead;

/// The `console` blocks of a page: each a command and the lines it prints.
fn examples(page: &str) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(repo_file(page)).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```console" {
            continue;
        }
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let command = block[0].strip_prefix("$ ").expect("a command").to_string();
        out.push((command, block[1..].iter().map(|l| l.to_string()).collect()));
    }
    out
}

/// Splits a command line on spaces, keeping 'single-quoted' words whole.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = command.trim();
    while !rest.is_empty() {
        let (word, tail) = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.split_once('\'').expect("closing quote"),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        out.push(word.to_string());
        rest = tail.trim_start();
    }
    out
}

async fn the_tracking_examples_answer_as_documented(engine: Engine) {
    let t = setup::start(engine).await;
    let examples = examples("docs/tracking.md");
    assert!(examples.len() >= 6, "the page shows its examples");
    for (command, expected) in examples {
        let words = words(&command);
        assert_eq!(words[0], "curl", "{command}");
        let method = words
            .iter()
            .position(|w| w == "-X")
            .map_or("GET", |i| &words[i + 1]);
        let data = words
            .iter()
            .position(|w| w == "-d")
            .map_or("", |i| &words[i + 1]);
        let url = words.last().unwrap();
        let path = url
            .strip_prefix("https://mail.maplethread.example")
            .expect(url);
        let path = match path.split('/').nth(1) {
            Some(endpoint) if path.ends_with("/TOKEN") => {
                let purpose = match endpoint {
                    "o" => Purpose::Open,
                    "c" => Purpose::Click(0),
                    "u" => Purpose::Unsubscribe,
                    "p" => Purpose::Preferences,
                    other => panic!("unknown endpoint {other}"),
                };
                t.path("c0@example.com", purpose)
            }
            _ => path.to_string(),
        };
        let answer = if method == "POST" {
            http::post(t.addr, &path, data).await
        } else {
            http::get(t.addr, &path).await
        };
        let status: u16 = expected[0]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(answer.status, status, "{command}");
        for line in &expected[1..] {
            let (name, value) = line.split_once(": ").expect(line);
            assert_eq!(answer.header(name), Some(value), "{command}: {name}");
        }
    }
    t.stop().await;
}
on_both_databases!(
    tracking_examples,
    the_tracking_examples_answer_as_documented
);

/// `rapport serve --listen …` prints the bound address as shown (port 0 here, for a free port).
async fn the_serve_example_prints_its_address(engine: Engine) {
    let t = setup::start(engine).await;
    let (command, expected) = examples("docs/operations.md").remove(0);
    let args: Vec<String> = words(&command)[1..]
        .iter()
        .map(|w| w.replace("127.0.0.1:8080", "127.0.0.1:0"))
        .collect();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(&args)
        .current_dir(t.shop.path())
        .env("RAPPORT_DATABASE_URL", &t.shop.database_url)
        .env_remove("RAPPORT_WORKSPACE")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let port = line.trim().rsplit(':').next().unwrap();
    assert_eq!(line.trim().replace(port, "8080"), expected[0]);
    t.stop().await;
}
on_both_databases!(serve_example, the_serve_example_prints_its_address);

/// The proxy examples forward every path of the server.
#[test]
fn the_proxy_examples_forward_every_endpoint() {
    let page = std::fs::read_to_string(repo_file("docs/operations.md")).unwrap();
    let caddy = page
        .split("```caddyfile")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    assert!(caddy.contains("path /o/* /c/* /u/* /p/* /healthz"));
    let nginx = page
        .split("```nginx")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    assert!(nginx.contains("^/(o|c|u|p)/[A-Za-z0-9_-]+$") && nginx.contains("location = /healthz"));
    let token = rapport::token::Signer::new(b"k").sign(1, Purpose::Click(2));
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}
