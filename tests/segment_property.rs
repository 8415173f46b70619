//! The property that makes segments trustworthy: for random rules over random customers and events,
//! the SQL query run by the database selects exactly the customers the reference interpreter selects,
//! on SQLite and on PostgreSQL. Data and rules are drawn from small pools rich in edge cases: exact
//! window boundaries, missing and mistyped attributes, JSON null, empty and non-ASCII text, events
//! without amounts, SQL-looking strings, and references to another segment.

mod common;
use common::{Engine, fresh_database_url};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rapport::config::DatabaseUrl;
use rapport::segment::{Condition, Facts, Library, Piece, compile};
use rapport::store::{Customer, Store, Tx};
use rapport::timestamp::Timestamp;
use serde_json::{Map, Value, json};
use sqlx::types::Json;

const CASES: u32 = 64;
const RULES_PER_CASE: usize = 4;

fn now() -> Timestamp {
    Timestamp::parse_flexible("2026-06-15T12:00:00Z").unwrap()
}

fn days_ago(days: i64, extra_micros: i64) -> Timestamp {
    Timestamp::from_micros(now().micros() - days * 86_400_000_000 + extra_micros).unwrap()
}

#[derive(Debug, Clone)]
struct TestCustomer {
    first_name: Option<String>,
    domain: &'static str,
    created_days_ago: i64,
    attributes: Map<String, Value>,
    events: Vec<TestEvent>,
}

#[derive(Debug, Clone)]
struct TestEvent {
    kind: &'static str,
    days_ago: i64,
    /// -1, 0 or 1 microsecond from the whole day: both sides of every window boundary.
    nudge: i64,
    amount: Option<f64>,
    properties: Map<String, Value>,
}

fn text_values() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "Portland",
        "portland",
        "Port",
        "Zürich",
        "",
        "x' OR 1=1 --",
        "gold",
        "silver",
    ])
}

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text_values().prop_map(|s| json!(s)),
        prop::sample::select(vec![0.0, 3.0, 30.0, 12.5, -1.0]).prop_map(|n| json!(n)),
        prop::sample::select(vec![0i64, 3, 30]).prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ]
}

fn json_map(keys: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(prop::option::of(json_value()), keys.len()).prop_map(move |values| {
        keys.iter()
            .zip(values)
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect()
    })
}

fn event() -> impl Strategy<Value = TestEvent> {
    (
        prop::sample::select(vec!["purchase", "visit", "email.opened"]),
        prop::sample::select(vec![0i64, 1, 7, 30, 59, 60, 61, 365, 366, 400]),
        -1i64..=1,
        prop::option::of(prop::sample::select(vec![0.0, 5.0, 12.5, 100.0, -2.0])),
        json_map(&["category", "campaign"]),
    )
        .prop_map(|(kind, days_ago, nudge, amount, properties)| TestEvent {
            kind,
            days_ago,
            nudge,
            amount,
            properties,
        })
}

fn customer() -> impl Strategy<Value = TestCustomer> {
    (
        prop::option::of(prop::sample::select(vec!["Ann", "Émile", "bob", ""])),
        prop::sample::select(vec!["example.org", "ex.com"]),
        prop::sample::select(vec![0i64, 1, 29, 30, 31, 90, 400]),
        json_map(&["city", "age", "vip", "tier"]),
        prop::collection::vec(event(), 0..7),
    )
        .prop_map(
            |(first_name, domain, created_days_ago, attributes, events)| TestCustomer {
                first_name: first_name.map(str::to_string),
                domain,
                created_days_ago,
                attributes,
                events,
            },
        )
}

fn window() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["1d", "7d", "30d", "60d", "2m", "1y", "12w", "0d"])
}

fn number() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["0", "1", "2", "3", "12.5", "-1", "30", "105"])
}

fn quoted() -> impl Strategy<Value = String> {
    text_values().prop_map(|s| format!("{s:?}"))
}

/// A typed comparison `field OP value` on `fields` (JSON keys take any type; columns take text).
fn comparison(
    json_fields: Vec<&'static str>,
    text_columns: Vec<&'static str>,
) -> BoxedStrategy<String> {
    let all_fields: Vec<&'static str> = json_fields.iter().chain(&text_columns).copied().collect();
    let text_ops = vec![
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "contains",
        "starts_with",
        "ends_with",
    ];
    let number_ops = vec!["==", "!=", "<", "<=", ">", ">="];
    prop_oneof![
        (
            prop::sample::select(all_fields.clone()),
            prop::sample::select(text_ops),
            quoted()
        )
            .prop_map(|(f, op, v)| format!("{f} {op} {v}")),
        (
            prop::sample::select(json_fields.clone()),
            prop::sample::select(number_ops),
            number()
        )
            .prop_map(|(f, op, v)| format!("{f} {op} {v}")),
        (
            prop::sample::select(json_fields.clone()),
            prop::sample::select(vec!["==", "!="]),
            any::<bool>()
        )
            .prop_map(|(f, op, v)| format!("{f} {op} {v}")),
        (
            prop::sample::select(all_fields.clone()),
            prop::sample::select(vec!["exists", "missing"])
        )
            .prop_map(|(f, t)| format!("{f} {t}")),
        (
            prop::sample::select(all_fields),
            prop::collection::vec(quoted(), 1..3)
        )
            .prop_map(|(f, vs)| format!("{f} in [{}]", vs.join(", "))),
        (
            prop::sample::select(json_fields),
            prop::collection::vec(number(), 1..3)
        )
            .prop_map(|(f, vs)| format!("{f} in [{}]", vs.join(", "))),
    ]
    .boxed()
}

fn time_test() -> impl Strategy<Value = String> {
    prop_oneof![
        window().prop_map(|w| format!("before {w} ago")),
        window().prop_map(|w| format!("after {w} ago")),
        window().prop_map(|w| format!("within {w}")),
        Just("before 2026-06-01".to_string()),
    ]
}

fn behaviour() -> impl Strategy<Value = String> {
    let filter = prop_oneof![
        3 => Just(String::new()),
        2 => comparison(vec!["category", "campaign"], vec![]).prop_map(|c| format!("[{c}]")),
        1 => (prop::sample::select(vec![">", "<=", "=="]), number()).prop_map(|(op, n)| format!("[amount {op} {n}]")),
        1 => Just("[amount exists and category != \"seeds\"]".to_string()),
    ];
    let optional_window = prop::option::of(window())
        .prop_map(|w| w.unwrap_or_default().to_string())
        .boxed();
    let ops = prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]);
    let measure = prop_oneof![
        optional_window.clone().prop_map(|w| format!("any({w})")),
        optional_window.clone().prop_map(|w| format!("none({w})")),
        (optional_window.clone(), ops.clone(), number())
            .prop_map(|(w, op, n)| format!("count({w}) {op} {n}")),
        (
            optional_window.clone(),
            prop::sample::select(vec!["sum", "avg"]),
            ops,
            number()
        )
            .prop_map(|(w, f, op, n)| {
                let w = if w.is_empty() { w } else { format!(", {w}") };
                format!("{f}(amount{w}) {op} {n}")
            }),
        time_test().prop_map(|t| format!("last {t}")),
    ];
    (
        prop::sample::select(vec!["purchase", "visit", "email.opened"]),
        filter,
        measure,
    )
        .prop_map(|(kind, filter, measure)| format!("{kind}{filter}.{measure}"))
}

/// A random rule; the first rule of a case is saved as segment `r0`, which later ones may include.
fn rule(may_include_r0: bool) -> impl Strategy<Value = String> {
    let reference = if may_include_r0 { 1 } else { 0 };
    let leaf = prop_oneof![
        2 => comparison(vec!["city", "age", "vip", "tier", "nope"], vec!["first_name", "email", "status"]),
        1 => time_test().prop_map(|t| format!("created_at {t}")),
        3 => behaviour(),
        reference => Just("segment(\"r0\")".to_string()),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}\nor {b})")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
}

/// Replaces the database's rows with `customers` and their events.
async fn load(store: &Store, customers: &[TestCustomer]) -> anyhow::Result<()> {
    let mut tx = store.begin().await?;
    macro_rules! fill {
        ($conn:expr) => {{
            sqlx::query("DELETE FROM events").execute(&mut *$conn).await?;
            sqlx::query("DELETE FROM customers").execute(&mut *$conn).await?;
            for (i, c) in customers.iter().enumerate() {
                let email = format!("c{i}@{}", c.domain);
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO customers (email, email_key, first_name, attributes, created_at, updated_at) \
                     VALUES ($1, $1, $2, $3, $4, $4) RETURNING id",
                )
                .bind(&email)
                .bind(&c.first_name)
                .bind(Json(&c.attributes))
                .bind(days_ago(c.created_days_ago, 0))
                .fetch_one(&mut *$conn)
                .await?;
                for (n, e) in c.events.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO events (customer_id, kind, occurred_at, amount, properties, fingerprint, recorded_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $3)",
                    )
                    .bind(id)
                    .bind(e.kind)
                    .bind(days_ago(e.days_ago, e.nudge))
                    .bind(e.amount)
                    .bind(Json(&e.properties))
                    .bind(n as i64)
                    .execute(&mut *$conn)
                    .await?;
                }
            }
        }};
    }
    match &mut tx {
        Tx::Sqlite(conn, _) => {
            let conn: &mut sqlx::SqliteConnection = conn;
            fill!(conn)
        }
        Tx::Postgres(conn) => {
            let conn: &mut sqlx::PgConnection = conn;
            fill!(conn)
        }
    }
    tx.commit().await
}

/// Every stored customer (through the members stream, with an always-true condition).
async fn all_customers(store: &Store) -> anyhow::Result<Vec<Customer>> {
    let everyone = Condition {
        pieces: vec![Piece::Sql("1 = 1".into())],
    };
    let mut customers = Vec::new();
    store
        .for_each_member(&everyone, None, |c| {
            customers.push(c);
            Ok(())
        })
        .await?;
    Ok(customers)
}

async fn sql_equals_interpreter(
    store: &Store,
    customers: &[TestCustomer],
    rules: &[String],
) -> Result<(), TestCaseError> {
    let fail = |e: anyhow::Error| TestCaseError::fail(format!("{e:#}"));
    load(store, customers).await.map_err(fail)?;
    let stored = all_customers(store).await.map_err(fail)?;
    let mut events = Vec::new();
    for c in &stored {
        events.push(store.events_of_customer(c.id, 1000).await.map_err(fail)?);
    }
    let mut library = Library::default();
    for (i, source) in rules.iter().enumerate() {
        library.insert(&format!("r{i}"), source);
    }
    for (i, source) in rules.iter().enumerate() {
        let expr = library.rule(&format!("r{i}")).map_err(fail)?.expr.clone();
        let condition = compile(&expr, store.dialect(), now()).map_err(fail)?;
        let mut by_sql = Vec::new();
        store
            .for_each_member(&condition, None, |c| {
                by_sql.push(c.email);
                Ok(())
            })
            .await
            .map_err(fail)?;
        let by_interpreter: Vec<String> = stored
            .iter()
            .zip(&events)
            .filter(|(customer, events)| {
                Facts {
                    customer,
                    events,
                    now: now(),
                }
                .eval(&expr)
            })
            .map(|(c, _)| c.email.clone())
            .collect();
        prop_assert_eq!(
            &by_sql,
            &by_interpreter,
            "rule: {}\nSQL: {}",
            source,
            condition.preview()
        );
        let count = store.count_segment(&condition).await.map_err(fail)?;
        prop_assert_eq!(count as usize, by_sql.len());
    }
    Ok(())
}

/// SQL and the reference interpreter select the same customers for random rules and data.
async fn sql_matches_the_reference_interpreter(engine: Engine) {
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = runtime.block_on(fresh_database_url(engine, dir.path()));
        let store = runtime.block_on(async {
            Store::open(&DatabaseUrl::parse(url).unwrap(), dir.path())
                .await
                .unwrap()
        });
        let config = Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        };
        let strategy = (
            prop::collection::vec(customer(), 0..7),
            rule(false),
            prop::collection::vec(rule(true), RULES_PER_CASE - 1),
        );
        let result = TestRunner::new(config).run(&strategy, |(customers, first, mut rules)| {
            rules.insert(0, first);
            runtime.block_on(sql_equals_interpreter(&store, &customers, &rules))
        });
        runtime.block_on(store.close());
        if let Err(e) = result {
            panic!("{engine:?}: {e}");
        }
    })
    .await
    .unwrap();
}
on_both_databases!(
    sql_matches_the_reference_interpreter,
    sql_matches_the_reference_interpreter
);
