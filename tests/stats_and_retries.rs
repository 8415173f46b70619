//! What the owner reads after a send that did not go well: the send summary says why deliveries wait
//! for a retry (or failed, or ended uncertain), and `rapport stats` accounts for every planned
//! delivery, uncertain and waiting ones included. The real binary, on SQLite and PostgreSQL.

mod common;
use common::smtp_sink::{SmtpSink, refusing_port};
use common::{Engine, Shop, stderr, stdout};
use std::collections::HashMap;

/// The password in the SMTP URL: it must never be printed.
const PASSWORD: &str = "hunter2-never-printed";

/// A shop of `n` customers and a campaign `news` of everyone, sending to `smtp_url`.
async fn shop(engine: Engine, n: usize, smtp_url: &str) -> Shop {
    let config = format!(
        "[delivery]\ntransport = \"smtp\"\nsmtp_url = \"{smtp_url}\"\nconcurrency = 2\n\n\
         [[campaign]]\nname = \"news\"\nsegment = \"everyone\"\ntemplate = \"winback\"\n"
    );
    common::shop_with(engine, &common::numbered_customers(n), &config).await
}

/// The only run of `rapport stats`, column by column (`"SENT"` → `"3"`).
fn stats_row(shop: &Shop) -> HashMap<String, String> {
    let out = shop.rapport(&["stats", "news"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let cells = |line: &str| -> Vec<String> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one header, one run:\n{text}");
    let (header, row) = (cells(lines[0]), cells(lines[1]));
    assert_eq!(header.len(), row.len(), "{text}");
    header.into_iter().zip(row).collect()
}

fn figure(row: &HashMap<String, String>, column: &str) -> String {
    row.get(column)
        .unwrap_or_else(|| panic!("no {column} column in {row:?}"))
        .clone()
}

/// A wrong port looks like a wrong port: the summary says the connection was refused, how many
/// deliveries wait for a retry because of it, and says it again after a resume (it reads the
/// ledger); the SMTP password is printed nowhere; stats count the waiting deliveries.
async fn a_closed_port_is_named_in_the_summary(engine: Engine) {
    let (_bound, addr) = refusing_port();
    let shop = shop(engine, 3, &format!("smtp://shop:{PASSWORD}@{addr}")).await;

    let first = shop.rapport(&["send", "news", "--wait-retries", "0"]);
    let resumed = shop.rapport(&["send", "news", "--wait-retries", "0"]);

    for out in [&first, &resumed] {
        let report = format!("{}{}", stdout(out), stderr(out));
        assert!(out.status.success(), "{report}");
        assert!(
            stdout(out).contains("3 to retry: temporary failure: Connection refused"),
            "{report}"
        );
        assert!(!report.contains(PASSWORD), "{report}");
    }
    let row = stats_row(&shop);
    assert_eq!(figure(&row, "SENT"), "0", "{row:?}");
    assert_eq!(figure(&row, "WAITING"), "3", "{row:?}");
}
on_both_databases!(
    a_closed_port_is_named_in_the_summary,
    a_closed_port_is_named_in_the_summary
);

/// Messages whose connection dropped after the final "." are `uncertain`: the summary says why, and
/// stats show them, so that a finished run's figures add up to what was planned.
async fn uncertain_deliveries_are_counted_in_stats(engine: Engine) {
    let healthy = SmtpSink::start(&[]);
    let shop = shop(engine, 6, &healthy.url()).await;
    let first = shop.rapport(&["send", "news", "--limit", "3"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let addr = healthy.addr;
    drop(healthy);
    let _hanging_up = SmtpSink::start_on(addr, &["-q", "."]);

    let second = shop.rapport(&["send", "news", "--wait-retries", "0"]);

    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("3 uncertain: outcome unknown"),
        "{}",
        stdout(&second)
    );
    let row = stats_row(&shop);
    assert_eq!(figure(&row, "STATUS"), "finished", "{row:?}");
    let counted: Vec<String> = ["SENT", "FAILED", "SKIPPED", "UNCERTAIN"]
        .iter()
        .map(|column| figure(&row, column))
        .collect();
    assert_eq!(counted, ["3", "0", "0", "3"], "{row:?}");
}
on_both_databases!(
    uncertain_deliveries_are_counted_in_stats,
    uncertain_deliveries_are_counted_in_stats
);
