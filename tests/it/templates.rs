//! Chat-template rendering against Hugging Face transformers: every shipped template
//! (templates/) on every corpus text, with and without tools, renders byte for byte what
//! `apply_chat_template` renders (or fails where it raises), and for the templates paired with
//! a shipped tokenizer the rendered prefix has the reference's ids (token count, fingerprint,
//! and where the system text ends). Reference: tests/data/templates/expected.json.gz, made by
//! scripts/reference/gen_template_ids.py.

use std::collections::BTreeMap;
use std::path::Path;

use prefix_warden::config::Config;
use prefix_warden::prefix::{Rendering, TokenizedPrefix};
use prefix_warden::template::ChatTemplate;
use prefix_warden::tokenizer::Tokenizer;
use rayon::prelude::*;

use crate::support::{corpus, root, scratch};

#[derive(serde::Deserialize)]
struct Expected {
    date: String,
    probe_users: Vec<String>,
    templates: BTreeMap<String, ExpectedTemplate>,
    harmony: ExpectedHarmony,
}

#[derive(serde::Deserialize)]
struct ExpectedHarmony {
    tokenizer: String,
    cases: BTreeMap<String, Case>,
}

#[derive(serde::Deserialize)]
struct ExpectedTemplate {
    tokenizer: Option<String>,
    bos_token: Option<String>,
    eos_token: Option<String>,
    template_sha256: String,
    cases: BTreeMap<String, Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    error: Option<String>,
    sha256: Option<[String; 2]>,
    tokens: Option<usize>,
    fingerprint: Option<String>,
    system_end_token: Option<usize>,
}

fn expected() -> Expected {
    let bytes = prefix_warden::tokenizer::read_maybe_gzip(
        &root().join("tests/data/templates/expected.json.gz"),
    )
    .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// One prompt YAML per corpus text, with and without the tools file, in `dir`.
fn write_prompts(dir: &Path) -> BTreeMap<String, prefix_warden::prompt::Prompt> {
    std::fs::copy(
        root().join("tests/data/templates/tools.json"),
        dir.join("tools.json"),
    )
    .unwrap();
    let mut out = BTreeMap::new();
    for (i, (name, text)) in corpus().into_iter().enumerate() {
        std::fs::write(dir.join(format!("t{i}.txt")), &text).unwrap();
        for tools in [false, true] {
            let yaml = dir.join(format!("p{i}{}.yaml", if tools { "t" } else { "" }));
            std::fs::write(
                &yaml,
                format!(
                    "id: p{i}\ntext_file: t{i}.txt\n{}",
                    if tools {
                        "tools_file: tools.json\n"
                    } else {
                        ""
                    }
                ),
            )
            .unwrap();
            let key = format!("{name}{}", if tools { "+tools" } else { "" });
            out.insert(key, prefix_warden::prompt::load_file(&yaml).unwrap());
        }
    }
    out
}

#[test]
fn every_shipped_template_renders_and_tokenizes_as_transformers_does() {
    let exp = expected();
    assert_eq!(exp.probe_users, prefix_warden::template::PROBE_USERS);
    let now: chrono::DateTime<chrono::Utc> = format!("{}Z", exp.date).parse().unwrap();
    let dir = scratch();
    let prompts = write_prompts(dir.path());
    assert_eq!(prompts.len(), 82);
    let cfg = Config::load(&root().join("daemon.toml")).unwrap();
    let mut shipped: Vec<String> = Vec::new();
    for fam in std::fs::read_dir(root().join("templates")).unwrap() {
        let fam = fam.unwrap().path();
        if fam.is_dir() {
            for f in std::fs::read_dir(&fam).unwrap() {
                let f = f.unwrap().path();
                let rel = f.strip_prefix(root().join("templates")).unwrap();
                shipped.push(rel.to_str().unwrap().to_string());
            }
        }
    }
    shipped.sort();
    let covered: Vec<String> = exp.templates.keys().cloned().collect();
    assert_eq!(
        shipped, covered,
        "every shipped template has reference data"
    );

    let failures: Vec<String> = exp
        .templates
        .par_iter()
        .flat_map(|(name, t)| {
            let bytes = std::fs::read(root().join("templates").join(name)).unwrap();
            assert_eq!(
                prefix_warden::tokenizer::sha256_hex(&bytes),
                t.template_sha256,
                "{name}"
            );
            let tmpl = ChatTemplate::from_bytes(name, &bytes)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .with_tokens(t.bos_token.clone(), t.eos_token.clone());
            let tok = t.tokenizer.as_ref().map(|label| {
                let entry = cfg.tokenizers.iter().find(|e| &e.id == label).unwrap();
                Tokenizer::load(entry).unwrap()
            });
            let mut fails = Vec::new();
            for (key, case) in &t.cases {
                let p = &prompts[key];
                let r = match (Rendering::new(&tmpl, p, now), &case.error) {
                    (Err(_), Some(_)) => continue,
                    (Err(e), None) => {
                        fails.push(format!("{name} {key}: render failed: {e}"));
                        continue;
                    }
                    (Ok(_), Some(err)) => {
                        fails.push(format!(
                            "{name} {key}: rendered, the reference raised {err}"
                        ));
                        continue;
                    }
                    (Ok(r), None) => r,
                };
                if let Ok(d) = std::env::var("PW_DUMP_RENDER") {
                    // Debugging aid: the renderings, to diff against the reference's.
                    let f = format!("{d}/{}.{key}.txt", name.replace('/', "_"));
                    std::fs::write(f, &r.texts[0]).unwrap();
                }
                fails.extend(compare_case(name, key, &r, p, tok.as_ref(), case));
            }
            fails
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Compares one rendering and its rendered prefix with the reference case.
fn compare_case(
    name: &str,
    key: &str,
    r: &Rendering,
    p: &prefix_warden::prompt::Prompt,
    tok: Option<&Tokenizer>,
    case: &Case,
) -> Option<String> {
    let shas = [
        prefix_warden::tokenizer::sha256_hex(r.texts[0].as_bytes()),
        prefix_warden::tokenizer::sha256_hex(r.texts[1].as_bytes()),
    ];
    if Some(&shas) != case.sha256.as_ref() {
        return Some(format!(
            "{name} {key}: rendering differs from the reference's"
        ));
    }
    let tok = tok?;
    let tp = TokenizedPrefix::rendered(tok, r, p, false).unwrap();
    let fp = tp.fingerprints(p, 64);
    if Some(tp.ids.len()) != case.tokens || Some(&fp.fingerprint) != case.fingerprint.as_ref() {
        return Some(format!(
            "{name} {key}: rendered prefix {} tokens {}, reference {:?} {:?}",
            tp.ids.len(),
            fp.fingerprint,
            case.tokens,
            case.fingerprint
        ));
    }
    if case.system_end_token.is_some() && tp.segment_ends.last().copied() != case.system_end_token {
        return Some(format!(
            "{name} {key}: system text ends at token {:?}, reference {:?}",
            tp.segment_ends.last(),
            case.system_end_token
        ));
    }
    None
}

#[test]
fn harmony_renders_the_ids_openai_harmony_renders() {
    let exp = expected();
    let now: chrono::DateTime<chrono::Utc> = format!("{}Z", exp.date).parse().unwrap();
    let dir = scratch();
    let prompts = write_prompts(dir.path());
    let cfg = Config::load(&root().join("daemon.toml")).unwrap();
    let entry = cfg
        .tokenizers
        .iter()
        .find(|e| e.id == exp.harmony.tokenizer)
        .unwrap();
    let tok = Tokenizer::load(entry).unwrap();
    let h = ChatTemplate::harmony();
    assert_eq!(exp.harmony.cases.len(), 82);
    let failures: Vec<String> = exp
        .harmony
        .cases
        .par_iter()
        .filter_map(|(key, case)| {
            let p = &prompts[key];
            let r = Rendering::new(&h, p, now).unwrap();
            compare_case("harmony", key, &r, p, Some(&tok), case)
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- the binary, like a user ----

use crate::support::{assert_no_prompt_text, fingerprint_pairs, run_in, stderr, stdout};

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(o), stderr(o)))
}

/// Appends `[[tokenizer]]` entries to a scratch config.
fn add_to_config(dir: &Path, toml: &str) {
    let p = dir.join("daemon.toml");
    let mut s = std::fs::read_to_string(&p).unwrap();
    s.push_str(toml);
    std::fs::write(&p, s).unwrap();
}

fn sha(dir: &Path, rel: &str) -> String {
    prefix_warden::tokenizer::sha256_hex(&std::fs::read(dir.join(rel)).unwrap())
}

/// A registry entry on Qwen3's tokenizer.json rendering with `template`.
fn qwen_entry(dir: &Path, id: &str, template: &str) -> String {
    format!(
        "\n[[tokenizer]]\nid = \"{id}\"\nprovider = \"qwen\"\nformat = \"hf-json\"\nfile = \"tokenizers/qwen/qwen3.tokenizer.json.gz\"\nsha256 = \"unpinned\"\ntemplate = {{ file = \"{template}\", sha256 = \"{}\" }}\n",
        sha(dir, template)
    )
}

#[test]
fn fingerprint_of_a_self_hosted_model_is_of_the_rendered_request() {
    let d = scratch();
    let pairs = fingerprint_pairs(
        d.path(),
        &["qwen/qwen3-chat", "qwen/qwen3"],
        "cline-hermes-4",
    );
    let pair = |t: &str| pairs[t].clone();
    let (chat, bare) = (pair("qwen/qwen3-chat"), pair("qwen/qwen3"));
    assert_eq!(chat["kind"], "rendered");
    assert_eq!(bare["kind"], "tokens");
    assert_eq!(
        chat["template_sha256"],
        sha(d.path(), "templates/qwen/Qwen3-0.6B.jinja")
    );
    assert!(bare.get("template_sha256").is_none());
    // `<|im_start|>system\n` before, `<|im_end|>\n<|im_start|>user\n` after the text.
    let (c, b) = (
        chat["token_count"].as_u64().unwrap(),
        bare["token_count"].as_u64().unwrap(),
    );
    assert_eq!(c, b + 3 + 5, "rendered {c}, bare {b}");
    assert_ne!(chat["fingerprint"], bare["fingerprint"]);
    // The last breakpoint is where the system text ends: before `<|im_end|>`.
    let bps = chat["breakpoints"].as_array().unwrap();
    assert_eq!(bps.last().unwrap()["tokens"].as_u64().unwrap(), b + 3);
    let table = run_in(d.path(), &["fingerprint", "--tokenizer", "qwen/qwen3-chat"]);
    assert!(stdout(&table).contains("rendered"), "{}", stdout(&table));
    assert_no_prompt_text(d.path(), &stdout(&table), "fingerprint table");
}

#[test]
fn changing_only_the_template_changes_the_fingerprint_and_diff_names_the_token() {
    let d = scratch();
    // Mistral Nemo's template puts the system text inside the last [INST]; Small 3.1's in
    // [SYSTEM_PROMPT]...[/SYSTEM_PROMPT]. Same tokenizer file.
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "mistral/nemo-chat",
            "--to-template",
            "templates/mistral/Mistral-Small-3.1-24B-Instruct-2503.jinja",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "changed: exit 1; {}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["cause"], "rendering");
    assert_eq!(v["from"]["file_sha256"], v["to"]["file_sha256"]);
    assert_ne!(v["from"]["template_sha256"], v["to"]["template_sha256"]);
    for p in v["prompts"].as_array().unwrap() {
        assert_eq!(p["fingerprint_changed"], true, "{p}");
        // Both start with <s>; Nemo then writes [INST], Small 3.1 [SYSTEM_PROMPT].
        assert_eq!(p["first_divergent_token"], 1, "{p}");
        let e = p["explanation"].as_str().unwrap();
        assert!(e.starts_with("rendering changed"), "{e}");
        assert!(e.contains("template's own text"), "{e}");
    }
    let table = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "mistral/nemo-chat",
            "--to-template",
            "templates/mistral/Mistral-Small-3.1-24B-Instruct-2503.jinja",
        ],
    );
    let out = stdout(&table);
    assert!(
        out.contains("changed: the rendering: same tokenizer, different chat template"),
        "{out}"
    );
    assert_no_prompt_text(d.path(), &out, "diff table");
}

#[test]
fn qwen3_coder_template_revisions_diff_in_the_tools_block_only() {
    let d = scratch();
    std::fs::copy(
        root().join("tests/data/templates/tools.json"),
        d.path().join("prompts/texts/tools.json"),
    )
    .unwrap();
    let y = d.path().join("prompts/cline-hermes-4.yaml");
    let mut yaml = std::fs::read_to_string(&y).unwrap();
    yaml.push_str("tools_file: texts/tools.json\n");
    std::fs::write(&y, yaml).unwrap();
    let rev1 = qwen_entry(
        d.path(),
        "qwen/coder-rev1",
        "templates/qwen/Qwen3-Coder_rev1.jinja",
    );
    let rev2 = qwen_entry(
        d.path(),
        "qwen/coder-rev2",
        "templates/qwen/Qwen3-Coder_rev2.jinja",
    );
    let q25 = qwen_entry(
        d.path(),
        "qwen/qwen2.5-chat",
        "templates/qwen/Qwen2.5-7B-Instruct.jinja",
    );
    add_to_config(d.path(), &format!("{rev1}{rev2}{q25}"));

    // With tools: rev2 renamed "functions" to "tools" in the tools block, after the system text.
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "qwen/coder-rev1",
            "--to",
            "qwen/coder-rev2",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["cause"], "rendering");
    let by_id = |id: &str| {
        v["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["prompt"] == id)
            .unwrap()
            .clone()
    };
    let hermes = by_id("cline-hermes-4");
    assert_eq!(hermes["fingerprint_changed"], true);
    let first = hermes["first_divergent_token"].as_u64().unwrap();
    let system_end = hermes["breakpoints"].as_array().unwrap().last().unwrap()["from_tokens"]
        .as_u64()
        .unwrap();
    assert!(
        first > system_end,
        "diverges in the tools block after the system text: {first} vs {system_end}"
    );
    // Every breakpoint inside the system text keeps its cache.
    for b in hermes["breakpoints"].as_array().unwrap() {
        assert_eq!(b["changed"], false, "{b}");
    }
    // The prompts without tools render identically under both revisions.
    let other = by_id("browser-use-agent");
    assert_eq!(other["fingerprint_changed"], false, "{other}");

    // Negative control: Qwen2.5's and Qwen3's templates render the same system turn, so a
    // prompt without tools keeps its cache across that upgrade.
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "qwen/qwen2.5-chat",
            "--to",
            "qwen/qwen3-chat",
            "--prompt",
            "browser-use-agent",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["cause"], "rendering");
    assert_eq!(v["prompts"][0]["fingerprint_changed"], false);
}

#[test]
fn a_template_that_refuses_the_system_role_is_one_error_line_without_the_prompt() {
    let d = scratch();
    let e = qwen_entry(
        d.path(),
        "qwen/gemma2-template",
        "templates/gemma/gemma-2-2b-it.jinja",
    );
    add_to_config(d.path(), &e);
    let o = run_in(
        d.path(),
        &["fingerprint", "--tokenizer", "qwen/gemma2-template"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // One line per pair (issue #19: each pair's error, every other pair still reported),
    // then the count.
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let prompts = crate::support::yaml_files(&d.path().join("prompts"));
    assert_eq!(lines.len(), prompts + 1, "{err}");
    for l in &lines[..prompts] {
        assert!(l.contains("System role not supported"), "{l}");
        assert!(l.contains("qwen/gemma2-template"), "{l}");
    }
    assert!(lines[prompts].contains("pair(s) failed"), "{err}");
    assert_no_prompt_text(d.path(), &err, "template error");
}

/// Issue #19: a template using a Jinja2 feature the renderer lacks fails each pair with one
/// line naming the template line and the feature (it was `unknown filter: filter wordwrap is
/// unknown`), never a rendering transformers would not produce, never the prompt.
#[test]
fn a_jinja2_feature_the_renderer_lacks_is_named_in_one_line() {
    let d = scratch();
    let rel = "templates/qwen/wordwrap.jinja";
    std::fs::write(
        d.path().join(rel),
        "{%- for m in messages %}\n<|im_start|>{{ m.role }}\n{{ m.content|wordwrap(60) }}<|im_end|>\n{%- endfor %}",
    )
    .unwrap();
    add_to_config(d.path(), &qwen_entry(d.path(), "qwen/wordwrap", rel));
    let o = run_in(d.path(), &["fingerprint", "--tokenizer", "qwen/wordwrap"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let prompts = crate::support::yaml_files(&d.path().join("prompts"));
    assert_eq!(lines.len(), prompts + 1, "{err}");
    for l in &lines[..prompts] {
        assert!(l.contains("qwen/wordwrap"), "{l}");
        assert!(
            l.contains("chat template line 3: the `wordwrap` filter is not supported by prefix-warden's renderer (transformers would accept it)"),
            "{l}"
        );
    }
    assert_no_prompt_text(d.path(), &err, "unsupported feature");
}

/// Issue #19: an integer past 128 bits in a tools file cannot be held as Python holds it; the
/// prompt is refused at load naming the file and the field, not rendered with a float.
#[test]
fn an_integer_past_128_bits_in_a_tools_file_is_refused_naming_the_field() {
    let d = scratch();
    std::fs::write(
        d.path().join("prompts/texts/huge.json"),
        "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\",\n \"properties\": {\"n\": {\"type\": \"integer\", \"default\": 1234567890123456789012345678901234567890}}}}}]",
    )
    .unwrap();
    let y = d.path().join("prompts/cline-hermes-4.yaml");
    let mut yaml = std::fs::read_to_string(&y).unwrap();
    yaml.push_str("tools_file: texts/huge.json\n");
    std::fs::write(&y, yaml).unwrap();
    let o = run_in(d.path(), &["fingerprint", "--tokenizer", "qwen/qwen3-chat"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("tools_file: texts/huge.json: $[0].function.parameters.properties.n.default (line 2, column 53): an integer of 40 digits (past 128 bits) is not supported by prefix-warden's renderer (transformers would accept it)"),
        "{err}"
    );
    assert!(!err.contains("1234567890"), "{err}");
}

#[test]
fn a_template_whose_pin_does_not_match_is_refused() {
    let d = scratch();
    let p = d.path().join("templates/qwen/Qwen3-0.6B.jinja");
    let mut t = std::fs::read_to_string(&p).unwrap();
    t.push(' ');
    std::fs::write(&p, t).unwrap();
    let o = run_in(d.path(), &["fingerprint", "--tokenizer", "qwen/qwen3-chat"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("sha256"), "{err}");
    assert!(err.contains("daemon.toml:"), "names the config line: {err}");
}

#[test]
fn gpt_oss_is_fingerprinted_in_harmony_with_the_date_of_the_day() {
    let d = scratch();
    let pairs = fingerprint_pairs(
        d.path(),
        &["openai/gpt-oss-harmony", "openai/o200k_harmony"],
        "cline-hermes-4",
    );
    let pair = |t: &str| pairs[t].clone();
    let (h, bare) = (pair("openai/gpt-oss-harmony"), pair("openai/o200k_harmony"));
    assert_eq!(h["kind"], "rendered");
    assert_eq!(h["template_sha256"], ChatTemplate::harmony().sha256);
    // The system message (with the date) and `<|start|>developer<|message|># Instructions\n\n`
    // come before the prompt; `<|end|><|start|>user<|message|>` after it.
    let (n, b) = (
        h["token_count"].as_u64().unwrap(),
        bare["token_count"].as_u64().unwrap(),
    );
    assert!(n > b + 40, "{n} vs {b}");
    assert_eq!(
        h["breakpoints"].as_array().unwrap().last().unwrap()["tokens"]
            .as_u64()
            .unwrap(),
        n - 4,
        "{h}"
    );
}
