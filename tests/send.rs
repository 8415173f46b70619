//! `rapport send` end to end: the real binary, a real SMTP server (Postfix's smtp-sink) with injected
//! faults, and the ledger on SQLite and PostgreSQL.

mod common;
use common::dkim_verifier::{as_received, dkim_verifies};
use common::smtp_sink::SmtpSink;
use common::{Engine, Shop, stderr, stdout};

/// A shop of `n` customers (`c0@example.com` … named `First0` …), a segment of everyone, and a
/// campaign `news` sending through `sink`.
async fn shop(engine: Engine, n: usize, sink: &SmtpSink, courtesy: &str) -> Shop {
    let config = format!(
        r#"[delivery]
transport = "smtp"
smtp_url = "{}"
concurrency = 4
retry_after = "1s"
lease = "3s"

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

[[campaign]]
name = "untracked"
segment = "everyone"
template = "winback"
topic = "news"
track_opens = false
track_clicks = false

[[campaign]]
name = "receipt"
segment = "everyone"
template = "winback"
topic = "orders"
transactional = true
"#,
        sink.url()
    );
    common::shop_with(engine, &common::numbered_customers(n), &config).await
}

/// The figure on the summary line `label` (`sent`, `skipped`, `failed`) and its reasons, e.g.
/// `(10, "hard_bounce 10")`.
fn figure(out: &std::process::Output, label: &str) -> (i64, String) {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{text}{}", stderr(out)));
    let mut words = line.split_whitespace().skip(1);
    let n = words.next().unwrap().parse().unwrap();
    let reasons = line
        .split_once('(')
        .map(|(_, r)| r.trim_end_matches(')').to_string())
        .unwrap_or_default();
    (n, reasons)
}

/// The value of `header` in a raw message (first occurrence, folded lines joined).
fn header(text: &str, name: &str) -> Option<String> {
    let mut lines = text.split("\n").map(|l| l.trim_end_matches('\r'));
    let start = lines.position(|l| {
        l.to_ascii_lowercase()
            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
    })?;
    let all: Vec<&str> = text.split("\n").map(|l| l.trim_end_matches('\r')).collect();
    let mut value = all[start][name.len() + 1..].trim().to_string();
    for continuation in all[start + 1..]
        .iter()
        .take_while(|l| l.starts_with(' ') || l.starts_with('\t'))
    {
        value.push(' ');
        value.push_str(continuation.trim());
    }
    Some(value)
}

/// Every member gets exactly one message, addressed and written to them, with one-click unsubscribe.
async fn a_campaign_reaches_every_member_once(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let shop = shop(engine, 300, &sink, "").await;

    let out = shop.rapport(&["send", "news"]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(figure(&out, "sent").0, 300);
    let counts = sink.per_recipient();
    assert_eq!(counts.len(), 300);
    assert!(counts.values().all(|n| *n == 1), "nobody gets two messages");
    let messages = sink.messages();
    let mut unsubscribe_links = std::collections::HashSet::new();
    for message in &messages {
        let to = &message.recipients[0];
        let i: usize = to
            .trim_start_matches('c')
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            message.text.contains(&format!("Hello First{i},")),
            "personalized for {to}"
        );
        assert_eq!(
            header(&message.text, "List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        let link = header(&message.text, "List-Unsubscribe").expect("List-Unsubscribe");
        assert!(
            link.starts_with("<https://mail.maplethread.example/u/") && link.contains("<mailto:"),
            "{link}"
        );
        unsubscribe_links.insert(link);
    }
    assert_eq!(
        unsubscribe_links.len(),
        300,
        "each message carries its own unsubscribe link"
    );

    let store = shop.store().await;
    let link = store
        .message_link(1, 0)
        .await
        .unwrap()
        .expect("the first link of the first message is stored");
    assert!(link.starts_with("https://"), "{link}");
    assert_eq!(store.message_link(1, 999).await.unwrap(), None);
    store.close().await;

    let again = shop.rapport(&["send", "news"]);
    assert!(
        stdout(&again).contains("finished") && stdout(&again).contains("--new-run"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        sink.messages().len(),
        300,
        "pressing up-arrow and enter sends nothing twice"
    );
}
on_both_databases!(
    a_campaign_reaches_every_member_once,
    a_campaign_reaches_every_member_once
);

/// 4xx at RCPT: every delivery waits for a retry, and arrives once the server accepts mail again.
async fn temporary_refusals_are_retried_until_delivered(engine: Engine) {
    let failing = SmtpSink::start(&["-r", "rcpt"]);
    let shop = shop(engine, 20, &failing, "").await;

    let first = shop.rapport(&["send", "news", "--wait-retries", "0"]);
    let addr = failing.addr;
    drop(failing);
    let healthy = SmtpSink::start_on(addr, &[]);
    let second = shop.rapport(&["send", "news", "--wait-retries", "30"]);

    assert!(stdout(&first).contains("20 to retry"), "{}", stdout(&first));
    assert_eq!(figure(&second, "sent").0, 20);
    let counts = healthy.per_recipient();
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|n| *n == 1));
}
on_both_databases!(
    temporary_refusals_are_retried_until_delivered,
    temporary_refusals_are_retried_until_delivered
);

/// 5xx at RCPT: the deliveries fail as hard bounces, the addresses are suppressed, and a new run
/// skips them.
async fn hard_bounces_are_suppressed(engine: Engine) {
    let bouncing = SmtpSink::start(&["-f", "rcpt"]);
    let shop = shop(engine, 10, &bouncing, "").await;

    let first = shop.rapport(&["send", "news"]);
    let addr = bouncing.addr;
    drop(bouncing);
    let healthy = SmtpSink::start_on(addr, &[]);
    let second = shop.rapport(&["send", "news", "--new-run"]);

    assert_eq!(figure(&first, "failed"), (10, "hard_bounce 10".to_string()));
    assert_eq!(
        figure(&second, "skipped"),
        (10, "suppressed 10".to_string())
    );
    assert!(
        healthy.messages().is_empty(),
        "no message to a bounced address"
    );
}
on_both_databases!(hard_bounces_are_suppressed, hard_bounces_are_suppressed);

/// Connections dropped in the middle of the transaction lose nothing: the messages are retried.
async fn dropped_connections_lose_nothing(engine: Engine) {
    let dropping = SmtpSink::start(&["-q", "rcpt"]);
    let shop = shop(engine, 12, &dropping, "").await;

    shop.rapport(&["send", "news", "--wait-retries", "0"]);
    let addr = dropping.addr;
    drop(dropping);
    let healthy = SmtpSink::start_on(addr, &[]);
    let out = shop.rapport(&["send", "news", "--wait-retries", "30"]);

    assert!(out.status.success(), "{}", stderr(&out));
    let counts = healthy.per_recipient();
    assert_eq!(counts.len(), 12, "{}", stdout(&out));
    assert!(counts.values().all(|n| *n == 1));
}
on_both_databases!(
    dropped_connections_lose_nothing,
    dropped_connections_lose_nothing
);

/// An unsubscribe recorded while a run is under way stops the messages not sent yet.
async fn an_unsubscribe_mid_run_stops_later_messages(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let shop = shop(engine, 30, &sink, "").await;

    let first = shop.rapport(&["send", "news", "--limit", "5"]);
    let store = shop.store().await;
    let mut tx = store.begin().await.unwrap();
    for i in 0..30 {
        let key = format!("c{i}@example.com");
        rapport::store::suppressions::suppress(
            &mut tx,
            &key,
            "news",
            rapport::store::suppressions::Reason::Unsubscribe,
            None,
            rapport::timestamp::Timestamp::now(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;
    let second = shop.rapport(&["send", "news"]);

    assert!(
        stdout(&first).contains("25 not yet sent"),
        "{}",
        stdout(&first)
    );
    assert_eq!(figure(&second, "skipped"), (25, "opted_out 25".to_string()));
    assert_eq!(sink.messages().len(), 5);
}
on_both_databases!(
    an_unsubscribe_mid_run_stops_later_messages,
    an_unsubscribe_mid_run_stops_later_messages
);

/// The weekly cap counts emails from every campaign.
async fn the_weekly_cap_skips_customers_already_mailed(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let shop = shop(engine, 8, &sink, "max_per_week = 1").await;

    shop.rapport(&["send", "news"]);
    let second = shop.rapport(&["send", "more-news"]);

    assert_eq!(figure(&second, "skipped"), (8, "weekly_cap 8".to_string()));
    assert_eq!(sink.messages().len(), 8);
}
on_both_databases!(
    the_weekly_cap_skips_customers_already_mailed,
    the_weekly_cap_skips_customers_already_mailed
);

/// A transactional campaign goes past the weekly cap, and does not count towards it.
async fn transactional_mail_is_outside_the_weekly_cap(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let shop = shop(engine, 8, &sink, "max_per_week = 1").await;

    let receipt = shop.rapport(&["send", "receipt"]);
    let news = shop.rapport(&["send", "news"]);
    let receipt_again = shop.rapport(&["send", "receipt", "--new-run"]);
    let more_news = shop.rapport(&["send", "more-news"]);

    assert_eq!(figure(&receipt, "sent").0, 8);
    assert_eq!(
        figure(&news, "sent").0,
        8,
        "the receipts did not count towards the cap"
    );
    assert_eq!(
        figure(&receipt_again, "sent").0,
        8,
        "the cap, reached by the news, does not hold back a receipt"
    );
    assert_eq!(
        figure(&more_news, "skipped"),
        (8, "weekly_cap 8".to_string())
    );
    assert_eq!(sink.messages().len(), 24);
}
on_both_databases!(
    transactional_mail_is_outside_the_weekly_cap,
    transactional_mail_is_outside_the_weekly_cap
);

/// An unsubscribe the owner records by hand (say, from a mailto request) stops later mail: from
/// everything, or from one topic; a second one says it was already recorded.
async fn an_unsubscribe_recorded_by_hand_stops_mail(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let shop = shop(engine, 4, &sink, "").await;

    let everything = shop.rapport(&["customer", "c0@example.com", "--unsubscribe"]);
    let news_only = shop.rapport(&[
        "customer",
        "C1@example.com",
        "--unsubscribe",
        "--topic",
        "news",
    ]);
    let again = shop.rapport(&["customer", "c0@example.com", "--unsubscribe"]);
    let news = shop.rapport(&["send", "news"]);
    let receipt = shop.rapport(&["send", "receipt"]);

    assert!(everything.status.success(), "{}", stderr(&everything));
    assert!(
        stdout(&everything).contains("c0@example.com is unsubscribed from every email."),
        "{}",
        stdout(&everything)
    );
    assert!(
        stdout(&everything).contains("email.unsubscribed"),
        "{}",
        stdout(&everything)
    );
    assert!(stdout(&news_only).contains("is unsubscribed from the topic \"news\"."));
    assert!(stdout(&again).contains("was already unsubscribed from every email."));
    assert_eq!(figure(&news, "sent").0, 2);
    assert_eq!(
        figure(&news, "skipped"),
        (2, "opted_out 1, suppressed 1".to_string())
    );
    assert_eq!(figure(&receipt, "sent").0, 3, "c1 left only the news");
    assert_eq!(sink.messages().len(), 5);
}
on_both_databases!(
    an_unsubscribe_recorded_by_hand_stops_mail,
    an_unsubscribe_recorded_by_hand_stops_mail
);

/// Sets `[delivery] rate` of the shop (one limit, e.g. "6/hour").
fn set_rate(shop: &Shop, rate: &str) {
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    shop.write(
        "rapport.toml",
        &config.replace(
            "concurrency = 4",
            &format!("concurrency = 4\nrate = \"{rate}\""),
        ),
    );
}

/// kill -9 in the middle of a run, then `send` again: everyone gets the message, and duplicates are
/// at most the messages in flight (the concurrency).
#[tokio::test]
async fn a_killed_send_resumes_without_loss() {
    let sink = SmtpSink::start(&[]);
    let shop = shop(Engine::Sqlite, 2000, &sink, "").await;
    let mut child = shop.command(&["send", "news"]).spawn().unwrap();
    sink.wait_for(300);

    child.kill().unwrap();
    child.wait().unwrap();
    let before_resume = sink.messages().len();
    let resumed = shop.rapport(&["send", "news"]);

    assert!(
        before_resume < 2000,
        "the kill came before the end ({before_resume} sent)"
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let counts = sink.per_recipient();
    assert_eq!(counts.len(), 2000, "every member got the message");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= 4,
        "{duplicates} duplicates, more than the 4 in flight"
    );
    // Read as another program would, through SQLite's own file access rather than rapport's.
    let db = rusqlite::Connection::open_with_flags_and_vfs(
        shop.path().join("test.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        "unix",
    )
    .unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok", "the database is intact after the kill");
    let sent: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(sent, 2000, "every delivery is recorded as sent");
}

/// `stats` counts each run's outcomes and, among the sent messages, the opened and clicked ones.
async fn stats_report_outcomes_and_engagement(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let shop = shop(engine, 10, &sink, "").await;
    shop.rapport(&["send", "news"]);
    let store = shop.store().await;
    let mut tx = store.begin().await.unwrap();
    for (kind, delivery) in [
        ("email.opened", 1),
        ("email.opened", 1),
        ("email.opened", 2),
        ("email.clicked", 2),
    ] {
        let customer_id: i64 = 1 + delivery; // any customer: stats count deliveries, not customers
        let event = rapport::store::EngineEvent {
            customer_id,
            kind,
            delivery_id: delivery,
            occurred_at: rapport::timestamp::Timestamp::now(),
            properties: serde_json::Map::new(),
            once_per_delivery: false,
        };
        rapport::store::events::record_engine_event(
            &mut tx,
            &event,
            rapport::timestamp::Timestamp::now(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;

    let out = shop.rapport(&["stats", "news"]);

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("news "))
        .unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = row
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        &cells[4..],
        ["10", "0", "0", "2 (20.0%)", "1 (10.0%)", "0 (0.0%)"],
        "{text}"
    );
}
on_both_databases!(
    stats_report_outcomes_and_engagement,
    stats_report_outcomes_and_engagement
);

/// A campaign with tracking switched off has no open pixel and its links go straight to the shop.
#[tokio::test]
async fn tracking_can_be_switched_off_per_campaign() {
    let sink = SmtpSink::start(&[]);
    let shop = shop(Engine::Sqlite, 2, &sink, "").await;

    let out = shop.rapport(&["send", "untracked"]);

    assert!(out.status.success(), "{}", stderr(&out));
    for message in sink.messages() {
        let text = message.text.replace("=\r\n", "").replace("=3D", "=");
        assert!(
            !text.contains("https://mail.maplethread.example/o/"),
            "no open pixel: {text}"
        );
        assert!(
            !text.contains("https://mail.maplethread.example/c/"),
            "no click tracking: {text}"
        );
        assert!(
            text.contains("https://maplethread.example/new?utm_campaign=untracked"),
            "{text}"
        );
        assert!(
            text.contains("https://mail.maplethread.example/u/"),
            "unsubscribing still works: {text}"
        );
    }
}

/// The Ed25519 key of the DKIM tests: its 32-byte seed.
fn ed25519_seed() -> [u8; 32] {
    std::array::from_fn(|i| i as u8 * 7 + 1)
}

/// `config` with a `[dkim]` section for `domain`, the key in dkim.key.
fn with_dkim(config: &str, selector: &str, domain: &str, algorithm: &str) -> String {
    format!(
        "{config}\n[dkim]\nselector = \"{selector}\"\ndomain = \"{domain}\"\nprivate_key = \"dkim.key\"\nalgorithm = \"{algorithm}\"\n"
    )
}

/// With `[dkim]`, every message carries a signature for the shop's domain that covers the one-click
/// unsubscribe headers, and that a receiver verifies: Ed25519 (RFC 8463) here, RSA below.
#[tokio::test]
async fn messages_are_dkim_signed_over_the_unsubscribe_headers() {
    use base64::Engine as _;
    let seed = ed25519_seed();
    use ring::signature::KeyPair as _;
    let public = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let b64 = base64::engine::general_purpose::STANDARD;
    let record = format!("v=DKIM1; k=ed25519; p={}", b64.encode(public));

    let signatures = send_signed(&b64.encode(seed), "ed25519", &record).await;

    for signature in signatures {
        assert!(signature.contains("a=ed25519-sha256"), "{signature}");
        assert!(
            signature.contains("d=maplethread.example") && signature.contains("s=rapport"),
            "{signature}"
        );
        let signed: Vec<String> = signature
            .split(';')
            .find_map(|tag| tag.trim().strip_prefix("h="))
            .unwrap()
            .split(':')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        assert_eq!(
            signed.iter().filter(|h| *h == "from").count(),
            2,
            "From is signed once more than it appears: {signature}"
        );
        for required in [
            "from",
            "to",
            "subject",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "message-id",
        ] {
            assert!(
                signed.contains(&required.to_string()),
                "{required} is signed: {signature}"
            );
        }
    }
}

/// RSA signatures (the kind every receiver checks) verify too, from a PKCS#8 key as from PKCS#1.
/// lettre's signer, used before, failed here: it left the multipart Content-Type out of the hash.
#[tokio::test]
async fn rsa_signatures_verify_at_the_receiver() {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;
    let pem = include_str!("fixtures/dkim/rsa2048.pem");
    let public = rsa::RsaPrivateKey::from_pkcs1_pem(pem)
        .unwrap()
        .to_public_key()
        .to_public_key_der()
        .unwrap();
    use base64::Engine as _;
    let record = format!(
        "v=DKIM1; k=rsa; p={}",
        base64::engine::general_purpose::STANDARD.encode(public.as_bytes())
    );
    for key in [pem, include_str!("fixtures/dkim/rsa2048.pkcs8.pem")] {
        let signatures = send_signed(key, "rsa", &record).await;
        assert!(signatures.iter().all(|s| s.contains("a=rsa-sha256")));
    }
}

/// Sends the news to three customers with `[dkim]` set to `key` for `algorithm`, checks that each
/// message's signature verifies against the DNS `record` as a receiver would, and returns the
/// signatures.
async fn send_signed(key: &str, algorithm: &str, record: &str) -> Vec<String> {
    let sink = SmtpSink::start(&[]);
    let shop = shop(Engine::Sqlite, 3, &sink, "").await;
    shop.write("dkim.key", key);
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    shop.write(
        "rapport.toml",
        &with_dkim(&config, "rapport", "maplethread.example", algorithm),
    );

    let out = shop.rapport(&["send", "news"]);

    assert!(out.status.success(), "{}", stderr(&out));
    let messages = sink.messages();
    assert_eq!(messages.len(), 3);
    messages
        .iter()
        .map(|message| {
            if let Err(log) = dkim_verifies(&as_received(&message.text), record) {
                panic!("the signature does not verify:\n{log}\n{}", message.text);
            }
            header(&message.text, "DKIM-Signature").expect("signed")
        })
        .collect()
}

/// A key that cannot be read stops the send before anything is planned, naming the file.
#[tokio::test]
async fn a_bad_dkim_key_is_reported_with_its_file() {
    let sink = SmtpSink::start(&[]);
    let shop = shop(Engine::Sqlite, 1, &sink, "").await;
    shop.write("dkim.key", "not a key");
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    shop.write(
        "rapport.toml",
        &with_dkim(&config, "s", "maplethread.example", "rsa"),
    );

    let out = shop.rapport(&["send", "news"]);

    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("dkim.key is not a valid rsa key"),
        "{}",
        stderr(&out)
    );
    assert!(sink.messages().is_empty());
    assert!(
        shop.store()
            .await
            .latest_run("news")
            .await
            .unwrap()
            .is_none(),
        "nothing was planned"
    );
    let check = shop.rapport(&["check"]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "check finds the bad key before a send would"
    );
    assert!(
        stderr(&check).contains("dkim.key is not a valid rsa key"),
        "{}",
        stderr(&check)
    );
}

/// A signing domain other than the sender's is legal but useless for DMARC: `check` warns, and
/// still passes.
#[tokio::test]
async fn check_warns_when_the_dkim_domain_is_not_the_senders() {
    let sink = SmtpSink::start(&[]);
    let shop = shop(Engine::Sqlite, 1, &sink, "").await;
    use base64::Engine as _;
    shop.write(
        "dkim.key",
        &base64::engine::general_purpose::STANDARD.encode(ed25519_seed()),
    );
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    let with = |domain: &str| with_dkim(&config, "s", domain, "ed25519");

    shop.write("rapport.toml", &with("elsewhere.example"));
    let other = shop.rapport(&["check"]);
    shop.write("rapport.toml", &with("maplethread.example"));
    let same = shop.rapport(&["check"]);

    assert!(other.status.success(), "{}", stderr(&other));
    assert!(
        stderr(&other).contains(
            "warning: [dkim] domain = \"elsewhere.example\" is not the domain of sender.from \
             (maplethread.example): receivers that apply DMARC will not count the signature\n  \
             = hint: sign for \"maplethread.example\" (publish the key under \
             s._domainkey.maplethread.example)"
        ),
        "{}",
        stderr(&other)
    );
    assert!(same.status.success(), "{}", stderr(&same));
    assert!(
        !stderr(&same).contains("[dkim] domain"),
        "{}",
        stderr(&same)
    );
}

/// SIGTERM in the middle of a run: the messages in flight finish and are recorded, the exit code is
/// 0, the summary says what remains, and the next send delivers the rest with no duplicate.
#[tokio::test]
async fn sigterm_stops_gracefully_without_duplicates() {
    // `-p`: smtp-sink's `-W` answers pipelined commands out of order (DATA before the delayed RCPT).
    let slow = SmtpSink::start(&["-W", "rcpt:1", "-p"]);
    let shop = shop(Engine::Sqlite, 40, &slow, "").await;
    let child = shop.command(&["send", "news"]).spawn().unwrap();
    slow.wait_for(4);

    // SAFETY: sending SIGTERM to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let stopped = child.wait_with_output().unwrap();
    let delivered_before = slow.messages().len();
    let addr = slow.addr;
    drop(slow);
    let fast = SmtpSink::start_on(addr, &[]);
    let resumed = shop.rapport(&["send", "news"]);

    assert_eq!(stopped.status.code(), Some(0), "{}", stderr(&stopped));
    let (sent_before, _) = figure(&stopped, "sent");
    assert_eq!(
        sent_before as usize, delivered_before,
        "every message that arrived was recorded as sent"
    );
    assert!(stdout(&stopped).contains("waiting"), "{}", stdout(&stopped));
    assert_eq!(figure(&resumed, "sent").0, 40, "{}", stdout(&resumed));
    assert_eq!(
        fast.messages().len() + delivered_before,
        40,
        "no message twice, none lost"
    );
}

/// Rate limits count what was actually sent, across sends: a limit reached in one send still holds in
/// the next, which sends nothing until the window allows it, and says when that will be.
#[tokio::test]
async fn rate_limits_hold_across_sends() {
    let sink = SmtpSink::start(&[]);
    let shop = shop(Engine::Sqlite, 5, &sink, "").await;
    set_rate(&shop, "2/hour");

    let first = shop.rapport(&["send", "news"]);
    let second = shop.rapport(&["send", "news"]);

    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(figure(&first, "sent").0, 2, "{}", stdout(&first));
    assert!(
        stderr(&first).contains("the sending rate limit is reached: the next message may go at"),
        "{}",
        stderr(&first)
    );
    assert!(
        stdout(&first).contains("3 not yet sent"),
        "{}",
        stdout(&first)
    );
    assert_eq!(
        figure(&second, "sent").0,
        2,
        "the second send sends nothing: {}",
        stdout(&second)
    );
    assert_eq!(sink.messages().len(), 2);
}

/// Two sends at once, of two campaigns, share the limits: together they send no more than the
/// limit allows, although each began with an empty window.
async fn concurrent_sends_share_the_rate_limits(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let shop = shop(engine, 20, &sink, "").await;
    set_rate(&shop, "6/hour");

    let news = shop.command(&["send", "news"]).spawn().unwrap();
    let more = shop.command(&["send", "more-news"]).spawn().unwrap();
    let (news, more) = (
        news.wait_with_output().unwrap(),
        more.wait_with_output().unwrap(),
    );

    for out in [&news, &more] {
        assert!(out.status.success(), "{}", stderr(out));
    }
    let sent = figure(&news, "sent").0 + figure(&more, "sent").0;
    assert_eq!(
        sent,
        6,
        "news: {}{}\nmore-news: {}{}",
        stdout(&news),
        stderr(&news),
        stdout(&more),
        stderr(&more)
    );
    assert_eq!(sink.messages().len(), 6);
}
on_both_databases!(
    concurrent_sends_share_rate,
    concurrent_sends_share_the_rate_limits
);

/// Messages that another sender claimed and does not send (it crashed, say) take up the limits until
/// their lease runs out: a send then waits no longer than `--wait-retries`, and says why.
#[tokio::test]
async fn claims_held_elsewhere_take_up_the_limits_and_the_send_says_so() {
    let sink = SmtpSink::start(&[]);
    let shop = shop(Engine::Sqlite, 5, &sink, "").await;
    set_rate(&shop, "3/hour");
    let planned = shop.rapport(&["send", "more-news", "--limit", "0"]);
    assert!(planned.status.success(), "{}", stderr(&planned));
    let store = shop.store().await;
    let run = store.latest_run("more-news").await.unwrap().unwrap();
    let mut tx = store.begin().await.unwrap();
    let now = rapport::timestamp::Timestamp::now();
    let hour = std::time::Duration::from_secs(3600);
    let held = rapport::store::deliveries::claim_due(&mut tx, run.id, now, hour, 3)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(held.len(), 3);

    let started = std::time::Instant::now();
    let out = shop.rapport(&["send", "news", "--wait-retries", "2"]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(figure(&out, "sent").0, 0, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("taken up by messages claimed and not yet sent"),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the send gave up after about --wait-retries, not the lease"
    );
    assert!(sink.messages().is_empty());
    store.close().await;
}

/// A dry run renders everyone, reports skips and fallbacks, and records and sends nothing.
async fn a_dry_run_reports_and_records_nothing(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let shop = shop(engine, 6, &sink, "").await;
    shop.write("more.csv", "email\nnameless@example.com\n");
    shop.rapport(&["import", "customers", "more.csv"]);
    let store = shop.store().await;
    let mut tx = store.begin().await.unwrap();
    let now = rapport::timestamp::Timestamp::now();
    rapport::store::suppressions::suppress(
        &mut tx,
        "c0@example.com",
        "*",
        rapport::store::suppressions::Reason::HardBounce,
        None,
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store.close().await;

    let out = shop.rapport(&["send", "news", "--dry-run"]);

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("dry run of campaign news: 7 in the segment, 6 would be sent"),
        "{text}"
    );
    assert!(
        text.contains("skipped: 1 suppressed: c0@example.com\n"),
        "{text}"
    );
    assert!(text.contains("fallback: 1 have no first name"), "{text}");
    assert!(text.contains("fallback: 6 have no time zone"), "{text}");
    assert!(sink.messages().is_empty());
    assert!(
        shop.store()
            .await
            .latest_run("news")
            .await
            .unwrap()
            .is_none(),
        "no run recorded"
    );
}
on_both_databases!(
    a_dry_run_reports_and_records_nothing,
    a_dry_run_reports_and_records_nothing
);

/// What a [`RefusingRelay`] answers to RCPT for an address: a whole reply line, or `None` to accept.
type Refusal = dyn Fn(&str) -> Option<&'static str> + Send + Sync;

/// A relay on loopback that refuses some recipients at RCPT, as `refusal` says, and takes the
/// other messages, remembering both. One thread per connection, no PIPELINING: what smtp-sink
/// cannot do, a reply chosen by recipient.
struct RefusingRelay {
    addr: std::net::SocketAddr,
    delivered: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    refused: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RefusingRelay {
    fn start(refusal: std::sync::Arc<Refusal>) -> RefusingRelay {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = RefusingRelay {
            addr: listener.local_addr().unwrap(),
            delivered: Default::default(),
            refused: Default::default(),
        };
        let (delivered, refused) = (relay.delivered.clone(), relay.refused.clone());
        std::thread::spawn(move || {
            for socket in listener.incoming() {
                let Ok(socket) = socket else { return };
                let (delivered, refused, refusal) =
                    (delivered.clone(), refused.clone(), refusal.clone());
                std::thread::spawn(move || {
                    let mut out = socket.try_clone().unwrap();
                    let mut lines = BufReader::new(socket);
                    let mut reply = |text: &str| out.write_all(text.as_bytes()).is_ok();
                    reply("220 relay.example ESMTP\r\n");
                    let mut recipient = String::new();
                    let mut line = String::new();
                    while {
                        line.clear();
                        lines.read_line(&mut line).unwrap_or(0) > 0
                    } {
                        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                        let ok = match verb.as_str() {
                            "EHLO" => reply("250-relay.example\r\n250 8BITMIME\r\n"),
                            "RCPT" => {
                                recipient =
                                    line.split(['<', '>']).nth(1).unwrap_or_default().into();
                                match refusal(&recipient) {
                                    Some(refusing) => {
                                        refused.lock().unwrap().push(recipient.clone());
                                        reply(&format!("{refusing}\r\n"))
                                    }
                                    None => reply("250 2.1.5 ok\r\n"),
                                }
                            }
                            "DATA" => {
                                reply("354 go ahead\r\n");
                                while {
                                    line.clear();
                                    lines.read_line(&mut line).unwrap_or(0) > 0 && line != ".\r\n"
                                } {}
                                // A connection dropped before the final "." delivers nothing.
                                if line != ".\r\n" {
                                    return;
                                }
                                delivered.lock().unwrap().push(recipient.clone());
                                reply("250 2.0.0 queued\r\n")
                            }
                            "QUIT" => {
                                reply("221 bye\r\n");
                                false
                            }
                            _ => reply("250 ok\r\n"),
                        };
                        if !ok {
                            return;
                        }
                    }
                });
            }
        });
        relay
    }

    fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }
}

/// Policy rejections (5.7.x: DMARC, a blocklist) say that the shop's own setup is wrong: the
/// messages fail, nobody is suppressed for them, and once ten pile up the run pauses with a warning
/// instead of failing everyone. A mailbox error (5.1.1) still suppresses its address. Once the setup
/// is fixed, the paused run goes on, and the customers refused for policy get the next run's mail.
async fn policy_rejections_pause_the_run_and_suppress_nobody(engine: Engine) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let fixed = std::sync::Arc::new(AtomicBool::new(false));
    let setup_fixed = fixed.clone();
    let refusing = RefusingRelay::start(std::sync::Arc::new(move |address: &str| {
        let n: usize = address
            .trim_start_matches('c')
            .split('@')
            .next()?
            .parse()
            .ok()?;
        match n {
            0 => Some("550 5.1.1 no such user"),
            1..=20 if !setup_fixed.load(Ordering::SeqCst) => {
                Some("550 5.7.1 message rejected: sender not authorized (DMARC)")
            }
            _ => None,
        }
    }));
    // One worker: at most one more message is refused once the tenth refusal pauses the run.
    let shop = common::shop_with(
        engine,
        &common::numbered_customers(30),
        &format!(
            "[delivery]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nconcurrency = 1\n\n\
             [[campaign]]\nname = \"news\"\nsegment = \"everyone\"\ntemplate = \"winback\"\n",
            refusing.url()
        ),
    )
    .await;

    let first = shop.rapport(&["send", "news"]);

    let report = format!("{}{}", stdout(&first), stderr(&first));
    let (_, reasons) = figure(&first, "failed");
    assert!(
        reasons.contains("policy 10") || reasons.contains("policy 11"),
        "{report}"
    );
    assert!(
        stderr(&first).contains("10 messages were refused by the receiving servers' policy"),
        "{report}"
    );
    let (waiting, _) = figure(&first, "waiting");
    assert!(waiting > 0, "the run paused rather than go on: {report}");
    let refused_for_policy: Vec<String> = refusing
        .refused
        .lock()
        .unwrap()
        .iter()
        .filter(|a| *a != "c0@example.com")
        .cloned()
        .collect();

    // The shop fixes its DNS: the paused run goes on, then a new run goes out.
    fixed.store(true, Ordering::SeqCst);
    let resumed = shop.rapport(&["send", "news"]);
    let delivered_before = refusing.delivered.lock().unwrap().len();
    let again = shop.rapport(&["send", "news", "--new-run"]);

    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(
        delivered_before,
        29 - refused_for_policy.len(),
        "the paused run sent the rest, but the bounced address and the failed messages"
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let delivered = refusing.delivered.lock().unwrap();
    for customer in &refused_for_policy {
        assert_eq!(
            delivered.iter().filter(|a| *a == customer).count(),
            1,
            "{customer}, refused for policy, gets the next run's message"
        );
    }
    assert!(
        !delivered.iter().any(|a| a == "c0@example.com"),
        "the bounced address is suppressed"
    );
    assert_eq!(figure(&again, "skipped"), (1, "suppressed 1".to_string()));
}
on_both_databases!(
    policy_rejections_pause_the_run_and_suppress_nobody,
    policy_rejections_pause_the_run_and_suppress_nobody
);
