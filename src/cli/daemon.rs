//! `rapport daemon [--listen ADDR] [--no-server]`: the scheduler, the delivery workers and the
//! tracking server in one process, until SIGINT or SIGTERM; then it stops scheduling, lets the
//! messages in flight finish (at most about 30 seconds), stops the server and exits 0.

use crate::clock::Clock;
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
    let workspace = Workspace::load(dir)?;
    let (library, _problems) = Library::load(&workspace.templates_dir())?;
    let campaigns = CampaignComposers::new(&workspace, &library)?;
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
        Some(tokio::spawn(serve(
            listener,
            state,
            Limits::default(),
            cancel.clone(),
        )))
    };
    tokio::spawn(super::serve::cancel_on_signal(cancel.clone()));
    let result = run_daemon(&workspace, &store, &campaigns, clock, cancel.clone()).await;
    // Whatever ended the daemon ends the server too.
    cancel.cancel();
    if let Some(server) = server {
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
