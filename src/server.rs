//! Serving HTTP with limits, for both servers (the daemon's and the emulator's).
//!
//! `axum::serve` sets no timer on hyper, so hyper's header read timeout never fires: a client
//! that sends its headers one byte per five seconds, or opens a connection and sends nothing,
//! holds a task and a file descriptor for ever. Here every connection gets:
//! - a **header read timeout** (hyper's, with a tokio timer): the whole header block, and on a
//!   keep-alive connection the idle wait before the next request, must fit in it;
//! - a **request timeout**: a handler that is still reading a slow body (or working) when it
//!   expires is answered `408` and the connection closed;
//! - a **connection limit**: past it, new connections wait in the kernel's accept queue
//!   instead of taking a descriptor each.
//!
//! Shutdown stops accepting, lets requests in flight finish (bounded by the request timeout)
//! and returns.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

/// Limits of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves. `wrap` turns each accepted stream into
/// the IO hyper reads and a value every request of that connection finds as `ConnectInfo`.
pub async fn serve<Io, Info>(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    wrap: impl Fn(TcpStream) -> (Io, Info) + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Info: Clone + Send + Sync + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("never closed"),
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) => continue,
                Err(e) => {
                    // Out of descriptors and the like: wait for some to be freed.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (io, info) = wrap(stream);
        let app = app.clone();
        let timeout = limits.request_timeout;
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(info.clone()));
            let app = app.clone();
            async move {
                let req = req.map(axum::body::Body::new);
                let res = match tokio::time::timeout(timeout, app.oneshot(req)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(never)) => match never {},
                    Err(_) => request_timed_out(),
                };
                Ok::<Response, Infallible>(res)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    // Requests in flight finish; none runs longer than the request timeout.
    let _ = tokio::time::timeout(
        limits.request_timeout + Duration::from_secs(1),
        graceful.shutdown(),
    )
    .await;
    Ok(())
}

fn request_timed_out() -> Response {
    let mut r = (
        axum::http::StatusCode::REQUEST_TIMEOUT,
        "request not completed in time\n",
    )
        .into_response();
    r.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: Limits) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let app = Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .route(
                "/body",
                axum::routing::post(|b: axum::body::Bytes| async move { b.len().to_string() }),
            );
        tokio::spawn(serve(l, app, limits, |s| (s, ()), std::future::pending()));
        addr
    }

    /// Reads until the server closes the connection; the bytes it sent.
    async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        out
    }

    #[tokio::test]
    async fn slow_headers_and_silent_connections_are_closed() {
        let limits = Limits {
            header_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let addr = start(limits).await;
        let started = std::time::Instant::now();
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let (a, b) = tokio::join!(until_closed(&mut silent), until_closed(&mut slow));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(a.is_empty() && !String::from_utf8_lossy(&b).contains("200"));
        // A normal request still works.
        let mut ok = TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&until_closed(&mut ok).await).contains("200 OK"));
    }

    #[tokio::test]
    async fn a_slow_body_gets_408() {
        let limits = Limits {
            request_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let addr = start(limits).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /body HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nab")
            .await
            .unwrap();
        let answer = String::from_utf8_lossy(&until_closed(&mut s).await).into_owned();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }

    #[tokio::test]
    async fn connections_past_the_limit_wait() {
        let limits = Limits {
            max_connections: 2,
            ..Limits::default()
        };
        let addr = start(limits).await;
        let _held: Vec<TcpStream> = vec![
            TcpStream::connect(addr).await.unwrap(),
            TcpStream::connect(addr).await.unwrap(),
        ];
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr).await.unwrap(); // the kernel queues it
        third
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let r = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
        assert!(r.is_err(), "not served while two connections are held");
        drop(_held);
        let answer = String::from_utf8_lossy(&until_closed(&mut third).await).into_owned();
        assert!(answer.contains("200 OK"), "{answer}");
    }
}
