//! Where a worker's messages go: the outbox folder, or its own long-lived SMTP connection (opened on
//! first use and replaced after a transport error).

use crate::send::{Failure, SmtpConnection, SmtpServer, Timeouts, write_message};
use std::path::PathBuf;

/// One worker's way out.
pub enum Link {
    Outbox {
        dir: PathBuf,
    },
    Smtp {
        server: SmtpServer,
        timeouts: Timeouts,
        connection: Option<Box<SmtpConnection>>,
    },
}

impl Link {
    /// Hands one message over once `ready` says yes (see [`SmtpConnection::send_after`]); the outbox
    /// names its file after the delivery.
    pub async fn send(
        &mut self,
        delivery_id: i64,
        envelope: &lettre::address::Envelope,
        bytes: Vec<u8>,
        ready: impl std::future::Future<Output = bool>,
    ) -> Result<(), Failure> {
        match self {
            Link::Outbox { dir } => {
                if !ready.await {
                    return Err(Failure::Transient {
                        code: None,
                        detail: "not written: what had to come first failed".to_string(),
                    });
                }
                let dir = dir.clone();
                let written =
                    tokio::task::spawn_blocking(move || write_message(&dir, delivery_id, &bytes))
                        .await;
                match written {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(Failure::Transient {
                        code: None,
                        detail: format!("{e:#}"),
                    }),
                    Err(e) => Err(Failure::Transient {
                        code: None,
                        detail: e.to_string(),
                    }),
                }
            }
            Link::Smtp {
                server,
                timeouts,
                connection,
            } => {
                if connection.as_ref().is_none_or(|c| c.is_broken()) {
                    *connection = Some(Box::new(SmtpConnection::connect(server, *timeouts).await?));
                }
                let conn = connection.as_mut().expect("connected above");
                conn.send_after(envelope, &bytes, ready).await
            }
        }
    }

    /// Closes the SMTP connection politely.
    pub async fn close(self) {
        if let Link::Smtp {
            connection: Some(conn),
            ..
        } = self
        {
            (*conn).quit().await;
        }
    }
}
