//! `[[warmup]].lookup`: where a warm-up group asks which blue/green color is live. Only the
//! schema lives here; the clients that ask are in the daemon crate (`live_color`).

/// Where to look. Deserialized from `daemon.toml`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum LookupConfig {
    /// JSON written by deploy tooling; `path` is relative to the config directory.
    File { path: String },
    /// `GET url` answering JSON; `color_path` and `colors_path` are dot-separated field paths
    /// (default `live` and `colors`).
    Http {
        url: String,
        timeout_ms: Option<u64>,
        color_path: Option<String>,
        colors_path: Option<String>,
    },
    /// `server` such as `127.0.0.1:5353` (port 53 when left out); `color_txt` is the TXT name
    /// holding the color; `targets_srv` the SRV name with a `{color}` placeholder; `scheme` of
    /// the target URLs, `http` (default) or `https`.
    Dns {
        server: String,
        color_txt: String,
        targets_srv: String,
        scheme: Option<String>,
    },
    /// etcd v3 JSON gateway at `endpoint`; `color_key` holds the color, `targets_key` (with
    /// `{color}`) a JSON color entry `{"targets": [...], "prompts": [...]}`.
    Etcd {
        endpoint: String,
        color_key: String,
        targets_key: String,
        timeout_ms: Option<u64>,
    },
}
