//! Injected faults (`POST /admin/faults`) and the gate every provider request passes: it takes
//! the active fault (counting down `count`), answers or delays accordingly, and counts the
//! answer by path and status.
//!
//! - `rate_limit_ok_body`: 429 whose body is `{"status":"ok"}`, with `retry-after`: the trap of
//!   a client that trusts the body over the status.
//! - `server_error`: Anthropic's 529 `overloaded_error`, OpenAI's 500 `server_error` (or
//!   `status`), in the provider's error shape.
//! - `slow`: the normal answer after `delay_ms` (tokio's clock, so paused tests skip it).
//! - `drop`: the connection is closed without an answer (see [`super::connection`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::api_error::{self, Flavor};
use super::connection::Connection;
use super::Shared;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    #[default]
    None,
    RateLimitOkBody,
    ServerError,
    Slow,
    Drop,
}

/// The body of `POST /admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub mode: FaultMode,
    /// How many of the next provider requests get the fault; absent: all, until changed.
    #[serde(default)]
    pub count: Option<u64>,
    /// `slow`: how long to wait before answering normally.
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    /// `retry-after` in seconds: always sent by `rate_limit_ok_body` (default 1), by
    /// `server_error` only when given.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// `server_error`: the status (default 529 on Anthropic's path, 500 on OpenAI's).
    #[serde(default)]
    pub status: Option<u16>,
}

fn default_delay_ms() -> u64 {
    1000
}

impl Default for FaultSpec {
    fn default() -> Self {
        Self {
            mode: FaultMode::None,
            count: None,
            delay_ms: default_delay_ms(),
            retry_after_secs: None,
            status: None,
        }
    }
}

/// The active fault.
#[derive(Debug, Default)]
pub struct Fault {
    spec: FaultSpec,
}

impl Fault {
    pub fn set(&mut self, spec: FaultSpec) {
        self.spec = spec;
    }

    pub fn current(&self) -> FaultSpec {
        self.spec.clone()
    }

    /// The fault for the next request, counting it down; `None` when there is none.
    fn take(&mut self) -> Option<FaultSpec> {
        if self.spec.mode == FaultMode::None {
            return None;
        }
        let taken = self.spec.clone();
        if let Some(n) = &mut self.spec.count {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.spec = FaultSpec::default();
            }
        }
        (taken.count != Some(0)).then_some(taken)
    }
}

/// Middleware in front of every provider endpoint.
pub async fn gate(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let flavor = Flavor::of_path(&path);
    let fault = shared.lock().fault.take();
    let response = match fault {
        None => next.run(req).await,
        Some(f) => match f.mode {
            FaultMode::None => next.run(req).await,
            FaultMode::Slow => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                next.run(req).await
            }
            FaultMode::RateLimitOkBody => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(serde_json::json!({"status": "ok"})),
                )
                    .into_response();
                retry_after(&mut r, Some(f.retry_after_secs.unwrap_or(1)));
                r
            }
            FaultMode::ServerError => {
                let (default, kind, message) = match flavor {
                    Flavor::Anthropic => (529, "overloaded_error", "Overloaded"),
                    Flavor::OpenAi => (
                        500,
                        "server_error",
                        "The server had an error while processing your request. Sorry about that!",
                    ),
                };
                let status = f
                    .status
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or_else(|| {
                        StatusCode::from_u16(default).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                    });
                let mut r = (
                    status,
                    axum::Json(api_error::body(flavor, kind, message, None)),
                )
                    .into_response();
                retry_after(&mut r, f.retry_after_secs);
                r
            }
            FaultMode::Drop => {
                match req.extensions().get::<ConnectInfo<Connection>>() {
                    Some(ConnectInfo(conn)) => {
                        conn.cut();
                        shared.lock().counters.answer(&path, "dropped");
                        tracing::debug!(path = %path, "emulator: connection dropped by fault");
                        // Never reaches the client: the connection fails on the first write.
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                    None => {
                        tracing::warn!(
                            "emulator: the drop fault needs Emulator::serve; answering 500"
                        );
                        api_error::ApiError::internal(
                            flavor,
                            "drop fault: this server cannot cut connections",
                        )
                        .into_response()
                    }
                }
            }
        },
    };
    let status = response.status();
    shared.lock().counters.answer(&path, status.as_str());
    tracing::debug!(path = %path, status = status.as_u16(), "emulator: answered");
    response
}

fn retry_after(r: &mut Response, secs: Option<u64>) {
    if let Some(s) = secs {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
}
