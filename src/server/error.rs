//! The one mapping from a failed request to its response. Internal errors are logged with their
//! chain and answered with a plain 500 page that reveals nothing of them.

use super::page;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A forged, altered or truncated token, a token for another endpoint, or an unknown delivery or
    /// link: all look the same from outside, and nothing is written.
    #[error("not found")]
    NotFound,
    /// A POST whose form asks for nothing this endpoint does.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            ServerError::NotFound => (
                StatusCode::NOT_FOUND,
                "Link not found",
                "This link is not valid. If you copied it from an email, check that it is complete.",
            ),
            ServerError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Bad request", *why),
            ServerError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "tracking request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Something went wrong on our side. Please try again in a few minutes.",
                )
            }
        };
        let mut response = page::plain(title, text).into_response();
        *response.status_mut() = status;
        response
    }
}
