//! A TCP stream that tells whether it has been read from since a mark: how [`super::SmtpConnection`]
//! knows, when a message fails at the end of DATA, whether the whole message and its final "." were
//! written (lettre reads the reply only then) or the failure came while writing.
//!
//! It sits under TLS when STARTTLS is used: writing through TLS never reads the socket, so a read is
//! still only ever the wait for a reply.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The socket, and a flag set on every read.
#[derive(Debug)]
pub struct Watched {
    tcp: TcpStream,
    read: Arc<AtomicBool>,
}

/// The watching side: [`ReadWatch::mark`] clears the flag, [`ReadWatch::read_since_mark`] tells
/// whether the connection has been read from since.
#[derive(Debug, Clone)]
pub struct ReadWatch(Arc<AtomicBool>);

impl Watched {
    pub fn new(tcp: TcpStream) -> (Watched, ReadWatch) {
        let read = Arc::new(AtomicBool::new(false));
        (
            Watched {
                tcp,
                read: read.clone(),
            },
            ReadWatch(read),
        )
    }
}

impl ReadWatch {
    pub fn mark(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn read_since_mark(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.read.store(true, Ordering::SeqCst);
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for Watched {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }
}
