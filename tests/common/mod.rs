//! Test helpers shared by the integration tests: a fresh database per test on each engine, a scratch
//! workspace scaffolded by the real `rapport init`, and the real binary to run commands in it.
//!
//! PostgreSQL tests use `RAPPORT_TEST_POSTGRES_URL` (set by `.ci/test`); each test gets a schema of its
//! own, so tests run in parallel. When the variable is unset the PostgreSQL half of a test is skipped
//! with a note; when it is set, any PostgreSQL failure fails the test.

#![allow(dead_code)]

pub mod dkim_verifier;
pub mod doc_blocks;
pub mod smtp_sink;

use rapport::config::DatabaseUrl;
use rapport::store::Store;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "RAPPORT_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Defines `mod $name { sqlite(), postgres() }`: the same async test body `$body(Engine)` run once on
/// each database.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                $body($crate::common::Engine::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::common::postgres_base_url().is_none() {
                    eprintln!(
                        "skipped: set {} to run this test on PostgreSQL",
                        $crate::common::POSTGRES_ENV
                    );
                    return;
                }
                $body($crate::common::Engine::Postgres).await
            }
        }
    };
}

pub fn postgres_base_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|v| !v.is_empty())
}

/// A database of its own for one test: a SQLite file in `dir`, or a fresh PostgreSQL schema.
pub async fn fresh_database_url(engine: Engine, dir: &Path) -> String {
    match engine {
        Engine::Sqlite => format!("sqlite://{}", dir.join("test.db").display()),
        Engine::Postgres => {
            let base = postgres_base_url().expect("RAPPORT_TEST_POSTGRES_URL is set");
            let schema = format!("t_{}", uuid_like());
            let pool = sqlx::PgPool::connect(&base)
                .await
                .expect("connect to the test PostgreSQL");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .expect("create a test schema");
            pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{schema}")
        }
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A scratch workspace made by `rapport init`, pointed at a fresh database of the given engine.
pub struct Shop {
    pub dir: TempDir,
    pub engine: Engine,
    pub database_url: String,
}

impl Shop {
    pub async fn new(engine: Engine) -> Shop {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = fresh_database_url(engine, dir.path()).await;
        let shop = Shop {
            dir,
            engine,
            database_url,
        };
        let out = shop.rapport(&["init", "."]);
        assert!(out.status.success(), "init failed: {}", stderr(&out));
        shop
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `customers` as customers.csv in the workspace and imports it, failing the test if the
    /// import fails.
    pub fn import_customers(&self, customers: &str) {
        self.write("customers.csv", customers);
        let out = self.rapport(&["import", "customers", "customers.csv"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Writes `customers` and `events` as customers.csv and events.csv in the workspace and imports
    /// both, failing the test if either import fails: a test's starting data.
    pub fn import_data(&self, customers: &str, events: &str) {
        self.import_customers(customers);
        self.write("events.csv", events);
        let out = self.rapport(&["import", "events", "events.csv"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// Writes `contents` to `name` inside the workspace and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Runs the real binary in this workspace.
    pub fn rapport(&self, args: &[&str]) -> Output {
        self.rapport_with_stdin(args, None)
    }

    pub fn rapport_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("run rapport");
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
        drop(input);
        child.wait_with_output().expect("wait for rapport")
    }

    /// The real binary in this workspace, its output captured, ready to spawn (for tests that signal
    /// or kill it while it runs).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
        command
            .args(args)
            .current_dir(self.path())
            .env("RAPPORT_DATABASE_URL", &self.database_url)
            .env_remove("RAPPORT_SMTP_URL")
            .env_remove("RAPPORT_TRACKING_SECRET")
            .env_remove("RAPPORT_TRACKING_PREVIOUS_SECRETS")
            .env_remove("RAPPORT_CLOCK")
            .env_remove("RAPPORT_WORKSPACE")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// The workspace's store, opened by the library as the binary does.
    pub async fn store(&self) -> Store {
        let url = DatabaseUrl::parse(self.database_url.clone()).unwrap();
        Store::open(&url, self.path()).await.expect("open store")
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `email,first_name` rows for customers `c0@example.com` (`First0`) … `c{n-1}@example.com`.
pub fn numbered_customers(n: usize) -> String {
    let mut csv = String::from("email,first_name\n");
    for i in 0..n {
        csv.push_str(&format!("c{i}@example.com,First{i}\n"));
    }
    csv
}

/// A workspace with `customers` (CSV text) imported, the segments `everyone` and `first_purchase`,
/// and a rapport.toml of the shop's sender, tracking and database tables followed by `config`.
pub async fn shop_with(engine: Engine, customers: &str, config: &str) -> Shop {
    let shop = Shop::new(engine).await;
    shop.import_customers(customers);
    shop.write("segments/everyone.seg", "# Everyone.\nemail exists\n");
    shop.write("segments/first_purchase.seg", "purchase.count() == 1\n");
    shop.write(
        "rapport.toml",
        &format!(
            r#"[sender]
from = "Maple & Thread <hello@maplethread.example>"
postal_address = "12 Alder St, Portland OR 97201"

[database]
url = "{}"

[tracking]
base_url = "https://mail.maplethread.example"
secret = "8f1e0b6c2d4a9e7f3b5c1d0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"

{config}"#,
            shop.database_url
        ),
    );
    shop
}

/// The path of a file under the repository's `docs/` or other folders.
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}
