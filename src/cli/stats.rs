//! `rapport stats [CAMPAIGN]`: per campaign and run, what was sent, failed and skipped, and how many
//! of the sent messages were opened, clicked, or led to an unsubscribe.

use super::table;
use crate::store::stats::RunStats;
use crate::workspace::Workspace;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Opens count messages whose open pixel was fetched at least once; mail clients that \
block images are not counted, and privacy proxies that fetch every image are (see docs/sending.md)."
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

/// The table, with rates relative to the messages sent.
pub fn render(stats: &[RunStats]) -> String {
    let rate = |n: i64, of: i64| {
        if of == 0 {
            n.to_string()
        } else {
            format!("{n} ({:.1}%)", 100.0 * n as f64 / of as f64)
        }
    };
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|s| {
            vec![
                s.campaign.clone(),
                s.run_id.to_string(),
                s.started.to_string(),
                s.status.clone(),
                s.sent.to_string(),
                s.failed.to_string(),
                s.skipped.to_string(),
                rate(s.opened, s.sent),
                rate(s.clicked, s.sent),
                rate(s.unsubscribed, s.sent),
            ]
        })
        .collect();
    table::render(
        &[
            "CAMPAIGN",
            "RUN",
            "STARTED",
            "STATUS",
            "SENT",
            "FAILED",
            "SKIPPED",
            "OPENED",
            "CLICKED",
            "UNSUBSCRIBED",
        ],
        &rows,
        &[1, 4, 5, 6, 7, 8, 9],
    )
}
