//! The prompt stubs `prefix discover --write-prompts DIR` writes: for each unregistered
//! candidate, `DIR/<id>.yaml` and `DIR/texts/<id>.txt`, mode 0600 (the one output that holds
//! request text).
//!
//! The YAML is serialized by serde_yaml from a typed [`Stub`], never put together from strings:
//! a value from a log (the model name) is one scalar, quoted as YAML needs, and cannot add a key.
//! The files are created through [`crate::confined_dir::ConfinedDir`]: inside `DIR`, never
//! through a link planted there.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::discover::Candidate;
use crate::error::{Error, Result};

/// A prompt definition as `prompts/*.yaml` reads it (`prompt::RawPrompt`), with the fields a
/// discovered prefix has.
#[derive(Serialize)]
struct Stub<'a> {
    id: &'a str,
    description: String,
    text_file: String,
    segments: Vec<Segment>,
    models: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    traffic: Option<Traffic>,
}

#[derive(Serialize)]
struct Segment {
    name: String,
    /// Byte offset where the segment ends; omitted on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<usize>,
}

#[derive(Serialize)]
struct Traffic {
    requests_per_day: f64,
}

/// The stub YAML of `c`, whose blocks' texts are `blocks` (the text file is their
/// concatenation; each non-empty block is a segment).
pub fn yaml(c: &Candidate, blocks: &[String]) -> Result<String> {
    let mut segments = Vec::new();
    let mut end = 0;
    for (i, b) in blocks.iter().enumerate() {
        end += b.len();
        if b.is_empty() {
            continue;
        }
        segments.push(Segment {
            name: format!("block-{}", i + 1),
            end: (i + 1 < blocks.len()).then_some(end),
        });
    }
    let stub = Stub {
        id: &c.id,
        description: format!("shared prefix of {} tokens", c.tokens),
        text_file: format!("texts/{}.txt", c.id),
        segments,
        models: [&c.model],
        traffic: c.requests_per_hour.map(|r| Traffic {
            requests_per_day: (r * 24.0).round(),
        }),
    };
    let body = serde_yaml::to_string(&stub)
        .map_err(|e| Error::Other(format!("{}: cannot write the prompt stub: {e}", c.id)))?;
    Ok(format!(
        "# Discovered by `prefix discover` from {} request(s); review before registering.\n{body}",
        c.requests
    ))
}

/// Writes the stub and text of each unregistered candidate with texts into `dir` (created if
/// missing). Returns the files written.
#[cfg(unix)]
pub fn write(candidates: &[Candidate], texts: &[Vec<String>], dir: &Path) -> Result<Vec<PathBuf>> {
    let dir = crate::confined_dir::ConfinedDir::create(dir)?;
    let texts_dir = dir.subdir("texts")?;
    let mut written = Vec::new();
    for (c, blocks) in candidates.iter().zip(texts) {
        if c.registered.is_some() || blocks.is_empty() {
            continue;
        }
        let yaml = yaml(c, blocks)?;
        written
            .push(texts_dir.write_private(&format!("{}.txt", c.id), blocks.concat().as_bytes())?);
        written.push(dir.write_private(&format!("{}.yaml", c.id), yaml.as_bytes())?);
    }
    Ok(written)
}

/// Creating files relative to an opened directory without following links needs `openat`.
#[cfg(not(unix))]
pub fn write(_: &[Candidate], _: &[Vec<String>], dir: &Path) -> Result<Vec<PathBuf>> {
    Err(Error::Other(format!(
        "{}: writing prompt stubs needs a Unix system (openat without following links)",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(model: &str) -> Candidate {
        Candidate {
            id: "discovered-0123456789ab".into(),
            tokenizer: "openai/o200k_base".into(),
            model: model.into(),
            requests: 2,
            requests_per_hour: Some(2.0),
            tokens: 10,
            blocks: 2,
            fingerprint: "sha256:0".into(),
            registered: None,
            diverges_from: None,
            prefix_of: None,
        }
    }

    /// Whatever the model string holds, it is the one `models` entry and adds no key, both to
    /// a YAML parser and to the prompt loader `prefix check` uses.
    #[test]
    fn a_model_with_newlines_and_yaml_syntax_stays_one_value() {
        let texts = [vec![
            "You are helpful.".to_string(),
            " Be brief.".to_string(),
        ]];
        for model in [
            "openai/gpt-5.5\n\u{1b}[31mowner: evil\nmodels: [x]",
            "openai/gpt-5.5: {owner: evil} # models: [x]",
            "openai/*&anchor !!binary \"'",
            "openai/\u{2028}owner: evil\u{85}traffic: 1",
        ] {
            let d = tempfile::tempdir().unwrap();
            let c = candidate(model);
            let written = write(std::slice::from_ref(&c), &texts, d.path()).unwrap();
            assert_eq!(written.len(), 2);
            let path = d.path().join("discovered-0123456789ab.yaml");
            let text = std::fs::read_to_string(&path).unwrap();
            let m: serde_yaml::Mapping = serde_yaml::from_str(&text).unwrap();
            let keys: Vec<&str> = m.keys().filter_map(|k| k.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "id",
                    "description",
                    "text_file",
                    "segments",
                    "models",
                    "traffic"
                ],
                "{text}"
            );
            let p = crate::prompt::load_file(&path).unwrap();
            assert_eq!(p.models, [model], "{text}");
            assert_eq!(p.owner, "");
            assert_eq!(p.requests_per_day, 48.0);
            assert_eq!(p.text.expose(), "You are helpful. Be brief.");
            assert_eq!(
                p.segments.iter().map(|s| s.end).collect::<Vec<_>>(),
                [16, 26]
            );
        }
    }
}
