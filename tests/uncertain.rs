//! A message whose connection broke after its final "." is `uncertain`: the relay had all of it and
//! most likely delivered it. Rapport must never over-mail, so it counts such a message as sent: the
//! weekly cap and segments see its `email.sent` event, and the rate limits its send time. The real
//! binary against a relay (Postfix's smtp-sink) that hangs up after the final ".", and the ledger
//! itself, on SQLite and PostgreSQL.

mod common;
use common::smtp_sink::{SmtpSink, refusing_port};
use common::{Engine, Shop, stderr, stdout};
use rapport::store::deliveries::{self, Mark};
use rapport::timestamp::Timestamp;
use std::net::SocketAddr;
use std::time::Duration;

/// A shop of `n` customers and two marketing campaigns of everyone, `news` and `more-news`,
/// sending through a relay at `relay`; `extra` is added to `[delivery]`, `courtesy` to `[courtesy]`.
async fn shop(engine: Engine, n: usize, relay: SocketAddr, extra: &str, courtesy: &str) -> Shop {
    let config = format!(
        r#"[delivery]
transport = "smtp"
smtp_url = "smtp://{relay}"
concurrency = 1
{extra}

[courtesy]
{courtesy}

[[campaign]]
name = "news"
segment = "everyone"
template = "winback"
topic = "news"

[[campaign]]
name = "more-news"
segment = "everyone"
template = "winback"
topic = "news"
"#
    );
    common::shop_with(engine, &common::numbered_customers(n), &config).await
}

/// The figure on the summary line `label` (`sent`, `skipped`, `uncertain`) and what follows it in
/// parentheses, e.g. `(3, "weekly_cap 3")`.
fn figure(out: &std::process::Output, label: &str) -> (i64, String) {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{text}{}", stderr(out)));
    let n = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let reasons = line
        .split_once('(')
        .map(|(_, r)| r.trim_end_matches(')').to_string())
        .unwrap_or_default();
    (n, reasons)
}

/// A relay that hangs up after each final ".", so that every message attempted ends uncertain.
fn hanging_up() -> SmtpSink {
    SmtpSink::start(&["-q", "."])
}

/// Sends `campaign` through the `hanging_up` relay, then puts a healthy relay at its address.
/// Returns how many ended uncertain, and the healthy relay.
fn send_uncertain(shop: &Shop, hanging_up: SmtpSink, campaign: &str) -> (i64, SmtpSink) {
    let relay = hanging_up.addr;
    let out = shop.rapport(&["send", campaign, "--wait-retries", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(hanging_up);
    (figure(&out, "uncertain").0, SmtpSink::start_on(relay, &[]))
}

/// With `max_per_week = 1`, customers whose one marketing email this week ended uncertain are
/// skipped by the next campaign for the weekly cap, as if it had been sent; its `email.sent` event
/// says it was uncertain, and segments count it.
async fn an_uncertain_email_counts_towards_the_weekly_cap(engine: Engine) {
    let relay = hanging_up();
    let shop = shop(engine, 3, relay.addr, "", "max_per_week = 1").await;
    shop.write("segments/mailed.seg", "email.sent.count(7d) >= 1\n");

    let (uncertain, healthy) = send_uncertain(&shop, relay, "news");
    let more = shop.rapport(&["send", "more-news"]);
    let mailed = shop.rapport(&["segment", "count", "mailed"]);

    assert_eq!(uncertain, 3);
    assert!(more.status.success(), "{}", stderr(&more));
    assert_eq!(
        figure(&more, "skipped"),
        (3, "weekly_cap 3".to_string()),
        "{}",
        stdout(&more)
    );
    assert!(healthy.messages().is_empty(), "nobody got a second email");
    assert_eq!(stdout(&mailed).trim(), "3", "{}", stderr(&mailed));
    let store = shop.store().await;
    let customer = store.customer_by_key("c0@example.com").await.unwrap();
    let events = store.events_of_customer(customer.unwrap().id, 10).await;
    let sent: Vec<_> = events
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "email.sent")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let properties = &sent[0].properties.0;
    assert_eq!(properties.get("uncertain"), Some(&true.into()), "{sent:?}");
    assert_eq!(properties.get("campaign"), Some(&"news".into()), "{sent:?}");
    store.close().await;
}
on_both_databases!(
    uncertain_weekly_cap,
    an_uncertain_email_counts_towards_the_weekly_cap
);

/// Under `rate = "1/hour"`, a message that ended uncertain takes the hour's one slot: the next
/// send, in a process of its own, sends nothing and says when the next message may go.
async fn an_uncertain_email_takes_up_the_rate_limit(engine: Engine) {
    let relay = hanging_up();
    let shop = shop(engine, 3, relay.addr, "rate = \"1/hour\"", "").await;

    let (uncertain, healthy) = send_uncertain(&shop, relay, "news");
    let again = shop.rapport(&["send", "news", "--wait-retries", "0"]);

    assert_eq!(uncertain, 1, "the first send took the hour's slot itself");
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(figure(&again, "sent").0, 0, "{}", stdout(&again));
    assert!(
        stderr(&again).contains("the sending rate limit is reached: the next message may go at"),
        "{}",
        stderr(&again)
    );
    assert!(healthy.messages().is_empty(), "nothing more in that hour");
}
on_both_databases!(
    uncertain_rate_limit,
    an_uncertain_email_takes_up_the_rate_limit
);

/// What `limit` leaves at `now`, read in a transaction of its own (as a sender reads it).
async fn capacity(
    store: &rapport::store::Store,
    limit: rapport::config::Rate,
    lease: Duration,
    now: Timestamp,
) -> deliveries::RateCapacity {
    let mut tx = store.begin().await.unwrap();
    let capacity = deliveries::rate_capacity(&mut tx, &[limit], lease, now).await;
    tx.rollback().await.unwrap();
    capacity.unwrap()
}

/// In the ledger: an uncertain delivery is counted in the rate limits' windows from its time of
/// attempt, and leaves them once that window has passed.
async fn the_ledger_counts_uncertain_deliveries_in_the_rate_windows(engine: Engine) {
    let (_bound, nowhere) = refusing_port();
    let shop = shop(engine, 2, nowhere, "", "").await;
    let planned = shop.rapport(&["send", "news", "--limit", "0"]);
    assert!(planned.status.success(), "{}", stderr(&planned));
    let store = shop.store().await;
    let run = store.latest_run("news").await.unwrap().unwrap();
    let start = Timestamp::now();
    let at = |seconds: i64| Timestamp::from_micros(start.micros() + seconds * 1_000_000).unwrap();
    let (attempted, later) = (at(0), at(600));
    let lease = Duration::from_secs(60);
    let hourly = rapport::config::Rate {
        count: 1,
        per: Duration::from_secs(3600),
    };

    let mut tx = store.begin().await.unwrap();
    let claimed = deliveries::claim_due(&mut tx, run.id, attempted, lease, 1)
        .await
        .unwrap();
    let error = "outcome unknown: no reply after the final \".\"";
    let marked = deliveries::mark(&mut tx, &claimed[0], Mark::Uncertain { error }, attempted);
    assert!(marked.await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let history = deliveries::sent_since(&mut tx, at(-1), 10).await;
    tx.commit().await.unwrap();
    let within = capacity(&store, hourly, lease, later).await;
    let past = capacity(&store, hourly, lease, at(3601)).await;

    assert_eq!(history.unwrap(), [attempted]);
    assert_eq!(within.free, 0, "{within:?}");
    assert_eq!(within.wait, Some(Duration::from_secs(3000)), "{within:?}");
    assert_eq!(past.free, 1, "{past:?}");
    store.close().await;
}
on_both_databases!(
    uncertain_in_the_ledger,
    the_ledger_counts_uncertain_deliveries_in_the_rate_windows
);
