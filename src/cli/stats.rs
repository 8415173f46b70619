//! `rapport stats [CAMPAIGN]`: per campaign and run, what was sent, failed, skipped, ended uncertain
//! and still waits, and how many of the messages that left were opened, clicked, or led to an
//! unsubscribe.

use super::table;
use crate::store::stats::RunStats;
use crate::workspace::Workspace;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "UNCERTAIN (the connection broke after a message was sent: it may have arrived) and \
WAITING (not sent yet, being sent, or waiting for a retry) appear when a run has such deliveries. Opens count \
messages whose open pixel was fetched at least once; mail clients that block images are not \
counted, and privacy proxies that fetch every image are (see docs/sending.md). Rates are of the \
messages that left: SENT and UNCERTAIN."
)]
pub struct Args {
    /// Only this campaign.
    pub campaign: Option<String>,
}

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    if let Some(name) = &args.campaign {
        super::preview::find_campaign(&workspace, name)?;
    }
    let store = workspace.open_store().await?;
    let stats = store.run_stats(args.campaign.as_deref()).await;
    store.close().await;
    let stats = stats?;
    if stats.is_empty() {
        println!("No run yet: `rapport send CAMPAIGN` starts one.");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", render(&stats));
    Ok(ExitCode::SUCCESS)
}

/// One column of the table: its header, whether it holds numbers (right-aligned), its cell.
type Column<'a> = (&'static str, bool, Box<dyn Fn(&RunStats) -> String + 'a>);

/// The table, with rates relative to the messages that left: the sent ones and the uncertain ones,
/// which may have arrived (an open of one proves it did, and is counted). UNCERTAIN and WAITING
/// appear when a run listed has such deliveries: with them, the figures of each run add up to what
/// was planned.
pub fn render(stats: &[RunStats]) -> String {
    let rate = |n: i64, of: i64| {
        if of == 0 {
            n.to_string()
        } else {
            format!("{n} ({:.1}%)", 100.0 * n as f64 / of as f64)
        }
    };
    let left = |s: &RunStats| s.sent + s.uncertain;
    let any = |figure: fn(&RunStats) -> i64| stats.iter().any(|s| figure(s) > 0);
    let mut columns: Vec<Column<'_>> = vec![
        ("CAMPAIGN", false, Box::new(|s| s.campaign.clone())),
        ("RUN", true, Box::new(|s| s.run_id.to_string())),
        ("STARTED", false, Box::new(|s| s.started.to_string())),
        ("STATUS", false, Box::new(|s| s.status.clone())),
        ("SENT", true, Box::new(|s| s.sent.to_string())),
        ("FAILED", true, Box::new(|s| s.failed.to_string())),
        ("SKIPPED", true, Box::new(|s| s.skipped.to_string())),
        ("UNCERTAIN", true, Box::new(|s| s.uncertain.to_string())),
        ("WAITING", true, Box::new(|s| s.waiting.to_string())),
        ("OPENED", true, Box::new(|s| rate(s.opened, left(s)))),
        ("CLICKED", true, Box::new(|s| rate(s.clicked, left(s)))),
        (
            "UNSUBSCRIBED",
            true,
            Box::new(|s| rate(s.unsubscribed, left(s))),
        ),
    ];
    columns.retain(|(header, ..)| match *header {
        "UNCERTAIN" => any(|s| s.uncertain),
        "WAITING" => any(|s| s.waiting),
        _ => true,
    });
    let header: Vec<&str> = columns.iter().map(|(header, ..)| *header).collect();
    let right: Vec<usize> = (0..columns.len()).filter(|&i| columns[i].1).collect();
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|s| columns.iter().map(|(_, _, cell)| cell(s)).collect())
        .collect();
    table::render(&header, &rows, &right)
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::store::stats::RunStats;
    use crate::timestamp::Timestamp;

    fn run(uncertain: i64, waiting: i64) -> RunStats {
        RunStats {
            campaign: "news".to_string(),
            run_id: 1,
            started: Timestamp::EPOCH,
            status: "finished".to_string(),
            sent: 3,
            failed: 0,
            skipped: 0,
            uncertain,
            waiting,
            opened: 0,
            clicked: 0,
            unsubscribed: 0,
        }
    }

    /// An open of an uncertain message proves it arrived: it counts, and so does the message.
    #[test]
    fn rates_are_of_the_messages_that_left() {
        let mut stats = run(1, 0);
        stats.opened = 2;
        let table = render(&[stats]);
        let row = table.lines().nth(1).unwrap();
        assert!(row.contains("2 (50.0%)"), "{table}");
    }

    #[test]
    fn uncertain_and_waiting_appear_when_a_run_has_them() {
        let header = |stats: &[RunStats]| {
            let table = render(stats);
            let first = table.lines().next().unwrap();
            first
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };

        assert_eq!(header(&[run(0, 0)])[4..7], ["SENT", "FAILED", "SKIPPED"]);
        assert_eq!(header(&[run(0, 0)])[7], "OPENED");
        assert_eq!(
            header(&[run(0, 0), run(3, 0)])[7..9],
            ["UNCERTAIN", "OPENED"]
        );
        assert_eq!(header(&[run(0, 2)])[7..9], ["WAITING", "OPENED"]);
        assert_eq!(
            header(&[run(1, 2)])[7..10],
            ["UNCERTAIN", "WAITING", "OPENED"]
        );
    }
}
