//! Differential test against transformers (issue #19): the requests of
//! `tests/data/differential/requests.jsonl.gz` (made by `scripts/reference/differential.py`:
//! generated system texts and tool schemas, no tools, empty tools) rendered with every shipped
//! chat template by the project, compared with what transformers' `render_jinja_template`
//! rendered (`expected.json.gz`: per case the first 16 hex digits of the rendering's sha256,
//! or `error` when the template raised). Zero differences is the bar; every difference is
//! reported, one line each, with the template, the case and what kind of request it was.
//! Where a template is paired with a shipped tokenizer, a sample of the renderings is also
//! tokenized and compared id for id with the reference's ids (`ids.json.gz`, made by
//! `scripts/reference/differential_ids.py`).
//!
//! `PREFIX_WARDEN_DIFFERENTIAL=DIR` points at another pair of files (a longer run made with
//! `differential.py --n N --out DIR`); `PREFIX_WARDEN_DIFFERENTIAL_DUMP=DIR` writes the
//! project's rendering of each differing case there (`differential.py --show` prints
//! transformers' for comparison).

use sha2::{Digest, Sha256};

use crate::support::root;
use prefix_warden::template::{ChatTemplate, Conversation};

struct Request {
    system: String,
    tools: Option<String>,
}

fn read_gz(path: &std::path::Path) -> String {
    let bytes = prefix_warden::tokenizer::read_maybe_gzip(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8(bytes).expect("UTF-8")
}

/// The generated requests and transformers' renderings of them (`expected.json.gz`), with the
/// user message and date every rendering used.
struct Reference {
    requests: Vec<Request>,
    expected: serde_json::Value,
    user: String,
    now: chrono::DateTime<chrono::Utc>,
}

impl Reference {
    fn load(dir: &std::path::Path) -> Self {
        let requests = read_gz(&dir.join("requests.jsonl.gz"))
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a request line");
                Request {
                    system: v["system"].as_str().expect("system").to_string(),
                    tools: v["tools"].as_str().map(str::to_string),
                }
            })
            .collect();
        let expected: serde_json::Value =
            serde_json::from_str(&read_gz(&dir.join("expected.json.gz"))).expect("expected JSON");
        let user = expected["user"].as_str().expect("user").to_string();
        let now = format!("{}Z", expected["date"].as_str().expect("date"))
            .parse()
            .expect("date");
        Reference {
            requests,
            expected,
            user,
            now,
        }
    }
}

/// What the request is, in a few words, for a difference line (never its text).
fn describe(r: &Request) -> String {
    match &r.tools {
        None => format!(
            "{} chars of system text, no tools",
            r.system.chars().count()
        ),
        Some(t) if t == "[]" => "empty tools".into(),
        Some(t) => format!("{} bytes of tools JSON", t.len()),
    }
}

#[test]
fn every_shipped_template_renders_generated_requests_as_transformers_does() {
    let dir = std::env::var_os("PREFIX_WARDEN_DIFFERENTIAL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("tests/data/differential"));
    let Reference {
        requests,
        expected,
        user,
        now,
    } = Reference::load(&dir);
    let user = user.as_str();
    let templates = expected["templates"].as_object().expect("templates");
    // Every shipped Jinja template is in the reference data.
    let shipped = std::fs::read_to_string(root().join("templates/SOURCES.tsv")).unwrap();
    for line in shipped.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let file = line.split('\t').next().unwrap();
        assert!(templates.contains_key(file), "{file} has no reference data");
    }
    let mut differences = Vec::new();
    let mut compared = 0usize;
    for (name, t) in templates {
        let bytes = std::fs::read(root().join("templates").join(name)).unwrap();
        assert_eq!(
            prefix_warden::tokenizer::sha256_hex(&bytes),
            t["sha256"].as_str().unwrap(),
            "{name}: the reference was made from other bytes; rerun differential.py"
        );
        let token = |k: &str| t[k].as_str().map(str::to_string);
        let tmpl = ChatTemplate::new(String::from_utf8(bytes).unwrap(), None, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .with_tokens(token("bos_token"), token("eos_token"));
        let results = t["results"].as_array().expect("results");
        assert_eq!(results.len(), requests.len(), "{name}");
        for (i, (req, want)) in requests.iter().zip(results).enumerate() {
            let want = want.as_str().unwrap();
            let got = match tmpl.render(
                &Conversation {
                    system: &req.system,
                    tools: req.tools.as_deref(),
                    user,
                },
                now,
            ) {
                Ok(text) => Sha256::digest(text.as_bytes())[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
                Err(e) => {
                    // An error must be one line and never quote the request.
                    assert!(!e.contains('\n'), "{name} case {i}: {e}");
                    if want != "error" {
                        differences.push(format!(
                            "{name} case {i} ({}): transformers rendered, the project failed: {e}",
                            describe(req)
                        ));
                    }
                    compared += 1;
                    continue;
                }
            };
            if got != want {
                // To see a difference: the project's rendering is written there (local
                // debugging only; renderings of generated requests are no secret).
                if let (Some(d), Ok(text)) = (
                    std::env::var_os("PREFIX_WARDEN_DIFFERENTIAL_DUMP"),
                    tmpl.render(
                        &Conversation {
                            system: &req.system,
                            tools: req.tools.as_deref(),
                            user,
                        },
                        now,
                    ),
                ) {
                    let f = std::path::Path::new(&d)
                        .join(format!("{}.{i}.txt", name.replace('/', "__")));
                    std::fs::write(f, text).unwrap();
                }
                differences.push(format!(
                    "{name} case {i} ({}): {}",
                    describe(req),
                    if want == "error" {
                        "transformers raised, the project rendered".to_string()
                    } else {
                        "the renderings differ".to_string()
                    }
                ));
            }
            compared += 1;
        }
    }
    eprintln!(
        "differential: {compared} renderings compared ({} requests x {} templates), {} differences",
        requests.len(),
        templates.len(),
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{} of {compared} differ from transformers:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

/// The ids of `tokens` as the data files write them: `<count>:<first 16 hex digits of the
/// sha256 of the ids as little-endian u32>` (the fingerprint's encoding, docs/fingerprint.md).
fn ids_digest(ids: &[u32]) -> String {
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.to_le_bytes());
    }
    let hex: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}:{hex}", ids.len())
}

/// Id by id where a template is paired with a shipped tokenizer: a sample of the generated
/// requests (every 10th, `ids.json.gz` from `scripts/reference/differential_ids.py`) rendered
/// and tokenized whole by the project must give the reference's ids (transformers'
/// rendering tokenized by `tokenizers` / tiktoken), token for token.
#[test]
fn generated_requests_tokenize_as_the_reference_does() {
    let dir = root().join("tests/data/differential");
    let Reference {
        requests,
        expected: rendered,
        user,
        now,
    } = Reference::load(&dir);
    let user = user.as_str();
    let data: serde_json::Value =
        serde_json::from_str(&read_gz(&dir.join("ids.json.gz"))).expect("ids JSON");
    let templates = data["templates"].as_object().expect("templates");
    assert!(
        templates.len() >= 12,
        "{} paired templates",
        templates.len()
    );
    let mut differences = Vec::new();
    let (mut compared, mut errors) = (0usize, 0usize);
    let mut tokenizers = std::collections::BTreeMap::new();
    for (name, t) in templates {
        let label = t["tokenizer"].as_str().expect("tokenizer");
        let tok = tokenizers
            .entry(label.to_string())
            .or_insert_with(|| crate::support::shipped_tokenizer(label));
        let r = &rendered["templates"][name];
        let bytes = std::fs::read(root().join("templates").join(name)).unwrap();
        assert_eq!(
            prefix_warden::tokenizer::sha256_hex(&bytes),
            r["sha256"].as_str().unwrap(),
            "{name}: the reference was made from other bytes"
        );
        let token = |k: &str| r[k].as_str().map(str::to_string);
        let tmpl = ChatTemplate::new(String::from_utf8(bytes).unwrap(), None, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .with_tokens(token("bos_token"), token("eos_token"));
        let cases = t["ids"].as_object().expect("ids");
        assert_eq!(cases.len(), requests.len() / 10, "{name}");
        for (i, want) in cases {
            let i: usize = i.parse().expect("a case index");
            let req = &requests[i];
            let want = want.as_str().unwrap();
            let got = match tmpl.render(
                &Conversation {
                    system: &req.system,
                    tools: req.tools.as_deref(),
                    user,
                },
                now,
            ) {
                Ok(text) => ids_digest(&tok.encode_rendered_with_offsets(&text).unwrap().0),
                Err(_) => "error".to_string(),
            };
            if got != want {
                differences.push(format!(
                    "{name} under {label}, case {i} ({}): the project {got}, the reference {want}",
                    describe(req)
                ));
            }
            errors += usize::from(want == "error");
            compared += 1;
        }
    }
    eprintln!(
        "differential ids: {compared} renderings tokenized ({} templates, {errors} raised on both sides), {} differences",
        templates.len(),
        differences.len()
    );
    assert!(compared >= 2400, "{compared}");
    assert!(
        errors < compared,
        "most cases render: the ids are compared, not only errors"
    );
    assert!(
        differences.is_empty(),
        "{} of {compared} differ from the reference's ids:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
