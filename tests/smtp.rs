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

/// Several messages travel over one connection, each to its own recipient, byte for byte.
#[tokio::test]
async fn messages_arrive_over_one_connection() {
    let sink = SmtpSink::start(&[]);
    let mut conn = connect(&sink).await;

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

/// 4xx at RCPT is transient, and the connection stays usable for the next message.
#[tokio::test]
async fn a_4xx_at_rcpt_is_transient_and_the_connection_survives() {
    let sink = SmtpSink::start(&["-r", "rcpt"]);
    let mut conn = connect(&sink).await;

    let failure = conn
        .send(
            &envelope("alice@example.com"),
            &message("alice@example.com"),
        )
        .await
        .unwrap_err();

    assert!(failure.should_retry(), "{failure:?}");
    assert!(
        matches!(
            failure,
            Failure::Transient {
                code: Some(450),
                ..
            }
        ),
        "{failure:?}"
    );
    assert!(!conn.is_broken());
    assert!(sink.messages().is_empty());
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = SmtpServer::parse(&format!("smtp://127.0.0.1:{port}")).unwrap();

    let failure = SmtpConnection::connect(&server, quick())
        .await
        .err()
        .expect("nobody listens");

    assert!(failure.should_retry(), "{failure:?}");
}
