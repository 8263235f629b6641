//! Connections a handler can cut: the `drop` fault closes the connection without an answer, so
//! the client sees a transport error (reqwest: "connection closed before message completed")
//! rather than an HTTP status.
//!
//! [`CuttableStream::new`] wraps each accepted stream (see [`crate::server::serve`]); the stream
//! shares a flag with the [`Connection`] that handlers find in the request's `ConnectInfo`.
//! Once a handler sets the flag, every read and write on the stream fails, so hyper abandons
//! the response it was about to write and drops the socket.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct CuttableStream {
    inner: TcpStream,
    cut: Arc<AtomicBool>,
}

/// The handlers' handle on their connection.
#[derive(Clone)]
pub struct Connection {
    cut: Arc<AtomicBool>,
}

impl Connection {
    /// From now on the connection fails every read and write: no answer reaches the client.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
    }
}

impl CuttableStream {
    /// The stream and its handle for handlers.
    pub fn new(inner: TcpStream) -> (CuttableStream, Connection) {
        let cut: Arc<AtomicBool> = Arc::default();
        (
            CuttableStream {
                inner,
                cut: cut.clone(),
            },
            Connection { cut },
        )
    }

    fn check(&self) -> io::Result<()> {
        if self.cut.load(Ordering::Acquire) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection cut by the drop fault",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
