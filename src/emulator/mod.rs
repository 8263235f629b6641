//! The provider emulator: a local HTTP server for the subset of the Anthropic and OpenAI APIs
//! (or of a vLLM / SGLang OpenAI-compatible server) that cache warm-ups use. It follows each
//! provider's *documented* prompt-cache behaviour (`shared/reference/provider-cache-semantics.md`,
//! numbers from `data/cache-rules.toml`), sends the providers' rate-limit headers and can inject
//! faults, so the warm-up loop runs and is tested with no network.
//!
//! Endpoints, by [`Engine`]:
//! - `hosted`: `POST /v1/messages` (Anthropic), `POST /v1/chat/completions` and
//!   `POST /v1/responses` (OpenAI).
//! - `vllm`, `sglang`: `POST /v1/chat/completions` and `POST /v1/completions`, no auth.
//! - always: `POST /admin/faults`, `POST /admin/tokenizer`, `GET /admin/stats`,
//!   `POST /admin/reset`, `POST /admin/clock` (no auth: bind to loopback).
//!
//! Modules: [`anthropic`], [`openai`] and [`engine`] turn requests into token blocks and answers;
//! [`cache`] holds the emulated caches; [`limits`] the rate-limit buckets and headers; [`faults`]
//! the injected faults; [`admin`] the admin API; [`stats`] the counters; [`api_error`] the
//! providers' error shapes; [`connection`] the listener whose connections a handler can cut.
//!
//! Invariant: request bodies and prompt text are never logged, counted by label or echoed in an
//! error; logs carry paths, models, statuses and token counts.
//!
//! Invariant: time is `tokio::time::Instant` plus a skew moved by `POST /admin/clock`, so TTLs
//! and rate-limit windows move under `tokio::time::pause()` and in out-of-process tests alike.

mod admin;
mod anthropic;
mod api_error;
mod cache;
mod connection;
mod count;
mod diagnose;
mod engine;
mod faults;
pub mod kv_publish;
mod limits;
mod openai;
mod stats;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::time::Instant;

use crate::cache_rules::CacheRules;
use crate::error::{Error, Result};
use crate::tokenizer::{Registry, Tokenizer};

pub use faults::{FaultMode, FaultSpec};
pub use stats::Stats;

/// Roomy defaults for the rate-limit budget: no provider tier's numbers, just enough that tests
/// and local warm-ups never hit them by accident.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 4_000;
pub const DEFAULT_INPUT_TOKENS_PER_MINUTE: u64 = 2_000_000;

/// Request bodies up to this size are accepted (a 200k-token prompt is about 1 MB of text).
const BODY_LIMIT: usize = 32 << 20;

pub use crate::config::Engine;

/// The provider part of `provider/model` names that the cache rules use for this engine, from
/// the one provider table.
fn engine_provider(e: Engine) -> &'static str {
    use crate::provider::Api;
    match e {
        Engine::Vllm => Api::Vllm.provider().label(),
        Engine::Sglang => Api::Sglang.provider().label(),
        Engine::Hosted => "hosted",
    }
}

/// How an emulator is set up.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Registry id of the tokenizer that turns request text into token ids.
    pub tokenizer: String,
    pub engine: Engine,
    /// Request budget per minute, sent in rate-limit headers; 429 when used up. 0: no limit.
    pub requests_per_minute: u32,
    /// Input-token budget per minute (Anthropic: uncached input plus cache writes; OpenAI: all
    /// prompt tokens, cached ones included). 0: no limit.
    pub input_tokens_per_minute: u64,
    /// Publish KV-cache events (engines only).
    pub kv_events: Option<kv_publish::KvEventsConfig>,
    /// Engines: cached sequences before the least recently used is evicted (its blocks
    /// published as removed).
    pub cache_sequences: usize,
}

impl EmulatorConfig {
    /// A hosted emulator with the default budgets.
    pub fn hosted(tokenizer: &str) -> Self {
        Self {
            tokenizer: tokenizer.to_string(),
            engine: Engine::Hosted,
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            input_tokens_per_minute: DEFAULT_INPUT_TOKENS_PER_MINUTE,
            kv_events: None,
            cache_sequences: cache::SEQUENCE_CAPACITY,
        }
    }
}

/// `prefix emulate`: serve the emulator until SIGTERM or SIGINT.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Endpoints (hosted):  POST /v1/messages (x-api-key + anthropic-version), POST /v1/chat/completions,
                     POST /v1/responses (Authorization: Bearer ...). Any key is accepted.
Endpoints (vllm, sglang): POST /v1/chat/completions, POST /v1/completions, no auth.
Admin (no auth):     POST /admin/faults {\"mode\": \"none|rate_limit_ok_body|server_error|slow|drop\",
                     \"count\": N, \"delay_ms\": M, \"retry_after_secs\": S}, POST /admin/tokenizer
                     {\"tokenizer\": ID}, GET /admin/stats, POST /admin/reset,
                     POST /admin/clock {\"advance_ms\": N} (ages cache entries and rate windows),
                     POST /admin/kv {\"evict\": true | \"clear\": true | \"drop_next\": N} (engines
                     with --kv-events: evict every block, clear them all, skip publishing N batches).

Cache rules and minimum lengths come from the config's cache_rules file; text is turned into ids
with --tokenizer (content blocks apart). Prompt text is never logged.")]
pub struct EmulateArgs {
    /// Address to listen on (port 0: any free port; the bound address is logged)
    #[arg(long, default_value = "127.0.0.1:9465")]
    pub listen: SocketAddr,
    /// Registry id of the tokenizer that turns request text into token ids
    #[arg(long, default_value = "openai/o200k_base")]
    pub tokenizer: String,
    /// Which server to imitate
    #[arg(long, value_enum, default_value = "hosted")]
    pub engine: Engine,
    /// Requests per minute before answering 429 (0: no limit; hosted only)
    #[arg(long, default_value_t = DEFAULT_REQUESTS_PER_MINUTE)]
    pub requests_per_minute: u32,
    /// Input tokens per minute before answering 429 (0: no limit; hosted only)
    #[arg(long, default_value_t = DEFAULT_INPUT_TOKENS_PER_MINUTE)]
    pub input_tokens_per_minute: u64,
    /// Allow --listen beyond loopback (the admin API has no authentication)
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// vllm, sglang: publish KV-cache events on this ZMQ PUB endpoint, as the engine's
    /// `--kv-events-config` does (e.g. tcp://127.0.0.1:5557)
    #[arg(long, value_name = "ENDPOINT")]
    pub kv_events: Option<String>,
    /// The replay (ROUTER) endpoint for missed batches (e.g. tcp://127.0.0.1:5558)
    #[arg(long, value_name = "ENDPOINT", requires = "kv_events")]
    pub kv_replay: Option<String>,
    /// The topic of every published batch
    #[arg(long, default_value = "", requires = "kv_events")]
    pub kv_topic: String,
    /// Block hashes as vLLM publishes them: int (default) or the digest's bytes
    /// (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0)
    #[arg(long, value_enum, default_value = "int", requires = "kv_events")]
    pub kv_hashes: KvHashes,
    /// Events as positional arrays, as vLLM releases before tagged maps published them
    #[arg(long, requires = "kv_events")]
    pub kv_positional: bool,
    /// vllm, sglang: sequences the engine's cache holds before it evicts the least recently
    /// used one (and publishes its blocks as removed)
    #[arg(long, default_value_t = cache::SEQUENCE_CAPACITY as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub cache_sequences: u32,
    /// The emulated engine's PYTHONHASHSEED: its block hashes (vLLM's sha256_cbor chain) start
    /// from NONE_HASH = sha256_cbor(SEED). Unset: vLLM's default when PYTHONHASHSEED is unset
    /// (the seed "vllm-none-hash", vLLM 0.34)
    #[arg(long, value_name = "SEED", requires = "kv_events")]
    pub kv_hash_seed: Option<String>,
}

/// How block hashes go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KvHashes {
    Int,
    Bytes,
}

/// A running emulator's handle; cheap to clone.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

/// What every handler shares.
pub(crate) struct Shared {
    /// Tokenizers by id, for `POST /admin/tokenizer`.
    registry: Arc<Registry>,
    rules: CacheRules,
    cfg: EmulatorConfig,
    /// One lock for all mutable state: a request plans against the cache, checks the rate
    /// limit and commits in one critical section, so a refused request changes nothing. It is
    /// never held across an await or while tokenizing.
    state: Mutex<State>,
}

pub(crate) struct State {
    tokenizer: Arc<Tokenizer>,
    /// Added to `tokio::time::Instant::now()`: moved forward by `POST /admin/clock`.
    skew: Duration,
    breakpoints: cache::BreakpointCache,
    sequences: cache::SequenceCache,
    limits: limits::Limits,
    fault: faults::Fault,
    counters: stats::Counters,
    /// Source of request and message ids.
    next_id: u64,
    /// Request fingerprints for cache diagnostics, by response id.
    diagnostics: diagnose::Shapes,
    /// The engine's KV-cache events, when published.
    kv: Option<kv_publish::KvBlocks>,
    /// Added to every count of the count endpoints (`POST /admin/count`): a provider that
    /// changed its tokenizer or framing, for tests.
    count_offset: i64,
}

impl State {
    fn now(&self) -> Instant {
        Instant::now() + self.skew
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters half-updated at worst.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tokenizer(&self) -> Arc<Tokenizer> {
        self.lock().tokenizer.clone()
    }
}

impl Emulator {
    /// Loads the configured tokenizer (an unknown id is an error) and sets up empty caches.
    pub fn new(registry: Arc<Registry>, rules: CacheRules, cfg: EmulatorConfig) -> Result<Self> {
        let tokenizer = registry.get(&cfg.tokenizer)?;
        let now = Instant::now();
        let limits = limits::Limits::new(cfg.requests_per_minute, cfg.input_tokens_per_minute, now);
        let kv =
            match (&cfg.kv_events, cfg.engine) {
                (None, _) => None,
                (Some(_), Engine::Hosted) => return Err(Error::Other(
                    "--kv-events: only engines (--engine vllm or sglang) publish KV-cache events"
                        .into(),
                )),
                (Some(k), _) => Some(kv_publish::KvBlocks::new(
                    kv_publish::Publisher::start(k.clone())?,
                    &k.seed,
                )),
            };
        let state = State {
            tokenizer,
            skew: Duration::ZERO,
            breakpoints: cache::BreakpointCache::default(),
            sequences: cache::SequenceCache::new(cfg.cache_sequences),
            limits,
            fault: faults::Fault::default(),
            counters: stats::Counters::default(),
            next_id: 0,
            diagnostics: diagnose::Shapes::default(),
            kv,
            count_offset: 0,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                registry,
                rules,
                cfg,
                state: Mutex::new(state),
            }),
        })
    }

    /// All endpoints of the configured engine. Served by anything but [`Emulator::serve`], the
    /// `drop` fault answers 500 instead of cutting the connection.
    pub fn router(&self) -> Router {
        let provider = match self.shared.cfg.engine {
            Engine::Hosted => Router::new()
                .route("/v1/messages", post(anthropic::messages))
                .route("/v1/chat/completions", post(openai::chat_completions))
                .route("/v1/responses", post(openai::responses))
                .route("/v1/messages/count_tokens", post(count::anthropic))
                .route("/v1/responses/input_tokens", post(count::openai))
                .route("/v1beta/models/{model}", post(count::gemini)),
            Engine::Vllm | Engine::Sglang => Router::new()
                .route("/v1/chat/completions", post(engine::chat_completions))
                .route("/v1/completions", post(engine::completions)),
        }
        .route_layer(axum::middleware::from_fn_with_state(
            self.shared.clone(),
            faults::gate,
        ));
        Router::new()
            .merge(provider)
            .route(
                "/admin/faults",
                post(admin::set_faults).get(admin::get_faults),
            )
            .route("/admin/tokenizer", post(admin::set_tokenizer))
            .route("/admin/stats", get(admin::stats))
            .route("/admin/reset", post(admin::reset))
            .route("/admin/clock", post(admin::clock))
            .route("/admin/count", post(admin::count))
            .route("/admin/diagnostics", post(admin::diagnostics))
            .route("/admin/kv", post(admin::kv))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.shared.clone())
    }

    /// Serves [`Emulator::router`] on `listener` until `shutdown` completes, then lets open
    /// requests finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        crate::server::serve(
            listener,
            self.router(),
            crate::server::Limits::default(),
            connection::CuttableStream::new,
            shutdown,
        )
        .await
    }

    /// The counters `GET /admin/stats` shows.
    pub fn stats(&self) -> Stats {
        stats::snapshot(&self.shared)
    }

    /// Moves the emulator's clock forward: cache entries age and rate-limit buckets refill as if
    /// `by` had passed (for tests that cannot pause tokio's clock).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.lock().skew += by;
    }
}

/// `prefix emulate`.
pub fn run(config_path: &Path, args: EmulateArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        return Err(Error::Other(format!(
            "--listen {}: not a loopback address; the admin API has no authentication, pass --allow-non-loopback to bind it anyway",
            args.listen
        )));
    }
    let config = crate::config::Config::load(config_path)?;
    let rules = CacheRules::load(&config.cache_rules)?;
    let registry = Arc::new(Registry::new(&config));
    let seed = match &args.kv_hash_seed {
        None => crate::kv_events::hash::NoneHashSeed::unset(),
        Some(s) => crate::kv_events::hash::NoneHashSeed::pythonhashseed(s)
            .map_err(|e| Error::Other(format!("--kv-hash-seed: {e}")))?,
    };
    let cfg = EmulatorConfig {
        tokenizer: args.tokenizer,
        engine: args.engine,
        requests_per_minute: args.requests_per_minute,
        input_tokens_per_minute: args.input_tokens_per_minute,
        kv_events: args.kv_events.map(|endpoint| kv_publish::KvEventsConfig {
            endpoint,
            replay: args.kv_replay,
            topic: args.kv_topic,
            encoding: crate::kv_events::wire::Encoding {
                tagged: !args.kv_positional,
                int_hashes: args.kv_hashes == KvHashes::Int,
                sglang: args.engine == Engine::Sglang,
            },
            seed,
        }),
        cache_sequences: args.cache_sequences as usize,
    };
    let emulator = Emulator::new(registry, rules, cfg.clone())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Error::Other(format!("cannot listen on {}: {e}", args.listen)))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::Other(format!("cannot read the bound address: {e}")))?;
        tracing::info!(
            address = %bound,
            engine = ?cfg.engine,
            tokenizer = %cfg.tokenizer,
            "emulator listening"
        );
        let shutdown = shutdown_signal()
            .map_err(|e| Error::Other(format!("cannot install a signal handler: {e}")))?;
        emulator
            .serve(listener, shutdown)
            .await
            .map_err(|e| Error::Other(format!("emulator on {bound}: {e}")))
    })
}

/// Completes on SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("emulator shutting down");
    })
}
