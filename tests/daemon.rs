//! `rapport daemon` end to end: the real binary, a real SMTP server (Postfix's smtp-sink) and the
//! embedded tracking server, on SQLite and PostgreSQL.

mod common;
use common::smtp_sink::SmtpSink;
use common::{Engine, Shop, stderr, stdout};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A shop of `n` customers sending through `sink`, with the given campaign tables.
async fn shop(engine: Engine, n: usize, sink: &SmtpSink, campaigns: &str) -> Shop {
    let config = format!(
        "[delivery]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\nconcurrency = 2\n\n{campaigns}",
        sink.url()
    );
    common::shop_with(engine, &common::numbered_customers(n), &config).await
}

/// A running daemon and the address of its tracking server.
struct Daemon {
    child: Child,
    addr: SocketAddr,
}

impl Daemon {
    fn start(shop: &Shop) -> Daemon {
        let mut child = shop
            .command(&["--log-format", "json", "daemon", "--listen", "127.0.0.1:0"])
            .spawn()
            .expect("start the daemon");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Daemon { child, addr }
    }

    /// SIGTERM, then the exit status (within 20 s) and the log lines, parsed as JSON.
    fn stop(mut self) -> (std::process::ExitStatus, Vec<serde_json::Value>) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        let lines = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        (status, lines)
    }
}

impl Daemon {
    /// SIGHUP: read rapport.toml and the templates again.
    fn reload(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
    }
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Waits (at most a minute) until `ready` holds.
async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, ready: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "waited a minute for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Log lines with this message.
fn logged<'a>(lines: &'a [serde_json::Value], message: &str) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["message"] == message)
        .collect()
}

/// A campaign scheduled every four seconds fires and sends; stopping the daemon and starting it
/// again in between neither skips a fire nor plans one twice, and every fire's run reaches every
/// customer exactly once.
async fn a_schedule_fires_once_per_fire_across_a_restart(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let campaign = "[[campaign]]\nname = \"pulse\"\nsegment = \"everyone\"\ntemplate = \"winback\"\nschedule = \"*/4 * * * * *\"\n";
    let shop = shop(engine, 5, &sink, campaign).await;
    let store = shop.store().await;
    let runs = || async { store.runs_of("pulse").await.unwrap() };

    let daemon = Daemon::start(&shop);
    assert!(
        http_get(daemon.addr, "/healthz").ends_with("ok\n"),
        "the tracking server answers"
    );
    wait_until("two fires", || async { runs().await.len() >= 2 }).await;
    let (status, log) = daemon.stop();
    assert!(status.success(), "exit status {status}");
    assert!(!logged(&log, "run started").is_empty(), "{log:?}");
    let ended = logged(&log, "run ended");
    assert!(!ended.is_empty(), "{log:?}");
    assert_eq!(ended[0]["fields"]["sent"], 5, "{:?}", ended[0]);

    let fired_before = runs().await.len();
    let daemon = Daemon::start(&shop);
    wait_until("two more fires", || async {
        runs().await.len() >= fired_before + 2
    })
    .await;
    let (status, _) = daemon.stop();
    assert!(status.success());
    // A run planned just before the stop may be unfinished: `send` resumes it.
    let out = shop.rapport(&["send", "pulse"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let fires: Vec<_> = runs().await.iter().map(|r| r.scheduled_for).collect();
    sink.assert_each_fire_reached_everyone_once(&fires, Duration::from_secs(4), 5);
    store.close().await;
}
on_both_databases!(
    schedule_restart,
    a_schedule_fires_once_per_fire_across_a_restart
);

/// SIGHUP reads the templates again. A broken template is refused and the daemon goes on sending
/// the one it had; once fixed, the next reload uses it from the next fire on. No fire is skipped or
/// planned twice across the reloads, and the tracking server answers throughout.
async fn a_reload_picks_up_edited_templates(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    let campaign = "[[campaign]]\nname = \"pulse\"\nsegment = \"everyone\"\ntemplate = \"winback\"\nschedule = \"*/2 * * * * *\"\n";
    let shop = shop(engine, 2, &sink, campaign).await;
    let subjects = || -> Vec<String> {
        sink.messages()
            .iter()
            .filter_map(|m| m.text.lines().find_map(|l| l.strip_prefix("Subject: ")))
            .map(str::to_string)
            .collect()
    };
    let daemon = Daemon::start(&shop);
    sink.wait_for(2);

    shop.write("templates/winback.subject", "{{ broken");
    daemon.reload();
    let refused_at = sink.messages().len();
    sink.wait_for(refused_at + 4);
    assert!(
        subjects().iter().all(|s| s.starts_with("We miss you")),
        "the refused template is not used: {:?}",
        subjects()
    );
    shop.write(
        "templates/winback.subject",
        "Reloaded for {{ customer.first_name }}",
    );
    // The campaign moves to a topic of its own: the tracking server must know it too.
    let config = std::fs::read_to_string(shop.path().join("rapport.toml")).unwrap();
    shop.write(
        "rapport.toml",
        &config.replace(
            "name = \"pulse\"",
            "name = \"pulse\"\ntopic = \"pulse-news\"",
        ),
    );
    daemon.reload();
    wait_until("a message with the new subject", || async {
        subjects().iter().any(|s| s.starts_with("Reloaded for"))
    })
    .await;
    let reloaded = sink
        .messages()
        .into_iter()
        .find(|m| m.text.contains("Subject: Reloaded for"))
        .unwrap();
    let one_click = http_post(
        daemon.addr,
        &unsubscribe_path(&reloaded.text),
        "List-Unsubscribe=One-Click",
    );
    assert!(one_click.starts_with("HTTP/1.1 200"), "{one_click}");
    let store = shop.store().await;
    assert_eq!(
        store
            .suppressed_topics(&reloaded.recipients[0])
            .await
            .unwrap(),
        ["pulse-news"],
        "the unsubscribe is recorded for the campaign's topic since the reload"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "exit status {status}");
    let refusals: Vec<_> = log
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("reload refused") && m.contains("winback"))
        })
        .collect();
    assert_eq!(refusals.len(), 1, "{log:?}");
    assert_eq!(logged(&log, "reloaded").len(), 1, "{log:?}");

    // A run planned just before the stop may be unfinished: `send` resumes it.
    let out = shop.rapport(&["send", "pulse"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let fires: Vec<_> = store
        .runs_of("pulse")
        .await
        .unwrap()
        .iter()
        .map(|r| r.scheduled_for)
        .collect();
    for pair in fires.windows(2) {
        assert_eq!(
            pair[1].micros() - pair[0].micros(),
            2_000_000,
            "consecutive fires, each once, none skipped: {fires:?}"
        );
    }
    // The customer who unsubscribed was skipped from then on; the other got every fire.
    let received = sink.per_recipient();
    let everyone_else = received
        .iter()
        .find(|(who, _)| **who != reloaded.recipients[0])
        .unwrap();
    assert_eq!(*everyone_else.1, fires.len(), "{received:?}");
    store.close().await;
}
on_both_databases!(reload, a_reload_picks_up_edited_templates);

/// The path of a message's https `List-Unsubscribe` link.
fn unsubscribe_path(message: &str) -> String {
    let unfolded = message.replace("\r\n ", " ").replace("\n ", " ");
    let header = unfolded
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: "))
        .expect("a List-Unsubscribe header");
    let url = header.split('<').nth(1).unwrap().split('>').next().unwrap();
    format!("/{}", url.splitn(4, '/').nth(3).unwrap())
}

fn http_post(addr: SocketAddr, path: &str, form: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// A triggered campaign thanks each customer after their purchase, once: a later purchase does not
/// trigger it again.
async fn a_triggered_campaign_thanks_each_first_purchase_once(engine: Engine) {
    let sink = SmtpSink::start(&[]);
    // No segment filter: only the campaign's own once-per-customer rule keeps c0 from a second one.
    let campaign = "[[campaign]]\nname = \"thank-you\"\ntrigger = \"purchase\"\ndelay = \"1s\"\ntemplate = \"winback\"\ntopic = \"orders\"\n";
    let shop = shop(engine, 4, &sink, campaign).await;
    let daemon = Daemon::start(&shop);
    let import = |rows: &[&str]| {
        let now = chrono::Utc::now().to_rfc3339();
        let csv: String = rows
            .iter()
            .map(|email| format!("{email},purchase,{now}\n"))
            .collect();
        shop.write("events.csv", &format!("email,kind,occurred_at\n{csv}"));
        let out = shop.rapport(&["import", "events", "events.csv"]);
        assert!(out.status.success(), "{}", stderr(&out));
    };

    // Purchases count from when the daemon first saw the campaign: wait for that.
    let store = shop.store().await;
    wait_until("the campaign's start", || async {
        !store.runs_of("thank-you").await.unwrap().is_empty()
    })
    .await;
    store.close().await;

    import(&["c0@example.com", "c1@example.com"]);
    sink.wait_for(2);
    // c0 buys again, c2 buys for the first time: only c2 is thanked.
    import(&["c0@example.com", "c2@example.com"]);
    sink.wait_for(3);
    let (status, _) = daemon.stop();
    assert!(status.success());

    let mut thanked: Vec<String> = sink
        .messages()
        .into_iter()
        .flat_map(|m| m.recipients)
        .collect();
    thanked.sort();
    assert_eq!(
        thanked,
        ["c0@example.com", "c1@example.com", "c2@example.com"]
    );
}
on_both_databases!(
    triggered_e2e,
    a_triggered_campaign_thanks_each_first_purchase_once
);
