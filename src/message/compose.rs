//! From a campaign, a customer and a delivery to the exact email: render the template with the
//! recipient's context, track its links, derive the text part if the template has none, and build
//! the MIME message with lettre.
//!
//! The message depends only on its inputs (delivery ids, the customer, their summary and `now`), so a
//! resend of the same delivery carries the same Message-ID and the same signed links.

use super::envelope::{Envelope, build_message};
use super::tracking::{Tracked, Tracker};
use crate::config::{CampaignConfig, Config};
use crate::diagnostic::Diagnostic;
use crate::store::{Customer, Summary};
use crate::template::{Library, Links, Sender, Shared, html_to_text, one_line};
use crate::timestamp::Timestamp;
use crate::token::{Purpose, Signer};
use lettre::message::Mailbox;
use std::sync::Arc;

/// The delivery a message is for: the ids that make its Message-ID and sign its links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRef {
    pub delivery_id: i64,
    pub run_id: i64,
}

/// What `preview` uses: delivery 0 of run 0. Stored ids start at 1, so no link signed for it ever
/// matches a real delivery; the tracking server answers them with "this was a preview".
pub const PREVIEW: DeliveryRef = DeliveryRef {
    delivery_id: 0,
    run_id: 0,
};

/// Why a message could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The template failed for this customer (typically a variable without a fallback).
    #[error("{0}")]
    Render(Diagnostic),
    #[error("{0:?} is not an address mail can be sent to")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
}

/// One composed message: the parts as sent, the tracked links, and the MIME message.
#[derive(Debug, Clone)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub links: Vec<String>,
    pub message: lettre::Message,
}

/// Composes the messages of one campaign.
pub struct Composer<'a> {
    pub library: &'a Library,
    pub template: String,
    pub signer: Signer,
    /// Without a trailing slash.
    pub base_url: String,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub shared: Shared,
    /// The campaign's `track_opens` and `track_clicks`.
    pub track_opens: bool,
    pub track_clicks: bool,
    /// Signs every message when `[dkim]` is configured; shared with the threads that sign.
    pub dkim: Option<Arc<super::dkim::Signer>>,
}

impl<'a> Composer<'a> {
    pub fn new(config: &Config, campaign: &CampaignConfig, library: &'a Library) -> Composer<'a> {
        let from = config.sender.from.0.clone();
        let name = from.name.clone().unwrap_or_default();
        let email = from.email.to_string();
        let sender = Sender {
            name: &name,
            email: &email,
            postal_address: config.sender.postal_address.as_str(),
            currency: config.sender.currency.as_str(),
        };
        let shared = Shared::new(
            &sender,
            campaign.name.get_ref().as_str(),
            campaign.topic.as_str(),
            config.courtesy.default_timezone.0,
        );
        Composer {
            library,
            template: campaign.template.get_ref().as_str().to_string(),
            signer: Signer::for_tracking(&config.tracking),
            base_url: config
                .tracking
                .base_url
                .as_url()
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            from,
            reply_to: config.sender.reply_to.as_ref().map(|m| m.0.clone()),
            shared,
            track_opens: campaign.track_opens,
            track_clicks: campaign.track_clicks,
            dkim: None,
        }
    }

    /// Signs messages with the workspace's `[dkim]` key, if it has one.
    pub fn with_dkim(
        mut self,
        config: &Config,
        workspace: &std::path::Path,
    ) -> anyhow::Result<Self> {
        if let Some(settings) = &config.dkim {
            self.dkim = Some(Arc::new(super::dkim::load(settings, workspace)?));
        }
        Ok(self)
    }

    /// The message as it goes on the wire: formatted, and signed if `[dkim]` says so.
    pub fn wire(&self, message: &lettre::Message) -> Vec<u8> {
        let formatted = message.formatted();
        match &self.dkim {
            Some(dkim) => dkim.sign(&formatted, unix_seconds()),
            None => formatted,
        }
    }

    /// [`Self::wire`], signing on a blocking thread: an RSA signature takes most of a millisecond,
    /// so the workers' messages are signed on every core while the sending goes on.
    pub async fn wire_bytes(&self, message: lettre::Message) -> Vec<u8> {
        let Some(dkim) = self.dkim.clone() else {
            return message.formatted();
        };
        tokio::task::spawn_blocking(move || dkim.sign(&message.formatted(), unix_seconds()))
            .await
            .expect("signing a message does not panic")
    }

    /// The message `customer` gets from delivery `delivery`, composed at `now`, unsigned: it is
    /// signed as it goes on the wire ([`Self::wire`]).
    pub fn compose(
        &self,
        customer: &Customer,
        summary: &Summary,
        delivery: DeliveryRef,
        now: Timestamp,
    ) -> Result<Composed, ComposeError> {
        let mut tracker = Tracker {
            signer: &self.signer,
            base_url: &self.base_url,
            delivery_id: delivery.delivery_id,
            tracked: Tracked::default(),
            opens: self.track_opens,
            clicks: self.track_clicks,
        };
        let links = Links {
            unsubscribe_url: tracker.url(Purpose::Unsubscribe),
            preferences_url: tracker.url(Purpose::Preferences),
        };
        let context = self.shared.context(customer, summary, &links, now);
        let parts = self
            .library
            .render(&self.template, &context)
            .map_err(|e| ComposeError::Render(self.library.diagnostic(&e)))?;
        let html = tracker.html(&parts.html);
        let text = match &parts.text {
            Some(text) => tracker.text(text),
            None => html_to_text(&html),
        };
        let to = recipient(customer)?;
        let unsubscribe_mailto = self.unsubscribe_mailto(&links.unsubscribe_url);
        let envelope = Envelope {
            from: &self.from,
            reply_to: self.reply_to.as_ref(),
            to,
            subject: &parts.subject,
            text: &text,
            html: &html,
            message_id: message_id(delivery, &self.from),
            list_unsubscribe: format!("<{}>, <{unsubscribe_mailto}>", links.unsubscribe_url),
            date: now,
        };
        let message = build_message(&envelope)?;
        Ok(Composed {
            subject: parts.subject,
            text,
            html,
            links: tracker.tracked.links,
            message,
        })
    }

    /// `mailto:` for List-Unsubscribe: a mail to the shop whose subject carries the token.
    fn unsubscribe_mailto(&self, unsubscribe_url: &str) -> String {
        let token = unsubscribe_url.rsplit('/').next().unwrap_or_default();
        let mailbox = self.reply_to.as_ref().unwrap_or(&self.from);
        format!("mailto:{}?subject=unsubscribe%20{token}", mailbox.email)
    }
}

/// `<rapport.DELIVERY.RUN@sender-domain>`: unique per delivery, the same on every resend.
pub fn message_id(delivery: DeliveryRef, from: &Mailbox) -> String {
    format!(
        "<rapport.{}.{}@{}>",
        delivery.delivery_id,
        delivery.run_id,
        from.email.domain()
    )
}

/// The customer as a `To` mailbox; the display name is made one line, so it cannot add a header.
fn recipient(customer: &Customer) -> Result<Mailbox, ComposeError> {
    let address = customer
        .email
        .parse()
        .map_err(|_| ComposeError::Address(customer.email.clone()))?;
    let name = [
        customer.first_name.as_deref(),
        customer.last_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(one_line)
    .filter(|n| !n.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    Ok(Mailbox::new((!name.is_empty()).then_some(name), address))
}

/// Now, in seconds since the epoch: a DKIM signature's time (`t=`) is when it was made.
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::synthetic_customer;
    use std::collections::BTreeMap;

    const CONFIG: &str = r#"
[sender]
from = "Maple & Thread <hello@maplethread.example>"
postal_address = "12 Alder St, Portland OR 97201"
[tracking]
base_url = "https://mail.maplethread.example"
secret = "0123456789abcdef0123456789abcdef"
[[campaign]]
name = "winback"
segment = "lapsed"
template = "winback"
"#;

    const NASTY: &[&str] = &[
        "Eve\r\nBcc: victim@example.com",
        "\nX-Injected: 1",
        "\r",
        "a\u{2028}b",
        "\"Boss\" <boss@example.com>, x",
        "=?utf-8?b?QmNjOiB4?=",
        "Zoë",
        "nul\0byte",
        "colon: semi; comma,",
        "   ",
    ];

    /// No name, however crafted, adds a header or a recipient: every header appears once, the only
    /// recipient is the customer, and the subject stays one line.
    #[test]
    fn crafted_names_never_add_headers_or_recipients() {
        let config = crate::config::parse("rapport.toml", CONFIG).unwrap();
        let sources = BTreeMap::from([
            (
                "winback.subject".to_string(),
                "Hi {{ customer.first_name | default(value=\"\") }} {{ customer.last_name | default(value=\"\") }}".to_string(),
            ),
            ("winback.html".to_string(), "<p>{{ customer.first_name | greet }}</p>".to_string()),
        ]);
        let (library, problems) = Library::compile(sources);
        assert!(problems.is_empty(), "{problems:?}");
        let composer = Composer::new(&config, &config.campaigns[0], &library);
        let expected = [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "mime-version",
            "content-type",
        ];
        let mut cases = 0;
        for first in NASTY {
            for last in NASTY {
                let mut customer = synthetic_customer();
                customer.email = "alice@example.com".into();
                customer.first_name = Some(first.to_string());
                customer.last_name = Some(last.to_string());
                let composed = composer
                    .compose(&customer, &Summary::default(), PREVIEW, Timestamp::now())
                    .unwrap();
                let eml = String::from_utf8(composed.message.formatted()).unwrap();
                let head = eml.split("\r\n\r\n").next().unwrap();
                let mut names: Vec<String> = head
                    .split("\r\n")
                    .filter(|l| !l.starts_with([' ', '\t']))
                    .map(|l| l.split(':').next().unwrap().to_ascii_lowercase())
                    .collect();
                names.sort();
                let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
                want.sort();
                assert_eq!(names, want, "{first:?} {last:?}:\n{head}");
                let to = composed.message.envelope().to();
                assert_eq!(to.len(), 1);
                assert_eq!(to[0].to_string(), "alice@example.com");
                assert!(!composed.subject.contains(['\r', '\n']));
                cases += 1;
            }
        }
        assert_eq!(cases, NASTY.len() * NASTY.len());
    }

    #[test]
    fn the_message_id_comes_from_the_delivery() {
        let from: Mailbox = "Shop <hello@shop.example>".parse().unwrap();
        let delivery = DeliveryRef {
            delivery_id: 42,
            run_id: 7,
        };
        assert_eq!(message_id(delivery, &from), "<rapport.42.7@shop.example>");
    }
}
