//! The SMTP connection against a real server (Postfix's smtp-sink): messages arrive, and every injected
//! fault is classified the way the delivery engine needs.

mod common;
use common::smtp_sink::SmtpSink;
use lettre::address::{Address, Envelope};
use rapport::send::{Failure, SmtpConnection, SmtpServer, Timeouts};
use std::time::Duration;

fn envelope(to: &str) -> Envelope {
    let from: Address = "hello@maplethread.example".parse().unwrap();
    Envelope::new(Some(from), vec![to.parse().unwrap()]).unwrap()
}

fn message(to: &str) -> Vec<u8> {
    format!("From: hello@maplethread.example\r\nTo: {to}\r\nSubject: Autumn fabrics\r\n\r\nHello!\r\n.leading dot\r\n").into_bytes()
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_secs(5),
        end_of_data: Duration::from_secs(5),
    }
}

async fn connect(sink: &SmtpSink) -> SmtpConnection {
    SmtpConnection::connect(&SmtpServer::parse(&sink.url()).unwrap(), quick())
        .await
        .expect("connect")
}

/// Several messages travel over one connection, each to its own recipient, byte for byte, whether
/// the server offers PIPELINING (MAIL, RCPT and DATA in one write) or not (`-p`).
#[tokio::test]
async fn messages_arrive_over_one_connection() {
    messages_arrive_over_one_connection_to(&[], true).await;
    messages_arrive_over_one_connection_to(&["-p"], false).await;
}

async fn messages_arrive_over_one_connection_to(options: &[&str], pipelining: bool) {
    let sink = SmtpSink::start(options);
    let mut conn = connect(&sink).await;
    assert_eq!(conn.pipelines(), pipelining, "smtp-sink {options:?}");

    for to in ["alice@example.com", "bob@example.com", "carol@example.com"] {
        conn.send(&envelope(to), &message(to))
            .await
            .expect("accepted");
    }
    conn.quit().await;

    let mut recipients: Vec<String> = sink
        .messages()
        .into_iter()
        .flat_map(|m| m.recipients)
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
    assert!(
        sink.messages()[0].text.contains("\n.leading dot"),
        "dot-stuffing is undone by the server"
    );
}

/// 4xx at RCPT is transient, and the connection stays usable for the next message: pipelined, the
/// replies to DATA that follow a refusal are read too, so each message gets its own RCPT reply.
#[tokio::test]
async fn a_4xx_at_rcpt_is_transient_and_the_connection_survives() {
    for options in [&["-r", "rcpt"][..], &["-r", "rcpt", "-p"]] {
        let sink = SmtpSink::start(options);
        let mut conn = connect(&sink).await;

        for to in ["alice@example.com", "bob@example.com", "carol@example.com"] {
            let failure = conn.send(&envelope(to), &message(to)).await.unwrap_err();

            assert!(failure.should_retry(), "{options:?}: {failure:?}");
            assert!(
                matches!(
                    failure,
                    Failure::Transient {
                        code: Some(450),
                        ..
                    }
                ),
                "{options:?}: {failure:?}"
            );
            assert!(!conn.is_broken());
        }
        assert!(sink.messages().is_empty());
    }
}

/// A relay that answers pipelined commands out of order (smtp-sink with a delayed RCPT reply sends
/// DATA's "503 need RCPT" first) stops the send with a hint, and `?pipelining=off` gets through it.
#[tokio::test]
async fn a_relay_that_answers_out_of_order_is_reached_with_pipelining_off() {
    let sink = SmtpSink::start(&["-W", "rcpt:1"]);
    let to = "alice@example.com";
    let mut pipelined = connect(&sink).await;

    let failure = pipelined
        .send(&envelope(to), &message(to))
        .await
        .unwrap_err();

    let Failure::Setup { detail, .. } = &failure else {
        panic!("{failure:?}")
    };
    assert!(detail.contains("?pipelining=off"), "{detail}");
    assert!(pipelined.is_broken(), "the replies are out of step");
    let server = SmtpServer::parse(&format!("{}?pipelining=off", sink.url())).unwrap();
    let mut plain = SmtpConnection::connect(&server, quick()).await.unwrap();
    assert!(!plain.pipelines());
    plain
        .send(&envelope(to), &message(to))
        .await
        .expect("accepted");
    // smtp-sink keeps a file for the pipelined transaction too, until its connection closes: count
    // the messages that arrived whole.
    let whole = sink
        .messages()
        .into_iter()
        .filter(|m| m.text.contains("Subject: Autumn fabrics"))
        .count();
    assert_eq!(whole, 1);
}

/// A server that offers PIPELINING and answers each command line with `reply(verb, nth EHLO)`; a
/// `None` reply hangs up.
async fn pipelining_server(
    reply: impl Fn(&str, usize) -> Option<&'static [u8]> + Send + 'static,
) -> SmtpServer {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    one_connection_server(move |mut socket| async move {
        let mut ehlos = 0;
        let mut line = String::new();
        while {
            line.clear();
            socket.read_line(&mut line).await.unwrap_or(0) > 0
        } {
            let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
            if verb == "EHLO" {
                ehlos += 1;
            }
            match reply(&verb, ehlos) {
                Some(bytes) => socket.get_mut().write_all(bytes).await.unwrap(),
                None => return,
            }
        }
    })
    .await
}

/// A refusal that the server follows by hanging up (as Exim's `drop` does) is still the refusal:
/// pipelined, a refused recipient is a hard bounce, not a dropped connection to retry.
#[tokio::test]
async fn a_refusal_followed_by_a_hang_up_is_still_a_refusal() {
    let server = pipelining_server(|verb, _| match verb {
        "EHLO" => Some(b"250-test\r\n250 PIPELINING\r\n"),
        "RCPT" => Some(b"550 5.1.1 no such user\r\n"),
        "DATA" => None,
        _ => Some(b"250 ok\r\n"),
    })
    .await;

    a_pipelined_bounce_breaks_the_connection(&server).await;
}

/// Over a pipelining connection to `server`, a message to gone@example.com is a hard bounce after
/// which the connection is given up (and closed, on return).
async fn a_pipelined_bounce_breaks_the_connection(server: &SmtpServer) {
    let mut conn = SmtpConnection::connect(server, quick()).await.unwrap();
    assert!(conn.pipelines());

    let to = "gone@example.com";
    let failure = conn.send(&envelope(to), &message(to)).await.unwrap_err();

    assert!(failure.is_hard_bounce(), "{failure:?}");
    assert!(conn.is_broken());
}

/// A server that closes with 421 when asked about PIPELINING fails the connect as a transient
/// failure, rather than leaving a closed connection for the first message to find.
#[tokio::test]
async fn a_421_to_the_second_ehlo_fails_the_connect() {
    let server = pipelining_server(|verb, ehlos| match (verb, ehlos) {
        ("EHLO", 1) => Some(b"250-test\r\n250 PIPELINING\r\n"),
        ("EHLO", _) => Some(b"421 4.3.2 shutting down\r\n"),
        _ => Some(b"250 ok\r\n"),
    })
    .await;

    let failure = SmtpConnection::connect(&server, quick())
        .await
        .err()
        .expect("the connect fails");

    assert!(
        matches!(
            failure,
            Failure::Transient {
                code: Some(421),
                ..
            }
        ),
        "{failure:?}"
    );
}

/// A message that is not UTF-8 goes through lettre's own writer, dot-stuffed all the same.
#[tokio::test]
async fn a_message_that_is_not_utf8_arrives_whole() {
    let sink = SmtpSink::start(&[]);
    let mut conn = connect(&sink).await;
    let to = "alice@example.com";
    let mut bytes = message(to);
    bytes.extend_from_slice(b"caf\xe9\r\n.second dot\r\n");

    conn.send(&envelope(to), &bytes).await.expect("accepted");

    let text = &sink.messages()[0].text;
    assert!(text.contains("caf\u{fffd}"), "{text}");
    assert!(text.contains("\n.second dot"), "{text}");
}

/// A server that offers PIPELINING but accepts DATA after refusing the recipient is waiting for a
/// message to nobody: nothing is sent, and the connection is given up rather than reset.
#[tokio::test]
async fn data_accepted_after_a_refused_recipient_sends_nothing() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (heard_tx, heard) = tokio::sync::oneshot::channel();
    let server = one_connection_server(|mut socket| async move {
        let mut heard_after_data = Vec::new();
        let mut after_data = false;
        let mut line = String::new();
        while {
            line.clear();
            socket.read_line(&mut line).await.unwrap() > 0
        } {
            if after_data {
                heard_after_data.push(line.clone());
                continue;
            }
            let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-test\r\n250 PIPELINING\r\n",
                "RCPT" => b"550 5.1.1 no such user\r\n",
                "DATA" => b"354 go on\r\n",
                _ => b"250 ok\r\n",
            };
            socket.get_mut().write_all(reply).await.unwrap();
            after_data = verb == "DATA";
        }
        let _ = heard_tx.send(heard_after_data);
    })
    .await;

    a_pipelined_bounce_breaks_the_connection(&server).await;
    assert_eq!(
        heard.await.unwrap(),
        Vec::<String>::new(),
        "nothing is written after DATA"
    );
}

/// 5xx at RCPT is a hard bounce: never retried.
#[tokio::test]
async fn a_5xx_at_rcpt_is_a_hard_bounce() {
    let sink = SmtpSink::start(&["-f", "rcpt"]);
    let mut conn = connect(&sink).await;

    let failure = conn
        .send(&envelope("gone@example.com"), &message("gone@example.com"))
        .await
        .unwrap_err();

    assert!(failure.is_hard_bounce(), "{failure:?}");
    assert!(!failure.should_retry());
}

/// A connection dropped before the message was handed over is retried; one dropped after the final
/// "." is uncertain: the message may have been delivered.
#[tokio::test]
async fn dropped_connections_are_transient_or_uncertain_by_stage() {
    let before = SmtpSink::start(&["-q", "rcpt"]);
    let after = SmtpSink::start(&["-q", "."]);
    let (mut a, mut b) = (connect(&before).await, connect(&after).await);

    let early = a
        .send(&envelope("x@example.com"), &message("x@example.com"))
        .await
        .unwrap_err();
    let late = b
        .send(&envelope("y@example.com"), &message("y@example.com"))
        .await
        .unwrap_err();

    assert!(
        matches!(early, Failure::Transient { code: None, .. }),
        "{early:?}"
    );
    assert!(a.is_broken());
    assert!(matches!(late, Failure::Uncertain { .. }), "{late:?}");
    assert!(b.is_broken());
}

/// tls=required against a server without STARTTLS refuses to send in plain text.
#[tokio::test]
async fn required_tls_never_falls_back_to_plain_text() {
    let sink = SmtpSink::start(&[]);
    let server = SmtpServer::parse(&format!("{}?tls=required", sink.url())).unwrap();

    let result = SmtpConnection::connect(&server, quick()).await;

    let Err(failure) = result else {
        panic!("connected without TLS")
    };
    assert!(matches!(failure, Failure::Setup { .. }), "{failure:?}");
    assert!(
        failure
            .to_string()
            .contains("refusing to send in plain text"),
        "{failure}"
    );
}

/// A refused connection is transient.
#[tokio::test]
async fn connection_refused_is_transient() {
    let (_bound, addr) = common::smtp_sink::refusing_port();
    let server = SmtpServer::parse(&format!("smtp://{addr}")).unwrap();

    let failure = SmtpConnection::connect(&server, quick())
        .await
        .err()
        .expect("nobody listens");

    assert!(failure.should_retry(), "{failure:?}");
}

/// What the stand-in server of the tests below does once it has accepted DATA.
#[derive(Clone, Copy)]
enum AfterData {
    /// Reads a little of the message, then closes the connection (a reset, with data unread).
    HangUpMidMessage,
    /// Never reads the message: the client's writes stall once the socket buffers are full.
    StopReading,
    /// Reads the whole message and its final ".", then never replies.
    NeverReply,
}

/// A one-connection SMTP server that accepts everything up to DATA, then behaves as `after` says.
async fn server_that(after: AfterData) -> SmtpServer {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    one_connection_server(move |mut socket| async move {
        let mut line = String::new();
        loop {
            line.clear();
            if socket.read_line(&mut line).await.unwrap() == 0 {
                return;
            }
            let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
            let reply: &[u8] = if verb == "DATA" {
                b"354 go on\r\n"
            } else {
                b"250 ok\r\n"
            };
            socket.get_mut().write_all(reply).await.unwrap();
            if verb == "DATA" {
                break;
            }
        }
        match after {
            AfterData::HangUpMidMessage => {
                let mut some = vec![0; 64 * 1024];
                socket.read_exact(&mut some).await.unwrap();
            }
            AfterData::StopReading => std::future::pending().await,
            AfterData::NeverReply => {
                let mut seen = Vec::new();
                while !seen.ends_with(b"\r\n.\r\n") {
                    let mut chunk = [0; 4096];
                    let n = socket.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "the client hung up before the final dot");
                    seen.extend_from_slice(&chunk[..n]);
                }
                std::future::pending().await
            }
        }
    })
    .await
}

/// A one-connection SMTP server on a free loopback port: it greets, then `serve` talks to the client.
async fn one_connection_server<F, Fut>(serve: F) -> SmtpServer
where
    F: FnOnce(tokio::io::BufReader<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut socket = tokio::io::BufReader::new(socket);
        socket
            .get_mut()
            .write_all(b"220 test ESMTP\r\n")
            .await
            .unwrap();
        serve(socket).await
    });
    SmtpServer::parse(&format!("smtp://{addr}")).unwrap()
}

/// A message larger than every socket buffer between client and server, so that it cannot be
/// written completely unless the server reads it.
fn huge_message(to: &str) -> Vec<u8> {
    let mut bytes = message(to);
    bytes.extend(
        std::iter::repeat_n(
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n",
            512 * 1024,
        )
        .flatten(),
    );
    bytes
}

fn short_end_of_data() -> Timeouts {
    Timeouts {
        end_of_data: Duration::from_secs(1),
        ..quick()
    }
}

/// A connection lost while the message is still being written is transient: the server cannot
/// have accepted a message whose final "." it never got.
#[tokio::test]
async fn a_connection_lost_mid_message_is_transient() {
    let server = server_that(AfterData::HangUpMidMessage).await;
    let mut conn = SmtpConnection::connect(&server, quick()).await.unwrap();

    let to = "x@example.com";
    let failure = conn
        .send(&envelope(to), &huge_message(to))
        .await
        .unwrap_err();

    assert!(
        matches!(failure, Failure::Transient { code: None, .. }),
        "{failure:?}"
    );
    assert!(conn.is_broken());
}

/// A server that stops reading mid-message times the write out: transient too.
#[tokio::test]
async fn a_write_that_stalls_mid_message_is_transient() {
    let server = server_that(AfterData::StopReading).await;
    let mut conn = SmtpConnection::connect(&server, short_end_of_data())
        .await
        .unwrap();

    let to = "x@example.com";
    let failure = conn
        .send(&envelope(to), &huge_message(to))
        .await
        .unwrap_err();

    assert!(
        matches!(failure, Failure::Transient { code: None, .. }),
        "{failure:?}"
    );
    assert!(conn.is_broken());
}

/// Once the whole message and its final "." are written, no reply in time is uncertain: the server
/// may have taken the message.
#[tokio::test]
async fn no_reply_after_the_final_dot_is_uncertain() {
    let server = server_that(AfterData::NeverReply).await;
    let mut conn = SmtpConnection::connect(&server, short_end_of_data())
        .await
        .unwrap();

    let to = "x@example.com";
    let failure = conn.send(&envelope(to), &message(to)).await.unwrap_err();

    assert!(matches!(failure, Failure::Uncertain { .. }), "{failure:?}");
    assert!(conn.is_broken());
}

/// A message whose go-ahead is refused after DATA is never delivered: the connection is dropped
/// before the final ".", and the next message goes through a new connection.
#[tokio::test]
async fn a_message_held_back_after_data_is_not_delivered() {
    let sink = SmtpSink::start(&[]);
    let mut conn = connect(&sink).await;

    let held = conn
        .send_after(
            &envelope("held@example.com"),
            &message("held@example.com"),
            std::future::ready(false),
        )
        .await
        .unwrap_err();
    assert!(held.should_retry(), "{held:?}");
    assert!(conn.is_broken());
    conn.quit().await;
    let mut next = connect(&sink).await;
    next.send_after(
        &envelope("next@example.com"),
        &message("next@example.com"),
        std::future::ready(true),
    )
    .await
    .expect("accepted");
    next.quit().await;

    let recipients: Vec<String> = sink
        .messages()
        .into_iter()
        .flat_map(|m| m.recipients)
        .collect();
    assert_eq!(recipients, ["next@example.com"]);
}

/// A 4xx reply to the final "." (451: the server could not queue the message) is transient, not
/// uncertain: the server said it did not take the message. The connection carries the next one.
#[tokio::test]
async fn a_4xx_after_the_final_dot_is_transient() {
    let sink = SmtpSink::start(&["-r", "."]);
    let mut conn = connect(&sink).await;

    let failure = conn
        .send(&envelope("x@example.com"), &message("x@example.com"))
        .await
        .unwrap_err();

    assert!(
        matches!(failure, Failure::Transient { code: Some(code), .. } if (400..500).contains(&code)),
        "{failure:?}"
    );
    assert!(!conn.is_broken());
}

/// A server too busy to talk (4xx at the greeting) fails the connect as a transient failure.
#[tokio::test]
async fn a_4xx_greeting_is_transient() {
    let sink = SmtpSink::start(&["-r", "connect"]);

    let failure = SmtpConnection::connect(&SmtpServer::parse(&sink.url()).unwrap(), quick())
        .await
        .err()
        .expect("the connect fails");

    assert!(
        matches!(failure, Failure::Transient { code: Some(code), .. } if (400..500).contains(&code)),
        "{failure:?}"
    );
}
