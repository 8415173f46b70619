//! One SMTP connection to the relay, driven step by step through lettre's SMTP client so that every
//! failure is known by its stage (MAIL, RCPT, DATA, the final ".") and classified by [`classify`].
//!
//! For `smtp://` we open the TCP socket ourselves and set TCP_NODELAY before handing it to lettre:
//! lettre never sets it, and without it every message waits for a delayed ACK (about 44 ms per message
//! per connection on Linux loopback). STARTTLS and AUTH then go through lettre. `smtps://` connections
//! are opened by lettre and lack TCP_NODELAY (slower, still correct).
//!
//! A password is only ever sent over TLS, or to a relay on this machine. A connection is meant to be
//! long-lived, one per worker; after a transport error it is broken and must be replaced.
//!
//! Round trips are most of what a message costs a connection. When the server offers PIPELINING (RFC
//! 2920; lettre does not know it, so a second EHLO asks), MAIL, RCPT and DATA go out in one write, and
//! the message with its final "." in another: two round trips instead of four (`?pipelining=off` in
//! the URL keeps to one command at a time).
//!
//! A failure at the end of DATA is uncertain (the message may have arrived) only once the whole
//! message and its final "." were written: a write that fails or stalls before that leaves the server
//! with an unfinished message, which it discards, so the attempt is a transient failure. The socket is
//! [`Watched`] to tell the two apart (lettre reads the reply only after writing everything); over
//! `smtps://`, whose socket lettre opens, only a failure while the body was still being written is
//! known to be transient.

use super::reply::{Failure, Stage, classify};
use super::smtp_url::{SmtpServer, TlsMode};
use super::watched::{ReadWatch, Watched};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long to wait at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// For the greeting and every command reply but the last.
    pub command: Duration,
    /// For the reply to the final "."; RFC 5321 §4.5.3.2.6 allows the server 10 minutes.
    pub end_of_data: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            command: Duration::from_secs(120),
            end_of_data: Duration::from_secs(600),
        }
    }
}

/// An open, greeted (and, as configured, encrypted and authenticated) connection.
pub struct SmtpConnection {
    inner: AsyncSmtpConnection,
    timeouts: Timeouts,
    broken: bool,
    /// Tells whether the socket was read since the message began (none over `smtps://`).
    reads: Option<ReadWatch>,
    /// The server offers PIPELINING (RFC 2920): MAIL, RCPT and DATA go out in one write.
    pipelining: bool,
}

impl SmtpConnection {
    /// Connects, greets, upgrades to TLS as `server.tls` says, and authenticates.
    pub async fn connect(
        server: &SmtpServer,
        timeouts: Timeouts,
    ) -> Result<SmtpConnection, Failure> {
        let hello = ClientId::Domain(
            server
                .hello_name
                .clone()
                .unwrap_or_else(|| "localhost".to_string()),
        );
        let tls =
            || TlsParameters::new(server.host.clone()).map_err(|e| setup(format!("TLS: {e}")));
        let mut reads = None;
        let mut inner = if server.tls == TlsMode::Wrapper {
            let address = (server.host.as_str(), server.port);
            let connecting = AsyncSmtpConnection::connect_tokio1(
                address,
                Some(timeouts.command),
                &hello,
                Some(tls()?),
                None,
            );
            step(
                Stage::Connect,
                timeouts.connect + timeouts.command,
                connecting,
            )
            .await?
        } else {
            let tcp = step_io(
                Stage::Connect,
                timeouts.connect,
                TcpStream::connect((server.host.as_str(), server.port)),
            )
            .await?;
            tcp.set_nodelay(true)
                .map_err(|e| classify(Stage::Connect, None, &e.to_string()))?;
            let (tcp, watch) = Watched::new(tcp);
            reads = Some(watch);
            step(
                Stage::Greeting,
                timeouts.command,
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello),
            )
            .await?
        };
        match server.tls {
            TlsMode::Required | TlsMode::Opportunistic if inner.can_starttls() => {
                step(
                    Stage::Greeting,
                    timeouts.command,
                    inner.starttls(tls()?, &hello),
                )
                .await?;
            }
            TlsMode::Required => {
                inner.abort().await;
                return Err(setup(format!(
                    "{}:{} does not offer STARTTLS and the URL says tls=required; refusing to send in plain text",
                    server.host, server.port
                )));
            }
            _ => {}
        }
        let pipelining =
            server.pipelining && offers_pipelining(&mut inner, &hello, timeouts.command).await?;
        if let Some((user, password)) = &server.credentials {
            if !inner.is_encrypted() && !is_loopback(&server.host) {
                inner.abort().await;
                return Err(setup(format!(
                    "refusing to send the SMTP password in plain text to {}: use ?tls=required or smtps://",
                    server.host
                )));
            }
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            step(
                Stage::Auth,
                timeouts.command,
                inner.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
            )
            .await?;
        }
        Ok(SmtpConnection {
            inner,
            timeouts,
            broken: false,
            reads,
            pipelining,
        })
    }

    /// Whether MAIL, RCPT and DATA are pipelined on this connection (the server offers PIPELINING).
    pub fn pipelines(&self) -> bool {
        self.pipelining
    }

    /// Sends one message. On a refusal the transaction is reset so the connection can carry the next
    /// message; on a transport error the connection is marked broken (see [`Self::is_broken`]).
    pub async fn send(&mut self, envelope: &Envelope, message: &[u8]) -> Result<(), Failure> {
        self.send_after(envelope, message, std::future::ready(true))
            .await
    }

    /// Sends one message, but writes it (and so delivers it) only once `ready` says yes: the
    /// envelope and DATA, which deliver nothing, go first, while the caller finishes something that
    /// must come before the delivery (recording the previous message). If `ready` says no, nothing is
    /// delivered: the connection is dropped in the middle of its transaction, which the server
    /// discards, and the attempt fails as transient.
    pub async fn send_after(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
        ready: impl Future<Output = bool>,
    ) -> Result<(), Failure> {
        let result = self.transaction(envelope, message, ready).await;
        if let Err(failure) = &result {
            let replied = matches!(
                failure,
                Failure::Bounce { .. }
                    | Failure::Policy { .. }
                    | Failure::Rejected { .. }
                    | Failure::Transient { code: Some(_), .. }
            );
            // A transaction left in an unknown state (see `envelope_pipelined`) is not reset.
            let reset = replied
                && !self.broken
                && timeout(self.timeouts.command, self.inner.command(Rset))
                    .await
                    .is_ok_and(|r| r.is_ok());
            self.broken = !reset;
        }
        result
    }

    async fn transaction(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
        ready: impl Future<Output = bool>,
    ) -> Result<(), Failure> {
        let t = self.timeouts;
        let mut parameters = Vec::new();
        let unicode_addresses = envelope
            .to()
            .iter()
            .chain(envelope.from())
            .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if unicode_addresses {
            if !self
                .inner
                .server_info()
                .supports_feature(Extension::SmtpUtfEight)
            {
                return Err(Failure::Rejected {
                    code: None,
                    detail: "the address has non-ASCII characters and the SMTP server does not accept them (no SMTPUTF8)"
                        .to_string(),
                });
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii()
            && self
                .inner
                .server_info()
                .supports_feature(Extension::EightBitMime)
        {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let mail = Mail::new(envelope.from().cloned(), parameters);
        if self.pipelining {
            self.envelope_pipelined(mail, envelope).await?;
        } else {
            step(Stage::Mail, t.command, self.inner.command(mail)).await?;
            for to in envelope.to() {
                step(
                    Stage::Rcpt,
                    t.command,
                    self.inner.command(Rcpt::new(to.clone(), vec![])),
                )
                .await?;
            }
            step(Stage::Data, t.command, self.inner.command(Data)).await?;
        }
        if !ready.await {
            return Err(Failure::Transient {
                code: None,
                detail: "not sent: what had to come first failed".to_string(),
            });
        }
        self.message(message).await
    }

    /// MAIL, every RCPT and DATA in one write, then their replies in order (RFC 2920). Every reply is
    /// read, even after a refusal, so that the connection stays in step; the first refusal is the
    /// failure, even if the server then hangs up (some refuse, then drop the connection). A server
    /// that accepts DATA after refusing an earlier command is waiting for a message: RFC 2920 would
    /// have us send an empty one, but that could reach the recipients it did accept, so the connection
    /// is marked broken instead, and dropping it discards the transaction. A reply of the wrong kind
    /// (DATA answered but not with 354) means the replies are out of step: broken too.
    async fn envelope_pipelined(&mut self, mail: Mail, envelope: &Envelope) -> Result<(), Failure> {
        let limit = self.timeouts.command;
        let mut group = mail.to_string();
        for to in envelope.to() {
            group.push_str(&Rcpt::new(to.clone(), vec![]).to_string());
        }
        group.push_str(&Data.to_string());
        let stages = std::iter::once(Stage::Mail)
            .chain(envelope.to().iter().map(|_| Stage::Rcpt))
            .chain(std::iter::once(Stage::Data));
        let mut refused = None;
        for (i, stage) in stages.enumerate() {
            let reply = if i == 0 {
                timeout(limit, self.inner.command(group.as_str())).await
            } else {
                timeout(limit, self.inner.read_response()).await
            };
            match reply {
                Ok(Err(e)) if e.status().is_some() => {
                    if refused.is_none() {
                        refused = settle::<()>(stage, limit, Ok(Err(e)))
                            .err()
                            .map(pipelined_refusal);
                    }
                }
                Ok(Ok(reply)) => {
                    let code = u16::from(reply.code());
                    let expected = if stage == Stage::Data {
                        code == 354
                    } else {
                        (200..300).contains(&code)
                    };
                    if !expected {
                        self.broken = true;
                        return Err(refused.unwrap_or_else(|| Failure::Transient {
                            code: None,
                            detail: format!(
                                "the relay answered {code} to {stage:?}: its replies are out of step with the commands"
                            ),
                        }));
                    }
                    if stage == Stage::Data && refused.is_some() {
                        self.broken = true;
                    }
                }
                failed => {
                    let lost = settle(stage, limit, failed).map(|_| ());
                    if let Some(refusal) = refused {
                        self.broken = true;
                        return Err(refusal);
                    }
                    return lost;
                }
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// Writes the message and its final ".", and waits for the reply. A failure is classified at
    /// [`Stage::Body`] unless everything was written (the reply was being read), or, where the socket
    /// is not watched, at least the body was.
    async fn message(&mut self, message: &[u8]) -> Result<(), Failure> {
        let limit = self.timeouts.end_of_data;
        if let (Some(reads), Ok(text)) = (&self.reads, std::str::from_utf8(message)) {
            // One write: lettre's `message` writes the final "." apart, a second segment that wakes
            // the server a second time. `command` writes what it is given as it is, but only text;
            // and only a watched socket tells a body cut short from a reply that never came. Other
            // messages (over smtps://, or not UTF-8) go through lettre's own writer below.
            let block = data_block(text);
            reads.mark();
            let result = timeout(limit, self.inner.command(block)).await;
            let stage = if reads.read_since_mark() {
                Stage::EndOfData
            } else {
                Stage::Body
            };
            return settle(stage, limit, result).map(|_reply| ());
        }
        let body_written = AtomicBool::new(false);
        let parts = std::iter::once(message).chain(std::iter::from_fn(|| {
            body_written.store(true, Ordering::SeqCst);
            None
        }));
        if let Some(reads) = &self.reads {
            reads.mark();
        }
        let result = timeout(limit, self.inner.message_iter(parts)).await;
        let everything_written = match &self.reads {
            Some(reads) => reads.read_since_mark(),
            None => body_written.load(Ordering::SeqCst),
        };
        let stage = if everything_written {
            Stage::EndOfData
        } else {
            Stage::Body
        };
        settle(stage, limit, result).map(|_reply| ())
    }

    /// True after a transport error or timeout: drop this connection and open a new one.
    pub fn is_broken(&self) -> bool {
        self.broken || self.inner.has_broken()
    }

    /// Says goodbye politely (QUIT), ignoring errors: the messages are already accepted. A broken
    /// connection is only closed: it may be in the middle of a message, where QUIT would be taken
    /// for a line of it.
    pub async fn quit(mut self) {
        if self.is_broken() {
            return;
        }
        let _ = timeout(self.timeouts.command, self.inner.quit()).await;
    }
}

/// lettre's EHLO keeps only the extensions lettre knows, and PIPELINING is not one of them: ask
/// again (RFC 5321 allows a second EHLO; it resets nothing that matters before a transaction). It
/// must come before AUTH: some servers forget the authentication on EHLO. A permanent refusal (5xx)
/// means no pipelining; a 421 (the server is closing) or a dropped connection fails the connect.
async fn offers_pipelining(
    inner: &mut AsyncSmtpConnection,
    hello: &ClientId,
    limit: Duration,
) -> Result<bool, Failure> {
    match timeout(limit, inner.command(Ehlo::new(hello.clone()))).await {
        Ok(Ok(reply)) => Ok(reply
            .message()
            .any(|line| line.trim().eq_ignore_ascii_case("PIPELINING"))),
        Ok(Err(e)) if e.is_permanent() => Ok(false),
        failed => settle(Stage::Greeting, limit, failed).map(|_| false),
    }
}

/// A protocol error on a pipelined envelope ("503 need RCPT command") may be a relay that answers
/// pipelined commands out of order: say how to turn pipelining off.
fn pipelined_refusal(failure: Failure) -> Failure {
    match failure {
        Failure::Setup { code, detail } => Failure::Setup {
            code,
            detail: format!(
                "{detail} (MAIL, RCPT and DATA were pipelined: if the relay answers them out of order, \
                 add ?pipelining=off to smtp_url)"
            ),
        },
        other => other,
    }
}

/// The message as a DATA block (RFC 5321 §4.5.2): a "." that begins a line is doubled, and the block
/// ends with CRLF "." CRLF (the message's own last CRLF serves as the first).
fn data_block(message: &str) -> String {
    let mut block = String::with_capacity(message.len() + message.len() / 64 + 5);
    for line in message.split_inclusive('\n') {
        if line.starts_with('.') {
            block.push('.');
        }
        block.push_str(line);
    }
    if !block.ends_with("\r\n") {
        block.push_str("\r\n");
    }
    block.push_str(".\r\n");
    block
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn setup(detail: String) -> Failure {
    Failure::Setup { code: None, detail }
}

/// Awaits one lettre step within `limit`, classifying a refusal, an error or a timeout at `stage`.
async fn step<T>(
    stage: Stage,
    limit: Duration,
    work: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, Failure> {
    settle(stage, limit, timeout(limit, work).await)
}

/// The outcome of a step that had `limit` to finish, classified at `stage`.
fn settle<T>(
    stage: Stage,
    limit: Duration,
    result: Result<Result<T, lettre::transport::smtp::Error>, tokio::time::error::Elapsed>,
) -> Result<T, Failure> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(classify(stage, e.status().map(u16::from), &e.to_string())),
        Err(_) if stage == Stage::Body => Err(classify(
            stage,
            None,
            &format!(
                "the server did not take the whole message within {} s",
                limit.as_secs()
            ),
        )),
        Err(_) => Err(classify(
            stage,
            None,
            &format!("no reply within {} s", limit.as_secs()),
        )),
    }
}

async fn step_io<T>(
    stage: Stage,
    limit: Duration,
    work: impl Future<Output = std::io::Result<T>>,
) -> Result<T, Failure> {
    match timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(classify(stage, None, &e.to_string())),
        Err(_) => Err(classify(
            stage,
            None,
            &format!("no connection within {} s", limit.as_secs()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::data_block;

    #[test]
    fn a_data_block_doubles_leading_dots_and_ends_with_a_lone_dot() {
        assert_eq!(
            data_block(".first\r\nmid.dle\r\n.\r\n..two\r\n"),
            "..first\r\nmid.dle\r\n..\r\n...two\r\n.\r\n"
        );
        assert_eq!(
            data_block("no final line break"),
            "no final line break\r\n.\r\n"
        );
        assert_eq!(data_block("bare\n.dot"), "bare\n..dot\r\n.\r\n");
        assert_eq!(data_block(""), "\r\n.\r\n");
    }
}
