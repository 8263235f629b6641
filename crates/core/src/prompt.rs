//! The prompt registry: `prompts/*.yaml`, one protected system-prompt prefix per file.
//!
//! A prompt is a text (inline or in a file next to the YAML) cut into ordered segments; each
//! segment is one content block, tokenized on its own (tokens never merge across a block
//! boundary), and its end is a cache breakpoint. Errors name the YAML file, the line and the
//! field, and never quote the text: prompts are secrets.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{line_of_offset_bytes, Error, Result};

/// Prompt text. `Debug` shows only its length, so a stray `{:?}` cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }
    /// The text itself. Call sites are the tokenizer, hashing and `--show-text` output.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

/// One registered prompt.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub id: String,
    pub description: String,
    pub owner: String,
    /// Free-form version label; warm-up targets can say which versions they serve.
    pub version: Option<String>,
    /// The YAML file this came from.
    pub file: PathBuf,
    /// The text file, when the text is not inline (watched for changes by the daemon).
    pub text_file: Option<PathBuf>,
    pub text: Secret,
    /// The tool definitions (a JSON array, as a request's `tools`) from `tools_file`: rendered
    /// by a chat template with the system message. Secret like the text.
    pub tools: Option<Secret>,
    /// sha256 of the text, the segment layout and the tools: the prompt half of a fingerprint cache key.
    pub content_sha256: String,
    pub segments: Vec<Segment>,
    /// `provider/model` names the prompt is sent to; they select the cache rules.
    pub models: Vec<String>,
    /// Requests per day, for cost estimates.
    pub requests_per_day: f64,
}

/// A content block: a byte range of the text. Its end is a cache breakpoint when
/// `breakpoint` is set (the default).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Segment {
    pub name: String,
    pub start: usize,
    pub end: usize,
    pub breakpoint: bool,
}

impl Prompt {
    /// The text of each segment, in order.
    pub fn segment_texts(&self) -> impl Iterator<Item = &str> {
        self.segments
            .iter()
            .map(|s| &self.text.expose()[s.start..s.end])
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    /// Attribution for texts taken from elsewhere.
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    text_file: Option<String>,
    #[serde(default)]
    tools_file: Option<String>,
    #[serde(default)]
    segments: Vec<RawSegment>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    traffic: Option<RawTraffic>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    name: String,
    /// Byte offset in the text where the segment ends (exclusive). Omitted on the last one.
    #[serde(default)]
    end: Option<usize>,
    #[serde(default = "yes")]
    breakpoint: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    requests_per_day: f64,
}

/// Loads every `*.yaml` / `*.yml` in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Prompt>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let mut prompts: Vec<Prompt> = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for f in files {
        let p = load_file(&f)?;
        if let Some(other) = seen.get(&p.id) {
            let text = crate::bounded::read_limited(&f, crate::bounded::PROMPT_YAML_BYTES)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            return Err(invalid(
                &f,
                yaml_key_line(&text, "id", 0),
                "id",
                format!(
                    "duplicate prompt id `{}` (also in {})",
                    p.id,
                    other.display()
                ),
            ));
        }
        seen.insert(p.id.clone(), f.clone());
        prompts.push(p);
    }
    Ok(prompts)
}

fn invalid(file: &Path, line: usize, field: &str, message: String) -> Error {
    Error::Invalid {
        file: file.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    }
}

/// Loads one prompt definition.
pub fn load_file(path: &Path) -> Result<Prompt> {
    let bytes = crate::bounded::read_limited(path, crate::bounded::PROMPT_YAML_BYTES)?;
    parse(path, &bytes)
}

/// Parses a prompt definition read from `path` (a `text_file` is read relative to it).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Prompt> {
    let yaml = std::str::from_utf8(bytes).map_err(|e| {
        invalid(
            path,
            line_of_offset_bytes(bytes, e.valid_up_to()),
            "",
            "file is not valid UTF-8".into(),
        )
    })?;
    let de = serde_yaml::Deserializer::from_str(yaml);
    let raw: RawPrompt = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.location().map(|l| l.line()).unwrap_or(1);
        // serde quotes wrong-typed values (`invalid type: string "..."`): the file holds the
        // prompt, so the message goes through the one redaction path against it.
        let msg =
            crate::redact::Redactor::new([yaml]).clean(&strip_yaml_location(&inner.to_string()));
        // serde_path_to_error says "." at the top and "?" where YAML syntax failed.
        invalid(
            path,
            line,
            if field == "." || field == "?" {
                ""
            } else {
                &field
            },
            msg,
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let line = |key: &str, nth: usize| yaml_key_line(yaml, key, nth);

    if raw.id.trim().is_empty() || raw.id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            path,
            line("id", 0),
            "id",
            "must be non-empty, without spaces".into(),
        ));
    }
    let (text, text_file) = match (&raw.text, &raw.text_file) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                path,
                line("text_file", 0),
                "text_file",
                "give either `text` or `text_file`, not both".into(),
            ))
        }
        (None, None) => {
            return Err(invalid(
                path,
                1,
                "text",
                "missing: give `text` or `text_file`".into(),
            ))
        }
        (Some(t), None) => (t.clone(), None),
        (None, Some(f)) => {
            let (t, tf) = read_confined(path, dir, f, "text_file", line("text_file", 0))?;
            (t, Some(tf))
        }
    };
    let text_field = if text_file.is_some() {
        "text_file"
    } else {
        "text"
    };
    if text.trim().is_empty() {
        return Err(invalid(
            path,
            line(text_field, 0),
            text_field,
            "the prompt text is empty".into(),
        ));
    }
    let segments = resolve_segments(&raw.segments, &text).map_err(|(i, msg)| {
        let field = format!("segments[{i}].end");
        invalid(path, line("end", i).max(line("segments", 0)), &field, msg)
    })?;
    for (i, m) in raw.models.iter().enumerate() {
        if !m.contains('/') {
            return Err(invalid(
                path,
                line("models", 0),
                &format!("models[{i}]"),
                format!(
                    "`{m}` is not of the form provider/model (e.g. anthropic/claude-sonnet-4-5)"
                ),
            ));
        }
    }
    let requests_per_day = raw
        .traffic
        .as_ref()
        .map(|t| t.requests_per_day)
        .unwrap_or(0.0);
    if !(requests_per_day.is_finite() && requests_per_day >= 0.0) {
        return Err(invalid(
            path,
            line("requests_per_day", 0),
            "traffic.requests_per_day",
            "must be a non-negative number".into(),
        ));
    }
    let tools = match &raw.tools_file {
        None => None,
        Some(f) => {
            let at = line("tools_file", 0);
            let (t, _) = read_confined(path, dir, f, "tools_file", at)?;
            let v = crate::template::pyjson::parse(&t).map_err(|e| {
                invalid(
                    path,
                    at,
                    "tools_file",
                    if e.is_unsupported() {
                        format!("{f}: {e}")
                    } else {
                        format!("{f}: not JSON (line {}, column {})", e.line(), e.column())
                    },
                )
            })?;
            if v.kind() != minijinja::value::ValueKind::Seq {
                return Err(invalid(
                    path,
                    at,
                    "tools_file",
                    format!("{f}: expected a JSON array of tool definitions"),
                ));
            }
            Some(Secret(t))
        }
    };
    let content_sha256 = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for s in &segments {
            h.update((s.end - s.start).to_le_bytes());
            h.update(&text.as_bytes()[s.start..s.end]);
        }
        // Tools change what a template renders, so they are part of the content; a prompt
        // without tools keeps the key it always had.
        if let Some(t) = &tools {
            h.update(b"\0tools\0");
            h.update(t.0.as_bytes());
        }
        hex::encode(h.finalize())
    };
    Ok(Prompt {
        id: raw.id,
        description: raw.description,
        owner: raw.owner,
        version: raw.version,
        file: path.to_path_buf(),
        text_file,
        text: Secret(text),
        tools,
        content_sha256,
        segments,
        models: raw.models,
        requests_per_day,
    })
}

/// Reads `f`, named by field `field` of the prompt YAML `path`, relative to the YAML's
/// directory `dir`, as UTF-8 text. The text is sent to providers by warm-ups: it must come
/// from the prompts directory, not from `../../etc/passwd` or a symlink out of it.
fn read_confined(
    path: &Path,
    dir: &Path,
    f: &str,
    field: &str,
    line: usize,
) -> Result<(String, PathBuf)> {
    let tf = dir.join(f);
    let at = |message: String| invalid(path, line, field, message);
    let real = tf
        .canonicalize()
        .map_err(|e| at(format!("cannot read {}: {e}", tf.display())))?;
    let root = dir
        .canonicalize()
        .map_err(|e| at(format!("cannot read {}: {e}", dir.display())))?;
    if !real.starts_with(&root) {
        return Err(at(format!(
            "`{f}` resolves outside the prompts directory {}",
            root.display()
        )));
    }
    let b = crate::bounded::read_limited(&real, crate::bounded::PROMPT_TEXT_BYTES)
        .map_err(|e| at(format!("cannot read {}: {e}", tf.display())))?;
    let t = String::from_utf8(b).map_err(|e| {
        let pos = e.utf8_error().valid_up_to();
        at(format!(
            "{} is not valid UTF-8 (byte {pos}, line {})",
            tf.display(),
            line_of_offset_bytes(e.as_bytes(), pos)
        ))
    })?;
    Ok((t, tf))
}

/// Turns segment ends into byte ranges. On error returns the segment index and a message.
fn resolve_segments(
    raw: &[RawSegment],
    text: &str,
) -> std::result::Result<Vec<Segment>, (usize, String)> {
    if raw.is_empty() {
        return Ok(vec![Segment {
            name: "prompt".into(),
            start: 0,
            end: text.len(),
            breakpoint: true,
        }]);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut start = 0;
    for (i, s) in raw.iter().enumerate() {
        let last = i + 1 == raw.len();
        let end = match s.end {
            Some(e) => e,
            None if last => text.len(),
            None => {
                return Err((
                    i,
                    "missing: every segment but the last needs `end` (a byte offset)".into(),
                ))
            }
        };
        if end > text.len() {
            return Err((
                i,
                format!(
                    "breakpoint at byte {end} is past the end of the text ({} bytes)",
                    text.len()
                ),
            ));
        }
        if end <= start {
            return Err((
                i,
                format!(
                    "breakpoint at byte {end} does not come after the previous one (byte {start})"
                ),
            ));
        }
        if !text.is_char_boundary(end) {
            return Err((i, format!("byte {end} is inside a UTF-8 character")));
        }
        if last && end != text.len() {
            return Err((
                i,
                format!(
                    "the last segment must end at the end of the text (byte {}); omit `end`",
                    text.len()
                ),
            ));
        }
        out.push(Segment {
            name: s.name.clone(),
            start,
            end,
            breakpoint: s.breakpoint,
        });
        start = end;
    }
    Ok(out)
}

/// serde_yaml prefixes the field path (reported separately) and appends " at line L column C"
/// (the line is reported separately too).
fn strip_yaml_location(msg: &str) -> String {
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    match msg.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => rest.to_string(),
        _ => msg.to_string(),
    }
}

/// The 1-based line of the `nth` (0-based) occurrence of `key:` in a YAML text, or 0.
fn yaml_key_line(text: &str, key: &str, nth: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            l.strip_prefix(key).is_some_and(|r| r.starts_with(':'))
        })
        .nth(nth)
        .map(|(i, _)| i + 1)
        .unwrap_or(0)
}

/// Finds a prompt by id.
pub fn find<'a>(prompts: &'a [Prompt], id: &str) -> Result<&'a Prompt> {
    prompts
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Error::UnknownPrompt {
            id: id.to_string(),
            known: prompts.iter().map(|p| p.id.clone()).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn err(body: &str) -> String {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "p.yaml", body.as_bytes());
        load_file(&p).unwrap_err().to_string()
    }

    #[test]
    fn segments_resolve_to_byte_ranges() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "p.yaml", b"id: a\ntext: \"tools;system\"\nsegments:\n  - name: tools\n    end: 6\n  - name: system\n");
        let p = load_file(&p).unwrap();
        assert_eq!(
            p.segment_texts().collect::<Vec<_>>(),
            vec!["tools;", "system"]
        );
        assert_eq!(format!("{:?}", p.text), "<redacted 12 bytes>");
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let e = err("id: a\ntext: hi\nsegments:\n  - name: x\n    ending: 3\n");
        assert!(
            e.contains("p.yaml:5: segments[0].ending: unknown field `ending`"),
            "{e}"
        );
    }

    #[test]
    fn breakpoint_past_end_is_an_error_without_text() {
        let e = err(
            "id: a\ntext: secret words here\nsegments:\n  - name: x\n    end: 400\n  - name: y\n",
        );
        assert!(
            e.contains("p.yaml:5: segments[0].end: breakpoint at byte 400 is past the end"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn empty_text_missing_file_and_bad_utf8() {
        assert!(err("id: a\ntext: \"  \"\n").contains("p.yaml:2: text: the prompt text is empty"));
        let e = err("id: a\ntext_file: nope.txt\n");
        assert!(e.contains("p.yaml:2: text_file: cannot read"), "{e}");
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "t.txt", b"ok\n\xff\xfe");
        let p = write(
            d.path(),
            "p.yaml",
            b"id: a\ndescription: x\ntext_file: t.txt\n",
        );
        let e = load_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("p.yaml:3: text_file:")
                && e.contains("not valid UTF-8")
                && e.contains("line 2"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_ids_across_files() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.yaml", b"id: same\ntext: one\n");
        write(d.path(), "b.yaml", b"description: x\nid: same\ntext: two\n");
        let e = load_dir(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("b.yaml:2: id: duplicate prompt id `same`"),
            "{e}"
        );
    }

    #[test]
    fn malformed_yaml_reports_line() {
        let e = err("id: a\ntext: [unclosed\nmodels: x\n");
        assert!(e.contains("p.yaml:"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
