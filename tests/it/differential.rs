//! Differential test against transformers (issue #19): the requests of
//! `tests/data/differential/requests.jsonl.gz` (made by `scripts/reference/differential.py`:
//! generated system texts and tool schemas, no tools, empty tools) rendered with every shipped
//! chat template by the project, compared with what transformers' `render_jinja_template`
//! rendered (`expected.json.gz`: per case the first 16 hex digits of the rendering's sha256,
//! or `error` when the template raised). Zero differences is the bar; every difference is
//! reported, one line each, with the template, the case and what kind of request it was.
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
    let requests: Vec<Request> = read_gz(&dir.join("requests.jsonl.gz"))
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
    let user = expected["user"].as_str().expect("user");
    let now: chrono::DateTime<chrono::Utc> =
        format!("{}Z", expected["date"].as_str().expect("date"))
            .parse()
            .expect("date");
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
