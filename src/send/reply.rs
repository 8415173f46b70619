//! What an SMTP failure means for a delivery, decided apart from any retry loop (RFC 5321 §4.2,
//! RFC 3463 enhanced codes, and RELIABILITY.md):
//!
//! - the basic reply code's first digit decides transient (4) against permanent (5): `421 5.7.32` is
//!   transient; a lost connection or a timeout counts as 451;
//! - a timeout or lost connection after the final "." was written has an *unknown* outcome: the
//!   server may have taken the message, so it is recorded as uncertain rather than blindly retried;
//!   one while the message or its final "." was still being written is transient: a server never
//!   accepts an unfinished message;
//! - mailbox errors (5.1.x, 5.2.1) once a recipient is named, and any other permanent refusal of RCPT
//!   (the reply that is about this one recipient), mean the address is bad: a hard bounce;
//! - a permanent refusal before any recipient is named (greeting, AUTH, MAIL FROM: e.g. `553 5.1.8`
//!   for our own sender address) is about our setup: the run pauses, nobody is suppressed;
//! - 5.7.x policy rejections (DMARC, blocklists) mean *our* setup is wrong: fail, never suppress;
//! - 552 at RCPT ("too many recipients") is transient; 530/535 authentication failures pause the run;
//! - protocol errors (503 "bad sequence", 5.5.x syntax) are our client's, never a recipient's: pause.

use std::fmt;

/// The step of the SMTP transaction that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Greeting,
    Auth,
    Mail,
    Rcpt,
    Data,
    /// Writing the message body and the final ".".
    Body,
    /// Waiting for the reply to the final ".", once everything was written.
    EndOfData,
}

/// What a failed attempt means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Try again later (4xx, connection trouble before the whole message was handed over).
    Transient { code: Option<u16>, detail: String },
    /// The address does not exist: fail and suppress it.
    Bounce { code: u16, detail: String },
    /// Refused by policy (5.7.x): fail, keep the customer, warn the owner: the sender's setup is wrong.
    Policy { code: u16, detail: String },
    /// Refused for another permanent reason (or unsendable as it stands): fail, keep the customer.
    Rejected { code: Option<u16>, detail: String },
    /// The relay cannot be used as configured (credentials refused, TLS required but not offered):
    /// stop the whole run rather than fail every recipient.
    Setup { code: Option<u16>, detail: String },
    /// The connection broke or timed out after the whole message and its final "." were written: it
    /// may have been delivered.
    Uncertain { detail: String },
}

impl Failure {
    /// Whether another attempt may succeed.
    pub fn should_retry(&self) -> bool {
        matches!(self, Failure::Transient { .. })
    }

    pub fn is_hard_bounce(&self) -> bool {
        matches!(self, Failure::Bounce { .. })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Transient { detail, .. } => write!(f, "temporary failure: {detail}"),
            Failure::Bounce { detail, .. } => write!(f, "address rejected (hard bounce): {detail}"),
            Failure::Policy { detail, .. } => {
                write!(f, "rejected by the receiving server's policy: {detail}")
            }
            Failure::Rejected { detail, .. } => write!(f, "rejected: {detail}"),
            Failure::Setup { detail, .. } => {
                write!(f, "the SMTP server cannot be used as configured: {detail}")
            }
            Failure::Uncertain { detail } => write!(
                f,
                "outcome unknown (the connection ended after the message was sent): {detail}"
            ),
        }
    }
}

/// Classifies a failure at `stage`: `code` is the basic reply code when the server answered, `text`
/// the reply (where an enhanced code such as `5.1.1` is looked for) or the network error.
pub fn classify(stage: Stage, code: Option<u16>, text: &str) -> Failure {
    let detail = text.trim().to_string();
    let Some(code) = code else {
        return match stage {
            Stage::EndOfData => Failure::Uncertain { detail },
            _ => Failure::Transient { code: None, detail },
        };
    };
    let enhanced = enhanced_code(text);
    match code {
        400..=499 => Failure::Transient {
            code: Some(code),
            detail,
        },
        530 | 534 | 535 | 538 => Failure::Setup {
            code: Some(code),
            detail,
        },
        552 if stage == Stage::Rcpt && !matches!(enhanced, Some((5, 1, _) | (5, 2, 1))) => {
            Failure::Transient {
                code: Some(code),
                detail,
            }
        }
        // A refusal before any recipient is named is about us (our sender address, our client), not
        // about a customer: pause the run rather than fail or suppress anyone.
        500..=599
            if matches!(
                stage,
                Stage::Connect | Stage::Greeting | Stage::Auth | Stage::Mail
            ) =>
        {
            Failure::Setup {
                code: Some(code),
                detail,
            }
        }
        500..=599 => match enhanced {
            Some((5, 1, _)) | Some((5, 2, 1)) => Failure::Bounce { code, detail },
            // "Bad sequence of commands", syntax errors (5.5.x): our client and the server disagree,
            // which no recipient can cause and every recipient would meet: pause, suppress no one.
            _ if code == 503 || matches!(enhanced, Some((5, 5, _))) => Failure::Setup {
                code: Some(code),
                detail,
            },
            Some((5, 7, _)) => Failure::Policy { code, detail },
            _ if stage == Stage::Rcpt => Failure::Bounce { code, detail },
            _ => Failure::Rejected {
                code: Some(code),
                detail,
            },
        },
        _ => Failure::Transient {
            code: Some(code),
            detail,
        },
    }
}

/// The first RFC 3463 enhanced status code (`class.subject.detail`) in `text`.
fn enhanced_code(text: &str) -> Option<(u8, u16, u16)> {
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ':' || c == ',')
        .find_map(|word| {
            let mut parts = word.split('.');
            let class: u8 = parts.next()?.parse().ok()?;
            let subject: u16 = parts.next()?.parse().ok()?;
            let detail: u16 = parts.next()?.parse().ok()?;
            (parts.next().is_none()
                && matches!(class, 2 | 4 | 5)
                && subject < 1000
                && detail < 1000)
                .then_some((class, subject, detail))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_basic_code_decides_transient_or_permanent() {
        assert!(classify(Stage::Rcpt, Some(421), "4.7.32 try later").should_retry());
        assert!(classify(Stage::Mail, Some(451), "4.3.0 local error").should_retry());
        assert!(!classify(Stage::Data, Some(554), "5.6.0 bad content").should_retry());
    }

    #[test]
    fn only_mailbox_errors_are_hard_bounces() {
        assert!(
            classify(
                Stage::Rcpt,
                Some(550),
                "5.1.1 <x@y>: Recipient address rejected"
            )
            .is_hard_bounce()
        );
        assert!(classify(Stage::Rcpt, Some(550), "mailbox unavailable").is_hard_bounce());
        assert!(classify(Stage::Rcpt, Some(552), "5.2.1 mailbox disabled").is_hard_bounce());
        let policy = classify(Stage::Rcpt, Some(550), "5.7.1 rejected by DMARC policy");
        assert!(
            matches!(policy, Failure::Policy { code: 550, .. }),
            "{policy:?}"
        );
        assert!(matches!(
            classify(Stage::EndOfData, Some(554), "5.7.26 unauthenticated"),
            Failure::Policy { .. }
        ));
        assert!(matches!(
            classify(Stage::Data, Some(554), "transaction failed"),
            Failure::Rejected { .. }
        ));
        assert!(classify(Stage::Rcpt, Some(500), "5.3.0 Error: command failed").is_hard_bounce());
    }

    #[test]
    fn protocol_errors_at_rcpt_pause_instead_of_suppressing() {
        for (code, text) in [
            (503, "5.5.1 Error: need MAIL command"),
            (500, "5.5.2 syntax error"),
        ] {
            let failure = classify(Stage::Rcpt, Some(code), text);
            assert!(matches!(failure, Failure::Setup { .. }), "{failure:?}");
        }
    }

    #[test]
    fn refusals_of_our_own_sender_pause_instead_of_suppressing() {
        let failure = classify(Stage::Mail, Some(553), "5.1.8 sender address rejected");
        assert!(matches!(failure, Failure::Setup { .. }), "{failure:?}");
        assert!(!failure.is_hard_bounce());
    }

    #[test]
    fn too_many_recipients_is_transient_and_auth_pauses() {
        assert!(classify(Stage::Rcpt, Some(552), "too many recipients").should_retry());
        assert!(matches!(
            classify(Stage::Auth, Some(535), "5.7.8 bad credentials"),
            Failure::Setup { .. }
        ));
    }

    #[test]
    fn lost_connections_are_transient_unless_the_message_was_sent() {
        assert!(classify(Stage::Rcpt, None, "connection reset").should_retry());
        assert!(classify(Stage::Body, None, "broken pipe").should_retry());
        assert!(matches!(
            classify(Stage::EndOfData, None, "timed out"),
            Failure::Uncertain { .. }
        ));
    }
}
