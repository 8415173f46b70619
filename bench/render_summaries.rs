//! The database half of context building: behaviour summaries of every customer, fetched 500 per
//! query from a SQLite database of 100,000 customers with 10 events each (6 purchases, 3 visits,
//! 1 opened email). `BENCH_SUMMARY_CUSTOMERS=N` changes the number of customers.

use rapport::config::DatabaseUrl;
use rapport::store::Store;
use std::time::Instant;

pub fn run() {
    let n: i64 = std::env::var("BENCH_SUMMARY_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Store::open(&DatabaseUrl::parse(url.clone()).unwrap(), dir.path())
            .await
            .expect("open store");
        populate(&url, n).await;
        let ids: Vec<i64> = (1..=n).collect();
        let start = Instant::now();
        let mut summarised = 0;
        for batch in ids.chunks(500) {
            summarised += store.summaries(batch).await.expect("summaries").len();
        }
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(summarised as i64, n);
        println!(
            "summaries from SQLite ({n} customers, {} events, 500 per query): {:.0} customers per second",
            n * 10,
            n as f64 / seconds
        );
        store.close().await;
    });
}

/// Customers and events generated inside SQLite (no value comes from outside: nothing to bind).
async fn populate(url: &str, n: i64) {
    let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
    let customers = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO customers (id, email, email_key, first_name, attributes, created_at, updated_at) \
         SELECT i, 'c' || i || '@example.com', 'c' || i || '@example.com', 'Name' || i, '{{}}', 0, 0 FROM n"
    );
    let events = format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {n} * 10 - 1) \
         INSERT INTO events (customer_id, kind, occurred_at, amount, properties, fingerprint, recorded_at) \
         SELECT i / 10 + 1, \
           CASE WHEN i % 10 < 6 THEN 'purchase' WHEN i % 10 < 9 THEN 'visit' ELSE 'email.opened' END, \
           1700000000000000 + i * 1000000, (i % 50) + 0.5, \
           json_object('category', CASE i % 3 WHEN 0 THEN 'wool' WHEN 1 THEN 'linen' ELSE 'cotton' END, \
                       'item', 'Item ' || (i % 7)), \
           i, 0 FROM n"
    );
    for sql in [customers, events] {
        sqlx::query(&sql).execute(&pool).await.expect("populate");
    }
    pool.close().await;
}
