//! Command-line interface: argument definitions and one function per subcommand.
//!
//! `main` maps the result to the documented exit codes: 0 success (and no fingerprint
//! changed), 1 a fingerprint changed (`diff`), 2 an error.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::analyzer::Analyzer;
use crate::config::TokenizerFormat;
use crate::error::{Error, Result};
use crate::report::{self, Format};
use crate::template::ChatTemplate;
use crate::tokenizer::{read_spec, Tokenizer};

/// `0.1.0 (commit abc1234, built 2026-12-01)`: the commit and the build day, from build.rs.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PREFIX_WARDEN_COMMIT"),
    ", built ",
    env!("PREFIX_WARDEN_BUILD_DATE"),
    ")"
);

const CHECK_HELP: &str = "\
Examples:
  prefix check                       # the shipped daemon.toml
  prefix check --config /etc/prefix-warden/daemon.toml --format json

Models registered in prompts or warmed by [[warmup]] groups are checked against
data/model-lifecycle.toml: within 30 days of retirement a warning, past it an error (exit 2).";

const EXIT_CODES: &str = "\
Exit codes:
  0  success; for `diff`: no fingerprint changed; for `lint`: findings within --fail-over
  1  `diff`: at least one prompt's fingerprint changed; `lint`: findings above --fail-over
  2  error (bad config, prompt, tokenizer file, unknown id, failed pass of `daemon --once`, ...)";

#[derive(Parser, Debug)]
#[command(
    name = "prefix",
    version = VERSION,
    about = "Keeps LLM prompt caches warm and honest",
    long_about = "prefix-warden: fingerprints the system-prompt prefixes you register under each provider \
tokenizer version, shows what a tokenizer upgrade does to your cached prefixes before it ships \
(`prefix diff`), and runs a daemon that re-checks them, alerts on changes and keeps caches warm.\n\n\
Prompt text is never printed unless you pass --show-text.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The configuration file; relative paths inside it are resolved against its directory
    #[arg(
        long,
        global = true,
        default_value = "daemon.toml",
        env = "PREFIX_WARDEN_CONFIG"
    )]
    pub config: PathBuf,
    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: crate::logging::LogFormat,
    /// No progress display on stderr (it is shown only at a terminal anyway)
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate the config, every tokenizer file (sha256 included), the prompts, the cache rules,
    /// and the retirement dates of the models in use
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Print the token ids of a text as JSON: {"tokenizer", "count", "ids"}
    #[command(after_help = TOKENIZE_HELP)]
    Tokenize(TokenizeArgs),
    /// Fingerprint registered prompts under registered tokenizers
    #[command(after_help = FINGERPRINT_HELP)]
    Fingerprint(FingerprintArgs),
    /// Show what changing tokenizer does to each prompt's cached prefix, and what it costs
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
    /// Find the prefixes your real requests share, from request logs, and which are registered
    #[command(after_help = DISCOVER_HELP)]
    Discover(DiscoverArgs),
    /// Replay one model's logged traffic against its cache rule: tokens read, written and
    /// uncached, and what warm-ups at each cadence would change
    Simulate(SimulateArgs),
    /// Find cache-hostile spans (dates, ids, user paths, unstable tool JSON) in the registered
    /// prompts and in request logs; exit 1 above a threshold, for CI
    #[command(after_help = LINT_HELP)]
    Lint(LintArgs),
    /// Run the daemon: re-fingerprint on schedule and on file changes, alert, serve /metrics
    #[command(after_help = DAEMON_HELP)]
    Daemon(crate::daemon::DaemonArgs),
    /// Ask the running daemon (at the config's daemon.listen) for its status
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
    /// Copy the history database (state_dir/prefix-warden.sqlite) to a new file, consistently,
    /// while the daemon runs
    #[command(after_help = BACKUP_HELP)]
    Backup(BackupArgs),
    /// Serve a local imitation of the Anthropic and OpenAI APIs (or of vLLM / SGLang) with their
    /// documented prompt-cache behaviour, rate-limit headers and injectable faults, so warm-ups
    /// can be tested with no network
    #[command(after_help = EMULATE_HELP)]
    Emulate(crate::emulator::EmulateArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the man page, prefix(1); with --dir, write one page per subcommand there
    #[command(after_help = MAN_HELP)]
    Man(ManArgs),
}

const BACKUP_HELP: &str = "\
The copy is one consistent snapshot (SQLite's VACUUM INTO), mode 0600, written to a temporary
file beside DEST and renamed into place; DEST must not exist. Reading the live file with the
sqlite3 shell is safe too (the daemon keeps its locks), but a backup by `cp` is not.

Examples:
  prefix backup /var/backups/prefix-warden-$(date +%F).sqlite
  prefix -c /etc/prefix-warden/daemon.toml backup history.sqlite";

const TOKENIZE_HELP: &str = "\
Examples:
  prefix tokenize --tokenizer openai/o200k_base prompts/texts/cline__cline__system_hermes_4.txt
  echo 'Hello, world' | prefix tokenize --tokenizer mistral/tekken-240911";

const FINGERPRINT_HELP: &str = "\
Results are cached on disk under state_dir; a second run over unchanged prompts and tokenizer
files tokenizes nothing.

Examples:
  prefix fingerprint
  prefix fingerprint --prompt cline-hermes-4 --tokenizer qwen/qwen3-chat --format json
  prefix fingerprint --remote          # also ask hosted providers for their counts";

const DIFF_HELP: &str = "\
Examples:
  prefix diff --from qwen/qwen2.5-qwen3 --to qwen/qwen3 --price 'vllm/*=0.30'
  prefix diff --from openai/cl100k_base --to openai/o200k_base
  prefix diff --from qwen/qwen2.5-qwen3 --to qwen/qwen3 --prompt browser-use-agent --format json
  prefix diff --from deepseek/v3 --to-file new/tokenizer.json
  prefix diff --from mistral/nemo-chat --to-template new/tokenizer_config.json

Exit codes:
  0  no fingerprint changed
  1  at least one prompt's fingerprint changed
  2  error (bad config, prompt, tokenizer file, unknown id, ...)";

const DAEMON_HELP: &str = "\
Examples:
  prefix daemon                                   # the shipped demo config, until SIGTERM
  prefix daemon --config /etc/prefix-warden/daemon.toml --log-format json
  prefix daemon --once                            # one pass, print the status, exit

SIGHUP reloads the config whole (a bad one keeps the running one); SIGTERM exits 0.";

const STATUS_HELP: &str = "\
Examples:
  prefix status
  prefix status --url http://127.0.0.1:9464 --format json";

const EMULATE_HELP: &str = "\
Examples:
  prefix emulate                                  # Anthropic + OpenAI on 127.0.0.1:9465
  prefix emulate --engine vllm --listen 127.0.0.1:8000 --tokenizer qwen/qwen3";

const COMPLETIONS_HELP: &str = "\
Examples:
  prefix completions bash > /etc/bash_completion.d/prefix
  prefix completions zsh > \"${fpath[1]}/_prefix\"
  prefix completions fish > ~/.config/fish/completions/prefix.fish";

const MAN_HELP: &str = "\
Examples:
  prefix man | man -l -
  prefix man --dir /usr/share/man/man1            # prefix.1 and prefix-<command>.1";

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write prefix.1 and one page per subcommand into this directory instead
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

const DISCOVER_HELP: &str = "Logs are JSON lines (plain, .gz or .zst): raw request bodies (Anthropic Messages, OpenAI Chat Completions or Responses), OpenAI Batch input lines ({custom_id, method, url, body}) or Anthropic Message Batches lines ({custom_id, params}); a line may carry `timestamp` (RFC 3339 or Unix time) and the response's `usage`. Bad lines are counted and listed by number; they never stop the run.

Examples:
  prefix discover examples/logs/agents.jsonl.gz
  prefix discover --format json --min-tokens 2048 logs/*.jsonl.zst
  prefix discover --write-prompts discovered/ logs/today.jsonl  # stubs: unregistered ones
  prefix discover --remote logs/claude-batch.jsonl   # Claude: lengths from usage, then counts

Models no registered tokenizer serves get block lengths from the logs' usage, --remote counts
or a --stand-in tokenizer (as simulate); a model whose blocks stay without a length is listed
as skipped, with the flags that would help.";

const LINT_HELP: &str = "Classes: date-time, uuid, high-entropy-id, user-path (in prompt texts and logged system blocks); tool-key-order, tools-order (across logged requests); after-last-breakpoint (a prompt's layout). Each finding: subject (prompt id or log:<model>), where, byte range, class, requests, and the tokens per day it makes uncacheable. Never the text.

Exit status: 0 when the findings cost at most --fail-over tokens per day in total, 1 above it, 2 on error.

Examples:
  prefix lint                                   # the registered prompts
  prefix lint --fail-over 100000 logs/today.jsonl.gz";

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  prefix simulate --model openai/gpt-5.4 examples/logs/agents.jsonl.gz
  prefix simulate --model anthropic/claude-sonnet-4-6 --warmup '0 */4 * * * *' logs/*.jsonl.gz
  prefix simulate --model openai/gpt-5.5 --per-request --format json logs/today.jsonl
  prefix simulate --model anthropic/claude-sonnet-4-6 --remote logs/batch.jsonl

Models no registered tokenizer serves (Claude's is private) get block lengths from the logs'
usage where it pins them, then with --remote from the model's anthropic-count tokenizer, then
from a --stand-in tokenizer (figures approximate); the report names the source and the error
of the lengths against the logs' usage. A block no source covers is an error (exit 2).

Each request also gets a predicted outcome (hit, first_request, model_changed, cache_key_changed,
tools_changed, system_changed, messages_changed, ttl_expired, evicted, below_minimum,
no_breakpoint); where the logs carry the providers' cache diagnostics (Anthropic `diagnostics`,
OpenAI `prompt_cache_diagnostics`) the two are compared, disagreements first (docs/traffic.md).")]
pub struct SimulateArgs {
    /// Request log files (as for discover); requests need timestamps
    #[arg(required = true)]
    pub logs: Vec<PathBuf>,
    /// The model whose requests are replayed, provider/model (selects the cache rule)
    #[arg(long)]
    pub model: String,
    /// Also try a warm-up every this many seconds (beside the built-in cadences)
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(10..=86_400), conflicts_with = "warmup")]
    pub warmup_every: Option<u64>,
    /// Also try warm-ups on this cron schedule, as a [[warmup]] group's `schedule` (5 or 6 fields)
    #[arg(long, value_name = "CRON")]
    pub warmup: Option<String>,
    /// Where breakpoints go for rules that need them (Anthropic, Bedrock, OpenAI from GPT-5.6):
    /// auto (end of tools/system), as-sent (the logs' cache_control), tools, conversation
    /// (auto + end of request). Every placement is also costed; this one drives the warm-ups.
    /// The fit against the logs' usage always uses the breakpoints as sent
    #[arg(long, value_enum, default_value = "auto")]
    pub breakpoints: crate::traffic::simulate::Placement,
    /// List every request: predicted against observed cached tokens (requests with usage), and
    /// the predicted miss reason against the provider's diagnostics, disagreements first
    #[arg(long)]
    pub per_request: bool,
    #[command(flatten)]
    pub lengths: LengthArgs,
    /// table or markdown for people, json for scripts
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct LintArgs {
    /// Request log files (as for discover); none: only the registered prompts
    pub logs: Vec<PathBuf>,
    /// Exit 1 when the findings cost more than this many uncacheable tokens per day
    #[arg(long, default_value_t = 0.0)]
    pub fail_over: f64,
    /// table or markdown for people, json for scripts
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct DiscoverArgs {
    /// Request log files
    #[arg(required = true)]
    pub logs: Vec<PathBuf>,
    /// Report only prefixes at least this many tokens long
    #[arg(long, default_value_t = 1024)]
    pub min_tokens: usize,
    /// ... and shared by at least this many requests
    #[arg(long, default_value_t = 2)]
    pub min_requests: usize,
    /// How many prefixes to report, most cached tokens first
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// table or markdown for people, json for scripts
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write a prompt YAML stub and its text for each unregistered prefix into DIR (files mode
    /// 0600: the only output that contains request text)
    #[arg(long, value_name = "DIR")]
    pub write_prompts: Option<PathBuf>,
    #[command(flatten)]
    pub lengths: LengthArgs,
}

/// Where block lengths come from for models no registered tokenizer serves (after the logs'
/// usage, which is always used).
#[derive(Args, Debug)]
pub struct LengthArgs {
    /// For models no tokenizer serves: count the block lengths usage leaves open with the
    /// model's anthropic-count tokenizer (sends request prefixes to the provider's count
    /// endpoint, one call per distinct block boundary; cached per day under state_dir/counts)
    #[arg(long)]
    pub remote: bool,
    /// For models no tokenizer serves: take the lengths still open from this registered
    /// tokenizer (e.g. openai/o200k_base); every figure is then approximate
    #[arg(long, value_name = "TOKENIZER")]
    pub stand_in: Option<String>,
}

impl LengthArgs {
    fn sources(&self) -> crate::count::boundaries::Sources {
        crate::count::boundaries::Sources {
            remote: self.remote,
            stand_in: self.stand_in.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// table or markdown for people, json for scripts
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Check the retirement dates as of this day (YYYY-MM-DD) instead of today (UTC)
    #[arg(long, value_name = "DAY", hide = true)]
    pub today: Option<chrono::NaiveDate>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The daemon's base URL (default: http:// + daemon.listen from the config)
    #[arg(long)]
    pub url: Option<String>,
    /// File holding the bearer token /status requires when the daemon has one (default:
    /// daemon.ingest_token_file from the config, unless --url is given)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// table: a summary for people; json: the daemon's /status document as is
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist)
    pub dest: PathBuf,
}

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// Tokenizer id from the registry, e.g. openai/o200k_base
    #[arg(long)]
    pub tokenizer: String,
    /// File to tokenize; `-` or nothing reads standard input
    pub file: Option<PathBuf>,
    /// json: `{"tokenizer", "count", "ids"}` on one line; ids: one id per line; count: the
    /// number of tokens only
    #[arg(long, value_enum, default_value = "json")]
    pub format: TokenizeFormat,
}

/// What `prefix tokenize` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizeFormat {
    Json,
    Ids,
    Count,
}

#[derive(Args, Debug)]
pub struct FingerprintArgs {
    /// Only these prompts (repeatable); default all
    #[arg(long = "prompt")]
    pub prompts: Vec<String>,
    /// Only these tokenizers (repeatable); default all
    #[arg(long = "tokenizer")]
    pub tokenizers: Vec<String>,
    /// table or markdown for people, json for scripts
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also print the prompt texts (they are secrets: off by default)
    #[arg(long)]
    pub show_text: bool,
    /// Also ask the providers of counting tokenizers (anthropic-count, gemini-count,
    /// openai-count) for their counts: sends each prompt to the provider's count endpoint
    /// (free of charge, but it leaves this machine; cached per day under state_dir/counts)
    #[arg(long)]
    pub remote: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(true).args(["to", "to_file", "to_template"]))]
pub struct DiffArgs {
    /// The tokenizer in use today (registry id)
    #[arg(long)]
    pub from: String,
    /// The tokenizer you are moving to (registry id); with its chat template, if it has one
    #[arg(long, conflicts_with = "to_file")]
    pub to: Option<String>,
    /// A tokenizer file that is not in the registry (a tiktoken file takes its pattern from
    /// a sibling NAME.spec.json, else from --from)
    #[arg(long)]
    pub to_file: Option<PathBuf>,
    /// Format of --to-file: hf-json, tiktoken, tekken or sentencepiece (default: guessed from the name and content)
    #[arg(long, requires = "to_file")]
    pub to_format: Option<String>,
    /// A chat template revision to render with instead (a Jinja file, or a
    /// tokenizer_config.json): alone, diffs --from's tokenizer under its template against
    /// the same tokenizer under this one
    #[arg(long)]
    pub to_template: Option<PathBuf>,
    /// Only these prompts (repeatable); default all
    #[arg(long = "prompt")]
    pub prompts: Vec<String>,
    /// Price the models matching MODEL (a glob on provider/model, e.g. 'vllm/*') at USD per
    /// million uncached input tokens instead of data/cache-rules.toml's price; self-hosted
    /// engines ship at 0, so give your compute cost here (repeatable)
    #[arg(long = "price", value_name = "MODEL=USD")]
    pub prices: Vec<String>,
    /// table or markdown for people, json for scripts
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Also print the text of the ranges that tokenize differently (secrets: off by default)
    #[arg(long)]
    pub show_text: bool,
}

/// What a command wants the process to exit with, when it did not fail.
pub enum Outcome {
    Ok,
    Changed,
}

pub fn run(cli: Cli) -> Result<Outcome> {
    let config = cli.config.clone();
    run_command(cli).map_err(|e| match e {
        // The one error a newcomer meets first: say which file was looked for and how to
        // point at another.
        Error::Io { path, source }
            if source.kind() == std::io::ErrorKind::NotFound && path == config =>
        {
            Error::Other(format!(
                "{}: no such config file (looked for it relative to {}); pass --config FILE or set PREFIX_WARDEN_CONFIG",
                path.display(),
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|_| "the working directory".into())
            ))
        }
        e => e,
    })
}

fn run_command(cli: Cli) -> Result<Outcome> {
    let working = match &cli.command {
        Command::Check(_) => Some("loading and verifying every tokenizer"),
        Command::Fingerprint(_) => Some("fingerprinting"),
        Command::Diff(_) => Some("tokenizing under both versions"),
        Command::Discover(_) => Some("reading and tokenizing the logs"),
        Command::Simulate(_) => Some("reading and replaying the logs"),
        Command::Lint(_) => Some("linting"),
        Command::Tokenize(_) => Some("tokenizing"),
        _ => None,
    };
    if let Some(w) = working {
        crate::progress::start(cli.quiet, w);
    }
    let r = run_one(cli);
    crate::progress::clear();
    r
}

fn run_one(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Check(a) => crate::check::run(&cli.config, a.format, a.today),
        Command::Tokenize(a) => tokenize(&cli.config, a),
        Command::Fingerprint(a) => fingerprint(&cli.config, a),
        Command::Diff(a) => diff(&cli.config, a),
        Command::Status(a) => status(&cli.config, a),
        Command::Backup(a) => {
            let c = crate::config::Config::load(&cli.config)?;
            let src = c.state_dir.join(crate::store::FILE_NAME);
            crate::store::backup(&src, &a.dest)?;
            eprintln!("{} -> {}", src.display(), a.dest.display());
            Ok(Outcome::Ok)
        }
        Command::Discover(a) => discover(&cli.config, a),
        Command::Lint(a) => lint(&cli.config, a),
        Command::Simulate(a) => simulate(&cli.config, a),
        Command::Daemon(a) => crate::daemon::run(&cli.config, a).map(|_| Outcome::Ok),
        Command::Emulate(a) => crate::emulator::run(&cli.config, a).map(|_| Outcome::Ok),
        Command::Completions(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "prefix", &mut out);
            print(&String::from_utf8_lossy(&out))?;
            Ok(Outcome::Ok)
        }
        Command::Man(a) => man(a),
    }
}

fn man(a: ManArgs) -> Result<Outcome> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match a.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            clap_mangen::generate_to(cmd, &dir).map_err(|e| Error::io(&dir, e))?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Error::io("<stdout>", e))?;
            print(&String::from_utf8_lossy(&out))?;
        }
    }
    Ok(Outcome::Ok)
}

pub(crate) fn print(s: &str) -> Result<()> {
    use std::io::Write;
    crate::progress::clear();
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| Error::io("<stdout>", e)),
    }
}

fn tokenize(config: &Path, a: TokenizeArgs) -> Result<Outcome> {
    let cfg = crate::config::Config::load(config)?;
    let entry = cfg.tokenizer(&a.tokenizer)?;
    let text = match a.file.as_deref() {
        None => read_stdin()?,
        Some(p) if p == Path::new("-") => read_stdin()?,
        Some(p) => {
            let b = crate::bounded::read_limited(p, crate::bounded::TOKENIZE_INPUT_BYTES)?;
            String::from_utf8(b).map_err(|e| {
                Error::Other(format!(
                    "{}: not valid UTF-8 at byte {}",
                    p.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?
        }
    };
    let tok = Tokenizer::load_cached(entry, Some(&cfg.state_dir))?;
    let ids = tok.encode(&text)?;
    drop(text);
    write_ids(&tok.id, &ids, a.format).map_err(|e| Error::io("<stdout>", e))?;
    Ok(Outcome::Ok)
}

/// The ids in `format`, streamed: for json, `{"tokenizer": .., "count": .., "ids": [..]}` on one
/// line (a JSON value per id would cost tens of bytes each for a 16 MB input).
fn write_ids(tokenizer: &str, ids: &[u32], format: TokenizeFormat) -> std::io::Result<()> {
    use std::io::Write;
    crate::progress::clear();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let r = (|| {
        let mut buf = itoa::Buffer::new();
        match format {
            TokenizeFormat::Count => writeln!(out, "{}", ids.len())?,
            TokenizeFormat::Ids => {
                for id in ids {
                    out.write_all(buf.format(*id).as_bytes())?;
                    out.write_all(b"\n")?;
                }
            }
            TokenizeFormat::Json => {
                write!(
                    out,
                    "{{\"tokenizer\":{},\"count\":{},\"ids\":[",
                    serde_json::Value::from(tokenizer),
                    ids.len()
                )?;
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    out.write_all(buf.format(*id).as_bytes())?;
                }
                out.write_all(b"]}\n")?;
            }
        }
        out.flush()
    })();
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

fn read_stdin() -> Result<String> {
    let b = crate::bounded::read_to_limit(
        std::io::stdin(),
        crate::bounded::TOKENIZE_INPUT_BYTES,
        &"<stdin>",
    )?;
    String::from_utf8(b).map_err(|e| {
        Error::Other(format!(
            "<stdin>: not valid UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn fingerprint(config: &Path, args: FingerprintArgs) -> Result<Outcome> {
    let a = Analyzer::load(config)?;
    let prompts = a.select_prompts(&args.prompts)?;
    let toks = a.select_tokenizers(&args.tokenizers)?;
    let (counting, local): (Vec<String>, Vec<String>) = toks
        .into_iter()
        .partition(|t| a.tokenizers.entry(t).is_ok_and(|e| e.format.is_count()));
    if !args.remote && !counting.is_empty() {
        if !args.tokenizers.is_empty() {
            return Err(Error::Other(format!(
                "{} count(s) by calling the provider: pass --remote to send the prompts to its count endpoint",
                counting.join(", ")
            )));
        }
        eprintln!(
            "note: {} counting tokenizer(s) skipped ({}): pass --remote to ask the providers",
            counting.len(),
            counting.join(", ")
        );
    }
    let now = chrono::Utc::now();
    let pairs: Vec<_> = prompts
        .iter()
        .flat_map(|p| local.iter().map(move |t| (*p, t.clone())))
        .collect();
    // One pair that cannot load or render is that pair's error, reported after every other
    // pair's fingerprint (issue #19): exit 2 at the end, never an empty table.
    let mut evals = Vec::with_capacity(pairs.len());
    let mut failed = Vec::new();
    for ((p, t), r) in pairs.iter().zip(a.evaluate_each(&pairs, now)?) {
        match r {
            Ok(e) => evals.push(e),
            Err(e) => failed.push(format!("prompt `{}`, tokenizer `{t}`: {e}", p.id)),
        }
    }
    if args.remote && !counting.is_empty() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
        for t in &counting {
            let entry = a.tokenizers.entry(t)?;
            evals.extend(rt.block_on(crate::count::evaluate(&a, entry, &prompts, now))?);
        }
    }
    let show = args.show_text.then_some(a.prompts.as_slice());
    print(&report::fingerprints(&evals, args.format, show))?;
    pair_errors(&failed, pairs.len())?;
    Ok(Outcome::Ok)
}

/// Reports each failed pair on its own line (stderr) and fails the command when any did: the
/// other pairs' results are already printed.
fn pair_errors(failed: &[String], total: usize) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    crate::progress::clear();
    for f in failed {
        eprintln!("error: {f}");
    }
    Err(Error::Other(format!(
        "{} of {total} pair(s) failed (listed above); every other pair is reported",
        failed.len()
    )))
}

fn diff(config: &Path, args: DiffArgs) -> Result<Outcome> {
    let mut a = Analyzer::load(config)?;
    let models: Vec<String> = a
        .select_prompts(&args.prompts)?
        .iter()
        .flat_map(|p| p.models.iter().cloned())
        .collect();
    for p in &args.prices {
        let (glob, usd) = p
            .split_once('=')
            .and_then(|(g, u)| Some((g, u.trim().parse::<f64>().ok()?)))
            .ok_or_else(|| {
                Error::Other(format!(
                    "--price {p:?}: expected MODEL=USD, such as 'vllm/*=0.30'"
                ))
            })?;
        let repriced = a
            .rules
            .with_price(glob, usd, &models)
            .map_err(Error::Other)?;
        eprintln!(
            "note: priced at ${usd}/M input tokens (--price): {}",
            repriced.join(", ")
        );
    }
    let prompts = a.select_prompts(&args.prompts)?;
    a.tokenizers.entry(&args.from)?;
    let (from, to) = match (&args.to, &args.to_file) {
        (Some(to), _) => {
            a.tokenizers.entry(to)?;
            let (f, t) = rayon::join(|| a.tokenizers.get(&args.from), || a.tokenizers.get(to));
            (f?, t?)
        }
        (None, Some(path)) => {
            let from = a.tokenizers.get(&args.from)?;
            let format = match &args.to_format {
                Some(f) => f.parse::<TokenizerFormat>().map_err(Error::Other)?,
                None => guess_format(path)?,
            };
            let spec = if format == TokenizerFormat::Tiktoken {
                let sibling = sibling_spec(path);
                let spec_path = match sibling {
                    Some(s) => s,
                    None => a.tokenizers.entry(&args.from)?.spec.clone().ok_or_else(|| {
                        Error::Other(format!(
                            "{}: a tiktoken file needs a spec (pattern and special tokens): put NAME.spec.json next to it",
                            path.display()
                        ))
                    })?,
                };
                let (s, sha) = read_spec("--to-file", &spec_path)?;
                Some((spec_path, s, sha))
            } else {
                None
            };
            let label = format!("file:{}", path.display());
            let to = Tokenizer::load_file(
                &label,
                path,
                format,
                spec.as_ref()
                    .map(|(p, s, h)| (p.as_path(), s.clone(), h.clone())),
            )?;
            (from, std::sync::Arc::new(to))
        }
        (None, None) if args.to_template.is_some() => {
            let from = a.tokenizers.get(&args.from)?;
            (from.clone(), from)
        }
        (None, None) => {
            return Err(Error::Other(
                "give --to ID, --to-file PATH or --to-template FILE".into(),
            ))
        }
    };
    let served = &a.tokenizers.entry(&args.from)?.models;
    let from_template = a.tokenizers.template(&args.from)?;
    let to_template = match (&args.to_template, &args.to) {
        (Some(path), _) => {
            let bytes = crate::bounded::read_limited(path, crate::bounded::SMALL_FILE_BYTES)?;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let t = ChatTemplate::from_bytes(name, &bytes)
                .map_err(|m| Error::Other(format!("{}: {m}", path.display())))?;
            // A bare Jinja file has no special tokens of its own: it sees --from's.
            let inherit = |f: fn(&ChatTemplate) -> &Option<String>| {
                from_template.as_deref().and_then(|ft| f(ft).clone())
            };
            let (bos, eos) = (
                t.bos_token.clone().or_else(|| inherit(|t| &t.bos_token)),
                t.eos_token.clone().or_else(|| inherit(|t| &t.eos_token)),
            );
            Some(std::sync::Arc::new(t.with_tokens(bos, eos)))
        }
        (None, Some(to)) => a.tokenizers.template(to)?,
        // --to-file: a new tokenizer file for the same model renders with the same template.
        (None, None) => from_template.clone(),
    };
    let r = crate::diff::diff(
        crate::diff::Side {
            tokenizer: &from,
            template: from_template.as_deref(),
        },
        crate::diff::Side {
            tokenizer: &to,
            template: to_template.as_deref(),
        },
        &prompts,
        &a.rules,
        a.config.block_size,
        served,
        chrono::Utc::now(),
    )?;
    let show = args.show_text.then_some(a.prompts.as_slice());
    print(&report::diff(&r, args.format, show))?;
    // A prompt that cannot render or tokenize on a side is its own error, after every other
    // prompt's diff (issue #19).
    let failed: Vec<String> = r
        .failed
        .iter()
        .map(|f| format!("prompt `{}`, side `{}`: {}", f.prompt, f.side, f.error))
        .collect();
    pair_errors(&failed, r.summary.prompts + r.failed.len())?;
    Ok(if r.summary.changed > 0 {
        Outcome::Changed
    } else {
        Outcome::Ok
    })
}

fn discover(config: &Path, args: DiscoverArgs) -> Result<Outcome> {
    let a = Analyzer::load(config)?;
    let logs: Vec<&Path> = args.logs.iter().map(PathBuf::as_path).collect();
    // Models no tokenizer serves: lengths from the usage discover gathers, then counts or a
    // stand-in; a model left open is skipped with a note.
    let sources = args.lengths.sources();
    let find = |facts| {
        let (done, open) = crate::count::boundaries::resolve(&a, &logs, facts, &sources, false)?;
        for why in open.values() {
            crate::progress::clear();
            eprintln!("note: requests skipped: {why}");
        }
        Ok(done
            .into_iter()
            .map(|(m, l)| (m, std::sync::Arc::new(l)))
            .collect())
    };
    let d = crate::traffic::discover::discover(
        &a,
        &logs,
        &crate::traffic::discover::Options {
            min_tokens: args.min_tokens,
            min_requests: args.min_requests.max(1),
            top: args.top,
            keep_text: args.write_prompts.is_some(),
            lengths: Some(&find),
        },
    )?;
    print(&crate::traffic::report::discovery(&d, args.format))?;
    if let Some(dir) = &args.write_prompts {
        let files = d.write_prompts(dir)?;
        eprintln!(
            "wrote {} file(s) under {} (mode 0600)",
            files.len(),
            dir.display()
        );
    }
    Ok(Outcome::Ok)
}

fn simulate(config: &Path, args: SimulateArgs) -> Result<Outcome> {
    let a = Analyzer::load(config)?;
    let logs: Vec<&Path> = args.logs.iter().map(PathBuf::as_path).collect();
    use crate::traffic::simulate::Warmups;
    let warmup = match (&args.warmup, args.warmup_every) {
        (Some(expr), _) => Some(Warmups::Cron(
            Box::new(
                crate::schedule::parse(expr).map_err(|m| Error::Other(format!("--warmup: {m}")))?,
            ),
            expr.clone(),
        )),
        (None, Some(s)) => Some(Warmups::Every(s)),
        (None, None) => None,
    };
    if let (Some(e), true) = (
        a.bare_tokenizer_for(&args.model),
        args.lengths.remote || args.lengths.stand_in.is_some(),
    ) {
        crate::progress::clear();
        eprintln!(
            "note: tokenizer {} serves {}: --remote and --stand-in are not used",
            e.id, args.model
        );
    }
    // A model without a cache rule fails before any count call is paid for.
    if a.rules.for_model(&args.model).is_none() {
        return Err(Error::Other(format!(
            "no cache rule for `{}` in {}",
            args.model,
            a.config.cache_rules.display()
        )));
    }
    let lengths = if a.bare_tokenizer_for(&args.model).is_none() {
        let (mut l, _) = crate::count::boundaries::block_lengths(
            &a,
            &logs,
            |m| m == args.model,
            &args.lengths.sources(),
            &Default::default(),
            true,
        )?;
        l.remove(&args.model).map(std::sync::Arc::new)
    } else {
        None
    };
    let s = crate::traffic::simulate::simulate(
        &a,
        &logs,
        &args.model,
        crate::traffic::simulate::Options {
            warmup,
            placement: args.breakpoints,
            per_request: args.per_request,
            limits: Default::default(),
            lengths,
        },
    )?;
    print(&crate::traffic::report::simulation(&s, args.format))?;
    Ok(Outcome::Ok)
}

fn lint(config: &Path, args: LintArgs) -> Result<Outcome> {
    let a = Analyzer::load(config)?;
    let logs: Vec<&Path> = args.logs.iter().map(PathBuf::as_path).collect();
    let l = crate::traffic::lint::lint(&a, &logs)?;
    print(&crate::traffic::report::lint(&l, args.format))?;
    Ok(if l.tokens_per_day > args.fail_over {
        Outcome::Changed
    } else {
        Outcome::Ok
    })
}

fn status(config: &Path, args: StatusArgs) -> Result<Outcome> {
    let (base, config_token) = match args.url {
        Some(u) => (u, None),
        None => match crate::config::Config::load(config) {
            Ok(c) => (
                format!("http://{}", c.daemon.listen),
                c.daemon.ingest_token_file,
            ),
            // A config the daemon refused to reload must not hide the daemon that kept the
            // running one: find its address leniently and say why.
            Err(e) => {
                let Ok(bytes) = crate::bounded::read_limited(config, crate::bounded::CONFIG_BYTES)
                else {
                    return Err(e);
                };
                let text = String::from_utf8_lossy(&bytes);
                let (listen, token) = crate::config::endpoint_of(config, &text);
                eprintln!("warning: the config does not load ({e}); asking the daemon at {listen}");
                (format!("http://{listen}"), token)
            }
        },
    };
    let token = args
        .token_file
        .or(config_token)
        .map(|p| crate::daemon::generation::read_token_file(&p))
        .transpose()?;
    let url = format!("{}/status", base.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let v: crate::status::Status = rt
        .block_on(async {
            let mut req = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?
                .get(&url);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await?;
            r.error_for_status()?.json().await
        })
        .map_err(|e| Error::Other(format!("cannot get {url}: {e} (is the daemon running?)")))?;
    let out = match args.format {
        Format::Json => serde_json::to_string_pretty(&v).expect("serializable") + "\n",
        Format::Table | Format::Markdown => crate::status::render(
            &v,
            crate::metrics::now_secs(),
            args.format == Format::Markdown,
        ),
    };
    print(&out)?;
    Ok(Outcome::Ok)
}

/// `x.tiktoken(.gz)` -> its `x.spec.json`, if that exists.
fn sibling_spec(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.trim_end_matches(".gz").trim_end_matches(".tiktoken");
    let p = path.with_file_name(format!("{stem}.spec.json"));
    p.exists().then_some(p)
}

fn guess_format(path: &Path) -> Result<TokenizerFormat> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains(".tiktoken") {
        return Ok(TokenizerFormat::Tiktoken);
    }
    if name.ends_with(".model") || name.contains(".model.") {
        return Ok(TokenizerFormat::Sentencepiece);
    }
    let bytes = crate::tokenizer::read_maybe_gzip(path)?;
    let has = |key: &[u8]| bytes.windows(key.len()).any(|w| w == key);
    if has(b"\"token_bytes\"") {
        Ok(TokenizerFormat::Tekken)
    } else if has(b"\"model\"") {
        Ok(TokenizerFormat::HfJson)
    } else {
        Err(Error::Other(format!(
            "{}: cannot tell the tokenizer format; pass --to-format",
            path.display()
        )))
    }
}
