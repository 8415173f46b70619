//! `rapport daemon [--listen ADDR] [--no-server]`: the scheduler, the delivery workers and the
//! tracking server in one process, until SIGINT or SIGTERM; then it stops scheduling, lets the
//! messages in flight finish (at most about 30 seconds), stops the server and exits 0.
//!
//! SIGHUP (`systemctl reload rapport`) reads rapport.toml and the templates again. The new ones are
//! checked first: if a campaign's template or DKIM key cannot be used, the daemon says why and goes on
//! as it was. Otherwise the scheduler and the workers stop as for SIGTERM and start again with them
//! (resuming paused runs, as a restart does), while the tracking server keeps answering, with the new
//! secret, sender and campaign topics. The database and the server's address stay as they started.

use crate::clock::Clock;
use crate::config::Transport;
use crate::daemon::{CampaignComposers, run_daemon};
use crate::server::{AppState, Limits, serve};
use crate::template::Library;
use crate::workspace::Workspace;
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address of the tracking server instead of `[tracking] listen`; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", conflicts_with = "no_server")]
    pub listen: Option<SocketAddr>,
    /// Do not run the tracking server (run `rapport serve` elsewhere).
    #[arg(long)]
    pub no_server: bool,
}

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    // First of all: SIGHUP's default is to end the process, and systemd would not restart it.
    let mut hangups = hangups()?;
    let mut loaded = Loaded::read(dir, !args.no_server)?;
    let workspace = &loaded.workspace;
    let clock = Clock::from_env()?;
    let store = Arc::new(workspace.open_store().await?);
    let cancel = CancellationToken::new();
    let server = if args.no_server {
        None
    } else {
        let address = args.listen.unwrap_or(workspace.config.tracking.listen);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        println!(
            "tracking server listening on http://{}",
            listener.local_addr()?
        );
        std::io::stdout().flush()?;
        let state = AppState::new(store.clone(), &workspace.config);
        Some((
            tokio::spawn(serve(
                listener,
                state.clone(),
                Limits::default(),
                cancel.clone(),
            )),
            state,
        ))
    };
    let database = workspace.config.database.url.clone();
    tokio::spawn(super::serve::cancel_on_signal(cancel.clone()));
    // What ran before the last reload, to go back to should the new files fail after all.
    let mut previous: Option<Loaded> = None;
    let result = loop {
        let round = cancel.child_token();
        let mut reloaded = None;
        let campaigns = match CampaignComposers::new(&loaded.workspace, &loaded.library) {
            Ok(campaigns) => campaigns,
            Err(error) => match previous.take() {
                // A DKIM key changed again while the last round was stopping, say.
                Some(before) => {
                    tracing::error!(
                        "reload abandoned, the daemon goes back to what it had: {error:#}"
                    );
                    loaded = before;
                    continue;
                }
                None => break Err(error),
            },
        };
        // The tracking server answers for the campaigns this round sends.
        if let Some((_, state)) = &server {
            state.reload(&loaded.workspace.config);
        }
        let daemon = run_daemon(
            &loaded.workspace,
            &store,
            &campaigns,
            clock.clone(),
            round.clone(),
        );
        let reload = async {
            reloaded = Some(next_valid_reload(dir, !args.no_server, &mut hangups).await);
            tracing::info!("reloading rapport.toml and the templates");
            round.cancel();
            std::future::pending::<()>().await
        };
        let result = tokio::select! {
            result = daemon => result,
            () = reload => unreachable!("a reload never ends by itself"),
        };
        drop(campaigns);
        match reloaded {
            Some(next) if result.is_ok() && !cancel.is_cancelled() => {
                if next.workspace.config.database.url != database {
                    tracing::warn!(
                        "[database] changed in rapport.toml: the daemon goes on with the database it started with; restart it to change"
                    );
                }
                previous = Some(std::mem::replace(&mut loaded, next));
                tracing::info!("reloaded");
            }
            _ => break result,
        }
    };
    // Whatever ended the daemon ends the server too.
    cancel.cancel();
    if let Some((server, _)) = server {
        // The server gives requests in flight a few seconds; never wait for it without bound.
        match tokio::time::timeout(std::time::Duration::from_secs(15), server).await {
            Ok(Ok(Err(e))) => tracing::error!("the tracking server failed: {e:#}"),
            Ok(Err(e)) => tracing::error!("the tracking server panicked: {e}"),
            Err(_) => tracing::warn!("the tracking server did not stop in time"),
            Ok(Ok(Ok(()))) => {}
        }
    }
    store.close().await;
    result?;
    tracing::info!("daemon stopped");
    Ok(ExitCode::SUCCESS)
}

/// The workspace and its templates, as read at start or at a reload.
struct Loaded {
    workspace: Workspace,
    library: Library,
}

impl Loaded {
    /// Reads rapport.toml and the templates; fails if a campaign could not send with them, or if
    /// a published secret would sign mail that goes out through SMTP or links that the tracking
    /// server (`serving`) honours.
    fn read(dir: &Path, serving: bool) -> anyhow::Result<Loaded> {
        let workspace = Workspace::load(dir)?;
        if serving || *workspace.config.delivery.transport.get_ref() == Transport::Smtp {
            workspace.refuse_published_secret("`rapport daemon`")?;
        }
        let (library, _problems) = Library::load(&workspace.templates_dir())?;
        CampaignComposers::new(&workspace, &library)?;
        Ok(Loaded { workspace, library })
    }
}

/// SIGHUP, which asks for a reload.
fn hangups() -> anyhow::Result<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup()).context("cannot listen for SIGHUP")
}

/// Waits for a SIGHUP after which rapport.toml and the templates can be used; one that cannot is
/// reported, and the daemon goes on as it was.
async fn next_valid_reload(
    dir: &Path,
    serving: bool,
    hangups: &mut tokio::signal::unix::Signal,
) -> Loaded {
    loop {
        hangups.recv().await;
        match Loaded::read(dir, serving) {
            Ok(loaded) => return loaded,
            Err(error) => {
                tracing::error!("reload refused, the daemon goes on as it was: {error:#}")
            }
        }
    }
}
