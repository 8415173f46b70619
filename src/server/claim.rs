//! From a token in a URL to the delivery it is about. A token must verify with the workspace secret
//! *and* be meant for the endpoint it was sent to (an open token cannot unsubscribe); anything else
//! is [`ServerError::NotFound`] before the database is touched. Delivery 0 is the preview's: it gets
//! its own answer and nothing is ever written for it.

use super::error::ServerError;
use super::state::AppState;
use crate::message::PREVIEW;
use crate::store::tracking::TrackedDelivery;
use crate::token::Purpose;

/// Which endpoint a token was presented to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Open,
    Click,
    Unsubscribe,
    Preferences,
}

impl Endpoint {
    fn accepts(self, purpose: Purpose) -> bool {
        matches!(
            (self, purpose),
            (Endpoint::Open, Purpose::Open)
                | (Endpoint::Click, Purpose::Click(_))
                | (Endpoint::Unsubscribe, Purpose::Unsubscribe)
                | (Endpoint::Preferences, Purpose::Preferences)
        )
    }
}

/// What a valid token points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A link from `rapport preview`: answered kindly, never recorded.
    Preview,
    /// A real delivery; `purpose` says which link (for clicks, its position).
    Delivery {
        delivery: TrackedDelivery,
        purpose: Purpose,
    },
}

/// Verifies `token` for `endpoint` and loads its delivery.
pub async fn resolve(
    state: &AppState,
    token: &str,
    endpoint: Endpoint,
) -> Result<Target, ServerError> {
    let claim = state
        .settings()
        .signer
        .verify(token)
        .ok_or(ServerError::NotFound)?;
    if !endpoint.accepts(claim.purpose) {
        return Err(ServerError::NotFound);
    }
    if claim.delivery_id == PREVIEW.delivery_id {
        return Ok(Target::Preview);
    }
    let delivery = state
        .store
        .tracked_delivery(claim.delivery_id)
        .await?
        .ok_or(ServerError::NotFound)?;
    Ok(Target::Delivery {
        delivery,
        purpose: claim.purpose,
    })
}
