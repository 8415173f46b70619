//! `cargo bench --bench segment_count`: the time of `segment count` for a three-clause behaviour rule
//! against the equivalent hand-written SQL, on one SQLite database of 1,000,000 customers and
//! 10,000,000 events, in the same run. Prints both times and their ratio (goal: at most 1.5×).
//!
//! The database is generated once (one transaction of `INSERT … SELECT` from recursive CTEs) and kept
//! at `target/bench-data/segment_count.db`; delete it to generate it again. Set
//! `SEGMENT_BENCH_CUSTOMERS` for a smaller run (events are ten per customer).

use rapport::config::DatabaseUrl;
use rapport::segment::{compile, parse_expr};
use rapport::store::Store;
use rapport::timestamp::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RULE: &str = "purchase.count(365d) >= 3 and not visit.any(30d) and city == \"Portland\"";

/// The same question written by hand, as an engineer would for this schema.
const HAND_CORRELATED: &str = "SELECT COUNT(*) FROM customers c \
    WHERE json_extract(c.attributes, '$.city') = 'Portland' \
    AND (SELECT COUNT(*) FROM events e WHERE e.customer_id = c.id AND e.kind = 'purchase' AND e.occurred_at >= ?1) >= 3 \
    AND NOT EXISTS (SELECT 1 FROM events e WHERE e.customer_id = c.id AND e.kind = 'visit' AND e.occurred_at >= ?2)";

/// The same again with a join and GROUP BY; the faster of the two hand-written queries is the baseline.
const HAND_GROUPED: &str = "SELECT COUNT(*) FROM (SELECT c.id FROM customers c \
    JOIN events e ON e.customer_id = c.id AND e.kind = 'purchase' AND e.occurred_at >= ?1 \
    WHERE json_extract(c.attributes, '$.city') = 'Portland' \
    AND NOT EXISTS (SELECT 1 FROM events v WHERE v.customer_id = c.id AND v.kind = 'visit' AND v.occurred_at >= ?2) \
    GROUP BY c.id HAVING COUNT(*) >= 3)";

const RUNS: usize = 5;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(bench())
}

async fn bench() -> anyhow::Result<()> {
    let customers: i64 = std::env::var("SEGMENT_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("segment_count_{customers}.db"));
    let now = Timestamp::parse_flexible("2026-06-15T12:00:00Z").map_err(anyhow::Error::msg)?;
    if !path.exists() {
        generate(&path, customers, now).await?;
    }
    let store = Store::open(&sqlite_url(&path)?, &dir).await?;
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .pragma("cache_size", "-32768");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    println!(
        "database: {} customers, {} events ({})",
        store.count_customers().await?,
        store.count_events().await?,
        path.display()
    );
    println!("rule: {RULE}");

    let condition = compile(
        &parse_expr(RULE).map_err(|e| anyhow::anyhow!("{e:?}"))?,
        store.dialect(),
        now,
    )?;
    let since_365 = now.micros() - 365 * 86_400_000_000;
    let since_30 = now.micros() - 30 * 86_400_000_000;
    let hand = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(sql)
                .bind(since_365)
                .bind(since_30)
                .fetch_one(&pool)
                .await?;
            anyhow::Ok(n)
        }
    };
    let (mut compiled_times, mut correlated_times, mut grouped_times) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut counts = Vec::new();
    for run in 0..=RUNS {
        let (n1, t1) = timed(store.count_segment(&condition)).await?;
        let (n2, t2) = timed(hand(HAND_CORRELATED)).await?;
        let (n3, t3) = timed(hand(HAND_GROUPED)).await?;
        anyhow::ensure!(
            n1 == n2 && n2 == n3,
            "counts differ: segment {n1}, hand-written {n2} and {n3}"
        );
        counts.push(n1);
        if run > 0 {
            compiled_times.push(t1);
            correlated_times.push(t2);
            grouped_times.push(t3);
        }
    }
    let compiled = median(compiled_times);
    let correlated = median(correlated_times);
    let grouped = median(grouped_times);
    let baseline = correlated.min(grouped);
    println!("members: {}", counts[0]);
    println!(
        "segment count (compiled rule):      {:>8.1} ms (median of {RUNS}, after one warm-up)",
        ms(compiled)
    );
    println!(
        "hand-written SQL, correlated:       {:>8.1} ms",
        ms(correlated)
    );
    println!(
        "hand-written SQL, join + GROUP BY:  {:>8.1} ms",
        ms(grouped)
    );
    println!(
        "ratio compiled / best hand-written: {:>8.2}× (goal ≤ 1.5×)",
        compiled.as_secs_f64() / baseline.as_secs_f64()
    );
    store.close().await;
    Ok(())
}

async fn timed<T>(
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let value = f.await?;
    Ok((value, start.elapsed()))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Creates the schema through the store's migrations, then fills it in one transaction.
async fn generate(path: &Path, customers: i64, now: Timestamp) -> anyhow::Result<()> {
    let started = Instant::now();
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let dir = partial.parent().expect("in a folder");
    Store::open(&sqlite_url(&partial)?, dir)
        .await?
        .close()
        .await;
    let options = SqliteConnectOptions::new()
        .filename(&partial)
        .journal_mode(SqliteJournalMode::Delete)
        .pragma("synchronous", "OFF")
        .pragma("cache_size", "-262144");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let mut tx = pool.begin().await?;
    // Ten cities, one in ten customers in Portland; ages 18–77; joined over the last 1000 days.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
         INSERT INTO customers (id, email, email_key, first_name, attributes, created_at, updated_at) \
         SELECT i, 'c' || i || '@example.com', 'c' || i || '@example.com', 'C' || i, \
           json_object('city', CASE i % 10 WHEN 0 THEN 'Portland' WHEN 1 THEN 'Lyon' WHEN 2 THEN 'Seattle' \
             WHEN 3 THEN 'Austin' WHEN 4 THEN 'Denver' WHEN 5 THEN 'Boston' WHEN 6 THEN 'Paris' \
             WHEN 7 THEN 'Berlin' WHEN 8 THEN 'Madrid' ELSE 'Rome' END, 'age', 18 + i % 60), \
           ?2 - (i % 1000) * 86400000000, ?2 FROM n",
    )
    .bind(customers)
    .bind(now.micros())
    .execute(&mut *tx)
    .await?;
    // Ten events per customer over the last 400 days: half purchases, 30% visits, 20% email opens.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 * 10 - 1) \
         INSERT INTO events (customer_id, kind, occurred_at, amount, properties, fingerprint, recorded_at) \
         SELECT 1 + i / 10, \
           CASE WHEN (i * 7919) % 10 < 5 THEN 'purchase' WHEN (i * 7919) % 10 < 8 THEN 'visit' ELSE 'email.opened' END, \
           ?2 - ((i * 2654435761) % 34560000) * 1000000, \
           CASE WHEN (i * 7919) % 10 < 5 THEN (i % 200) + 0.5 END, '{}', i % 10, ?2 FROM n",
    )
    .bind(customers)
    .bind(now.micros())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    pool.close().await;
    std::fs::rename(&partial, path)?;
    println!(
        "generated {} in {:.0} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn sqlite_url(path: &Path) -> anyhow::Result<DatabaseUrl> {
    DatabaseUrl::parse(format!("sqlite://{}", path.display())).map_err(anyhow::Error::msg)
}
