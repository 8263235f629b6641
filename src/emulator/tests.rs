//! End-to-end tests of the emulator: the real router on `127.0.0.1:0`, driven with reqwest.
//! Expected usage numbers are computed independently, by tokenizing each block with
//! `Tokenizer::encode` under the shipped `daemon.toml` registry.
//!
//! Time moves with `POST /admin/clock` (tokio's `test-util` feature, which `pause()` needs, is
//! not enabled in this crate; the emulator reads tokio's clock, so both work the same way).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::*;
use crate::config::Config;

const O200K: &str = "openai/o200k_base";
const CL100K: &str = "openai/cl100k_base";
const SONNET: &str = "claude-sonnet-4-5"; // minimum 1024
const OPUS: &str = "claude-opus-4-5"; // minimum 4096

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        Config::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("daemon.toml")).unwrap()
    })
}

fn registry() -> Arc<Registry> {
    static R: OnceLock<Arc<Registry>> = OnceLock::new();
    R.get_or_init(|| {
        let r = Arc::new(Registry::new(config()));
        // Loaded once here, not by several tests at the same time.
        r.get(O200K).unwrap();
        r
    })
    .clone()
}

fn encode(tokenizer: &str, text: &str) -> Vec<u32> {
    registry().get(tokenizer).unwrap().encode(text).unwrap()
}

fn count(text: &str) -> usize {
    encode(O200K, text).len()
}

/// Deterministic filler, about 17 tokens a line.
fn text(seed: &str, lines: usize) -> String {
    (0..lines)
        .map(|i| {
            format!("{seed} rule {i}: answer briefly, cite handbook section {i}, never guess.\n")
        })
        .collect()
}

struct Server {
    base: String,
    em: Emulator,
    http: reqwest::Client,
}

async fn start(cfg: EmulatorConfig) -> Server {
    let rules = CacheRules::load(&config().cache_rules).unwrap();
    let em = Emulator::new(registry(), rules, cfg).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(em.clone().serve(listener, std::future::pending()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    Server { base, em, http }
}

async fn hosted() -> Server {
    start(EmulatorConfig::hosted(O200K)).await
}

async fn engine(engine: Engine) -> Server {
    start(EmulatorConfig {
        engine,
        ..EmulatorConfig::hosted(O200K)
    })
    .await
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

impl Server {
    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn anthropic(&self, body: &Value) -> Answer {
        let h = [
            ("x-api-key", "sk-test"),
            ("anthropic-version", "2023-06-01"),
        ];
        self.post("/v1/messages", &h, body).await
    }

    async fn openai(&self, path: &str, body: &Value) -> Answer {
        self.post(path, &[("authorization", "Bearer sk-test")], body)
            .await
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let a = self.post(path, &[], &body).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        a.body
    }

    async fn advance(&self, secs: u64) {
        self.admin("/admin/clock", json!({"advance_ms": secs * 1000}))
            .await;
    }

    async fn stats(&self) -> Stats {
        let r = self
            .http
            .get(format!("{}/admin/stats", self.base))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }
}

fn cached_block(text: &str, ttl: Option<&str>) -> Value {
    let cc = match ttl {
        Some(t) => json!({"type": "ephemeral", "ttl": t}),
        None => json!({"type": "ephemeral"}),
    };
    json!({"type": "text", "text": text, "cache_control": cc})
}

fn messages(model: &str, system: Value, user: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 0,
        "system": system,
        "messages": [{"role": "user", "content": user}],
    })
}

/// Anthropic usage as [input, creation, read, creation 5m, creation 1h].
fn usage(a: &Answer) -> [u64; 5] {
    assert_eq!(a.status, 200, "{}", a.body);
    let u = &a.body["usage"];
    let n = |v: &Value| v.as_u64().unwrap();
    let [c5, c1] = [
        n(&u["cache_creation"]["ephemeral_5m_input_tokens"]),
        n(&u["cache_creation"]["ephemeral_1h_input_tokens"]),
    ];
    assert_eq!(c5 + c1, n(&u["cache_creation_input_tokens"]));
    [
        n(&u["input_tokens"]),
        n(&u["cache_creation_input_tokens"]),
        n(&u["cache_read_input_tokens"]),
        c5,
        c1,
    ]
}

#[tokio::test]
async fn anthropic_miss_writes_then_hit_reads() {
    let s = hosted().await;
    let sys = text("alpha", 100);
    let user = "Which rule covers citations?";
    let (n_sys, n_user) = (count(&sys), count(user));
    assert!(n_sys >= 1024, "{n_sys}");
    let body = messages(SONNET, json!([cached_block(&sys, None)]), user);

    let a = s.anthropic(&body).await;
    assert_eq!(usage(&a), [n_user as u64, n_sys as u64, 0, n_sys as u64, 0]);
    assert_eq!(a.body["content"], json!([]));
    assert_eq!(a.body["usage"]["output_tokens"], 0);
    assert_eq!(a.body["type"], "message");
    assert!(a.header("request-id").starts_with("req_"));
    assert_eq!(a.header("anthropic-ratelimit-requests-remaining"), "3999");
    assert!(a
        .header("anthropic-ratelimit-input-tokens-reset")
        .ends_with('Z'));

    let mut body = body;
    body["max_tokens"] = json!(16);
    let a = s.anthropic(&body).await;
    assert_eq!(usage(&a), [n_user as u64, 0, n_sys as u64, 0, 0]);
    assert_eq!(a.body["content"], json!([{"type": "text", "text": "ok"}]));
    assert_eq!(a.body["usage"]["output_tokens"], count("ok") as u64);
}

#[tokio::test]
async fn anthropic_below_minimum_caches_nothing() {
    let s = hosted().await;
    let sys = text("beta", 100);
    let user = "hi";
    let total = (count(&sys) + count(user)) as u64;
    assert!(count(&sys) < 4096);
    let body = messages(OPUS, json!([cached_block(&sys, None)]), user);
    for _ in 0..2 {
        assert_eq!(usage(&s.anthropic(&body).await), [total, 0, 0, 0, 0]);
    }
}

#[tokio::test]
async fn anthropic_ttl_expires_after_five_minutes_and_a_hit_refreshes_it() {
    let s = hosted().await;
    let sys = text("gamma", 80);
    let user = "go";
    let (n_sys, n_user) = (count(&sys) as u64, count(user) as u64);
    let body = messages(SONNET, json!([cached_block(&sys, Some("5m"))]), user);
    let write = [n_user, n_sys, 0, n_sys, 0];
    let read = [n_user, 0, n_sys, 0, 0];
    assert_eq!(usage(&s.anthropic(&body).await), write);
    s.advance(240).await;
    assert_eq!(usage(&s.anthropic(&body).await), read);
    // 8 minutes after the write, 4 after the refreshing hit.
    s.advance(240).await;
    assert_eq!(usage(&s.anthropic(&body).await), read);
    s.advance(301).await;
    assert_eq!(usage(&s.anthropic(&body).await), write);
}

#[tokio::test]
async fn anthropic_one_hour_ttl_and_mixed_ttls() {
    let s = hosted().await;
    let (one, two) = (text("long", 70), text("short", 70));
    let user = "q";
    let (n1, n2, nu) = (count(&one) as u64, count(&two) as u64, count(user) as u64);
    let body = messages(
        SONNET,
        json!([
            cached_block(&one, Some("1h")),
            cached_block(&two, Some("5m"))
        ]),
        user,
    );
    assert_eq!(usage(&s.anthropic(&body).await), [nu, n1 + n2, 0, n2, n1]);
    // The 5-minute entry is gone, the 1-hour one is not.
    s.advance(301).await;
    assert_eq!(usage(&s.anthropic(&body).await), [nu, n2, n1, n2, 0]);
    s.advance(3601).await;
    assert_eq!(usage(&s.anthropic(&body).await), [nu, n1 + n2, 0, n2, n1]);

    let wrong_order = messages(
        SONNET,
        json!([
            cached_block(&one, Some("5m")),
            cached_block(&two, Some("1h"))
        ]),
        user,
    );
    let a = s.anthropic(&wrong_order).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn anthropic_reads_look_back_twenty_blocks() {
    let s = hosted().await;
    let big = text("delta", 80);
    let notes: Vec<String> = (0..24).map(|i| format!("note {i}")).collect();
    let n_big = count(&big) as u64;
    let system = |bp: usize| {
        let mut blocks = vec![if bp == 0 {
            cached_block(&big, None)
        } else {
            json!({"type": "text", "text": big})
        }];
        for (i, n) in notes.iter().enumerate() {
            blocks.push(if i + 1 == bp {
                cached_block(n, None)
            } else {
                json!({"type": "text", "text": n})
            });
        }
        Value::Array(blocks)
    };
    let upto = |b: usize| notes[..b].iter().map(|n| count(n) as u64).sum::<u64>();
    let user = "x";
    assert_eq!(
        usage(&s.anthropic(&messages(SONNET, system(0), user)).await)[1],
        n_big
    );
    // Block 20 is 20 blocks after block 0: out of reach, so everything is written again.
    let u = usage(&s.anthropic(&messages(SONNET, system(20), user)).await);
    assert_eq!((u[1], u[2]), (n_big + upto(20), 0));

    s.admin("/admin/reset", json!({})).await;
    assert_eq!(
        usage(&s.anthropic(&messages(SONNET, system(0), user)).await)[1],
        n_big
    );
    let u = usage(&s.anthropic(&messages(SONNET, system(19), user)).await);
    assert_eq!((u[1], u[2]), (upto(19), n_big));
}

#[tokio::test]
async fn anthropic_rejects_missing_headers_extra_breakpoints_and_unknown_models() {
    let s = hosted().await;
    let body = messages(SONNET, json!("sys"), "hi");
    let a = s
        .post(
            "/v1/messages",
            &[("anthropic-version", "2023-06-01")],
            &body,
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["type"], "error");
    assert_eq!(a.body["error"]["type"], "authentication_error");
    let a = s.post("/v1/messages", &[("x-api-key", "k")], &body).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"]["type"], "invalid_request_error");
    // What the official SDK sends: a bearer key and a recent version.
    let a = s
        .post(
            "/v1/messages",
            &[
                ("authorization", "Bearer sk-ant-test"),
                ("anthropic-version", "2026-10-21"),
            ],
            &body,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = s
        .post(
            "/v1/messages",
            &[
                ("authorization", "Bearer "),
                ("anthropic-version", "2026-10-21"),
            ],
            &body,
        )
        .await;
    assert_eq!(a.status, 401);

    let five: Vec<Value> = (0..5)
        .map(|i| cached_block(&format!("b{i}"), None))
        .collect();
    let a = s.anthropic(&messages(SONNET, json!(five), "hi")).await;
    assert_eq!(a.status, 400);
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("maximum of 4"));

    let a = s.anthropic(&messages("gpt-4o", json!("sys"), "hi")).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.body["error"]["type"], "not_found_error");
    assert_eq!(s.stats().await.counters.requests["/v1/messages"]["401"], 2);
}

fn chat(model: &str, system: Value, user: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    })
}

fn prompt_details(a: &Answer) -> (u64, u64, Option<u64>) {
    assert_eq!(a.status, 200, "{}", a.body);
    let u = &a.body["usage"];
    (
        u["prompt_tokens"].as_u64().unwrap(),
        u["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap(),
        u["prompt_tokens_details"]["cache_write_tokens"].as_u64(),
    )
}

#[tokio::test]
async fn openai_caches_the_common_prefix_in_128_token_steps_from_1024() {
    let s = hosted().await;
    let sys = text("eps", 100);
    let (u1, u2) = ("What does rule 3 say?", "What does rule 4 say?");
    let ids = |u: &str| [encode(O200K, &sys), encode(O200K, u)].concat();
    let (a, b) = (ids(u1), ids(u2));
    let lcp = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    assert!(lcp >= 1024, "{lcp}");

    let r = s
        .openai("/v1/chat/completions", &chat("gpt-4o", json!(sys), u1))
        .await;
    assert_eq!(prompt_details(&r), (a.len() as u64, 0, None));
    assert_eq!(r.body["choices"][0]["message"]["content"], "ok");
    assert_eq!(
        r.body["usage"]["total_tokens"].as_u64().unwrap(),
        (a.len() + count("ok")) as u64
    );
    let r = s
        .openai("/v1/chat/completions", &chat("gpt-4o", json!(sys), u2))
        .await;
    assert_eq!(
        prompt_details(&r),
        (b.len() as u64, (lcp / 128 * 128) as u64, None)
    );
    assert!(r.header("x-request-id").starts_with("req_"));

    // Below 1024 tokens nothing is cached, however often it is sent.
    for _ in 0..2 {
        let r = s
            .openai(
                "/v1/chat/completions",
                &chat("gpt-4o", json!("short"), "hi"),
            )
            .await;
        assert_eq!(prompt_details(&r).1, 0);
    }

    // Older models reject the GPT-5.6 cache parameters, and the Responses output floor.
    let mut body =
        json!({"model": "gpt-4o", "input": "hi", "prompt_cache_options": {"prewarm": true}});
    let r = s.openai("/v1/responses", &body).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("unsupported_parameter"))
    );
    body = json!({"model": "gpt-4o", "input": "hi", "max_output_tokens": 1});
    assert_eq!(s.openai("/v1/responses", &body).await.status, 400);
}

fn marked(text: &str) -> Value {
    json!([{"type": "text", "text": text, "prompt_cache_breakpoint": {"mode": "explicit"}}])
}

#[tokio::test]
async fn gpt_5_6_hits_only_at_breakpoints() {
    let s = hosted().await;
    let sys = text("zeta", 100);
    let n_sys = count(&sys) as u64;
    let (u1, u2, u3) = ("first", "second question", "third");
    let n = |u: &str| count(u) as u64;
    let send = |system: Value, user: &'static str| {
        let mut body = chat("gpt-5.6", system, user);
        body["prompt_cache_key"] = json!("tenant-1");
        body
    };
    let r = s
        .openai("/v1/chat/completions", &send(marked(&sys), u1))
        .await;
    assert_eq!(prompt_details(&r), (n_sys + n(u1), 0, Some(n_sys + n(u1))));
    let r = s
        .openai("/v1/chat/completions", &send(marked(&sys), u2))
        .await;
    assert_eq!(prompt_details(&r), (n_sys + n(u2), n_sys, Some(n(u2))));

    // One more line: a long common prefix, but no breakpoint boundary matches, so no partial
    // credit (the pre-5.6 rule would have served most of it).
    let longer = format!("{sys}one more line\n");
    let n_longer = count(&longer) as u64;
    let r = s
        .openai("/v1/chat/completions", &send(marked(&longer), u3))
        .await;
    assert_eq!(
        prompt_details(&r),
        (n_longer + n(u3), 0, Some(n_longer + n(u3)))
    );

    // Explicit mode without markers: no breakpoint, so no read and no write.
    let mut body = send(json!(sys), u3);
    body["prompt_cache_options"] = json!({"mode": "explicit"});
    let r = s.openai("/v1/chat/completions", &body).await;
    assert_eq!(prompt_details(&r), (n_sys + n(u3), 0, Some(0)));
}

#[tokio::test]
async fn responses_prewarm_fills_the_cache_without_output() {
    let s = hosted().await;
    let sys = text("eta", 90);
    let n_sys = count(&sys) as u64;
    let body = |user: &str, prewarm: bool, key: &str| {
        json!({
            "model": "gpt-5.6",
            "input": [
                {"role": "developer", "content": [{"type": "input_text", "text": sys, "prompt_cache_breakpoint": {"mode": "explicit"}}]},
                {"role": "user", "content": user},
            ],
            "prompt_cache_key": key,
            "prompt_cache_options": {"prewarm": prewarm},
        })
    };
    let details = |r: &Answer| {
        assert_eq!(r.status, 200, "{}", r.body);
        let u = &r.body["usage"];
        (
            u["input_tokens"].as_u64().unwrap(),
            u["input_tokens_details"]["cached_tokens"].as_u64().unwrap(),
            u["input_tokens_details"]["cache_write_tokens"]
                .as_u64()
                .unwrap(),
            u["output_tokens"].as_u64().unwrap(),
        )
    };
    let nw = count("warm") as u64;
    let r = s.openai("/v1/responses", &body("warm", true, "k1")).await;
    assert_eq!(details(&r), (n_sys + nw, 0, n_sys + nw, 0));
    assert_eq!(r.body["output"], json!([]));
    let nq = count("question") as u64;
    let r = s
        .openai("/v1/responses", &body("question", false, "k1"))
        .await;
    assert_eq!(details(&r), (n_sys + nq, n_sys, nq, count("ok") as u64));
    assert_eq!(r.body["output"][0]["content"][0]["text"], "ok");
    // Another prompt_cache_key is another cache.
    let r = s
        .openai("/v1/responses", &body("question", false, "k2"))
        .await;
    assert_eq!(details(&r).1, 0);
    // prewarm belongs to the Responses API.
    let mut c = chat("gpt-5.6", json!(sys), "x");
    c["prompt_cache_options"] = json!({"prewarm": true});
    assert_eq!(s.openai("/v1/chat/completions", &c).await.status, 400);
}

#[tokio::test]
async fn openai_requires_a_bearer_key() {
    let s = hosted().await;
    let a = s
        .post(
            "/v1/chat/completions",
            &[],
            &chat("gpt-4o", json!("s"), "u"),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["error"]["type"], "invalid_request_error");
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("API key"));
    let a = s
        .post("/v1/responses", &[("authorization", "Basic x")], &json!({}))
        .await;
    assert_eq!(a.status, 401);
}

async fn completion(s: &Server, ids: &[u32]) -> u64 {
    let r = s
        .post(
            "/v1/completions",
            &[],
            &json!({"model": "m", "prompt": ids}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["usage"]["prompt_tokens"], ids.len() as u64);
    r.body["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap()
}

fn ids(range: std::ops::Range<u32>) -> Vec<u32> {
    range.collect()
}

#[tokio::test]
async fn vllm_serves_full_blocks_but_never_the_last_tokens_block() {
    let s = engine(Engine::Vllm).await;
    assert_eq!(completion(&s, &ids(1000..1064)).await, 0);
    // 64 tokens again: the 4th block holds the last token, so 48.
    assert_eq!(completion(&s, &ids(1000..1064)).await, 48);
    assert_eq!(completion(&s, &ids(1000..1070)).await, 64);
    let forked = [ids(1000..1040), ids(5000..5040)].concat();
    assert_eq!(completion(&s, &forked).await, 32);

    // Chat: the template is rendered and tokenized as one string.
    let body = json!({"model": "Qwen3-8B", "messages": [
        {"role": "system", "content": text("theta", 20)},
        {"role": "user", "content": "hello"},
    ]});
    let rendered = format!(
        "<|system|>\n{}\n<|user|>\nhello\n<|assistant|>\n",
        text("theta", 20)
    );
    let n = count(&rendered);
    let first = s.post("/v1/chat/completions", &[], &body).await;
    assert_eq!(prompt_details(&first), (n as u64, 0, None));
    let again = s.post("/v1/chat/completions", &[], &body).await;
    let expect = (n / 16 * 16).min((n - 1) / 16 * 16);
    assert_eq!(prompt_details(&again), (n as u64, expect as u64, None));
    // No Anthropic endpoint on an engine.
    assert_eq!(
        s.http
            .post(format!("{}/v1/messages", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn sglang_is_token_granular_up_to_the_last_token() {
    let s = engine(Engine::Sglang).await;
    assert_eq!(completion(&s, &ids(1000..1064)).await, 0);
    assert_eq!(completion(&s, &ids(1000..1064)).await, 63);
    let forked = [ids(1000..1041), ids(5000..5040)].concat();
    assert_eq!(completion(&s, &forked).await, 41);
}

#[tokio::test]
async fn an_engine_evicts_its_least_recently_used_sequence_past_its_capacity() {
    let s = start(EmulatorConfig {
        engine: Engine::Vllm,
        cache_sequences: 2,
        ..EmulatorConfig::hosted(O200K)
    })
    .await;
    let (a, b, c) = (ids(1000..1064), ids(2000..2064), ids(3000..3064));
    for seq in [&a, &b] {
        assert_eq!(completion(&s, seq).await, 0, "cold");
    }
    assert_eq!(completion(&s, &a).await, 48, "a is cached (3 full blocks)");
    // A third sequence evicts the least recently used one: b (a was just used).
    assert_eq!(completion(&s, &c).await, 0);
    assert_eq!(completion(&s, &a).await, 48, "a stayed");
    assert_eq!(completion(&s, &b).await, 0, "b was evicted");
}

#[tokio::test]
async fn rate_limit_exhaustion_answers_429_with_retry_after() {
    let s = start(EmulatorConfig {
        requests_per_minute: 3,
        input_tokens_per_minute: 0,
        ..EmulatorConfig::hosted(O200K)
    })
    .await;
    let body = chat("gpt-4o", json!("s"), "u");
    for left in ["2", "1", "0"] {
        let r = s.openai("/v1/chat/completions", &body).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-remaining-requests"), left);
        assert_eq!(r.header("x-ratelimit-limit-requests"), "3");
        assert!(r.headers.get("x-ratelimit-limit-tokens").is_none());
    }
    let r = s.openai("/v1/chat/completions", &body).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), "20");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "0");
    assert!(r.header("x-ratelimit-reset-requests").ends_with('s'));
    assert_eq!(r.body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(r.body["error"]["type"], "requests");
    s.advance(20).await;
    assert_eq!(s.openai("/v1/chat/completions", &body).await.status, 200);
}

#[tokio::test]
async fn anthropic_cache_reads_spare_the_token_budget_openai_ones_do_not() {
    let sys = text("iota", 90);
    let n = count(&sys) + count("u");
    let s = start(EmulatorConfig {
        requests_per_minute: 0,
        input_tokens_per_minute: (n + n / 2) as u64,
        ..EmulatorConfig::hosted(O200K)
    })
    .await;
    let body = messages(SONNET, json!([cached_block(&sys, None)]), "u");
    assert_eq!(s.anthropic(&body).await.status, 200);
    // A cache read costs only the uncached tail.
    let a = s.anthropic(&body).await;
    assert_eq!(usage(&a)[2], count(&sys) as u64);

    s.admin("/admin/reset", json!({})).await;
    let body = chat("gpt-4o", json!(sys), "u");
    let r = s.openai("/v1/chat/completions", &body).await;
    assert_eq!(r.status, 200);
    let remaining: u64 = r.header("x-ratelimit-remaining-tokens").parse().unwrap();
    assert_eq!(remaining, (n / 2) as u64);
    let r = s.openai("/v1/chat/completions", &body).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["error"]["type"], "tokens");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
}

#[tokio::test]
async fn faults_ok_body_429_server_error_slow_and_drop() {
    let s = hosted().await;
    let body = messages(SONNET, json!("s"), "u");
    s.admin(
        "/admin/faults",
        json!({"mode": "rate_limit_ok_body", "count": 1, "retry_after_secs": 7}),
    )
    .await;
    let a = s.anthropic(&body).await;
    assert_eq!((a.status, &a.body), (429, &json!({"status": "ok"})));
    assert_eq!(a.header("retry-after"), "7");
    assert_eq!(s.anthropic(&body).await.status, 200);

    s.admin("/admin/faults", json!({"mode": "server_error", "count": 2}))
        .await;
    let a = s.anthropic(&body).await;
    assert_eq!(
        (a.status, &a.body["error"]["type"]),
        (529, &json!("overloaded_error"))
    );
    let r = s
        .openai("/v1/chat/completions", &chat("gpt-4o", json!("s"), "u"))
        .await;
    assert_eq!(
        (r.status, &r.body["error"]["type"]),
        (500, &json!("server_error"))
    );

    s.admin(
        "/admin/faults",
        json!({"mode": "slow", "count": 1, "delay_ms": 200}),
    )
    .await;
    let t = std::time::Instant::now();
    assert_eq!(s.anthropic(&body).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));

    s.admin("/admin/faults", json!({"mode": "drop", "count": 1}))
        .await;
    let err = s
        .http
        .post(format!("{}/v1/messages", s.base))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(s.anthropic(&body).await.status, 200);
    let stats = s.stats().await;
    let m = &stats.counters.requests["/v1/messages"];
    assert_eq!((m["dropped"], m["429"], m["529"], m["200"]), (1, 1, 1, 3));
}

#[tokio::test]
async fn tokenizer_swap_turns_reads_into_writes() {
    let s = hosted().await;
    let sys = text("kappa", 80);
    let body = messages(SONNET, json!([cached_block(&sys, None)]), "u");
    let n_o200k = count(&sys) as u64;
    assert_eq!(usage(&s.anthropic(&body).await)[1], n_o200k);
    assert_eq!(usage(&s.anthropic(&body).await)[2], n_o200k);

    let r = s
        .admin("/admin/tokenizer", json!({"tokenizer": CL100K}))
        .await;
    assert_eq!(r["tokenizer"], CL100K);
    let n_cl100k = encode(CL100K, &sys).len() as u64;
    let u = usage(&s.anthropic(&body).await);
    assert_eq!((u[1], u[2]), (n_cl100k, 0));
    assert_eq!(s.stats().await.tokenizer, CL100K);

    // Entries stay: back on the old tokenizer, the old entry is read again.
    s.admin("/admin/tokenizer", json!({"tokenizer": O200K}))
        .await;
    assert_eq!(usage(&s.anthropic(&body).await)[2], n_o200k);
    let a = s
        .post("/admin/tokenizer", &[], &json!({"tokenizer": "nope/x"}))
        .await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn stats_count_answers_and_tokens_and_reset_clears_them() {
    let s = hosted().await;
    let sys = text("lambda", 80);
    let n_sys = count(&sys) as u64;
    let body = messages(SONNET, json!([cached_block(&sys, None)]), "u");
    s.anthropic(&body).await;
    s.anthropic(&body).await;
    s.post("/v1/messages", &[], &body).await;
    let st = s.stats().await;
    assert_eq!(st, s.em.stats());
    assert_eq!(st.tokenizer, O200K);
    assert_eq!(st.engine, Engine::Hosted);
    let m = &st.counters.requests["/v1/messages"];
    assert_eq!((m["200"], m["401"]), (2, 1));
    assert_eq!(st.counters.cache_read_tokens, n_sys);
    assert_eq!(st.counters.cache_write_tokens, n_sys);
    assert_eq!(st.counters.uncached_input_tokens, 2 * count("u") as u64);
    assert_eq!(st.cache_entries, 1);

    s.admin("/admin/reset", json!({})).await;
    let st = s.stats().await;
    assert_eq!(st.counters, stats::Counters::default());
    assert_eq!(st.cache_entries, 0);
    assert_eq!(usage(&s.anthropic(&body).await)[2], 0);
}
