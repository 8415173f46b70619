//! `GET /p/TOKEN` and `POST /p/TOKEN`: the topics of the workspace's campaigns, each with a box that
//! is ticked while the customer gets it. Saving opts out of the unticked topics and back into the
//! ticked ones (only where an unsubscribe, not a bounce, had stopped them), in one transaction.

use super::claim::{Endpoint, Target, resolve};
use super::error::ServerError;
use super::optout::{Via, resubscribe, unsubscribe};
use super::page::{self, button, escape};
use super::state::AppState;
use crate::store::suppressions::ALL_TOPICS;
use crate::store::tracking::TrackedDelivery;
use crate::timestamp::Timestamp;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use std::collections::BTreeSet;

pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ServerError> {
    match resolve(&state, &token, Endpoint::Preferences).await? {
        Target::Preview => Ok(preview().into_response()),
        Target::Delivery { delivery, .. } => {
            Ok(render(&state, &delivery, "").await?.into_response())
        }
    }
}

pub async fn post(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, ServerError> {
    let target = resolve(&state, &token, Endpoint::Preferences).await?;
    let mut action = None;
    let mut ticked = BTreeSet::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "action" => action = Some(value.into_owned()),
            "topic" => {
                ticked.insert(value.into_owned());
            }
            _ => {}
        }
    }
    let Target::Delivery { delivery, .. } = target else {
        return Ok(preview().into_response());
    };
    let now = Timestamp::now();
    let mut tx = state.store.begin().await?;
    let notice = match action.as_deref() {
        Some("save") => {
            let settings = state.settings();
            for topic in settings.all_topics() {
                if ticked.contains(topic) {
                    resubscribe(&mut tx, &delivery, topic, Via::Preferences, now).await?;
                } else {
                    unsubscribe(&mut tx, &delivery, topic, Via::Preferences, now).await?;
                }
            }
            "Your choices are saved."
        }
        Some("everything") => {
            unsubscribe(&mut tx, &delivery, ALL_TOPICS, Via::Preferences, now).await?;
            "Done: you will get no more emails from us."
        }
        Some("undo-everything") => {
            resubscribe(&mut tx, &delivery, ALL_TOPICS, Via::Preferences, now).await?;
            "Done: you get the emails ticked below again."
        }
        _ => return Err(ServerError::BadRequest("Use the buttons on the page.")),
    };
    tx.commit().await?;
    Ok(render(&state, &delivery, notice).await?.into_response())
}

async fn render(
    state: &AppState,
    delivery: &TrackedDelivery,
    notice: &str,
) -> anyhow::Result<Html<String>> {
    let settings = state.settings();
    let suppressed: BTreeSet<String> = state
        .store
        .suppressed_topics(&delivery.email_key)
        .await?
        .into_iter()
        .collect();
    let mut body = String::new();
    if !notice.is_empty() {
        body.push_str(&format!("<p><strong>{}</strong></p>", escape(notice)));
    }
    body.push_str(&format!(
        "<p>The emails {} gets from us:</p>",
        escape(&delivery.email)
    ));
    if suppressed.contains(ALL_TOPICS) {
        body.push_str("<p>None at the moment: you stopped all emails from us.</p>");
        body.push_str(&button("undo-everything", "Subscribe me again"));
    }
    body.push_str("<form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"save\">");
    for topic in settings.all_topics() {
        let checked = if suppressed.contains(topic) {
            ""
        } else {
            " checked"
        };
        let topic = escape(topic);
        body.push_str(&format!(
            "<p><label><input type=\"checkbox\" name=\"topic\" value=\"{topic}\"{checked}> {topic}</label></p>"
        ));
    }
    body.push_str("<button type=\"submit\">Save my choices</button></form>");
    if !suppressed.contains(ALL_TOPICS) {
        body.push_str(&button("everything", "Stop all emails from us"));
    }
    Ok(page::shop_page(&settings.shop, "Choose your emails", &body))
}

fn preview() -> Html<String> {
    page::plain(
        "This was a preview",
        "This link comes from a preview of an email, not from one that was sent: nothing was changed.",
    )
}
