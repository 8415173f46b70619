//! The MIME message itself, built with lettre: `multipart/alternative` (text, then HTML), From, To
//! with the display name, Subject, Date, Message-ID, and the RFC 8058 one-click unsubscribe headers.
//! Every header value arrives here as one line; lettre encodes non-ASCII names and subjects.

use crate::timestamp::Timestamp;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

/// Everything a message carries.
pub struct Envelope<'a> {
    pub from: &'a Mailbox,
    pub reply_to: Option<&'a Mailbox>,
    pub to: Mailbox,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// `<rapport.DELIVERY.RUN@domain>`.
    pub message_id: String,
    /// `<https://…/u/TOKEN>, <mailto:…>`.
    pub list_unsubscribe: String,
    pub date: Timestamp,
}

/// The message, ready for SMTP or an `.eml` file. The SMTP envelope (MAIL FROM, RCPT TO) is given
/// rather than left to lettre, which would otherwise parse it back from the From and To headers it
/// has just been given, for every message.
pub fn build_message(e: &Envelope) -> Result<Message, lettre::error::Error> {
    let smtp_envelope =
        lettre::address::Envelope::new(Some(e.from.email.clone()), vec![e.to.email.clone()])?;
    let mut builder = Message::builder()
        .envelope(smtp_envelope)
        .from(e.from.clone())
        .to(e.to.clone())
        .subject(e.subject)
        .date(e.date.datetime().into())
        .message_id(Some(e.message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            e.list_unsubscribe.clone(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ));
    if let Some(reply_to) = e.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    builder.multipart(
        MultiPart::alternative()
            .singlepart(SinglePart::plain(super::quoted_printable::body(e.text)))
            .singlepart(SinglePart::html(super::quoted_printable::body(e.html))),
    )
}
