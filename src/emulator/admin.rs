//! The admin API, for tests and local runs (no auth: bind to loopback):
//! - `POST /admin/faults` sets the fault for the next requests ([`FaultSpec`]); `GET` shows it.
//! - `POST /admin/tokenizer {"tokenizer": ID}` swaps the tokenizer as a provider upgrade would:
//!   cache entries stay, and match only where the new ids equal the old.
//! - `GET /admin/stats` returns [`super::Stats`].
//! - `POST /admin/reset` empties the caches, zeroes the counters, refills the rate-limit
//!   budgets and clears the fault (the tokenizer and the clock stay).
//! - `POST /admin/clock {"advance_ms": N}` moves the emulator's clock forward.
//! - `POST /admin/count {"offset": N}` adds N to every count the count endpoints answer, as a
//!   provider changing its tokenizer or framing would.
//! - `POST /admin/diagnostics {"unavailable": N, "malformed": M, "compacted": K}`: the next N
//!   cache diagnostics answer `unavailable`, the M after them an object outside the documented
//!   values (a client must keep the usage and drop the diagnosis), the next K OpenAI
//!   comparisons `context_compacted`; every other reason comes from the requests themselves
//!   (OpenAI's option reasons from `text.format`, `reasoning.effort`, `text.verbosity`,
//!   `service_tier`).
//! - `POST /admin/kv` (engines publishing KV-cache events): `{"evict": true}` evicts every
//!   block (published as `BlockRemoved`), `{"clear": true}` clears them (`AllBlocksCleared`),
//!   `{"drop_next": N}` keeps the next N batches for replay without publishing them.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::faults::FaultSpec;
use super::Shared;

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

pub async fn set_faults(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return bad_request(format!("invalid fault: {e}")),
    };
    tracing::info!(mode = ?spec.mode, count = ?spec.count, "emulator: fault set");
    shared.lock().fault.set(spec.clone());
    Json(spec).into_response()
}

pub async fn get_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.lock().fault.current()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenizerSwap {
    tokenizer: String,
}

pub async fn set_tokenizer(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let swap: TokenizerSwap = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return bad_request(format!("invalid body: {e}")),
    };
    let registry = shared.registry.clone();
    let id = swap.tokenizer.clone();
    // Loading a tokenizer file takes a while; keep it off the async workers.
    let loaded =
        tokio::task::spawn_blocking(move || registry.get(&id).map_err(|e| e.to_string())).await;
    match loaded {
        Ok(Ok(t)) => {
            let body = json!({"tokenizer": t.id, "vocab_hash": t.vocab_hash});
            tracing::info!(tokenizer = %t.id, "emulator: tokenizer swapped");
            shared.lock().tokenizer = t;
            Json(body).into_response()
        }
        Ok(Err(e)) => bad_request(e),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": format!("tokenizer load failed: {e}")})),
        )
            .into_response(),
    }
}

pub async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(super::stats::snapshot(&shared)).into_response()
}

pub async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    let mut st = shared.lock();
    let now = st.now();
    st.breakpoints.clear();
    st.sequences.clear();
    if let Some(kv) = &mut st.kv {
        kv.sync(1, std::iter::empty());
    }
    st.counters = Default::default();
    st.limits.reset(now);
    st.fault.set(FaultSpec::default());
    drop(st);
    tracing::info!("emulator: reset");
    Json(json!({"reset": true})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_ms: u64,
}

pub async fn clock(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let a: Advance = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return bad_request(format!("invalid body: {e}")),
    };
    let mut st = shared.lock();
    st.skew += Duration::from_millis(a.advance_ms);
    Json(json!({"skew_ms": st.skew.as_millis() as u64})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountOffset {
    offset: i64,
}

pub async fn count(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let c: CountOffset = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(format!("invalid body: {e}")),
    };
    if c.offset.unsigned_abs() > 1 << 20 {
        return bad_request("offset: at most 1048576 either way".into());
    }
    shared.lock().count_offset = c.offset;
    tracing::info!(offset = c.offset, "emulator: count offset set");
    Json(json!({"offset": c.offset})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiagnosticsFault {
    #[serde(default)]
    unavailable: u32,
    #[serde(default)]
    malformed: u32,
    #[serde(default)]
    compacted: u32,
}

pub async fn diagnostics(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let d: DiagnosticsFault = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return bad_request(format!("invalid body: {e}")),
    };
    let mut st = shared.lock();
    st.diagnostics.unavailable = d.unavailable;
    st.diagnostics.malformed = d.malformed;
    st.diagnostics.compacted = d.compacted;
    Json(json!({"unavailable": d.unavailable, "malformed": d.malformed, "compacted": d.compacted}))
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KvAdmin {
    #[serde(default)]
    evict: bool,
    #[serde(default)]
    clear: bool,
    #[serde(default)]
    drop_next: Option<u32>,
}

pub async fn kv(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let a: KvAdmin = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return bad_request(format!("invalid kv call: {e}")),
    };
    let mut st = shared.lock();
    let st = &mut *st;
    let Some(kv) = &mut st.kv else {
        return bad_request("this emulator publishes no KV-cache events (--kv-events)".into());
    };
    if let Some(n) = a.drop_next {
        kv.drop_next(n);
    }
    if a.clear {
        st.sequences.clear();
        kv.cleared();
    } else if a.evict {
        st.sequences.clear();
        kv.sync(1, std::iter::empty());
    }
    tracing::info!(evict = a.evict, clear = a.clear, drop_next = ?a.drop_next, "emulator: kv");
    Json(json!({"evict": a.evict, "clear": a.clear, "drop_next": a.drop_next})).into_response()
}
