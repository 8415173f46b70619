//! The router: the tracking endpoints, the body limit, the per-request deadline and the headers every
//! answer carries (no sniffing, no referrer, no framing: the unsubscribe buttons must not be
//! clickjacked, and tokens in our URLs must not leak through `Referer`).

use super::listen::Limits;
use super::state::AppState;
use super::{preferences, track, unsubscribe};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Duration;

/// The tracking server's routes over `state`.
pub fn router(state: AppState, limits: &Limits) -> Router {
    Router::new()
        .route("/o/{token}", get(track::open))
        .route("/c/{token}", get(track::click))
        .route("/u/{token}", get(unsubscribe::show).post(unsubscribe::post))
        .route("/p/{token}", get(preferences::show).post(preferences::post))
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(middleware::from_fn_with_state(
            limits.request_timeout,
            guard,
        ))
        .with_state(state)
}

/// `ok` while the database answers; 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.tracked_delivery(0).await {
        Ok(_) => "ok\n".into_response(),
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "health check: database unreachable"
            );
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
}

/// Bounds the time a request may take (reading its body included) and adds the common headers.
async fn guard(State(deadline): State<Duration>, request: Request, next: Next) -> Response {
    let mut response = match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?deadline, "request timed out");
            (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
