//! Local-time delivery, quiet hours, triggered campaigns and the rounds a run is delivered in,
//! driven step by step through the daemon's planner and courier with an injected clock (no
//! sleeps), on SQLite and PostgreSQL.

mod common;
use common::{Engine, Shop, stderr, stdout};
use rapport::campaign::{Links, Pass, Passed, Round, deliver_pass};
use rapport::clock::Clock;
use rapport::daemon::{CampaignComposers, Courier, Planner};
use rapport::store::Store;
use rapport::template::Library;
use rapport::timestamp::Timestamp;
use rapport::workspace::Workspace;
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_flexible(text).unwrap()
}

/// A shop with one customer in each of Los Angeles, Paris and Tokyo, and one without a zone (the
/// default, New York), sending to the outbox; `courtesy` and `campaign` are appended to its config.
async fn shop(engine: Engine, courtesy: &str, campaigns: &str) -> Shop {
    let customers = "email,first_name,timezone\nla@example.com,Lou,America/Los_Angeles\n\
         paris@example.com,Pia,Europe/Paris\ntokyo@example.com,Taro,Asia/Tokyo\nnone@example.com,Noa,\n";
    let config = format!(
        "[daemon]\ntimezone = \"UTC\"\n\n[courtesy]\ndefault_timezone = \"America/New_York\"\n{courtesy}\n\n{campaigns}"
    );
    common::shop_with(engine, customers, &config).await
}

/// Binds the workspace of `shop`, its store, a manual clock started at `start`, and the daemon's
/// planner and courier on that clock.
macro_rules! engine {
    ($shop:expr, $start:expr => $workspace:ident, $store:ident, $planner:ident, $courier:ident, $clock:ident) => {
        let $workspace = Workspace::load($shop.path()).unwrap();
        let (library, _) = Library::load(&$workspace.templates_dir()).unwrap();
        let campaigns = CampaignComposers::new(&$workspace, &library).unwrap();
        let $store = $workspace.open_store().await.unwrap();
        let $clock = Clock::manual($start);
        #[allow(unused_mut)]
        let mut $planner = Planner::for_workspace(&$workspace, &$store, $clock.clone());
        let mut $courier = Courier::new(&$workspace, &$store, &campaigns.composers, $clock.clone());
    };
}

/// Runs the planner and the courier once at the clock's time; returns the outbox's message count.
async fn step(planner: &mut Planner<'_>, courier: &mut Courier<'_>, shop: &Shop) -> usize {
    planner.run_once().await.expect("plan");
    courier
        .run_once(&CancellationToken::new())
        .await
        .expect("deliver");
    std::fs::read_dir(shop.path().join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Due times of the campaign's runs' deliveries, by address.
async fn due_times(store: &Store, campaign: &str) -> BTreeMap<String, Timestamp> {
    let mut due = BTreeMap::new();
    for run in store.runs_of(campaign).await.unwrap() {
        for d in store.run_deliveries(run.id).await.unwrap() {
            due.insert(d.email, d.due_at);
        }
    }
    due
}

/// `deliver_at = "10:00"`: each recipient's message is due at the next 10:00 of their own zone, and
/// goes out then, not before.
async fn local_time_delivery_in_three_zones(engine: Engine) {
    let campaign = r#"[[campaign]]
name = "morning"
segment = "everyone"
template = "winback"
at = "2026-12-01T12:00"
deliver_at = "10:00""#;
    let shop = shop(engine, "", campaign).await;
    engine!(shop, at("2026-12-01T11:00:00Z") => workspace, store, planner, courier, clock);
    step(&mut planner, &mut courier, &shop).await; // the campaign is first seen before its time

    clock.set(at("2026-12-01T12:00:00Z"));
    assert_eq!(
        step(&mut planner, &mut courier, &shop).await,
        0,
        "nobody is at 10:00 yet"
    );

    let due = due_times(&store, "morning").await;
    assert_eq!(
        due["la@example.com"],
        at("2026-12-01T18:00:00Z"),
        "10:00 in Los Angeles (UTC-8)"
    );
    assert_eq!(
        due["paris@example.com"],
        at("2026-12-02T09:00:00Z"),
        "10:00 tomorrow in Paris (UTC+1)"
    );
    assert_eq!(
        due["tokyo@example.com"],
        at("2026-12-02T01:00:00Z"),
        "10:00 tomorrow in Tokyo (UTC+9)"
    );
    assert_eq!(
        due["none@example.com"],
        at("2026-12-01T15:00:00Z"),
        "the default zone, New York (UTC-5)"
    );

    for (now, sent) in [
        ("2026-12-01T14:59:59Z", 0),
        ("2026-12-01T15:00:00Z", 1),
        ("2026-12-01T18:00:00Z", 2),
        ("2026-12-02T01:00:00Z", 3),
        ("2026-12-02T08:59:00Z", 3),
        ("2026-12-02T09:00:00Z", 4),
    ] {
        clock.set(at(now));
        assert_eq!(
            step(&mut planner, &mut courier, &shop).await,
            sent,
            "messages out by {now}"
        );
    }
    let run = &store.runs_of("morning").await.unwrap()[0];
    assert_eq!(run.scheduled_for, at("2026-12-01T12:00:00Z"));
    assert_eq!(run.status, rapport::store::runs::RunStatus::Finished);
    store.close().await;
}
on_both_databases!(local_time, local_time_delivery_in_three_zones);

/// Quiet hours (21:00-08:00 in each recipient's zone) hold a noon UTC fire for the recipients whose
/// night it is, until their morning; the others get it at once.
async fn quiet_hours_defer_to_each_recipients_morning(engine: Engine) {
    let campaign = r#"[[campaign]]
name = "noon"
segment = "everyone"
template = "winback"
schedule = "0 0 12 * * *""#;
    let shop = shop(engine, "quiet_hours = \"21:00-08:00\"", campaign).await;
    engine!(shop, at("2026-12-01T11:59:00Z") => workspace, store, planner, courier, clock);
    step(&mut planner, &mut courier, &shop).await;

    clock.set(at("2026-12-01T12:00:00Z"));
    assert_eq!(
        step(&mut planner, &mut courier, &shop).await,
        1,
        "Paris (13:00) gets it at once"
    );
    let due = due_times(&store, "noon").await;
    assert_eq!(
        due["la@example.com"],
        at("2026-12-01T16:00:00Z"),
        "04:00 in LA: at 08:00 there"
    );
    assert_eq!(
        due["none@example.com"],
        at("2026-12-01T13:00:00Z"),
        "07:00 in New York: at 08:00"
    );
    assert_eq!(
        due["tokyo@example.com"],
        at("2026-12-01T23:00:00Z"),
        "21:00 in Tokyo: 08:00 tomorrow"
    );

    for (now, sent) in [
        ("2026-12-01T13:00:00Z", 2),
        ("2026-12-01T16:00:00Z", 3),
        ("2026-12-01T22:59:00Z", 3),
        ("2026-12-01T23:00:00Z", 4),
    ] {
        clock.set(at(now));
        assert_eq!(
            step(&mut planner, &mut courier, &shop).await,
            sent,
            "messages out by {now}"
        );
    }
    // The next day's fire is a new run of its own: Paris at once again, the others wait again.
    clock.set(at("2026-12-02T12:00:00Z"));
    assert_eq!(step(&mut planner, &mut courier, &shop).await, 5);
    let runs = store.runs_of("noon").await.unwrap();
    assert_eq!(runs.len(), 2, "one run per fire");
    let second = store.run_deliveries(runs[1].id).await.unwrap();
    assert_eq!(second.len(), 4, "each customer once in the new run");
    store.close().await;
}
on_both_databases!(quiet_hours, quiet_hours_defer_to_each_recipients_morning);

/// A triggered campaign writes to a customer once, `delay` after their first purchase, only if the
/// segment filter holds then, and never again for that customer.
async fn a_triggered_campaign_sends_once_per_customer_after_the_delay(engine: Engine) {
    let campaign = r#"[[campaign]]
name = "thank-you"
trigger = "purchase"
delay = "3d"
segment = "first_purchase"
template = "winback"
topic = "orders""#;
    let shop = shop(engine, "", campaign).await;
    // The clock starts at the real now: events are stamped with the real time when imported.
    let start = Timestamp::from_micros(Timestamp::now().micros() / 1_000_000 * 1_000_000).unwrap();
    engine!(shop, start => workspace, store, planner, courier, clock);
    step(&mut planner, &mut courier, &shop).await; // the campaign begins here

    let hours = |h: i64| Timestamp::from(start.datetime() + chrono::Duration::hours(h));
    let import = |rows: &[(&str, Timestamp)]| {
        let mut csv = String::from("email,kind,occurred_at,amount\n");
        for (email, when) in rows {
            csv.push_str(&format!(
                "{email},purchase,{},20\n",
                when.datetime().to_rfc3339()
            ));
        }
        shop.write("events.csv", &csv);
        let out = shop.rapport(&["import", "events", "events.csv"]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    import(&[
        ("paris@example.com", hours(1)),   // a first purchase: thanked
        ("tokyo@example.com", hours(-48)), // before the campaign began: not a trigger
        ("la@example.com", hours(1)),      // two purchases: not a first-time buyer
        ("la@example.com", hours(2)),
    ]);
    clock.set(hours(3));
    assert_eq!(
        step(&mut planner, &mut courier, &shop).await,
        0,
        "not before the delay"
    );
    let due = due_times(&store, "thank-you").await;
    assert_eq!(due.keys().collect::<Vec<_>>(), ["paris@example.com"]);
    assert_eq!(
        due["paris@example.com"],
        hours(1 + 72),
        "three days after the purchase"
    );

    clock.set(hours(1 + 72));
    assert_eq!(
        step(&mut planner, &mut courier, &shop).await,
        1,
        "thanked after three days"
    );

    // Another purchase, and a restarted planner (it rescans every event): still one message.
    import(&[("paris@example.com", hours(80))]);
    let mut planner = Planner::for_workspace(&workspace, &store, clock.clone());
    clock.set(hours(200));
    assert_eq!(
        step(&mut planner, &mut courier, &shop).await,
        1,
        "never twice"
    );
    // A new customer's first purchase, seen by the running planner at its next look.
    import(&[("none@example.com", hours(201))]);
    clock.set(hours(201 + 72));
    assert_eq!(step(&mut planner, &mut courier, &shop).await, 2);
    store.close().await;
}
on_both_databases!(
    triggered,
    a_triggered_campaign_sends_once_per_customer_after_the_delay
);

/// The delay counts from the event that brings the customer into the segment: with "three purchases
/// or more", from the third purchase, not from the first.
async fn a_triggered_delay_counts_from_the_event_that_qualifies(engine: Engine) {
    let campaign = r#"[[campaign]]
name = "loyal"
trigger = "purchase"
delay = "1d"
segment = "third_purchase"
template = "winback"
topic = "orders""#;
    let shop = shop(engine, "", campaign).await;
    shop.write("segments/third_purchase.seg", "purchase.count() >= 3\n");
    let start = Timestamp::from_micros(Timestamp::now().micros() / 1_000_000 * 1_000_000).unwrap();
    engine!(shop, start => workspace, store, planner, courier, clock);
    step(&mut planner, &mut courier, &shop).await; // the campaign begins here

    let hours = |h: i64| Timestamp::from(start.datetime() + chrono::Duration::hours(h));
    let import = |when: Timestamp| {
        let csv = format!(
            "email,kind,occurred_at,amount\nparis@example.com,purchase,{},20\n",
            when.datetime().to_rfc3339()
        );
        shop.write("events.csv", &csv);
        let out = shop.rapport(&["import", "events", "events.csv"]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    for (bought, seen) in [(1, 2), (3, 4), (30, 31)] {
        import(hours(bought));
        clock.set(hours(seen));
        step(&mut planner, &mut courier, &shop).await;
    }

    let due = due_times(&store, "loyal").await;
    assert_eq!(
        due["paris@example.com"],
        hours(30 + 24),
        "a day after the third purchase"
    );
    store.close().await;
}
on_both_databases!(
    triggered_delay,
    a_triggered_delay_counts_from_the_event_that_qualifies
);

/// Runs the real binary with its clock started at `now`.
fn rapport_at(shop: &Shop, now: &str, args: &[&str]) -> std::process::Output {
    shop.command(args)
        .env("RAPPORT_CLOCK", now)
        .output()
        .expect("run rapport")
}

/// Quiet hours bind `rapport send` too: those in their night wait, the summary says how many and
/// until when, and preview tells each customer's decision.
async fn send_and_preview_respect_the_quiet_hours(engine: Engine) {
    let campaign = "[[campaign]]\nname = \"news\"\nsegment = \"everyone\"\ntemplate = \"winback\"\ntopic = \"news\"";
    let shop = shop(engine, "quiet_hours = \"21:00-08:00\"", campaign).await;
    let store = shop.store().await;
    let mut tx = store.begin().await.unwrap();
    rapport::store::suppressions::suppress(
        &mut tx,
        "tokyo@example.com",
        rapport::store::suppressions::ALL_TOPICS,
        rapport::store::suppressions::Reason::HardBounce,
        None,
        Timestamp::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let noon = "2026-12-01T12:00:00Z";

    let la = rapport_at(&shop, noon, &["preview", "news", "--to", "la@example.com"]);
    let paris = rapport_at(
        &shop,
        noon,
        &[
            "preview",
            "news",
            "--to",
            "paris@example.com",
            "--part",
            "subject",
        ],
    );
    let tokyo = rapport_at(
        &shop,
        noon,
        &["preview", "news", "--to", "tokyo@example.com"],
    );
    let dry = rapport_at(&shop, noon, &["send", "news", "--dry-run"]);
    let sent = rapport_at(&shop, noon, &["send", "news"]);
    let waiting = shop.rapport(&["customer", "la@example.com"]);
    let later = rapport_at(&shop, "2026-12-01T16:00:01Z", &["send", "news"]);
    let last = rapport_at(&shop, "2026-12-01T23:00:00Z", &["send", "news"]);

    assert!(
        stdout(&la).trim_end().ends_with(
            "send decision now: deferred until 2026-12-01 08:00 America/Los_Angeles (2026-12-01 16:00 UTC): quiet hours"
        ),
        "{}",
        stdout(&la)
    );
    assert!(
        stderr(&paris).contains("send decision now: sent at once"),
        "{}",
        stderr(&paris)
    );
    assert!(
        !stdout(&paris).contains("decision"),
        "a single part stays clean for piping"
    );
    assert!(
        stdout(&tokyo).contains("send decision now: skipped: suppressed"),
        "{}",
        stdout(&tokyo)
    );

    assert!(
        stdout(&dry).contains("deferred: 2 would wait for the end of their quiet hours (the first until 2026-12-01 13:00 UTC)"),
        "{}",
        stdout(&dry)
    );
    let summary = stdout(&sent);
    assert!(
        summary.contains("  sent             1\n"),
        "Paris only: {summary}"
    );
    assert!(
        summary.contains("waiting          3  (3 not yet sent, 0 to retry, 0 in flight; the next is due at 2026-12-01 13:00 UTC)"),
        "New York, Los Angeles and Tokyo wait for their morning: {summary}"
    );
    assert!(
        stdout(&waiting).contains("Emails waiting to be sent\nCAMPAIGN  RUN  STATUS   DUE\nnews        1  pending  2026-12-01 16:00 UTC"),
        "the customer page shows the waiting email: {}",
        stdout(&waiting)
    );
    let summary = stdout(&later);
    assert!(summary.contains("  sent             3\n"), "{summary}");
    assert!(
        summary.contains("the next is due at 2026-12-01 23:00 UTC"),
        "Tokyo's morning: {summary}"
    );
    let summary = stdout(&last);
    assert!(
        summary.contains("skipped          1  (suppressed 1)"),
        "checked when due: {summary}"
    );
    assert!(!summary.contains("waiting"), "{summary}");
    store.close().await;
}
on_both_databases!(quiet_send, send_and_preview_respect_the_quiet_hours);

/// A message planned outside the quiet hours but sent inside them (the run was late) is held back
/// at the moment of sending until the morning, and goes then.
async fn quiet_hours_hold_at_the_moment_of_sending(engine: Engine) {
    let campaign = "[[campaign]]\nname = \"evening\"\nsegment = \"everyone\"\ntemplate = \"winback\"\nat = \"2026-12-01T19:59\"";
    let shop = shop(engine, "quiet_hours = \"21:00-08:00\"", campaign).await;
    engine!(shop, at("2026-12-01T19:00:00Z") => workspace, store, planner, courier, clock);
    planner.run_once().await.unwrap();
    clock.set(at("2026-12-01T19:59:00Z")); // 20:59 in Paris: not quiet yet
    planner.run_once().await.unwrap();
    let paris_due = due_times(&store, "evening").await["paris@example.com"];

    clock.set(at("2026-12-01T20:30:00Z")); // 21:30 in Paris: the courier comes late
    let sent_late = step(&mut planner, &mut courier, &shop).await;
    let paris_deferred = due_times(&store, "evening").await["paris@example.com"];
    clock.set(at("2026-12-02T07:00:00Z")); // 08:00 in Paris
    step(&mut planner, &mut courier, &shop).await;
    let run = &store.runs_of("evening").await.unwrap()[0];
    let paris = store
        .run_deliveries(run.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.email == "paris@example.com")
        .unwrap();

    assert_eq!(
        paris_due,
        at("2026-12-01T19:59:00Z"),
        "due at once when planned"
    );
    assert_eq!(
        sent_late, 2,
        "Los Angeles (12:30) and New York (15:30) go; Paris, in its night by now, waits"
    );
    assert_eq!(
        paris_deferred,
        at("2026-12-02T07:00:00Z"),
        "held until 08:00 Paris"
    );
    assert_eq!(paris.status, "sent");
    assert_eq!(paris.sent_at, Some(at("2026-12-02T07:00:00Z")));
    store.close().await;
}
on_both_databases!(
    quiet_at_send_time,
    quiet_hours_hold_at_the_moment_of_sending
);

/// A run paused by the relay (a 5xx before any recipient: our setup is refused) goes back to the
/// daemon once a send gets through, with its deferred messages still to be sent.
async fn a_paused_run_resumes_with_its_waiting_messages(engine: Engine) {
    let refusing = common::smtp_sink::SmtpSink::start(&["-f", "mail"]);
    let campaign = format!(
        "[delivery]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nconcurrency = 1\n\n\
         [[campaign]]\nname = \"news\"\nsegment = \"everyone\"\ntemplate = \"winback\"",
        refusing.url()
    );
    let shop = shop(engine, "quiet_hours = \"21:00-08:00\"", &campaign).await;
    let store = shop.store().await;
    let noon = "2026-12-01T12:00:00Z";

    let paused = rapport_at(&shop, noon, &["send", "news"]);
    let status_paused = store.runs_of("news").await.unwrap()[0].status;
    let addr = refusing.addr;
    drop(refusing);
    let healthy = common::smtp_sink::SmtpSink::start_on(addr, &[]);
    let resumed = rapport_at(&shop, noon, &["send", "news"]);
    let status_resumed = store.runs_of("news").await.unwrap()[0].status;

    use rapport::store::runs::RunStatus;
    assert!(!paused.status.success(), "{}", stdout(&paused));
    assert_eq!(status_paused, RunStatus::Paused);
    assert!(
        resumed.status.success(),
        "{}{}",
        stdout(&resumed),
        stderr(&resumed)
    );
    assert_eq!(healthy.messages().len(), 1, "Paris, whose afternoon it is");
    assert_eq!(
        status_resumed,
        RunStatus::Sending,
        "the three waiting for their morning are the daemon's to send"
    );
    store.close().await;
}
on_both_databases!(
    paused_resumes,
    a_paused_run_resumes_with_its_waiting_messages
);

/// Binds the workspace of `shop`, its store, its campaigns' composers and a manual clock at
/// `start`, with what is due at `start` planned.
macro_rules! planned {
    ($shop:expr, $start:expr => $workspace:ident, $store:ident, $campaigns:ident, $clock:ident) => {
        let $workspace = Workspace::load($shop.path()).unwrap();
        let (library, _) = Library::load(&$workspace.templates_dir()).unwrap();
        let $campaigns = CampaignComposers::new(&$workspace, &library).unwrap();
        let $store = $workspace.open_store().await.unwrap();
        let $clock = Clock::manual($start);
        Planner::for_workspace(&$workspace, &$store, $clock.clone())
            .run_once()
            .await
            .unwrap();
    };
}

/// One pass over the run of the campaign `name`, as the daemon makes them (no waiting), within
/// `limit` and `round`.
async fn pass_over_run(
    workspace: &Workspace,
    store: &Store,
    campaigns: &CampaignComposers<'_>,
    clock: &Clock,
    (name, limit, round): (&str, Option<i64>, Option<Round>),
    links: &mut Links,
) -> Passed {
    let campaign = (workspace.config.campaigns.iter())
        .find(|c| c.name() == name)
        .unwrap();
    let run = store.runs_of(campaign.name()).await.unwrap()[0].id;
    let pass = Pass {
        limit,
        round,
        wait: std::time::Duration::ZERO,
        wait_for_rate: std::time::Duration::ZERO,
        cancel: CancellationToken::new(),
        clock: clock.clone(),
        on_progress: &|| {},
        summarize_rounds: false,
    };
    let composer = &campaigns.composers[campaign.name()];
    deliver_pass(workspace, store, campaign, composer, run, &pass, links)
        .await
        .unwrap()
}

/// The daemon delivers a run in rounds, and goes on at once after a round only when the round was
/// used up: a pass that reaches its limit says so; one that delivered everything due does not; nor
/// does one whose claims all went back unsent (a lease too short to send within), which would
/// otherwise loop without pause.
async fn a_pass_says_when_it_used_its_whole_round(engine: Engine) {
    for (lease, limit, delivered, used_up) in [
        ("10m", 3, 3, true),
        ("10m", 10, 4, false),
        ("1s", 3, 0, false),
    ] {
        let campaign = format!(
            "[delivery]\nlease = \"{lease}\"\n\n[[campaign]]\nname = \"news\"\nsegment = \"everyone\"\n\
             template = \"winback\"\nat = \"2026-12-01T12:00\""
        );
        let shop = shop(engine, "", &campaign).await;
        planned!(shop, at("2026-12-01T12:00:00Z") => workspace, store, campaigns, clock);

        let within = ("news", Some(limit), None);
        let mut links = Links::default();
        let passed =
            pass_over_run(&workspace, &store, &campaigns, &clock, within, &mut links).await;

        let outbox = std::fs::read_dir(shop.path().join("outbox")).map_or(0, |d| d.count());
        assert_eq!(
            (outbox, passed.used_its_round),
            (delivered, used_up),
            "lease {lease}, limit {limit}"
        );
    }
}
on_both_databases!(
    a_pass_says_when_it_used_its_whole_round,
    a_pass_says_when_it_used_its_whole_round
);

/// A round of `ms` milliseconds that gives way to the runs of `campaigns`.
fn round(ms: u64, campaigns: &[&str]) -> Option<Round> {
    Some(Round {
        every: std::time::Duration::from_millis(ms),
        campaigns: campaigns.iter().map(|c| c.to_string()).collect(),
    })
}

/// The shop with two campaigns, `news` and `offers`, both fired at noon, sent by `concurrency`
/// workers through a relay that takes a second per message (its RCPT reply is delayed).
async fn news_and_offers_on_a_slow_relay(
    engine: Engine,
    concurrency: usize,
) -> (Shop, common::smtp_sink::SmtpSink) {
    let slow = common::smtp_sink::SmtpSink::start(&["-W", "rcpt:1", "-p"]);
    let campaign = |name: &str| {
        format!(
            "\n\n[[campaign]]\nname = \"{name}\"\nsegment = \"everyone\"\ntemplate = \"winback\"\n\
             at = \"2026-12-01T12:00\""
        )
    };
    let config = format!(
        "[delivery]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nconcurrency = {concurrency}{}{}",
        slow.url(),
        campaign("news"),
        campaign("offers")
    );
    (shop(engine, "", &config).await, slow)
}

/// A round ends on time when another run is due: the worker finishes the message it is sending,
/// gives back what it claimed and did not send (due again at once, not leased), and the pass says
/// it used its round. A run alone goes on past its round.
async fn a_round_ends_on_time_when_another_run_is_due(engine: Engine) {
    // Each message takes a second; the round is half of that.
    let (shop, slow) = news_and_offers_on_a_slow_relay(engine, 1).await;
    planned!(shop, at("2026-12-01T12:00:00Z") => workspace, store, campaigns, clock);
    let news = store.runs_of("news").await.unwrap()[0].id;
    let statuses = async || -> Vec<String> {
        let deliveries = store.run_deliveries(news).await.unwrap();
        deliveries.into_iter().map(|d| d.status).collect()
    };
    // The passes share their links, as the daemon's rounds do.
    let mut links = Links::default();
    let half_a_second = round(500, &["news", "offers"]);

    // As if offers had been removed from rapport.toml: news does not give way to its run.
    let offers_removed = ("news", Some(2), round(500, &["news"]));
    pass_over_run(
        &workspace,
        &store,
        &campaigns,
        &clock,
        offers_removed,
        &mut links,
    )
    .await;
    let past_its_round = statuses().await;
    let with_offers_due = pass_over_run(
        &workspace,
        &store,
        &campaigns,
        &clock,
        ("news", None, half_a_second.clone()),
        &mut links,
    )
    .await;
    let after_round = statuses().await;
    let all = ("offers", None, None);
    pass_over_run(&workspace, &store, &campaigns, &clock, all, &mut links).await;
    let alone = ("news", None, half_a_second);
    let alone = pass_over_run(&workspace, &store, &campaigns, &clock, alone, &mut links).await;
    links.close().await;

    let count = |of: &[String], status: &str| of.iter().filter(|s| *s == status).count();
    assert_eq!(
        count(&past_its_round, "sent"),
        2,
        "with offers removed, news went on past its round to its limit: {past_its_round:?}"
    );
    assert_eq!(
        (count(&after_round, "sent"), count(&after_round, "pending")),
        (3, 1),
        "after the round: {after_round:?}"
    );
    assert!(with_offers_due.used_its_round);
    assert_eq!(
        statuses().await,
        ["sent"; 4],
        "alone, news went on past its round"
    );
    assert!(!alone.used_its_round);
    assert_eq!(slow.messages().len(), 8, "every customer once per campaign");
    store.close().await;
}
on_both_databases!(
    a_round_ends_on_time,
    a_round_ends_on_time_when_another_run_is_due
);

/// A pass whose round ends just as it sends the run's last messages marks the run finished: the
/// daemon never comes back to a run with nothing due, so it would otherwise stay "sending".
async fn a_run_that_ends_with_its_round_is_finished(engine: Engine) {
    // Four workers, one message each, a second per message; the round is half of that.
    let (shop, slow) = news_and_offers_on_a_slow_relay(engine, 4).await;
    planned!(shop, at("2026-12-01T12:00:00Z") => workspace, store, campaigns, clock);
    let mut links = Links::default();

    let within = ("news", None, round(500, &["news", "offers"]));
    let passed = pass_over_run(&workspace, &store, &campaigns, &clock, within, &mut links).await;
    links.close().await;

    use rapport::store::runs::RunStatus;
    assert!(passed.used_its_round, "offers was due when the round ended");
    assert_eq!(slow.messages().len(), 4);
    assert_eq!(
        store.runs_of("news").await.unwrap()[0].status,
        RunStatus::Finished
    );
    store.close().await;
}
on_both_databases!(
    a_run_ending_with_its_round,
    a_run_that_ends_with_its_round_is_finished
);

/// Under a rate limit, a daemon step does not wait for the limit: it stops and says when the limit
/// allows the next message. Transactional campaigns go first, so a receipt takes the room before a
/// newsletter planned at the same time.
async fn transactional_mail_goes_first_under_a_rate_limit(engine: Engine) {
    let sink = common::smtp_sink::SmtpSink::start(&[]);
    let campaigns = format!(
        "[delivery]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nconcurrency = 1\nrate = \"2/min\"\n\n\
         [[campaign]]\nname = \"news\"\nsegment = \"everyone\"\ntemplate = \"winback\"\nat = \"2026-12-01T12:00\"\n\n\
         [[campaign]]\nname = \"receipt\"\nsegment = \"everyone\"\ntemplate = \"winback\"\nat = \"2026-12-01T12:00\"\n\
         transactional = true",
        sink.url()
    );
    let shop = shop(engine, "", &campaigns).await;
    engine!(shop, at("2026-12-01T12:00:00Z") => workspace, store, planner, courier, clock);
    planner.run_once().await.unwrap();
    let sent_of = async |campaign: &str| {
        let run = store.runs_of(campaign).await.unwrap()[0].id;
        let deliveries = store.run_deliveries(run).await.unwrap();
        deliveries.iter().filter(|d| d.status == "sent").count()
    };

    let mut steps = Vec::new();
    for _ in 0..4 {
        // A step never waits for the limits: it says when they allow the next message.
        let step = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            courier.run_once(&CancellationToken::new()),
        )
        .await
        .expect("a step that does not wait for the rate limit")
        .unwrap();
        steps.push((sent_of("receipt").await, sent_of("news").await, step.next));
        if let Some(next) = step.next {
            clock.set(next);
        }
    }

    let minute = |m: u32| Some(at(&format!("2026-12-01T12:0{m}:00Z")));
    assert_eq!(
        steps,
        [
            (2, 0, minute(1)),
            (4, 0, minute(2)),
            (4, 2, minute(3)),
            (4, 4, None)
        ],
        "(receipts sent, newsletters sent, next step) after each step"
    );
    assert_eq!(sink.messages().len(), 8);
    courier.close().await;
    store.close().await;
}
on_both_databases!(
    transactional_first,
    transactional_mail_goes_first_under_a_rate_limit
);
