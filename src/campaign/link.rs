//! Where a worker's messages go: the outbox folder, or its own long-lived SMTP connection (opened on
//! first use and replaced after a transport error), kept from one pass to the next ([`Links`]).

use crate::config::Transport;
use crate::send::{Failure, SmtpConnection, SmtpServer, Timeouts, write_message};
use crate::workspace::Workspace;
use std::path::PathBuf;
use std::time::Duration;

/// How long a polite QUIT may take before the connection is simply dropped: an unresponsive relay
/// must not hold up the daemon's next step, nor `rapport send`'s exit.
const QUIT_WITHIN: Duration = Duration::from_secs(5);

/// Closes `links` together, each within [`QUIT_WITHIN`].
pub(crate) async fn close_all(links: impl IntoIterator<Item = Link>) {
    let closing = links
        .into_iter()
        .map(|link| tokio::time::timeout(QUIT_WITHIN, link.close()));
    futures_util::future::join_all(closing).await;
}

/// The workers' links between passes. `rapport send` makes one pass; the daemon delivers a large
/// run in rounds of a few seconds, each of which would otherwise open every worker's connection
/// anew. Close them before a long wait: servers drop idle connections.
#[derive(Default)]
pub struct Links {
    idle: Vec<Link>,
}

impl Links {
    /// One link per worker: those kept from the last pass first, then new ones.
    pub(crate) async fn take(
        &mut self,
        workspace: &Workspace,
        concurrency: usize,
    ) -> anyhow::Result<Vec<Link>> {
        let mut links: Vec<Link> = self.idle.drain(..).collect();
        close_all(links.split_off(concurrency.min(links.len()))).await;
        if links.len() == concurrency {
            return Ok(links);
        }
        let delivery = &workspace.config.delivery;
        let fresh: Box<dyn Fn() -> Link> = match delivery.transport.get_ref() {
            Transport::Outbox => {
                let dir = workspace.dir.join(&delivery.outbox_dir);
                Box::new(move || Link::Outbox { dir: dir.clone() })
            }
            Transport::Smtp => {
                let url = delivery
                    .smtp_url
                    .as_ref()
                    .expect("checked when the configuration was loaded");
                let server =
                    SmtpServer::parse(url.get_ref().expose()).map_err(anyhow::Error::msg)?;
                Box::new(move || Link::Smtp {
                    server: server.clone(),
                    timeouts: Timeouts::default(),
                    connection: None,
                })
            }
        };
        links.resize_with(concurrency, fresh);
        Ok(links)
    }

    /// Keeps `links` for the next pass.
    pub(crate) fn keep(&mut self, links: Vec<Link>) {
        self.idle.extend(links);
    }

    /// Closes the kept connections politely.
    pub async fn close(&mut self) {
        close_all(self.idle.drain(..)).await;
    }
}

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
