//! Issue #18, classes 6 and 7: `--write-prompts` writes only inside the directory it was
//! given (a planted symlink is replaced, never followed), and strings from request logs reach
//! neither the terminal nor a prompt stub with their control characters.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{root, run_in, scratch, stderr, stdout};

/// The stub names `--write-prompts` uses for the example log, learnt as an attacker would:
/// by running the same command (names are content hashes, so the same every run).
fn stub_ids(dir: &Path, log: &Path) -> Vec<String> {
    let probe = dir.join("probe");
    let o = write_prompts(dir, &probe, log);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut ids: Vec<String> = std::fs::read_dir(&probe)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    ids.sort();
    assert!(ids.len() >= 2, "{ids:?}");
    ids
}

fn write_prompts(dir: &Path, out: &Path, log: &Path) -> std::process::Output {
    run_in(
        dir,
        &[
            "discover",
            "--write-prompts",
            out.to_str().expect("utf-8 path"),
            log.to_str().expect("utf-8 path"),
        ],
    )
}

#[test]
fn write_prompts_followed_a_symlink_planted_at_a_stub_name() {
    let d = scratch();
    let log = root().join("examples/logs/agents.jsonl.gz");
    let ids = stub_ids(d.path(), &log);
    let out = d.path().join("discovered");
    let outside = d.path().join("outside");
    std::fs::create_dir_all(out.join("texts")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, "keep me\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    // An existing target (the stub) and a dangling one (the text: following it would create
    // a file outside).
    std::os::unix::fs::symlink(&victim, out.join(format!("{}.yaml", ids[0]))).unwrap();
    let dangling = outside.join("created.txt");
    std::os::unix::fs::symlink(&dangling, out.join(format!("texts/{}.txt", ids[1]))).unwrap();

    let o = write_prompts(d.path(), &out, &log);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777,
        0o644,
        "the target's mode is untouched too"
    );
    assert!(
        !dangling.exists(),
        "nothing created through a dangling link"
    );
    // The links were replaced by the stubs themselves.
    for p in [
        out.join(format!("{}.yaml", ids[0])),
        out.join(format!("texts/{}.txt", ids[1])),
    ] {
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert!(m.file_type().is_file(), "{}", p.display());
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", p.display());
    }
    let p = prefix_warden::prompt::load_file(&out.join(format!("{}.yaml", ids[0]))).unwrap();
    assert_eq!(p.id, ids[0]);
    // No temporary file is left behind.
    let stray: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .chain(std::fs::read_dir(out.join("texts")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    // A second run into the same directory replaces the stubs (and still works).
    let again = write_prompts(d.path(), &out, &log);
    assert!(again.status.success(), "{}", stderr(&again));
}

#[test]
fn write_prompts_followed_a_symlink_as_the_texts_directory() {
    let d = scratch();
    let log = root().join("examples/logs/agents.jsonl.gz");
    let out = d.path().join("discovered");
    let outside = d.path().join("outside");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("texts")).unwrap();

    let o = write_prompts(d.path(), &out, &log);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // One error line (beside discover's notes on models it skipped).
    let errors: Vec<&str> = err.lines().filter(|l| !l.starts_with("note: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("discovered/texts"), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the link"
    );
}

/// A logged model that carries newlines and an ESC sequence (YAML keys after the newlines).
const HOSTILE_MODEL: &str = "gpt-5.5\n\u{1b}[31mowner: evil\nmodels: [x]";
/// A tool name with an OSC sequence (sets the terminal title), BEL and a right-to-left override.
const HOSTILE_TOOL: &str = "lookup\u{1b}]0;pwned\u{7}\u{202e}gpj.exe";

/// Two requests with the hostile model, three with a hostile tool name whose schema's key order
/// changes, and an OpenAI Batch line whose `url` (quoted in the bad-line reason) has ESC and a
/// newline.
fn hostile_log(dir: &Path) -> PathBuf {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let sys = "You are a careful research assistant. Cite the sources you use and answer briefly.";
    let mut lines = Vec::new();
    for minute in 0..2 {
        lines.push(format!(
            r#"{{"model": {}, "messages": [{{"role": "system", "content": {}}}, {{"role": "user", "content": "q"}}], "timestamp": "2026-11-30T10:0{minute}:00Z"}}"#,
            q(HOSTILE_MODEL),
            q(sys)
        ));
    }
    let params = [
        r#"{"type": "object", "properties": {"x": {"type": "string"}}}"#,
        r#"{"properties": {"x": {"type": "string"}}, "type": "object"}"#,
        r#"{"type": "object", "properties": {"x": {"type": "string"}}}"#,
    ];
    for (i, p) in params.iter().enumerate() {
        lines.push(format!(
            r#"{{"model": "gpt-5.5", "tools": [{{"type": "function", "function": {{"name": {}, "parameters": {p}}}}}], "messages": [{{"role": "system", "content": {}}}, {{"role": "user", "content": "q"}}], "timestamp": "2026-11-30T10:1{i}:00Z"}}"#,
            q(HOSTILE_TOOL),
            q(sys)
        ));
    }
    lines.push(format!(
        r#"{{"custom_id": "c", "method": "POST", "url": {}, "body": {{"model": "gpt-5.5", "messages": []}}}}"#,
        q("/v1/\u{1b}[2J\nfake: x")
    ));
    let log = dir.join("hostile.jsonl");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    log
}

/// No control character from the log reaches `out`, and none of its lines is one the log
/// injected.
fn assert_terminal_safe(out: &[u8], what: &str) {
    let text = String::from_utf8_lossy(out);
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\r'] {
        assert!(!text.contains(bad), "{what}: raw {bad:?} in {text}");
    }
    for l in text.lines() {
        let l = l.trim_start_matches([' ', '|']);
        assert!(
            !l.starts_with("owner: evil")
                && !l.starts_with("models: [x]")
                && !l.starts_with("fake: x"),
            "{what}: an injected line: {l:?}"
        );
    }
}

#[test]
fn control_characters_in_a_logged_model_reached_the_terminal_and_the_stub() {
    let d = scratch();
    let log = hostile_log(d.path());
    let log = log.to_str().unwrap();
    let out_dir = d.path().join("discovered");

    let discover = run_in(
        d.path(),
        &[
            "discover",
            "--min-tokens",
            "1",
            "--write-prompts",
            out_dir.to_str().unwrap(),
            log,
        ],
    );
    assert!(discover.status.success(), "{}", stderr(&discover));
    assert_terminal_safe(&discover.stdout, "discover table");
    assert_terminal_safe(&discover.stderr, "discover stderr");
    let text = stdout(&discover);
    // The model with control characters is a bad line (refused at parse time, never quoted);
    // the url a bad line quotes is shown escaped.
    assert!(
        text.contains("hostile.jsonl:1: model: holds a control or bidi character"),
        "{text}"
    );
    assert!(text.contains(r"\u{1b}[2J\u{a}fake: x"), "{text}");
    let md = run_in(
        d.path(),
        &["discover", "--min-tokens", "1", "--format", "markdown", log],
    );
    assert_terminal_safe(&md.stdout, "discover markdown");
    let json = run_in(
        d.path(),
        &["discover", "--min-tokens", "1", "--format", "json", log],
    );
    assert!(json.status.success(), "{}", stderr(&json));
    assert!(!json.stdout.contains(&0x1b), "json escapes ESC");
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["read"]["bad_lines"], 3);
    let ids: Vec<&str> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["model"], "openai/gpt-5.5");
            c["id"].as_str().unwrap()
        })
        .collect();
    assert!(!ids.is_empty(), "{v}");

    // Each stub, parsed as YAML, has exactly the stub's keys, and loads as a prompt whose one
    // model is the logged one.
    for id in ids {
        let path = out_dir.join(format!("{id}.yaml"));
        let yaml = std::fs::read_to_string(&path).unwrap();
        let m: serde_yaml::Mapping = serde_yaml::from_str(&yaml).unwrap();
        let keys: Vec<&str> = m.keys().map(|k| k.as_str().unwrap()).collect();
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
            "{yaml}"
        );
        let p = prefix_warden::prompt::load_file(&path).unwrap();
        assert_eq!(p.models, ["openai/gpt-5.5"]);
        assert_eq!(p.owner, "");
    }

    let lint = run_in(d.path(), &["lint", log]);
    assert_terminal_safe(&lint.stdout, "lint table");
    let text = stdout(&lint);
    assert!(
        text.contains(r"tools[lookup\u{1b}]0;pwned\u{7}\u{202e}gpj.exe]"),
        "the tool name, escaped: {text}"
    );
    let lint_md = run_in(d.path(), &["lint", "--format", "markdown", log]);
    assert_terminal_safe(&lint_md.stdout, "lint markdown");
    let lint_json = run_in(d.path(), &["lint", "--format", "json", log]);
    assert!(!lint_json.stdout.contains(&0x1b), "json escapes ESC");
    let v: Value = serde_json::from_slice(&lint_json.stdout).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["location"] == format!("tools[{HOSTILE_TOOL}]")),
        "json keeps the exact name: {v}"
    );

    for format in ["table", "markdown"] {
        let sim = run_in(
            d.path(),
            &[
                "simulate",
                "--model",
                "openai/gpt-5.5",
                "--format",
                format,
                log,
            ],
        );
        assert!(sim.status.success(), "{}", stderr(&sim));
        assert_terminal_safe(&sim.stdout, "simulate");
        assert!(stdout(&sim).contains("3 request(s) of openai/gpt-5.5"));
    }
}
