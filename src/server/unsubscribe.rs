//! `GET /u/TOKEN` and `POST /u/TOKEN`: the unsubscribe page and RFC 8058 one-click unsubscribe.
//!
//! A GET only shows the page (link scanners fetch every URL: a GET never unsubscribes). A POST whose
//! form has `List-Unsubscribe=One-Click` unsubscribes from the campaign's topic at once and answers
//! 200 with no redirect and no confirmation step; the page's own buttons post `action=` `topic`,
//! `everything`, `undo-topic` or `undo-everything`.

use super::claim::{Endpoint, Target, resolve};
use super::error::ServerError;
use super::optout::{Via, resubscribe, unsubscribe};
use super::page::{self, button, escape};
use super::state::AppState;
use crate::store::Tx;
use crate::store::suppressions::ALL_TOPICS;
use crate::store::tracking::TrackedDelivery;
use crate::timestamp::Timestamp;
use crate::token::Purpose;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};

/// What a POST to `/u/TOKEN` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    OneClick,
    Topic,
    Everything,
    UndoTopic,
    UndoEverything,
}

fn parse(body: &[u8]) -> Option<Request> {
    let mut request = None;
    for (key, value) in url::form_urlencoded::parse(body) {
        request = match (key.as_ref(), value.as_ref()) {
            ("List-Unsubscribe", "One-Click") => return Some(Request::OneClick),
            ("action", "topic") => Some(Request::Topic),
            ("action", "everything") => Some(Request::Everything),
            ("action", "undo-topic") => Some(Request::UndoTopic),
            ("action", "undo-everything") => Some(Request::UndoEverything),
            _ => request,
        };
    }
    request
}

pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ServerError> {
    match resolve(&state, &token, Endpoint::Unsubscribe).await? {
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
    let target = resolve(&state, &token, Endpoint::Unsubscribe).await?;
    let request = parse(&body).ok_or(ServerError::BadRequest(
        "Use the buttons on the page, or post List-Unsubscribe=One-Click.",
    ))?;
    let Target::Delivery { delivery, .. } = target else {
        return Ok(preview().into_response());
    };
    let topic = state.settings().topic_of(&delivery.campaign).to_string();
    let now = Timestamp::now();
    let mut tx = state.store.begin().await?;
    let notice = match request {
        Request::OneClick => {
            unsubscribe(&mut tx, &delivery, &topic, Via::OneClick, now).await?;
            tx.commit().await?;
            tracing::info!(delivery = delivery.delivery_id, %topic, "one-click unsubscribe");
            return Ok("Unsubscribed.\n".into_response());
        }
        Request::Topic => {
            unsubscribe(&mut tx, &delivery, &topic, Via::Page, now).await?;
            "Done: you are unsubscribed."
        }
        Request::Everything => {
            unsubscribe(&mut tx, &delivery, ALL_TOPICS, Via::Page, now).await?;
            "Done: you will get no more emails from us."
        }
        Request::UndoTopic => undo(&mut tx, &delivery, &topic, now).await?,
        Request::UndoEverything => undo(&mut tx, &delivery, ALL_TOPICS, now).await?,
    };
    tx.commit().await?;
    tracing::info!(
        delivery = delivery.delivery_id,
        ?request,
        "unsubscribe page"
    );
    Ok(render(&state, &delivery, notice).await?.into_response())
}

async fn undo(
    tx: &mut Tx,
    delivery: &TrackedDelivery,
    topic: &str,
    now: Timestamp,
) -> anyhow::Result<&'static str> {
    Ok(if resubscribe(tx, delivery, topic, Via::Page, now).await? {
        "Done: you are subscribed again."
    } else {
        "There was no unsubscribe to undo here. If you stopped our emails for another reason, reply to any of them and we will sort it out."
    })
}

/// The page as it stands for this delivery's address, with `notice` on top after a change.
async fn render(
    state: &AppState,
    delivery: &TrackedDelivery,
    notice: &str,
) -> anyhow::Result<Html<String>> {
    let settings = state.settings();
    let topic = settings.topic_of(&delivery.campaign);
    let suppressed = state.store.suppressed_topics(&delivery.email_key).await?;
    let shop = &settings.shop;
    let mut body = String::new();
    if !notice.is_empty() {
        body.push_str(&format!("<p><strong>{}</strong></p>", escape(notice)));
    }
    if let Some(first_name) = delivery
        .first_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        body.push_str(&format!("<p>Hello {},</p>", escape(first_name)));
    }
    let who = escape(&delivery.email);
    let name = escape(&shop.name);
    let about = if topic == ALL_TOPICS {
        String::from("our emails")
    } else {
        format!("“{}” emails", escape(topic))
    };
    if suppressed.iter().any(|t| t == ALL_TOPICS) {
        body.push_str(&format!("<p>{who} gets no emails from {name}.</p>"));
        body.push_str(&button("undo-everything", "Undo: subscribe me again"));
    } else if suppressed.iter().any(|t| t == topic) {
        body.push_str(&format!("<p>{who} gets no more {about} from {name}.</p>"));
        body.push_str(&button("undo-topic", "Undo: subscribe me again"));
        body.push_str(&button("everything", "Stop all emails from us"));
    } else {
        body.push_str(&format!("<p>Stop sending {about} to {who}?</p>"));
        body.push_str(&button("topic", "Unsubscribe from these emails"));
        body.push_str(&button("everything", "Stop all emails from us"));
    }
    let preferences = settings
        .signer
        .sign(delivery.delivery_id, Purpose::Preferences);
    body.push_str(&format!(
        "<p><a href=\"../p/{preferences}\">Choose which emails you get</a></p>"
    ));
    Ok(page::shop_page(shop, "Your emails from us", &body))
}

fn preview() -> Html<String> {
    page::plain(
        "This was a preview",
        "This unsubscribe link comes from a preview of an email, not from one that was sent: nothing \
         was changed. In the real email, it unsubscribes the person it was sent to.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_forms_are_requests() {
        assert_eq!(
            parse(b"List-Unsubscribe=One-Click"),
            Some(Request::OneClick)
        );
        assert_eq!(parse(b"action=everything"), Some(Request::Everything));
        assert_eq!(parse(b"action=undo-topic&x=1"), Some(Request::UndoTopic));
        assert_eq!(parse(b"List-Unsubscribe=Two-Click"), None);
        assert_eq!(parse(b""), None);
    }
}
