//! `daemon.toml`: the one configuration file, parsed into typed values.
//!
//! Parsing is strict (unknown fields are errors) and every error names the file, the line and
//! the field. Relative paths in the file are resolved against the file's own directory, so the
//! config works the same from any working directory. Semantic checks that need the file system
//! (does the tokenizer file exist, does its sha256 match) live with the things they check; they
//! get the line of the offending field from [`Loc`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

mod cluster;
mod daemon;
mod emulator;
mod lookup;
mod tokenizer;
mod warmup;
mod watch;

pub use crate::error::Loc;
pub use cluster::{
    check_endpoint as check_etcd_endpoint, valid_name as valid_replica_name, ClusterConfig,
    RawCluster, MAX_ENDPOINTS as MAX_ETCD_ENDPOINTS,
};
pub use daemon::{endpoint_of, DaemonConfig, RawDaemon, DEFAULT_LISTEN};
pub use emulator::{EmulatorSection, Engine, Listen};
pub use lookup::LookupConfig;
pub use tokenizer::{
    CountEntry, RawTokenizer, Source, TemplateEntry, TokenizerEntry, TokenizerFormat,
};
pub use warmup::{CacheTtl, WarmupConfig};
pub use watch::{RawWatch, Watch};

use crate::error::{line_of_offset, line_of_offset_bytes, Error as ConfigError};
use tokenizer::{parse_source, valid_label};

/// The whole configuration, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from (absolute), for messages and reloads.
    pub path: PathBuf,
    /// The directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// Fingerprint cache and the SQLite store live here.
    pub state_dir: PathBuf,
    /// Directory holding `*.yaml` prompt definitions.
    pub prompts_dir: PathBuf,
    /// The provider cache rules data file.
    pub cache_rules: PathBuf,
    /// The line of `cache_rules =` (1 when the default is used), for an error that names it.
    pub cache_rules_line: usize,
    /// Hosted models' retirement dates (`data/model-lifecycle.toml`).
    pub model_lifecycle: PathBuf,
    /// `model_lifecycle` was set in the file: a missing file is an error. Unset, a missing
    /// default file means no known dates (configs older than the key keep working).
    pub model_lifecycle_set: bool,
    /// Pages and files whose content changes are alerted (`[[watch]]`).
    pub watches: Vec<(Watch, Loc)>,
    /// Tokens per block in the chained block-hash list.
    pub block_size: usize,
    pub tokenizers: Vec<TokenizerEntry>,
    pub daemon: DaemonConfig,
    /// Warm-up groups (`[[warmup]]`), validated; prompt ids are checked against the registry
    /// by [`crate::analyzer::Analyzer`].
    pub warmups: Vec<(WarmupConfig, Loc)>,
    /// The provider emulator to start in-process (`[emulator]`), if any.
    pub emulator: Option<EmulatorSection>,
    /// Replicas coordinated through etcd (`[cluster]`), if any.
    pub cluster: Option<ClusterConfig>,
    pub raw: RawConfig,
}

/// The file as written, before paths are resolved.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    #[serde(default = "default_prompts")]
    pub prompts: String,
    #[serde(default = "default_rules")]
    pub cache_rules: String,
    #[serde(default)]
    pub model_lifecycle: Option<String>,
    #[serde(default, rename = "watch")]
    pub watches: Vec<Spanned<RawWatch>>,
    #[serde(default = "default_block_size")]
    pub block_size: usize,
    #[serde(default, rename = "tokenizer")]
    pub tokenizers: Vec<Spanned<RawTokenizer>>,
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default, rename = "warmup")]
    pub warmups: Vec<Spanned<WarmupConfig>>,
    #[serde(default)]
    pub emulator: Option<Spanned<EmulatorSection>>,
    #[serde(default)]
    pub cluster: Option<Spanned<RawCluster>>,
}

fn default_state_dir() -> String {
    "state".into()
}
fn default_prompts() -> String {
    "prompts".into()
}
fn default_rules() -> String {
    "data/cache-rules.toml".into()
}
const DEFAULT_LIFECYCLE: &str = "data/model-lifecycle.toml";
fn default_block_size() -> usize {
    16
}

impl Config {
    /// Reads and validates `path`. Does not open tokenizer or prompt files.
    /// `PREFIX_WARDEN_STATE_DIR`, when set, overrides `state_dir` (the systemd unit sets it:
    /// the config directory is read-only there).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = crate::bounded::read_limited(path, crate::bounded::CONFIG_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Invalid {
            file: path.to_path_buf(),
            line: line_of_offset_bytes(e.as_bytes(), e.utf8_error().valid_up_to()),
            field: String::new(),
            message: "file is not valid UTF-8".into(),
        })?;
        let mut c = Self::parse(path, &text)?;
        if let Some(dir) = std::env::var_os("PREFIX_WARDEN_STATE_DIR").filter(|d| !d.is_empty()) {
            c.state_dir = PathBuf::from(dir);
        }
        for t in c.tokenizers.iter_mut().filter(|t| t.source.is_some()) {
            let copy = tokenizer::source_copy_path(&c.state_dir, &t.id);
            if copy.exists() {
                t.file = copy.clone();
            }
            t.source_copy = Some(copy);
        }
        Ok(c)
    }

    /// Parses config text that was read from `path` (used by tests and reloads).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let err = |line: usize, field: String, message: String| ConfigError::Invalid {
            file: path.clone(),
            line,
            field,
            message,
        };
        let de = toml::Deserializer::parse(text).map_err(|e| {
            let line = e.span().map(|s| line_of_offset(text, s.start)).unwrap_or(1);
            err(line, String::new(), e.message().to_string())
        })?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            // `toml::Spanned` shows up in the path as a private field: not for people.
            let field = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "")
                .replace("$__serde_spanned_private_value.", "");
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|s| line_of_offset(text, s.start))
                .unwrap_or(1);
            let mut message = inner.message().to_string();
            // A warm-up's provider must be one warm-ups can send: suggest only those (the
            // general list named gemini, which the next run then refused).
            if field.starts_with("warmup[") && field.ends_with(".provider") {
                if let Some(head) = message
                    .split(" (expected ")
                    .next()
                    .filter(|_| message.starts_with("unknown provider"))
                {
                    message = format!(
                        "{head} (warm-ups send: {})",
                        crate::provider::Api::names(true).join(", ")
                    );
                }
            }
            err(line, field, message)
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let loc = |span: std::ops::Range<usize>| Loc {
            file: path.clone(),
            line: line_of_offset(text, span.start),
        };
        if !(1..=4096).contains(&raw.block_size) {
            return Err(err(
                find_key_line(text, "block_size"),
                "block_size".into(),
                format!("{} is out of range 1..=4096", raw.block_size),
            ));
        }
        let d = &raw.daemon;
        for (field, v, lo, hi) in [
            ("watch_interval_secs", d.watch_interval_secs, 1, 86_400),
            ("source_poll_secs", d.source_poll_secs, 1, 7 * 86_400),
            ("max_connections", d.max_connections, 1, 65_536),
            ("header_timeout_ms", d.header_timeout_ms, 100, 600_000),
            ("request_timeout_ms", d.request_timeout_ms, 100, 600_000),
            ("alert_resend_secs", d.alert_resend_secs, 1, 3600),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(err(
                    find_key_line(text, field),
                    format!("daemon.{field}"),
                    format!("{v} is out of range {lo}..={hi}"),
                ));
            }
        }
        let mut tokenizers: Vec<TokenizerEntry> = Vec::new();
        for (i, t) in raw.tokenizers.iter().enumerate() {
            let entry_loc = loc(t.span());
            let t = t.get_ref();
            let field = |name: &str| format!("tokenizer[{i}].{name}");
            let id = t.id.get_ref().clone();
            if !valid_label(&id) {
                return Err(err(
                    loc(t.id.span()).line,
                    field("id"),
                    format!("`{id}` is not a label of the form provider/version"),
                ));
            }
            if tokenizers.iter().any(|o| o.id == id) {
                return Err(err(
                    loc(t.id.span()).line,
                    field("id"),
                    format!("duplicate tokenizer id `{id}`"),
                ));
            }
            // Every file is pinned, unless the entry says in so many words that the content
            // behind its label may change (each change is then recorded and alerted).
            let pin = |sha: &Option<Spanned<String>>,
                       name: &str|
             -> crate::error::Result<Option<String>> {
                match sha {
                    Some(s) if s.get_ref().trim() == "unpinned" => Ok(None),
                    Some(s) => {
                        let v = s.get_ref().trim().to_ascii_lowercase();
                        if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return Err(err(
                                loc(s.span()).line,
                                field(name),
                                "expected 64 hex digits, or \"unpinned\"".into(),
                            ));
                        }
                        Ok(Some(v))
                    }
                    None => Err(err(
                        entry_loc.line,
                        field(name),
                        "missing: pin the uncompressed file's sha256 (`zcat -f FILE | sha256sum`), or write sha256 = \"unpinned\" to accept content changes behind this label".into(),
                    )),
                }
            };
            let count = if t.format.is_count() {
                for (present, name) in [
                    (t.file.is_some(), "file"),
                    (t.sha256.is_some(), "sha256"),
                    (t.spec.is_some(), "spec"),
                    (t.template.is_some(), "template"),
                    (t.source.is_some(), "source"),
                ] {
                    if present {
                        return Err(err(
                            entry_loc.line,
                            field(name),
                            format!("a {} tokenizer has no local file: the provider counts (remove `{name}`)", t.format),
                        ));
                    }
                }
                let model = t.model.clone().filter(|m| !m.trim().is_empty()).ok_or_else(|| {
                    err(entry_loc.line, field("model"), format!("missing: a {} tokenizer counts for one model (e.g. model = \"claude-sonnet-4-6\")", t.format))
                })?;
                if model
                    .chars()
                    .any(|c| c.is_whitespace() || c == '/' || c.is_control())
                {
                    return Err(err(
                        entry_loc.line,
                        field("model"),
                        format!("`{model}` is not a model name"),
                    ));
                }
                let endpoint = match &t.endpoint {
                    Some(e) => match parse_source(e.get_ref(), &base_dir) {
                        Ok(Source::Url(u)) => u.trim_end_matches('/').to_string(),
                        Ok(Source::Path(_)) => {
                            return Err(err(
                                loc(e.span()).line,
                                field("endpoint"),
                                "an endpoint is an https URL (http only on loopback)".into(),
                            ))
                        }
                        Err(m) => return Err(err(loc(e.span()).line, field("endpoint"), m)),
                    },
                    None => t
                        .format
                        .default_endpoint()
                        .expect("a count format")
                        .to_string(),
                };
                let timeout_secs = match &t.timeout_secs {
                    Some(s) if !(1..=300).contains(s.get_ref()) => {
                        return Err(err(
                            loc(s.span()).line,
                            field("timeout_secs"),
                            format!("{} is out of range (1 to 300)", s.get_ref()),
                        ))
                    }
                    Some(s) => *s.get_ref(),
                    None => tokenizer::DEFAULT_COUNT_TIMEOUT_SECS,
                };
                Some(CountEntry {
                    model,
                    endpoint,
                    api_key_env: t.api_key_env.clone(),
                    api_key_file: t.api_key_file.clone(),
                    timeout_secs,
                })
            } else {
                for (present, name) in [
                    (t.model.is_some(), "model"),
                    (t.endpoint.is_some(), "endpoint"),
                    (t.api_key_env.is_some(), "api_key_env"),
                    (t.api_key_file.is_some(), "api_key_file"),
                    (t.timeout_secs.is_some(), "timeout_secs"),
                ] {
                    if present {
                        return Err(err(
                            entry_loc.line,
                            field(name),
                            format!("only counting tokenizers (anthropic-count, gemini-count, openai-count) take `{name}`"),
                        ));
                    }
                }
                if t.file.is_none() {
                    return Err(err(
                        entry_loc.line,
                        field("file"),
                        "missing: the tokenizer file".into(),
                    ));
                }
                None
            };
            let sha256 = if count.is_some() {
                None
            } else {
                pin(&t.sha256, "sha256")?
            };
            let template = match &t.template {
                None => None,
                Some(tp) => {
                    let tl = loc(tp.span());
                    let tp = tp.get_ref();
                    match (&tp.builtin, &tp.file) {
                        (Some(b), None) if b == "harmony" => {
                            if tp.sha256.is_some() || tp.bos_token.is_some() || tp.eos_token.is_some() {
                                return Err(err(tl.line, field("template"), "the built-in harmony renderer takes no sha256, bos_token or eos_token".into()));
                            }
                            Some(TemplateEntry {
                                harmony: true,
                                file: PathBuf::new(),
                                sha256: None,
                                bos_token: None,
                                eos_token: None,
                                file_loc: tl.clone(),
                                sha256_loc: tl,
                            })
                        }
                        (Some(b), None) => {
                            return Err(err(tl.line, field("template.builtin"), format!("unknown built-in renderer `{b}` (the one there is: harmony)")))
                        }
                        (Some(_), Some(_)) => {
                            return Err(err(tl.line, field("template"), "give `file` or `builtin`, not both".into()))
                        }
                        (None, None) => {
                            return Err(err(tl.line, field("template.file"), "missing: a Jinja file or tokenizer_config.json (or builtin = \"harmony\")".into()))
                        }
                        (None, Some(f)) => Some(TemplateEntry {
                            harmony: false,
                            file: base_dir.join(f.get_ref()),
                            sha256: pin(&tp.sha256, "template.sha256")?,
                            bos_token: tp.bos_token.clone(),
                            eos_token: tp.eos_token.clone(),
                            file_loc: loc(f.span()),
                            sha256_loc: tp.sha256.as_ref().map(|s| loc(s.span())).unwrap_or(tl),
                        }),
                    }
                }
            };
            if t.format == TokenizerFormat::Tiktoken && t.spec.is_none() {
                return Err(err(
                    entry_loc.line,
                    field("spec"),
                    "a tiktoken tokenizer needs `spec`, the JSON file with its split pattern and special tokens".into(),
                ));
            }
            let source = match &t.source {
                None => None,
                Some(sp) => Some(
                    parse_source(sp.get_ref(), &base_dir)
                        .map_err(|m| err(loc(sp.span()).line, field("source"), m))?,
                ),
            };
            tokenizers.push(TokenizerEntry {
                id,
                provider: t.provider.clone(),
                format: t.format,
                file: t
                    .file
                    .as_ref()
                    .map(|f| base_dir.join(f.get_ref()))
                    .unwrap_or_default(),
                spec: t.spec.as_ref().map(|s| base_dir.join(s.get_ref())),
                sha256,
                source,
                source_copy: None,
                models: t.models.clone(),
                template,
                count,
                file_loc: t
                    .file
                    .as_ref()
                    .map(|f| loc(f.span()))
                    .unwrap_or(entry_loc.clone()),
                sha256_loc: t
                    .sha256
                    .as_ref()
                    .map(|s| loc(s.span()))
                    .unwrap_or(entry_loc.clone()),
                loc: entry_loc,
            });
        }
        let d = &raw.daemon;
        let listen: SocketAddr = d.listen.get_ref().parse().map_err(|_| {
            err(
                loc(d.listen.span()).line,
                "daemon.listen".into(),
                format!(
                    "`{}` is not an address such as 127.0.0.1:9464",
                    d.listen.get_ref()
                ),
            )
        })?;
        if !listen.ip().is_loopback() && !d.allow_non_loopback {
            return Err(err(
                loc(d.listen.span()).line,
                "daemon.listen".into(),
                format!("{listen} is not a loopback address; set daemon.allow_non_loopback = true to bind it"),
            ));
        }
        if let Err(e) = crate::schedule::parse(d.schedule.get_ref()) {
            return Err(err(
                loc(d.schedule.span()).line,
                "daemon.schedule".into(),
                e,
            ));
        }
        let daemon = DaemonConfig {
            listen,
            schedule: d.schedule.get_ref().clone(),
            watch_interval_secs: d.watch_interval_secs,
            alertmanager_url: d.alertmanager_url.clone(),
            webhook_url: d.webhook_url.clone(),
            source_poll_secs: d.source_poll_secs,
            ingest_token_file: d.ingest_token_file.as_ref().map(|f| base_dir.join(f)),
            max_connections: d.max_connections as usize,
            header_timeout_ms: d.header_timeout_ms,
            request_timeout_ms: d.request_timeout_ms,
            alert_resend_secs: d.alert_resend_secs,
        };
        if !listen.ip().is_loopback() && daemon.ingest_token_file.is_none() {
            return Err(err(
                loc(d.listen.span()).line,
                "daemon.ingest_token_file".into(),
                "listening beyond loopback needs a bearer token file for /v1/usage".into(),
            ));
        }
        let mut warmups: Vec<(WarmupConfig, Loc)> = Vec::new();
        for (i, w) in raw.warmups.iter().enumerate() {
            let l = loc(w.span());
            let wc = w.get_ref();
            if let Err((f, m)) = wc.validate() {
                let line = find_key_line_after(text, f, w.span().start).unwrap_or(l.line);
                return Err(err(line, format!("warmup[{i}].{f}"), m));
            }
            if warmups.iter().any(|(o, _)| o.group == wc.group) {
                return Err(err(
                    l.line,
                    format!("warmup[{i}].group"),
                    format!("duplicate group `{}`", wc.group),
                ));
            }
            warmups.push((wc.clone(), l));
        }
        let mut watches: Vec<(Watch, Loc)> = Vec::new();
        for (i, w) in raw.watches.iter().enumerate() {
            let l = loc(w.span());
            let rw = w.get_ref();
            // It names a file under state_dir/watch: no leading dot (".", "..", hidden).
            let label_ok = !rw.name.is_empty()
                && !rw.name.starts_with('.')
                && rw.name.len() <= 64
                && rw
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !label_ok {
                return Err(err(
                    find_key_line_after(text, "name", w.span().start).unwrap_or(l.line),
                    format!("watch[{i}].name"),
                    format!(
                        "`{}` is not a label (1-64 of [A-Za-z0-9._-], not starting with a dot)",
                        rw.name
                    ),
                ));
            }
            if watches.iter().any(|(o, _)| o.name == rw.name) {
                return Err(err(
                    l.line,
                    format!("watch[{i}].name"),
                    format!("duplicate watch `{}`", rw.name),
                ));
            }
            let source = parse_source(&rw.source, &base_dir).map_err(|m| {
                err(
                    find_key_line_after(text, "source", w.span().start).unwrap_or(l.line),
                    format!("watch[{i}].source"),
                    m,
                )
            })?;
            watches.push((
                Watch {
                    name: rw.name.clone(),
                    source,
                },
                l,
            ));
        }
        let emulator = match &raw.emulator {
            None => None,
            Some(e) => {
                let v = e.get_ref();
                if v.listen.0.iter().any(|a| !a.ip().is_loopback()) && !d.allow_non_loopback {
                    return Err(err(
                        loc(e.span()).line,
                        "emulator.listen".into(),
                        "the emulator binds loopback only unless daemon.allow_non_loopback = true"
                            .into(),
                    ));
                }
                // Issue #20: an unknown id surfaced only when the emulator started, with no
                // place; it must be a registered tokenizer with local ids.
                let local: Vec<&str> = tokenizers
                    .iter()
                    .filter(|t| !t.format.is_count())
                    .map(|t| t.id.as_str())
                    .collect();
                if !local.contains(&v.tokenizer.as_str()) {
                    return Err(err(
                        find_key_line_after(text, "tokenizer", e.span().start)
                            .unwrap_or(loc(e.span()).line),
                        "emulator.tokenizer".into(),
                        format!(
                            "`{}` is not a registered tokenizer with local ids (known: {})",
                            v.tokenizer,
                            local.join(", ")
                        ),
                    ));
                }
                Some(v.clone())
            }
        };
        let cluster = match &raw.cluster {
            None => None,
            Some(c) => Some(c.get_ref().resolve(&base_dir).map_err(|(field, m)| {
                err(
                    find_key_line_after(text, field, c.span().start).unwrap_or(loc(c.span()).line),
                    format!("cluster.{field}"),
                    m,
                )
            })?),
        };
        Ok(Config {
            warmups,
            emulator,
            cluster,
            state_dir: base_dir.join(&raw.state_dir),
            prompts_dir: base_dir.join(&raw.prompts),
            cache_rules: base_dir.join(&raw.cache_rules),
            cache_rules_line: find_key_line(text, "cache_rules"),
            model_lifecycle: base_dir
                .join(raw.model_lifecycle.as_deref().unwrap_or(DEFAULT_LIFECYCLE)),
            model_lifecycle_set: raw.model_lifecycle.is_some(),
            watches,
            block_size: raw.block_size,
            path: path.clone(),
            base_dir,
            tokenizers,
            daemon,
            raw,
        })
    }

    pub fn tokenizer(&self, id: &str) -> Result<&TokenizerEntry, ConfigError> {
        self.tokenizers
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| ConfigError::UnknownTokenizer {
                id: id.to_string(),
                known: self.tokenizers.iter().map(|t| t.id.clone()).collect(),
            })
    }
}

/// The 1-based line of the first `key =` at or after byte `from`.
fn find_key_line_after(text: &str, key: &str, from: usize) -> Option<usize> {
    let start = line_of_offset(text, from);
    text.lines().enumerate().skip(start - 1).find_map(|(i, l)| {
        let l = l.trim_start();
        (l.starts_with(key) && l[key.len()..].trim_start().starts_with('=')).then_some(i + 1)
    })
}

/// The 1-based line of the first `key =` in `text`, or 1.
fn find_key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(key) && l[key.len()..].trim_start().starts_with('=')
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/pw/daemon.toml"), text)
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let e = parse("block_size = 16\n[[tokenizer]]\nid = \"a/b\"\nprovider = \"a\"\nformat = \"hf-json\"\nfile = \"x\"\ncolour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/pw/daemon.toml:7: tokenizer[0]"), "{e}");
        assert!(e.contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn unknown_fields_in_tables_of_arrays_name_no_serde_internals() {
        let w = "[[warmup]]\ngroup = \"g\"\nschedule = \"* * * * *\"\nprovider = \"anthropic\"\nmodel = \"m\"\nprompts = [\"p\"]\nlookup = { backend = \"file\", path = \"x\" }\n";
        let e = parse(&format!("{w}{w}bogus_field = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("serde"), "{e}");
        assert!(
            e.contains("warmup[1]") && e.contains("unknown field `bogus_field`"),
            "{e}"
        );
    }

    #[test]
    fn kv_events_hash_and_seed_are_validated() {
        let w = "[[warmup]]\ngroup = \"g\"\nschedule = \"* * * * *\"\nprovider = \"vllm\"\nmodel = \"m\"\nprompts = [\"p\"]\nlookup = { backend = \"file\", path = \"x\" }\n[[warmup.kv_events]]\ntarget = \"http://h\"\nendpoint = \"tcp://h:5557\"\n";
        let seed = |c: &Config| c.warmups[0].0.kv_events[0].hash_check_seed();
        assert_eq!(seed(&parse(w).unwrap()), None, "no hash: tokens only");
        let c = parse(&format!("{w}hash = \"sha256_cbor\"\n")).unwrap();
        assert_eq!(
            seed(&c).unwrap().as_str(),
            crate::kv_events::hash::DEFAULT_SEED
        );
        let c = parse(&format!("{w}hash = \"sha256_cbor\"\nhash_seed = \"42\"\n")).unwrap();
        assert_eq!(seed(&c).unwrap().as_str(), "42");
        for (extra, want) in [
            ("hash_seed = \"42\"\n", "hash_seed without hash"),
            (
                "hash = \"sha256_cbor\"\nhash_seed = \"4294967296\"\n",
                "not a PYTHONHASHSEED",
            ),
            ("hash = \"xxhash\"\n", "unknown variant `xxhash`"),
        ] {
            let e = parse(&format!("{w}{extra}")).unwrap_err().to_string();
            assert!(e.contains(want), "{extra}: {e}");
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_config_dir() {
        let c = parse("[[tokenizer]]\nid = \"a/b\"\nprovider = \"a\"\nformat = \"hf-json\"\nfile = \"t/x.json\"\nsha256 = \"unpinned\"\n").unwrap();
        assert_eq!(c.tokenizers[0].file, Path::new("/etc/pw/t/x.json"));
        assert_eq!(c.state_dir, Path::new("/etc/pw/state"));
        assert_eq!(c.tokenizers[0].file_loc.line, 5);
    }

    #[test]
    fn bad_sha_and_duplicate_ids_are_errors_with_lines() {
        let e = parse("[[tokenizer]]\nid = \"a/b\"\nprovider = \"a\"\nformat = \"hf-json\"\nfile = \"x\"\nsha256 = \"abc\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":6: tokenizer[0].sha256"), "{e}");
        let t =
            "[[tokenizer]]\nid = \"a/b\"\nprovider = \"a\"\nformat = \"hf-json\"\nfile = \"x\"\nsha256 = \"unpinned\"\n";
        let e = parse(&format!("{t}{t}")).unwrap_err().to_string();
        assert!(
            e.contains(":8: tokenizer[1].id: duplicate tokenizer id `a/b`"),
            "{e}"
        );
    }

    #[test]
    fn a_tokenizer_is_pinned_unless_it_says_unpinned() {
        let t =
            "[[tokenizer]]\nid = \"a/b\"\nprovider = \"a\"\nformat = \"hf-json\"\nfile = \"x\"\n";
        let e = parse(t).unwrap_err().to_string();
        assert!(e.contains(":1: tokenizer[0].sha256: missing: pin"), "{e}");
        let c = parse(&format!("{t}sha256 = \"unpinned\"\n")).unwrap();
        assert_eq!(c.tokenizers[0].sha256, None);
    }

    #[test]
    fn numbers_out_of_range_are_errors_naming_the_field() {
        for (text, needle) in [
            (
                "block_size = 9223372036854775807\n",
                ":1: block_size: 9223372036854775807 is out of range",
            ),
            ("block_size = 0\n", ":1: block_size: 0 is out of range"),
            (
                "[daemon]\nwatch_interval_secs = 0\n",
                ":2: daemon.watch_interval_secs: 0 is out of range",
            ),
            (
                "[daemon]\nsource_poll_secs = 18446744073709551615\n",
                "daemon.source_poll_secs",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn non_loopback_listen_needs_opt_in() {
        let e = parse("[daemon]\nlisten = \"0.0.0.0:9464\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: daemon.listen"), "{e}");
        let e = parse("[daemon]\nlisten = \"0.0.0.0:9464\"\nallow_non_loopback = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("daemon.ingest_token_file"), "{e}");
        assert!(parse("[daemon]\nlisten = \"0.0.0.0:9464\"\nallow_non_loopback = true\ningest_token_file = \"t\"\n").is_ok());
    }

    #[test]
    fn sources_are_https_loopback_http_or_paths() {
        let t = |src: &str| {
            parse(&format!("[[tokenizer]]\nid = \"a/b\"\nprovider = \"a\"\nformat = \"hf-json\"\nfile = \"x\"\nsha256 = \"unpinned\"\nsource = \"{src}\"\n"))
        };
        assert_eq!(
            t("https://cdn.example/t.json").unwrap().tokenizers[0].source,
            Some(Source::Url("https://cdn.example/t.json".into()))
        );
        assert!(t("http://127.0.0.1:8080/t.json").is_ok());
        let e = t("http://cdn.example/t.json").unwrap_err().to_string();
        assert!(
            e.contains(":7: tokenizer[0].source: plain http is allowed only on loopback"),
            "{e}"
        );
        assert_eq!(
            t("vendor/t.json").unwrap().tokenizers[0].source,
            Some(Source::Path("/etc/pw/vendor/t.json".into()))
        );
    }

    #[test]
    fn syntax_error_reports_line() {
        let e = parse("block_size = 16\n[[tokenizer]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/pw/daemon.toml:2:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}
