//! `prefix discover` on the shipped example log (examples/logs/agents.jsonl.gz, made by
//! scripts/gen_example_logs.py): what real traffic shares, what is registered, bad lines by
//! number, no text in the output, and prompt stubs that fingerprint as the prefix they describe.

use prefix_warden::prefix::TokenizedPrefix;
use serde_json::Value;

use crate::support::{assert_no_prompt_text, root, run_in, scratch, stderr, stdout};

fn candidates(v: &Value) -> Vec<Value> {
    v["candidates"].as_array().unwrap().clone()
}

#[test]
fn discover_finds_the_shared_prefixes_of_the_example_log() {
    let d = scratch();
    let log = root().join("examples/logs/agents.jsonl.gz");
    let o = run_in(
        d.path(),
        &["discover", "--format", "json", log.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["read"]["records"], 70);
    assert_eq!(v["read"]["bad_lines"], 2);
    let bad: Vec<u64> = v["read"]["bad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(bad, [11, 31]);
    assert_eq!(v["unserved_models"]["anthropic/claude-sonnet-4-6"], 12);
    let c = candidates(&v);
    // The registered browser-use prompt, verbatim in the 15 requests before 03:00; the second
    // version after it (9 requests) diverges from it where the sentence was inserted, and all
    // 24 share only what comes before that.
    assert_eq!(c[0]["registered"], "browser-use-agent");
    assert_eq!(c[0]["requests"], 15);
    let shared = c
        .iter()
        .find(|x| x["prefix_of"] == "browser-use-agent")
        .unwrap();
    assert_eq!(shared["requests"], 24);
    let v2 = c
        .iter()
        .find(|x| x["diverges_from"][0] == "browser-use-agent")
        .unwrap();
    assert_eq!(v2["requests"], 9);
    assert_eq!(v2["diverges_from"][1], shared["tokens"]);
    assert!(
        v2["tokens"].as_u64() > c[0]["tokens"].as_u64(),
        "one sentence longer"
    );
    // The planner prompt with a timestamp after it: 18 requests share it up to the timestamp.
    let planner = c.iter().find(|x| x["model"] == "openai/gpt-5.4").unwrap();
    assert_eq!(planner["requests"], 18);
    assert_eq!(planner["diverges_from"][0], "deer-flow-planner-zh");
    assert!(planner["tokens"].as_u64().unwrap() > planner["diverges_from"][1].as_u64().unwrap());
    // Tools in two orders: two prefixes of 8 requests where one of 16 was meant.
    let hermes: Vec<&Value> = c
        .iter()
        .filter(|x| x["model"] == "openai/gpt-5.4-mini")
        .collect();
    assert_eq!(hermes.len(), 2);
    assert!(hermes
        .iter()
        .all(|h| h["requests"] == 8 && h["registered"].is_null()));
    assert_eq!(c.len(), 6, "{c:#?}");

    let table = run_in(d.path(), &["discover", log.to_str().unwrap()]);
    let out = stdout(&table);
    assert!(out.contains("yes: browser-use-agent"), "{out}");
    assert!(out.contains("agents.jsonl.gz:11: not JSON"), "{out}");
    assert_no_prompt_text(d.path(), &out, "discover table");
    assert_no_prompt_text(
        d.path(),
        &String::from_utf8_lossy(&o.stdout),
        "discover json",
    );
}

#[test]
fn write_prompts_stubs_fingerprint_as_the_discovered_prefix() {
    let d = scratch();
    let log = root().join("examples/logs/agents.jsonl.gz");
    let out_dir = d.path().join("discovered");
    let o = run_in(
        d.path(),
        &[
            "discover",
            "--format",
            "json",
            "--write-prompts",
            out_dir.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let tok = crate::support::shipped_tokenizer("openai/o200k_base");
    let mut checked = 0;
    for c in candidates(&v)
        .iter()
        .filter(|c| c["model"] == "openai/gpt-5.4-mini")
    {
        let yaml = out_dir.join(format!("{}.yaml", c["id"].as_str().unwrap()));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&yaml).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let p = prefix_warden::prompt::load_file(&yaml).unwrap();
        let fp = TokenizedPrefix::new(&tok, &p, false)
            .unwrap()
            .fingerprints(&p, 16);
        assert_eq!(
            fp.fingerprint,
            c["fingerprint"].as_str().unwrap(),
            "{}",
            yaml.display()
        );
        assert_eq!(p.segments.len() as u64, c["blocks"].as_u64().unwrap());
        checked += 1;
    }
    assert_eq!(checked, 2);
    assert!(
        !out_dir
            .join(format!(
                "{}.yaml",
                candidates(&v)[0]["id"].as_str().unwrap()
            ))
            .exists(),
        "registered: no stub"
    );
}

#[test]
fn a_missing_log_is_one_error_line() {
    let o = run_in(&root(), &["discover", "no/such.jsonl"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no/such.jsonl"), "{err}");
}

#[test]
fn lint_finds_the_timestamp_the_edit_and_the_flipping_tools_and_exits_on_the_threshold() {
    let d = scratch();
    let log = root().join("examples/logs/agents.jsonl.gz");
    let o = run_in(
        d.path(),
        &["lint", "--format", "json", log.to_str().unwrap()],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "findings above the default 0: exit 1; {}",
        stderr(&o)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    let find = |subject: &str, class: &str| {
        f.iter()
            .find(|x| x["subject"] == subject && x["class"] == class)
            .cloned()
    };
    // The injected timestamp: after the planner text, different in every request.
    let ts = find("log:openai/gpt-5.4", "date-time").expect("the timestamp");
    assert_eq!(
        (ts["varies"].as_bool(), ts["requests"].as_u64()),
        (Some(true), Some(18))
    );
    let planner = std::fs::read_to_string(
        d.path()
            .join("prompts/texts/bytedance__deer-flow__planner_zh_CN.txt"),
    )
    .unwrap();
    assert_eq!(
        ts["bytes"][0].as_u64().unwrap() as usize,
        planner.len() + "\n\nCurrent time: ".len()
    );
    // The tools whose order flips.
    let tools = find("log:openai/gpt-5.4-mini", "tools-order").expect("the tools order");
    assert_eq!(tools["requests"], 16);
    // A static example date in a prompt is reported, but as not varying.
    assert_eq!(
        find("log:openai/gpt-5.5", "date-time").unwrap()["varies"],
        false
    );
    // The second version of the browser-use prompt: a sentence inserted in its middle.
    let browser = std::fs::read_to_string(
        d.path()
            .join("prompts/texts/browser-use__browser-use__system_prompt.txt"),
    )
    .unwrap();
    let inserted = "Prefer the page's own search box over site: queries.\n";
    let middle = browser[browser.len() / 2..].find('\n').unwrap() + browser.len() / 2 + 1;
    let div = find("log:openai/gpt-5.5", "divergence").expect("the edit");
    assert_eq!(
        (
            div["bytes"][0].as_u64(),
            div["bytes"][1].as_u64(),
            div["requests"].as_u64()
        ),
        (
            Some(middle as u64),
            Some((middle + inserted.len()) as u64),
            Some(24)
        )
    );
    // The planner's versions differ at the timestamp, already reported as a date-time.
    assert!(find("log:openai/gpt-5.4", "divergence").is_none());
    let total = v["tokens_per_day"].as_f64().unwrap();
    let o = run_in(
        d.path(),
        &[
            "lint",
            "--fail-over",
            &format!("{}", total.ceil()),
            log.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_no_prompt_text(d.path(), &stdout(&o), "lint table");
}

#[test]
fn lint_sees_a_tool_schema_whose_key_order_changes() {
    let d = scratch();
    let log = d.path().join("keys.jsonl");
    let line = |params: &str| {
        format!(
            r#"{{"model": "gpt-5.4-mini", "tools": [{{"type": "function", "function": {{"name": "f", "parameters": {params}}}}}], "messages": [{{"role": "user", "content": "q"}}]}}"#
        )
    };
    let a = line(r#"{"type": "object", "properties": {"x": {"type": "string"}}}"#);
    let b = line(r#"{"properties": {"x": {"type": "string"}}, "type": "object"}"#);
    std::fs::write(&log, format!("{a}\n{b}\n{a}\n")).unwrap();
    let o = run_in(
        d.path(),
        &["lint", "--format", "json", log.to_str().unwrap()],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    let k = f
        .iter()
        .find(|x| x["class"] == "tool-key-order")
        .expect("key order finding");
    assert_eq!(
        (
            k["subject"].as_str(),
            k["location"].as_str(),
            k["requests"].as_u64()
        ),
        (Some("log:openai/gpt-5.4-mini"), Some("tools[f]"), Some(3))
    );
    assert!(
        f.iter().all(|x| x["class"] != "tools-order"),
        "one tool: no list order"
    );
}

/// Fidelity: the example log's traffic (Chat Completions for gpt-5.5, two versions of the
/// prompt; Responses for gpt-5.4, a timestamp after the prompt, idle gaps longer than the 5-minute
/// TTL; OpenAI Batch lines for gpt-5.4-mini, tools whose order flips; Anthropic Message Batches for claude-sonnet-4-6, breakpoints as sent), sent in time
/// order to `prefix emulate` (its clock advanced to each request's timestamp), gets the cached
/// tokens `simulate` predicts, hour by hour, within 1%. Claude's tokenizer is private: the test
/// config lets o200k stand in for it on both sides, which is what the emulator does.
#[test]
fn simulate_predicts_the_emulators_cached_tokens_per_hour() {
    let d = claude_served();
    let log = root().join("examples/logs/agents.jsonl.gz");
    let text = String::from_utf8(prefix_warden::tokenizer::read_maybe_gzip(&log).unwrap()).unwrap();
    for (model, path, details) in [
        ("gpt-5.5", "/v1/chat/completions", "prompt_tokens_details"),
        ("gpt-5.4", "/v1/responses", "input_tokens_details"),
        (
            "gpt-5.4-mini",
            "/v1/chat/completions",
            "prompt_tokens_details",
        ),
        (
            "claude-sonnet-4-6",
            "/v1/messages",
            "cache_read_input_tokens",
        ),
    ] {
        let emu = crate::count::Emulator::start(d.path());
        let mut reqs: Vec<(f64, Value)> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            // Message Batches lines carry the body in `params`.
            .map(|v| match v.get("params").or(v.get("body")) {
                Some(p) => {
                    let mut p = p.clone();
                    p["timestamp"] = v["timestamp"].clone();
                    p
                }
                None => v,
            })
            .filter(|v| v["model"] == model)
            .map(|v| {
                let t = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap())
                    .unwrap()
                    .timestamp() as f64;
                (t, v)
            })
            .collect();
        reqs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut observed: std::collections::BTreeMap<i64, u64> = Default::default();
        let mut prev = reqs[0].0;
        for (t, v) in &reqs {
            let ms = ((t - prev) * 1000.0) as u64;
            prev = *t;
            if ms > 0 {
                let (c, b) = crate::daemon::post(
                    &format!("{}/admin/clock", emu.base),
                    &format!("{{\"advance_ms\": {ms}}}"),
                    None,
                );
                assert_eq!(c, 200, "{b}");
            }
            let body = if path == "/v1/responses" {
                serde_json::json!({"model": model, "max_output_tokens": 16, "instructions": v["instructions"], "input": v["input"]})
            } else if path == "/v1/messages" {
                serde_json::json!({"model": model, "max_tokens": 1, "system": v["system"], "messages": v["messages"]})
            } else if v.get("tools").is_some() {
                serde_json::json!({"model": model, "max_tokens": 1, "tools": v["tools"], "messages": v["messages"]})
            } else {
                serde_json::json!({"model": model, "max_tokens": 1, "messages": v["messages"]})
            };
            let (c, b) = crate::daemon::post(
                &format!("{}{path}", emu.base),
                &body.to_string(),
                Some("test-key"),
            );
            assert_eq!(c, 200, "{b}");
            let r: Value = serde_json::from_str(&b).unwrap();
            let cached = if path == "/v1/messages" {
                r["usage"][details].as_u64().unwrap()
            } else {
                r["usage"][details]["cached_tokens"].as_u64().unwrap()
            };
            *observed
                .entry((*t as i64).div_euclid(3600) * 3600)
                .or_default() += cached;
        }
        let name = if path == "/v1/messages" {
            format!("anthropic/{model}")
        } else {
            format!("openai/{model}")
        };
        let o = run_in(
            d.path(),
            &[
                "simulate",
                "--model",
                &name,
                "--breakpoints",
                "as-sent",
                "--format",
                "json",
                log.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            v["without_warmup"]["requests"].as_u64().unwrap() as usize,
            reqs.len()
        );
        let predicted_total = v["without_warmup"]["read"].as_u64().unwrap();
        let emulated_total: u64 = observed.values().sum();
        assert!(
            emulated_total > 0,
            "{model}: the emulator served cache reads"
        );
        assert!(
            predicted_total.abs_diff(emulated_total) <= emulated_total / 100,
            "{model}: predicted {predicted_total}, emulator {emulated_total}"
        );
        let hours = v["hours"].as_array().unwrap();
        assert_eq!(hours.len(), observed.len());
        for h in hours {
            let predicted = h["predicted_read"].as_u64().unwrap();
            let emulated = observed[&h["hour"].as_i64().unwrap()];
            assert!(
                predicted.abs_diff(emulated) <= (emulated as f64 * 0.01).ceil() as u64,
                "{model} hour {}: predicted {predicted}, emulator {emulated}",
                h["hour"]
            );
        }
    }
}

/// A scratch project whose o200k tokenizer also serves claude-sonnet-4-6 (standing in for
/// Claude's private tokenizer, as the emulator's does).
pub(crate) fn claude_served() -> tempfile::TempDir {
    let d = scratch();
    let config = d.path().join("daemon.toml");
    let toml = std::fs::read_to_string(&config).unwrap().replacen(
        r#"models = ["openai/gpt-4o*","#,
        r#"models = ["anthropic/claude-sonnet-4-6", "openai/gpt-4o*","#,
        1,
    );
    assert!(toml.contains("anthropic/claude-sonnet-4-6"));
    std::fs::write(&config, toml).unwrap();
    d
}

#[test]
fn simulate_costs_each_breakpoint_placement_and_lists_requests_with_usage() {
    let d = claude_served();
    let log = root().join("examples/logs/agents.jsonl.gz");
    let json = |args: &[&str]| -> Value {
        let mut all = vec!["simulate", "--format", "json", log.to_str().unwrap()];
        all.extend_from_slice(args);
        let o = run_in(d.path(), &all);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = json(&["--model", "anthropic/claude-sonnet-4-6"]);
    let p = v["placements"].as_array().unwrap();
    let read = |name: &str| {
        p.iter().find(|x| x["placement"] == name).unwrap()["read"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(p.len(), 4);
    // The logs mark the system prompt, which is where `auto` puts the breakpoint too.
    assert_eq!(read("as-sent"), read("auto"));
    assert!(read("auto") > 0);
    assert_eq!(read("tools"), 0, "no request has tools: nothing to cache");
    let costs: Vec<f64> = p.iter().map(|x| x["cost_usd"].as_f64().unwrap()).collect();
    assert!(costs.windows(2).all(|w| w[0] <= w[1]), "cheapest first");
    // Automatic prefix caching has no placements.
    let v = json(&["--model", "openai/gpt-5.5", "--per-request"]);
    assert!(v["placements"].as_array().unwrap().is_empty());
    let fit = &v["requests_fit"];
    assert_eq!(fit["requests_with_usage"], 24);
    let per = v["per_request"].as_array().unwrap();
    assert_eq!(per.len(), 24);
    assert!(per
        .iter()
        .all(|r| r["file"].as_str().unwrap().ends_with("agents.jsonl.gz")
            && r["line"].as_u64().unwrap() > 0
            && r["observed_read"] == 4864));
    let worst = fit["worst"].as_array().unwrap();
    assert!(worst.len() <= 10);
    let text = stdout(&run_in(
        d.path(),
        &[
            "simulate",
            "--model",
            "openai/gpt-5.5",
            log.to_str().unwrap(),
        ],
    ));
    assert!(
        text.contains("per request with usage: 24 request(s)"),
        "{text}"
    );
    assert_no_prompt_text(&root(), &text, "simulate");
}

#[test]
fn simulate_tries_a_cron_warmup_and_names_the_cheapest() {
    let d = scratch();
    let log = root().join("examples/logs/agents.jsonl.gz");
    let o = run_in(
        d.path(),
        &[
            "simulate",
            "--model",
            "openai/gpt-5.4",
            "--warmup",
            "*/4 * * * *",
            "--format",
            "json",
            log.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let w = v["warmups"].as_array().unwrap();
    let by = |label: &str| {
        w.iter()
            .find(|t| t["warmup"] == label)
            .unwrap_or_else(|| panic!("{label}: {w:#?}"))
            .clone()
    };
    // The log's timestamps fall on whole minutes from midnight: a cron every 4 minutes ticks
    // where a 240 s interval from the first request does.
    assert_eq!(
        by("cron */4 * * * *")["cost_usd"],
        by("every 240 s")["cost_usd"]
    );
    let costs: Vec<f64> = w.iter().map(|t| t["cost_usd"].as_f64().unwrap()).collect();
    assert!(
        costs.windows(2).all(|p| p[0] <= p[1]),
        "cheapest first: {costs:?}"
    );
    let none = v["without_warmup"]["cost_usd"].as_f64().unwrap();
    assert!(
        costs[0] < none,
        "a warm-up pays here: {} vs {none}",
        costs[0]
    );
    // Warm-ups turn writes into reads: more read, fewer written.
    assert!(w[0]["read"].as_u64().unwrap() > v["without_warmup"]["read"].as_u64().unwrap());
    let bad = run_in(
        d.path(),
        &[
            "simulate",
            "--model",
            "openai/gpt-5.4",
            "--warmup",
            "61 * * * *",
            log.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--warmup: invalid cron expression"),
        "{}",
        stderr(&bad)
    );
}
