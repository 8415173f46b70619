//! Fires: after downtime only the latest missed fire runs, within the grace period (on an injected
//! clock); and two daemons sharing one database plan each fire once (the real binary, smtp-sink).

mod common;
use common::smtp_sink::SmtpSink;
use common::{Engine, Shop, stderr};
use rapport::clock::Clock;
use rapport::daemon::Planner;
use rapport::timestamp::Timestamp;
use rapport::workspace::Workspace;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

fn at(text: &str) -> Timestamp {
    Timestamp::parse_flexible(text).unwrap()
}

/// A shop of `n` customers (`c0@example.com` …) with `config` after its sender and tracking tables.
async fn shop(engine: Engine, n: usize, config: &str) -> Shop {
    common::shop_with(engine, &common::numbered_customers(n), config).await
}

/// Fire instants of a campaign's runs.
async fn fires(store: &rapport::store::Store, campaign: &str) -> Vec<Timestamp> {
    let runs = store.runs_of(campaign).await.unwrap();
    runs.iter().map(|r| r.scheduled_for).collect()
}

/// A daemon that was down misses fires: on restart only the latest runs, and only if it is at most
/// `[daemon] grace` late; a one-shot time goes if at most the grace late, even if the daemon first
/// sees it after its time, and never if later.
async fn after_downtime_only_the_latest_fire_within_grace_runs(engine: Engine) {
    let config = r#"[daemon]
timezone = "UTC"
grace = "1h"

[[campaign]]
name = "hourly"
segment = "everyone"
template = "winback"
schedule = "0 0 * * * *"

[[campaign]]
name = "once"
segment = "everyone"
template = "winback"
at = "2026-12-01T11:00"

[[campaign]]
name = "added-late"
segment = "everyone"
template = "winback"
at = "2026-12-01T09:15""#;
    let shop = shop(engine, 2, config).await;
    let workspace = Workspace::load(shop.path()).unwrap();
    let store = workspace.open_store().await.unwrap();
    let clock = Clock::manual(at("2026-12-01T09:30:00Z"));
    let planner = || Planner::for_workspace(&workspace, &store, clock.clone());

    planner().run_once().await.unwrap(); // first seen at 09:30: nothing to catch up
    clock.set(at("2026-12-01T10:00:00Z"));
    let mut running = planner();
    running.run_once().await.unwrap();
    assert_eq!(fires(&store, "hourly").await, [at("2026-12-01T10:00:00Z")]);

    // Down from 10:00 to 13:10: 11:00 and 12:00 are skipped, 13:00 (10 minutes late) runs.
    clock.set(at("2026-12-01T13:10:00Z"));
    planner().run_once().await.unwrap();
    // Down again until 15:30 and then 18:30: each time the latest fire, 30 minutes late, runs.
    clock.set(at("2026-12-01T15:30:00Z"));
    planner().run_once().await.unwrap();
    clock.set(at("2026-12-01T18:30:00Z"));
    let step = planner().run_once().await.unwrap();

    let hours = |h: &[u32]| -> Vec<Timestamp> {
        h.iter()
            .map(|h| at(&format!("2026-12-01T{h:02}:00:00Z")))
            .collect()
    };
    assert_eq!(fires(&store, "hourly").await, hours(&[10, 13, 15, 18]));
    assert_eq!(
        fires(&store, "added-late").await,
        [at("2026-12-01T09:15:00Z")],
        "a one-shot first seen 15 minutes after its time still goes, within the grace"
    );
    assert!(
        fires(&store, "once").await.is_empty(),
        "11:00 was missed by more than the grace"
    );
    assert_eq!(
        step.next,
        Some(at("2026-12-01T19:00:00Z")),
        "the planner wakes for the next fire"
    );
    store.close().await;
}
on_both_databases!(
    downtime,
    after_downtime_only_the_latest_fire_within_grace_runs
);

/// Two daemons on one database: every fire has exactly one run, and every customer gets exactly one
/// message per fire, though both daemons deliver.
async fn two_daemons_plan_each_fire_once(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let config = format!(
        "[delivery]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nconcurrency = 2\n\n\
         [[campaign]]\nname = \"pulse\"\nsegment = \"everyone\"\ntemplate = \"winback\"\nschedule = \"*/2 * * * * *\"\n",
        sink.url()
    );
    let shop = shop(engine, 5, &config).await;
    let daemons: Vec<_> = (0..2)
        .map(|_| shop.command(&["daemon", "--no-server"]).spawn().unwrap())
        .collect();
    let store = shop.store().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while fires(&store, "pulse").await.len() < 4 {
        assert!(Instant::now() < deadline, "four fires within a minute");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for mut daemon in daemons {
        unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
        let status = daemon.wait().unwrap();
        let mut log = String::new();
        for line in BufReader::new(daemon.stderr.take().unwrap()).lines() {
            log.push_str(&line.unwrap());
        }
        assert!(status.success(), "{status}: {log}");
        assert!(log.contains("daemon started"), "{log}");
        assert!(
            !log.contains('\x1b'),
            "no colour codes in a log that is not a terminal: {log}"
        );
    }
    let out = shop.rapport(&["send", "pulse"]); // finishes a run planned just before the stop
    assert!(out.status.success(), "{}", stderr(&out));

    let fires = fires(&store, "pulse").await;
    sink.assert_each_fire_reached_everyone_once(&fires, Duration::from_secs(2), 5);
    store.close().await;
}
on_both_databases!(two_daemons, two_daemons_plan_each_fire_once);

/// `rapport check` says when each campaign goes out, and warns about a one-shot time already past,
/// a trigger on an event kind never stored, and a tracking server open to other machines.
async fn check_tells_when_each_campaign_goes_out(engine: Engine) {
    let config = r#"[daemon]
timezone = "America/Los_Angeles"

[[campaign]]
name = "weekly"
segment = "everyone"
template = "winback"
schedule = "0 0 10 * * Tue"

[[campaign]]
name = "launch"
segment = "everyone"
template = "winback"
at = "2026-11-01T10:00"

[[campaign]]
name = "thanks"
trigger = "purchse"
delay = "3d"
template = "winback"
deliver_at = "10:00"

[[campaign]]
name = "manual"
segment = "everyone"
template = "winback""#;
    let config = format!("[courtesy]\nquiet_hours = \"09:30-10:30\"\n\n{config}");
    let shop = shop(engine, 1, &config).await;
    shop.write(
        "events.csv",
        "email,kind,occurred_at\nc0@example.com,purchase,2026-11-20\n",
    );
    assert!(
        shop.rapport(&["import", "events", "events.csv"])
            .status
            .success()
    );
    let toml = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    let open_to_all = "[tracking]\nlisten = \"0.0.0.0:8080\"\n";
    shop.write("rapport.toml", &toml.replace("[tracking]\n", open_to_all));

    let out = shop
        .command(&["check"])
        .env("RAPPORT_CLOCK", "2026-11-27T12:00:00Z")
        .output()
        .unwrap();

    let (text, warnings) = (common::stdout(&out), stderr(&out));
    assert!(
        out.status.success(),
        "warnings do not fail check: {text}{warnings}"
    );
    assert!(
        text.contains(
            "weekly  next fire Tue 2026-12-01 10:00 America/Los_Angeles (2026-12-01 18:00 UTC)"
        ),
        "{text}"
    );
    assert!(
        text.contains("thanks  after each customer's `purchse` event, 3d later, once per customer; delivered at 10:00"),
        "{text}"
    );
    assert!(
        text.contains("manual  only when you run `rapport send`"),
        "{text}"
    );
    assert!(
        warnings.contains("campaign \"launch\": its `at` time has passed"),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            "deliver_at = \"10:00\" falls in the quiet hours (09:30-10:30): every message will wait until 10:30"
        ),
        "{warnings}"
    );
    assert!(
        warnings.contains("no `purchse` event is stored yet (did you mean `purchase`?)"),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            "[tracking] listen = \"0.0.0.0:8080\" accepts connections from other machines"
        ),
        "{warnings}"
    );
}
on_both_databases!(check_when, check_tells_when_each_campaign_goes_out);

/// A segment broken while the daemon runs costs that campaign its fire until it is fixed, not the
/// daemon: the planner logs it, goes on, and plans the fire once the file is fixed (within grace).
async fn a_broken_segment_delays_its_fire_until_fixed(engine: Engine) {
    let config = "[daemon]\ntimezone = \"UTC\"\n\n[[campaign]]\nname = \"hourly\"\nsegment = \"everyone\"\ntemplate = \"winback\"\nschedule = \"0 0 * * * *\"\n";
    let shop = shop(engine, 2, config).await;
    let workspace = Workspace::load(shop.path()).unwrap();
    let store = workspace.open_store().await.unwrap();
    let clock = Clock::manual(at("2026-12-01T09:30:00Z"));
    let mut planner = Planner::for_workspace(&workspace, &store, clock.clone());
    planner.run_once().await.unwrap();

    shop.write("segments/everyone.seg", "email exists and\n");
    clock.set(at("2026-12-01T10:00:00Z"));
    let broken = planner
        .run_once()
        .await
        .expect("the planner survives a broken segment");
    shop.write("segments/everyone.seg", "email exists\n");
    clock.set(at("2026-12-01T10:00:30Z"));
    let fixed = planner.run_once().await.unwrap();

    assert!(broken.fired.is_empty());
    assert_eq!(
        broken.next,
        Some(at("2026-12-01T10:00:30Z")),
        "tried again shortly"
    );
    assert_eq!(fixed.fired.len(), 1);
    assert_eq!(fires(&store, "hourly").await, [at("2026-12-01T10:00:00Z")]);
    store.close().await;
}
on_both_databases!(broken_segment, a_broken_segment_delays_its_fire_until_fixed);
