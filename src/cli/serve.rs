//! `rapport serve`: the tracking and unsubscribe server alone, on `[tracking] listen` or `--listen`.
//! Prints the bound address (so `--listen 127.0.0.1:0` is usable), and on SIGINT or SIGTERM stops
//! accepting, lets requests in flight finish, and exits 0.

use crate::server::{AppState, Limits, serve};
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
    /// The address to listen on instead of `[tracking] listen`; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

pub async fn run(dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load(dir)?;
    workspace.refuse_published_secret("`rapport serve`")?;
    let store = Arc::new(workspace.open_store().await?);
    let address = args.listen.unwrap_or(workspace.config.tracking.listen);
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    println!("tracking server listening on http://{bound}");
    std::io::stdout().flush()?;
    tracing::info!(%bound, database = store.url(), "tracking server started");
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    let state = AppState::new(store.clone(), &workspace.config);
    serve(listener, state, Limits::default(), cancel).await?;
    store.close().await;
    tracing::info!("tracking server stopped");
    Ok(ExitCode::SUCCESS)
}

/// Cancels `cancel` on the first SIGINT or SIGTERM.
pub(super) async fn cancel_on_signal(cancel: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    cancel.cancel();
}
