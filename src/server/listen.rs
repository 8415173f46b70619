//! Serving the router on a bound listener with hyper-util's connection builder, because `axum::serve`
//! sets no header-read timeout: here a client must send its headers within
//! [`Limits::header_read_timeout`] or be disconnected, at most [`Limits::max_connections`] are served
//! at once (more wait in the kernel's accept queue), bodies and request times are bounded by the
//! router. Cancelling the token stops accepting, lets requests in flight finish for up to
//! [`Limits::shutdown_grace`], and returns.

use super::routes::router;
use super::state::AppState;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The bounds that keep one client from starving the others.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A connection that has not sent a whole request head by then is closed (slowloris).
    pub header_read_timeout: Duration,
    /// A request (body and handler) that takes longer gets 408.
    pub request_timeout: Duration,
    /// Larger request bodies get 413.
    pub body_bytes: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            body_bytes: 16 * 1024,
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves the tracking server on `listener` until `cancel` fires. The daemon calls this with its own
/// listener and token; `rapport serve` runs it alone.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let app = router(state, &limits);
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit?,
        };
        let stream = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("stopped with requests still in flight");
        }
    }
    Ok(())
}
