//! `GET /o/TOKEN` (the open pixel) and `GET /c/TOKEN` (a tracked click).
//!
//! An open answers the same 1×1 GIF whatever happens, with caching forbidden so every open reaches
//! us; a click redirects only to the URL stored for that delivery and position when the message was
//! composed, never to anything taken from the request. Each records one `email.opened` or
//! `email.clicked` event (campaign, run, user agent as data, the [`machine`](super::machine) flag);
//! if that write fails the answer is still given (the token and link were checked first).

use super::claim::{Endpoint, Target, resolve};
use super::error::ServerError;
use super::machine::is_machine;
use super::page;
use super::state::AppState;
use crate::store::events::{EngineEvent, record_engine_event};
use crate::store::tracking::TrackedDelivery;
use crate::timestamp::Timestamp;
use crate::token::Purpose;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// A transparent 1×1 GIF.
pub const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// User agents longer than this are stored cut (they are data, and an attacker chooses them).
const USER_AGENT_MAX: usize = 512;

pub async fn open(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ServerError> {
    if let Target::Delivery { delivery, .. } = resolve(&state, &token, Endpoint::Open).await? {
        let properties = properties(&delivery, &headers);
        record_or_log(&state, &delivery, "email.opened", properties).await;
    }
    Ok(pixel())
}

pub async fn click(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ServerError> {
    let (delivery, position) = match resolve(&state, &token, Endpoint::Click).await? {
        Target::Preview => return Ok(preview_click()),
        Target::Delivery {
            delivery,
            purpose: Purpose::Click(position),
        } => (delivery, position),
        Target::Delivery { .. } => return Err(ServerError::NotFound),
    };
    let url = state
        .store
        .message_link(delivery.delivery_id, i32::from(position))
        .await?
        .filter(|url| is_web(url))
        .ok_or(ServerError::NotFound)?;
    let location = HeaderValue::from_str(&url).map_err(|_| ServerError::NotFound)?;
    let mut properties = properties(&delivery, &headers);
    properties.insert("url".into(), Value::from(url.as_str()));
    properties.insert("position".into(), Value::from(position));
    record_or_log(&state, &delivery, "email.clicked", properties).await;
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn is_web(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn pixel() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, must-revalidate, private, max-age=0",
            ),
            (header::PRAGMA, "no-cache"),
            (header::EXPIRES, "0"),
        ],
        PIXEL,
    )
        .into_response()
}

fn preview_click() -> Response {
    page::plain(
        "This was a preview",
        "This link comes from a preview of an email, not from one that was sent, so it leads nowhere \
         and nothing was recorded.",
    )
    .into_response()
}

/// `{"campaign", "run", "user_agent", "machine"}` for an event about `delivery`.
pub(crate) fn properties(delivery: &TrackedDelivery, headers: &HeaderMap) -> Map<String, Value> {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let mut map = Map::new();
    map.insert("campaign".into(), Value::from(delivery.campaign.as_str()));
    map.insert("run".into(), Value::from(delivery.run_id));
    if let Some(agent) = agent {
        let cut: String = agent.chars().take(USER_AGENT_MAX).collect();
        map.insert("user_agent".into(), Value::from(cut));
    }
    map.insert("machine".into(), Value::from(is_machine(agent)));
    map
}

/// Records the event, logging a failure instead of returning it: the reader still gets the pixel or
/// reaches the shop when the database is briefly unavailable; only the statistic is lost.
async fn record_or_log(
    state: &AppState,
    delivery: &TrackedDelivery,
    kind: &str,
    properties: Map<String, Value>,
) {
    if let Err(error) = record(state, delivery, kind, properties).await {
        tracing::error!(
            error = format!("{error:#}"),
            kind,
            delivery = delivery.delivery_id,
            "cannot record a tracking event"
        );
    }
}

/// Records one engine event about `delivery` in its own transaction.
async fn record(
    state: &AppState,
    delivery: &TrackedDelivery,
    kind: &str,
    properties: Map<String, Value>,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let mut tx = state.store.begin().await?;
    let event = EngineEvent {
        customer_id: delivery.customer_id,
        kind,
        delivery_id: delivery.delivery_id,
        occurred_at: now,
        properties,
        once_per_delivery: false,
    };
    record_engine_event(&mut tx, &event, now).await?;
    tx.commit().await
}
