//! `rapport send CAMPAIGN [--dry-run] [--limit N] [--new-run]`: one run of a campaign, now.
//!
//! A second `send` while the campaign's run is unfinished resumes it; once it has finished, `send`
//! says so and sends nothing unless `--new-run` asks for a new blast. SIGINT/SIGTERM stop gracefully:
//! no new claims, the message in flight finishes, and the summary says what remains.

use super::dry_run::dry_run;
use super::preview::{find_campaign, load_template};
use super::progress::Progress;
use crate::campaign::{Links, Pass, RunSummary, Start, deliver_pass, plan_triggers, start_run};
use crate::clock::Clock;
use crate::config::{CampaignConfig, Transport};
use crate::message::Composer;
use crate::schedule::Timing;
use crate::store::Store;
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The campaign, as named in a [[campaign]] of rapport.toml.
    pub campaign: String,
    /// Render every message and report who would get what and who would be skipped; send and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Attempt at most N deliveries now; the rest stay for the next send.
    #[arg(long, value_name = "N")]
    pub limit: Option<i64>,
    /// Start a new run even though the last one finished: everyone in the segment gets the message again.
    #[arg(long)]
    pub new_run: bool,
    /// Keep waiting for retries that fall due within this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub wait_retries: u64,
}

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    if !args.dry_run && *workspace.config.delivery.transport.get_ref() == Transport::Smtp {
        workspace.refuse_published_secret("`rapport send` through SMTP")?;
    }
    let campaign = find_campaign(&workspace, &args.campaign)?;
    let library = load_template(&workspace, campaign)?;
    let composer = Composer::new(&workspace.config, campaign, &library)
        .with_dkim(&workspace.config, &workspace.dir)?;
    if args.dry_run {
        let store = Store::open_read_only(&workspace.config.database.url, &workspace.dir).await?;
        let result = dry_run(&workspace, &store, campaign, &composer, args.limit).await;
        store.close().await;
        return result;
    }
    let store = workspace.open_store().await?;
    let result = send(&workspace, &store, campaign, &composer, &args).await;
    store.close().await;
    result
}

async fn send(
    workspace: &Workspace,
    store: &Store,
    campaign: &CampaignConfig,
    composer: &Composer<'_>,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let name = campaign.name.get_ref().as_str();
    let request = Request {
        limit: args.limit,
        new_run: args.new_run,
        wait_retries: args.wait_retries,
        progress: true,
    };
    match send_campaign(workspace, store, campaign, composer, &request).await? {
        Sent::AlreadyFinished(run) => {
            let when = run
                .finished_at
                .map(|t| format!(" on {t}"))
                .unwrap_or_default();
            println!(
                "campaign {name}: its last run (run {}) finished{when}; nothing was sent\n  = hint: to send it to \
                 everyone in the segment again, pass --new-run",
                run.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Sent::Delivered {
            summary,
            stopped: None,
        } => {
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Sent::Delivered {
            summary,
            stopped: Some(why),
        } => {
            println!("{summary}");
            anyhow::bail!(
                "the run was paused: {why}\n  = hint: fix the cause, then `rapport send {name}` resumes it"
            )
        }
    }
}

/// What to send, beyond the campaign.
pub(super) struct Request {
    pub limit: Option<i64>,
    pub new_run: bool,
    pub wait_retries: u64,
    /// Show a progress bar (or periodic lines) on stderr.
    pub progress: bool,
}

/// How a send ended.
pub(super) enum Sent {
    AlreadyFinished(crate::store::runs::Run),
    /// The run's state now, and why it was paused, if it was.
    Delivered {
        summary: RunSummary,
        stopped: Option<String>,
    },
}

/// Resumes or plans the campaign's run and delivers it; marks the run finished (or paused).
pub(super) async fn send_campaign(
    workspace: &Workspace,
    store: &Store,
    campaign: &CampaignConfig,
    composer: &Composer<'_>,
    request: &Request,
) -> anyhow::Result<Sent> {
    let name = campaign.name();
    let clock = Clock::from_env()?;
    let timing = Timing::new(&workspace.config, campaign.deliver_at);
    if let Some(kind) = &campaign.trigger {
        let epoch = Timestamp::EPOCH;
        let added = plan_triggers(
            store,
            &workspace.segments_dir(),
            campaign,
            timing,
            epoch,
            clock.now(),
        )
        .await?;
        eprintln!(
            "campaign {name}: sent on `{}` events; {added} new customers to write to",
            kind.get_ref().as_str()
        );
    }
    let start = start_run(
        store,
        &workspace.segments_dir(),
        campaign,
        timing,
        request.new_run,
        clock.now(),
    )
    .await?;
    let run_id = match start {
        Start::Planned { run_id, .. } => run_id,
        Start::Resumed { run_id } => {
            eprintln!("campaign {name}: resuming run {run_id}");
            run_id
        }
        Start::AlreadyFinished { run } => return Ok(Sent::AlreadyFinished(run)),
    };
    let before = RunSummary::load(store, name, run_id).await?;
    let progress = Progress::new(
        before.pending + before.retry + before.in_flight,
        request.progress,
    );
    let cancel = CancellationToken::new();
    let on_progress = || progress.tick();
    let pass = Pass {
        limit: request.limit,
        round: None,
        wait: Duration::from_secs(request.wait_retries),
        wait_for_rate: Duration::from_secs(request.wait_retries),
        cancel: cancel.clone(),
        clock,
        on_progress: &on_progress,
        summarize_rounds: true,
    };
    let signals = tokio::spawn(cancel_on_signal(cancel));
    let mut links = Links::default();
    let passed = deliver_pass(
        workspace, store, campaign, composer, run_id, &pass, &mut links,
    )
    .await;
    links.close().await;
    signals.abort();
    progress.finish();
    let passed = passed?;
    if let Some(held) = passed.rate_held {
        eprintln!("{held}");
    }
    Ok(Sent::Delivered {
        summary: passed
            .summary
            .expect("a pass that summarizes its rounds has a summary"),
        stopped: passed.stopped,
    })
}

async fn cancel_on_signal(cancel: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("stopping: the messages in flight finish, nothing new is started");
    cancel.cancel();
}
