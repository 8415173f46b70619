//! The delivery ledger on SQLite and PostgreSQL: runs are created once, deliveries are leased before
//! sending, expired leases come back, and suppressions hold per topic.

mod common;
use common::{Engine, fresh_database_url};
use rapport::config::DatabaseUrl;
use rapport::store::deliveries::{self, Mark};
use rapport::store::sent::{SentMessage, record_sent};
use rapport::store::suppressions::{self, ALL_TOPICS, Reason};
use rapport::store::{EngineEvent, Store, runs};
use rapport::timestamp::Timestamp;
use std::time::Duration;

async fn store_with_customers(engine: Engine, n: usize) -> (tempfile::TempDir, Store, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(fresh_database_url(engine, dir.path()).await).unwrap();
    let store = Store::open(&url, dir.path()).await.unwrap();
    let csv: String = std::iter::once("email\n".to_string())
        .chain((0..n).map(|i| format!("c{i}@example.com\n")))
        .collect();
    std::fs::write(dir.path().join("c.csv"), csv).unwrap();
    let source = rapport::import::Source::File(dir.path().join("c.csv"));
    rapport::import::import_customers(&store, &source, &Default::default(), &mut |e| panic!("{e}"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            store
                .customer_by_key(&format!("c{i}@example.com"))
                .await
                .unwrap()
                .unwrap()
                .id,
        );
    }
    (dir, store, ids)
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_790_000_000_000_000 + seconds * 1_000_000).unwrap()
}

/// A run of the campaign `news`, created at instant 0.
async fn news_run(tx: &mut rapport::store::Tx) -> i64 {
    let campaign = runs::campaign_id(tx, "news", at(0)).await.unwrap();
    runs::create_run(tx, campaign, at(0), at(0))
        .await
        .unwrap()
        .unwrap()
}

/// A run exists once per (campaign, scheduled time): a second creation, as by a second daemon, is refused.
async fn runs_are_created_once_per_fire(engine: Engine) {
    let (_dir, store, _) = store_with_customers(engine, 0).await;
    let mut tx = store.begin().await.unwrap();
    let campaign = runs::campaign_id(&mut tx, "winback", at(0)).await.unwrap();
    assert_eq!(
        runs::campaign_id(&mut tx, "winback", at(1)).await.unwrap(),
        campaign
    );

    let first = runs::create_run(&mut tx, campaign, at(100), at(0))
        .await
        .unwrap();
    let again = runs::create_run(&mut tx, campaign, at(100), at(5))
        .await
        .unwrap();
    let next = runs::create_run(&mut tx, campaign, at(200), at(5))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert!(first.is_some());
    assert_eq!(again, None);
    assert!(next.is_some() && next != first);
    let latest = store.latest_run("winback").await.unwrap().unwrap();
    assert_eq!(
        (latest.id, latest.status),
        (next.unwrap(), runs::RunStatus::Planning)
    );
}
on_both_databases!(
    runs_are_created_once_per_fire,
    runs_are_created_once_per_fire
);

/// Claims lease due deliveries once; an expired lease comes back with one more attempt, and the old
/// claim can no longer mark the delivery.
async fn leases_expire_and_come_back(engine: Engine) {
    let (_dir, store, customers) = store_with_customers(engine, 5).await;
    let mut tx = store.begin().await.unwrap();
    let run = news_run(&mut tx).await;
    assert_eq!(
        deliveries::plan(&mut tx, run, &customers, at(0), at(0))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        deliveries::plan(&mut tx, run, &customers, at(0), at(0))
            .await
            .unwrap(),
        0,
        "planning is idempotent"
    );
    let lease = Duration::from_secs(60);

    let first = deliveries::claim_due(&mut tx, run, at(1), lease, 3)
        .await
        .unwrap();
    let second = deliveries::claim_due(&mut tx, run, at(2), lease, 10)
        .await
        .unwrap();
    let while_leased = deliveries::claim_due(&mut tx, run, at(30), lease, 10)
        .await
        .unwrap();
    let after_expiry = deliveries::claim_due(&mut tx, run, at(61), lease, 10)
        .await
        .unwrap();

    assert_eq!((first.len(), second.len(), while_leased.len()), (3, 2, 0));
    assert_eq!(
        after_expiry.iter().map(|c| c.id).collect::<Vec<_>>(),
        first.iter().map(|c| c.id).collect::<Vec<_>>()
    );
    assert!(after_expiry.iter().all(|c| c.attempts == 2));
    assert!(
        !deliveries::mark(&mut tx, &first[0], Mark::Sent, at(63))
            .await
            .unwrap(),
        "a stale claim cannot mark"
    );
    assert!(
        deliveries::mark(&mut tx, &after_expiry[0], Mark::Sent, at(63))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
}
on_both_databases!(leases_expire_and_come_back, leases_expire_and_come_back);

/// Retries wait for their time; failures and skips keep their reasons for the summary.
async fn outcomes_are_recorded_with_reasons(engine: Engine) {
    let (_dir, store, customers) = store_with_customers(engine, 4).await;
    let mut tx = store.begin().await.unwrap();
    let run = news_run(&mut tx).await;
    deliveries::plan(&mut tx, run, &customers, at(0), at(0))
        .await
        .unwrap();
    let claimed = deliveries::claim_due(&mut tx, run, at(1), Duration::from_secs(60), 10)
        .await
        .unwrap();

    deliveries::mark(&mut tx, &claimed[0], Mark::Sent, at(2))
        .await
        .unwrap();
    deliveries::mark(
        &mut tx,
        &claimed[1],
        Mark::Retry {
            at: at(300),
            error: "450 4.3.0",
        },
        at(2),
    )
    .await
    .unwrap();
    deliveries::mark(
        &mut tx,
        &claimed[2],
        Mark::Failed {
            reason: "hard_bounce",
            error: "550 5.1.1",
        },
        at(2),
    )
    .await
    .unwrap();
    deliveries::mark(
        &mut tx,
        &claimed[3],
        Mark::Skipped {
            reason: "suppressed",
        },
        at(2),
    )
    .await
    .unwrap();
    let early = deliveries::claim_due(&mut tx, run, at(299), Duration::from_secs(60), 10)
        .await
        .unwrap();
    let due = deliveries::claim_due(&mut tx, run, at(300), Duration::from_secs(60), 10)
        .await
        .unwrap();
    let counts = deliveries::counts(&mut tx, run).await.unwrap();
    tx.commit().await.unwrap();

    assert!(early.is_empty(), "a retry waits for its time");
    assert_eq!(
        due.iter().map(|c| (c.id, c.attempts)).collect::<Vec<_>>(),
        [(claimed[1].id, 2)]
    );
    let as_text: Vec<String> = counts
        .iter()
        .map(|(s, r, n)| format!("{s}/{}/{n}", r.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(
        as_text,
        [
            "failed/hard_bounce/1",
            "sending/-/1",
            "sent/-/1",
            "skipped/suppressed/1"
        ]
    );
}
on_both_databases!(
    outcomes_are_recorded_with_reasons,
    outcomes_are_recorded_with_reasons
);

/// A worker's stripe: every `of`-th pending delivery from the `index`-th, so that the workers'
/// messages of a moment lie in neighbouring rows; once it is used up, the claim takes the rest.
async fn a_stripe_claims_every_nth_pending_delivery(engine: Engine) {
    let (_dir, store, run) = planned(engine, 10).await;
    let lease = Duration::from_secs(60);
    let stripe = deliveries::Stripe { index: 1, of: 4 };

    let striped = deliveries::claim(&store, run, at(1), lease, 10, Some(stripe))
        .await
        .unwrap();
    let rest = deliveries::claim(&store, run, at(1), lease, 10, Some(stripe))
        .await
        .unwrap();

    assert!(!striped.is_empty());
    assert!(striped.iter().all(|c| c.id % 4 == 1), "{striped:?}");
    assert!(rest.iter().all(|c| c.id % 4 != 1), "{rest:?}");
    assert_eq!(striped.len() + rest.len(), 10);
}
on_both_databases!(
    a_stripe_claims_every_nth_pending_delivery,
    a_stripe_claims_every_nth_pending_delivery
);

/// Workers claiming at once, either way, never get the same delivery.
async fn concurrent_claims_are_disjoint(engine: Engine) {
    let (_dir, store, run) = planned(engine, 200).await;
    let store = std::sync::Arc::new(store);

    // Half the workers claim as the engine does without rate limits (on SQLite through the store's
    // own connection), half inside a transaction of the pool, as it does with them.
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                let lease = Duration::from_secs(60);
                loop {
                    let batch = if worker % 2 == 0 {
                        deliveries::claim(&store, run, at(1), lease, 7, None)
                            .await
                            .unwrap()
                    } else {
                        let mut tx = store.begin().await.unwrap();
                        let batch = deliveries::claim_due(&mut tx, run, at(1), lease, 7)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                        batch
                    };
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|c| c.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }

    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        (total, all.len()),
        (200, 200),
        "every delivery claimed exactly once"
    );
}
on_both_databases!(
    concurrent_claims_are_disjoint,
    concurrent_claims_are_disjoint
);

/// Address-level suppressions cover every topic; topic opt-outs only theirs; undo lifts them.
async fn suppressions_hold_per_topic(engine: Engine) {
    let (_dir, store, _) = store_with_customers(engine, 0).await;
    let mut tx = store.begin().await.unwrap();

    suppressions::suppress(
        &mut tx,
        "ann@example.com",
        "offers",
        Reason::Unsubscribe,
        None,
        at(0),
    )
    .await
    .unwrap();
    suppressions::suppress(
        &mut tx,
        "bo@example.com",
        ALL_TOPICS,
        Reason::HardBounce,
        Some("550 5.1.1"),
        at(0),
    )
    .await
    .unwrap();
    suppressions::suppress(
        &mut tx,
        "bo@example.com",
        "offers",
        Reason::Unsubscribe,
        None,
        at(1),
    )
    .await
    .unwrap();

    let ann_offers = suppressions::suppression_for(&mut tx, "ann@example.com", "offers")
        .await
        .unwrap();
    let ann_news = suppressions::suppression_for(&mut tx, "ann@example.com", "news")
        .await
        .unwrap();
    let bo_offers = suppressions::suppression_for(&mut tx, "bo@example.com", "offers")
        .await
        .unwrap();
    assert_eq!(
        ann_offers,
        Some(("offers".to_string(), "unsubscribe".to_string()))
    );
    assert_eq!(ann_news, None);
    assert_eq!(
        bo_offers,
        Some(("*".to_string(), "hard_bounce".to_string())),
        "the address-level reason comes first"
    );
    assert!(
        suppressions::unsuppress(&mut tx, "ann@example.com", "offers")
            .await
            .unwrap()
    );
    assert_eq!(
        suppressions::suppression_for(&mut tx, "ann@example.com", "offers")
            .await
            .unwrap(),
        None
    );
    tx.commit().await.unwrap();
}
on_both_databases!(suppressions_hold_per_topic, suppressions_hold_per_topic);

/// The indexed claim takes what is due in due order, across pending deliveries, retries that fell
/// due and expired leases, and leaves the rest; marking a group sent touches only claims that hold.
async fn indexed_claims_and_group_marks_respect_due_times_and_leases(engine: Engine) {
    let (_dir, store, customers) = store_with_customers(engine, 6).await;
    let mut tx = store.begin().await.unwrap();
    let run = news_run(&mut tx).await;
    deliveries::plan(&mut tx, run, &customers[..3], at(0), at(0))
        .await
        .unwrap();
    deliveries::plan(&mut tx, run, &customers[3..], at(100), at(0))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let ids = |claims: &[deliveries::Claimed]| claims.iter().map(|c| c.id).collect::<Vec<_>>();

    let first = deliveries::claim_due(&mut tx, run, at(1), lease, 2)
        .await
        .unwrap();
    let second = deliveries::claim_due(&mut tx, run, at(2), lease, 10)
        .await
        .unwrap();
    deliveries::mark(
        &mut tx,
        &first[0],
        Mark::Retry {
            at: at(50),
            error: "450",
        },
        at(3),
    )
    .await
    .unwrap();
    let before_due = deliveries::claim_due(&mut tx, run, at(49), lease, 10)
        .await
        .unwrap();
    let retried_and_expired = deliveries::claim_due(&mut tx, run, at(61), lease, 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let links = ["https://maplethread.example/a".to_string()];
    let sent = |claim| SentMessage {
        claim,
        at: at(70),
        links: &links,
        event: EngineEvent {
            customer_id: 0,
            kind: "email.sent",
            delivery_id: 0,
            occurred_at: at(70),
            properties: Default::default(),
            once_per_delivery: true,
        },
    };
    let (stale, holding) = (&first[1], &retried_and_expired[1]);
    let mut messages = [sent(stale), sent(holding)];
    for m in &mut messages {
        m.event.customer_id = m.claim.customer_id;
        m.event.delivery_id = m.claim.id;
    }
    let held = record_sent(&store, &messages, at(70)).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let later = deliveries::claim_due(&mut tx, run, at(100), lease, 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let planned_first: Vec<i64> = ids(&first).into_iter().chain(ids(&second)).collect();
    assert_eq!(planned_first.len(), 3, "only the three due at 0");
    assert!(before_due.is_empty(), "nothing is due at 49");
    assert_eq!(
        ids(&retried_and_expired),
        [first[0].id, first[1].id],
        "the retry due at 50 and the lease that ran out at 61"
    );
    assert_eq!(
        held,
        [first[1].id],
        "the stale claim marks nothing, the one that holds is sent"
    );
    let link = |id| store.message_link(id, 0);
    assert_eq!(
        link(first[1].id).await.unwrap().as_deref(),
        Some("https://maplethread.example/a"),
        "the sent message's link is stored"
    );
    let events = store
        .events_of_customer(first[1].customer_id, 10)
        .await
        .unwrap();
    let sent_events = events.iter().filter(|e| e.kind == "email.sent").count();
    assert_eq!(sent_events, 1, "one email.sent event for the message sent");
    assert_eq!(
        later.len(),
        4,
        "the three due at 100 and the lease that ran out at 62"
    );
    assert!(
        later
            .iter()
            .all(|c| !planned_first.contains(&c.id) || c.id == second[0].id)
    );
}
on_both_databases!(
    indexed_claims_and_group_marks_respect_due_times_and_leases,
    indexed_claims_and_group_marks_respect_due_times_and_leases
);

/// `message` sent at `at` for `claim`, with `links`.
fn sent_message<'a>(
    claim: &'a deliveries::Claimed,
    links: &'a [String],
    at: Timestamp,
) -> SentMessage<'a> {
    SentMessage {
        claim,
        at,
        links,
        event: EngineEvent {
            customer_id: claim.customer_id,
            kind: "email.sent",
            delivery_id: claim.id,
            occurred_at: at,
            properties: Default::default(),
            once_per_delivery: true,
        },
    }
}

/// `n` customers, each planned in a run of `news` and claimed at instant 1 for a minute.
async fn claimed(
    engine: Engine,
    n: usize,
) -> (tempfile::TempDir, Store, i64, Vec<deliveries::Claimed>) {
    let (dir, store, run) = planned(engine, n).await;
    let mut tx = store.begin().await.unwrap();
    let claims = deliveries::claim_due(&mut tx, run, at(1), Duration::from_secs(60), n as i64)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (dir, store, run, claims)
}

/// `n` customers, each planned at instant 0 in a run of `news`, which is returned.
async fn planned(engine: Engine, n: usize) -> (tempfile::TempDir, Store, i64) {
    let (dir, store, customers) = store_with_customers(engine, n).await;
    let mut tx = store.begin().await.unwrap();
    let run = news_run(&mut tx).await;
    deliveries::plan(&mut tx, run, &customers, at(0), at(0))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (dir, store, run)
}

/// A message with more links than one statement can bind (9,000 links, 36,000 values) keeps them all.
async fn a_message_with_thousands_of_links_keeps_them_all(engine: Engine) {
    let (_dir, store, _run, claims) = claimed(engine, 1).await;
    let links: Vec<String> = (0..9000)
        .map(|i| format!("https://maplethread.example/p/{i}"))
        .collect();

    let held = record_sent(&store, &[sent_message(&claims[0], &links, at(2))], at(2))
        .await
        .unwrap();

    assert_eq!(held, [claims[0].id]);
    let last = store.message_link(claims[0].id, 8999).await.unwrap();
    assert_eq!(last.as_deref(), Some("https://maplethread.example/p/8999"));
}
on_both_databases!(
    a_message_with_thousands_of_links_keeps_them_all,
    a_message_with_thousands_of_links_keeps_them_all
);

/// A recording abandoned as soon as it started (a shutdown out of time drops it) leaves no
/// transaction open: the next write goes through, and the message is recorded wholly or not at all.
async fn an_abandoned_recording_leaves_the_database_writable(engine: Engine) {
    let (_dir, store, run, claims) = claimed(engine, 2).await;
    let links = ["https://maplethread.example/a".to_string()];
    record_sent(&store, &[sent_message(&claims[0], &links, at(2))], at(2))
        .await
        .unwrap();

    let abandoned = tokio::time::timeout(
        Duration::ZERO,
        record_sent(&store, &[sent_message(&claims[1], &links, at(3))], at(3)),
    )
    .await;
    let mut tx = store.begin().await.unwrap();
    suppressions::suppress(
        &mut tx,
        "c0@example.com",
        ALL_TOPICS,
        Reason::Unsubscribe,
        None,
        at(4),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Whether the script had begun, or even ended, when it was dropped depends on the connection's
    // thread: either way the database must be writable and the message recorded wholly or not at all.
    let _ = abandoned;
    let delivery = store
        .delivery_for(run, claims[1].customer_id)
        .await
        .unwrap()
        .unwrap();
    let events = store
        .events_of_customer(claims[1].customer_id, 10)
        .await
        .unwrap();
    assert_eq!(
        delivery.status == "sent",
        events.iter().any(|e| e.kind == "email.sent"),
        "marked sent exactly when its event was recorded"
    );
}
on_both_databases!(
    an_abandoned_recording_leaves_the_database_writable,
    an_abandoned_recording_leaves_the_database_writable
);
