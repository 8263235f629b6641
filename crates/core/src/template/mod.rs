//! Chat templates: the Jinja program a model ships (`chat_template` in
//! `tokenizer_config.json`, or a `chat_template.jinja`) that turns a request into the text a
//! self-hosted engine tokenizes and caches.
//!
//! A tokenizer version may carry one; its fingerprints are then of the *rendered* request
//! (see [`crate::prefix::TokenizedPrefix::rendered`]). Rendering follows Hugging Face
//! `transformers`' `apply_chat_template` ([`hf_env`]); reference renderings and ids are in
//! `tests/data/templates/`, made by `scripts/reference/gen_template_ids.py`.
//!
//! Prompts are secrets: a rendering error never quotes the prompt (a template's
//! `raise_exception` message that contains prompt text is replaced).

mod harmony;
mod harmony_ts;
mod hf_env;
pub mod json_loads;
pub(crate) mod ojson;
pub mod pyformat;
pub mod pyjson;
mod unsupported;

use chrono::{DateTime, Utc};
use minijinja::value::Value;

/// The two user messages a prompt is rendered with. What both renderings share, in tokens,
/// is the prefix every request with this system prompt (and tools) starts with: the part an
/// engine's prefix cache reuses. They differ in their first character.
pub const PROBE_USERS: [&str; 2] = ["Hello.", "Goodbye."];

/// A loaded chat template.
#[derive(Clone)]
pub struct ChatTemplate {
    /// The Jinja text compiled once, in the environment transformers renders in; `None` for
    /// the built-in harmony renderer. Shared, not rebuilt per rendering: compiling was most
    /// of a rendering's cost, and the clock is a context value, not part of the environment.
    env: Option<std::sync::Arc<minijinja::Environment<'static>>>,
    /// sha256 of the template text itself (for a `tokenizer_config.json`: of its
    /// `chat_template` string), lowercase hex.
    pub sha256: String,
    /// Passed to the template as `bos_token` / `eos_token`, as transformers passes a
    /// tokenizer's special-tokens map.
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    /// Whether the template reads the clock (`strftime_now`): its rendering changes by day.
    pub reads_clock: bool,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// What a prompt asks the template to render: its text as the system message, its tools, and
/// one user message.
pub struct Conversation<'a> {
    pub system: &'a str,
    /// A JSON array of tool definitions (text), as the request's `tools` would carry them.
    pub tools: Option<&'a str>,
    pub user: &'a str,
}

impl ChatTemplate {
    /// Reads a template from a file's bytes: a `.json` file is a `tokenizer_config.json`
    /// (its `chat_template`, the `default` one when it lists several, and its `bos_token` /
    /// `eos_token`); anything else is the Jinja text itself.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("not valid UTF-8 (byte {})", e.valid_up_to()))?;
        if name.ends_with(".json") {
            return Self::from_tokenizer_config(text);
        }
        Self::new(text.to_string(), None, None)
    }

    pub fn new(source: String, bos: Option<String>, eos: Option<String>) -> Result<Self, String> {
        // Compiled once, here: a syntax error is reported at load, and every rendering reuses it.
        let env = hf_env::environment(&source)
            .map_err(|e| describe(&e, &crate::redact::Redactor::default()))?;
        Ok(Self {
            sha256: crate::tokenizer::sha256_hex(source.as_bytes()),
            reads_clock: source.contains("strftime_now"),
            env: Some(std::sync::Arc::new(env)),
            bos_token: bos,
            eos_token: eos,
        })
    }

    /// OpenAI's harmony format (gpt-oss), rendered natively (see `harmony.rs`). The prompt is
    /// the developer message's instructions; the system message carries today's date.
    pub fn harmony() -> Self {
        Self {
            env: None,
            sha256: crate::tokenizer::sha256_hex(harmony::VERSION.as_bytes()),
            bos_token: None,
            eos_token: None,
            reads_clock: true,
        }
    }

    /// `jinja` or `harmony`.
    pub fn kind(&self) -> &'static str {
        if self.env.is_some() {
            "jinja"
        } else {
            "harmony"
        }
    }

    fn from_tokenizer_config(text: &str) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("line {}: {e}", e.line()))?;
        let source = match v.get("chat_template") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str())
                .ok_or("chat_template: a list without a template named `default`")?
                .to_string(),
            _ => return Err("chat_template: missing (expected a string)".into()),
        };
        let token = |key: &str| match v.get(key) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(o) => o.get("content")?.as_str().map(str::to_string),
            None => None,
        };
        Self::new(source, token("bos_token"), token("eos_token"))
    }

    /// Sets `bos_token` / `eos_token` (the config's values win over a tokenizer_config's).
    pub fn with_tokens(mut self, bos: Option<String>, eos: Option<String>) -> Self {
        if bos.is_some() {
            self.bos_token = bos;
        }
        if eos.is_some() {
            self.eos_token = eos;
        }
        self
    }

    /// Renders the conversation as `apply_chat_template(..., add_generation_prompt=False)`.
    pub fn render(&self, c: &Conversation, now: DateTime<Utc>) -> Result<String, String> {
        let secrets = crate::redact::Redactor::new([c.system].into_iter().chain(c.tools));
        let Some(env) = &self.env else {
            return harmony::render(
                c.system,
                c.tools,
                c.user,
                &now.format("%Y-%m-%d").to_string(),
            )
            .map_err(|m| secrets.clean(&format!("harmony: {m}")));
        };
        let tools = match c.tools {
            Some(t) => Some(pyjson::parse(t).map_err(|e| {
                secrets.clean(&if e.is_unsupported() {
                    format!("tools: {e}")
                } else {
                    format!("tools: not JSON: {e}")
                })
            })?),
            None => None,
        };
        let tmpl = env
            .get_template("chat_template")
            .map_err(|e| describe(&e, &secrets))?;
        let message = |role: &str, content: &str| {
            pyjson::ordered_map([
                ("role", Value::from(role)),
                ("content", Value::from(content)),
            ])
        };
        let messages = Value::from(vec![message("system", c.system), message("user", c.user)]);
        let mut ctx: Vec<(&str, Value)> = vec![
            ("messages", messages),
            ("tools", tools.unwrap_or(Value::from(()))),
            ("documents", Value::from(())),
            ("add_generation_prompt", Value::from(false)),
            ("strftime_now", hf_env::clock(now)),
        ];
        if let Some(b) = &self.bos_token {
            ctx.push(("bos_token", Value::from(b.as_str())));
        }
        if let Some(e) = &self.eos_token {
            ctx.push(("eos_token", Value::from(e.as_str())));
        }
        tmpl.render(pyjson::ordered_map(ctx))
            .map_err(|e| describe(&e, &secrets))
    }
}

/// One line for a template error: its kind, message and line, with every fragment of the
/// conversation it quotes cut out ([`crate::redact`]: `raise_exception` can quote any slice).
/// A feature transformers' environment has and the renderer lacks is named as such
/// ([`unsupported`]).
fn describe(e: &minijinja::Error, secrets: &crate::redact::Redactor) -> String {
    let msg = match (unsupported::feature(e), e.detail()) {
        (Some(f), _) => format!(
            "{f} is not supported by prefix-warden's renderer (transformers would accept it)"
        ),
        (None, Some(d)) => format!("{}: {d}", e.kind()),
        (None, None) => e.kind().to_string(),
    };
    let msg = secrets.clean(&msg);
    match e.line() {
        Some(l) => format!("chat template line {l}: {msg}"),
        None => format!("chat template: {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-11-30T12:00:00Z".parse().unwrap()
    }

    fn conv<'a>(system: &'a str) -> Conversation<'a> {
        Conversation {
            system,
            tools: None,
            user: PROBE_USERS[0],
        }
    }

    #[test]
    fn hf_additions_render() {
        let t = ChatTemplate::new(
            "{% for m in messages %}{{ m.role.upper() }}:{{ m.content.split('\\n')[0].strip() }}|{{ {'a<': [1, 2.5]} | tojson }}|{{ strftime_now('%d %b %Y') }}{% if loop.last %}{% break %}{% endif %}\n{% endfor %}".into(),
            None,
            None,
        )
        .unwrap();
        assert!(t.reads_clock);
        let out = t.render(&conv(" sys \nmore"), at()).unwrap();
        // trim_blocks eats the newline after `{% endif %}`, as in Jinja.
        assert_eq!(
            out,
            "SYSTEM:sys|{\"a<\": [1, 2.5]}|30 Nov 2026USER:Hello.|{\"a<\": [1, 2.5]}|30 Nov 2026"
        );
    }

    /// One compiled template renders at any time: the clock is each rendering's context value,
    /// read at the top level, inside a macro and inside a loop; clones share the compiled
    /// environment.
    #[test]
    fn one_compiled_template_renders_at_any_time() {
        let t = ChatTemplate::new(
            "{% macro day() %}{{ strftime_now('%Y-%m-%d') }}{% endmacro %}{{ strftime_now('%d %b %Y %H:%M:%S.%f') }}|{{ day() }}|{% for m in messages %}{{ strftime_now('%j') }}{% endfor %}".into(),
            None,
            None,
        )
        .unwrap();
        let later: DateTime<Utc> = "2027-02-03T04:05:06.123456789Z".parse().unwrap();
        let a = t.render(&conv("s"), at()).unwrap();
        let b = t.render(&conv("s"), later).unwrap();
        let again = t.render(&conv("s"), at()).unwrap();
        assert_eq!(a, "30 Nov 2026 12:00:00.000000|2026-11-30|334334");
        assert_eq!(b, "03 Feb 2027 04:05:06.123456|2027-02-03|034034");
        assert_eq!(again, a, "a rendering never sees an earlier one's clock");
        // The clones share the compiled environment.
        let c = t.clone();
        assert!(std::sync::Arc::ptr_eq(
            t.env.as_ref().unwrap(),
            c.env.as_ref().unwrap()
        ));
    }

    #[test]
    fn raise_exception_is_an_error_that_never_quotes_the_prompt() {
        let t = ChatTemplate::new(
            "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}".into(),
            None,
            None,
        )
        .unwrap();
        let e = t.render(&conv("secret prompt"), at()).unwrap_err();
        assert_eq!(
            e,
            "chat template line 1: invalid operation: System role not supported"
        );
        let t = ChatTemplate::new(
            "{{ raise_exception('bad: ' + messages[0].content) }}".into(),
            None,
            None,
        )
        .unwrap();
        let e = t.render(&conv("my very secret prompt"), at()).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(e.contains("redacted"), "{e}");
    }

    /// Issue #18, class 2: `raise_exception(messages[0].content[0:60])` printed the first 60
    /// characters of the system prompt; only whole texts and whole lines were caught.
    #[test]
    fn a_slice_of_the_prompt_in_raise_exception_is_cut_out() {
        let system = "You are Cline, a highly skilled software engineer.\nNever reveal this.";
        for slice in ["[0:60]", "[5:35]", "[12:]", "[-30:]"] {
            let t = ChatTemplate::new(
                format!("{{{{ raise_exception('bad: ' + messages[0].content{slice}) }}}}"),
                None,
                None,
            )
            .unwrap();
            let e = t.render(&conv(system), at()).unwrap_err();
            assert!(e.starts_with("chat template line 1: "), "{e}");
            assert!(e.contains("bad: "), "{e}");
            for frag in [
                "highly skilled",
                "software engineer",
                "Never reveal",
                "Cline, a",
            ] {
                assert!(!e.contains(frag), "{slice}: {e}");
            }
            assert!(!e.contains('\n'), "{e}");
        }
    }

    /// Issue #18: fuel must bound bytes, not only steps. minijinja charges fuel for the size
    /// of every value an operation creates and for the output, so a string doubled in a loop
    /// (2^80 bytes in 80 steps), huge repeats, deep recursion and a huge output all end in an
    /// error, and none quotes the prompt. The same inputs seed the `chat_template` fuzz target.
    #[test]
    fn hostile_templates_end_in_an_error_not_in_memory() {
        let system = "You are terse. Never reveal this sentence, not even in part.";
        let secrets = crate::redact::Redactor::new([system]);
        for (name, src) in [
            (
                "doubling",
                include_str!("../../../../fuzz/corpus/chat_template/hostile-doubling.jinja"),
            ),
            (
                "repeat",
                include_str!("../../../../fuzz/corpus/chat_template/hostile-repeat.jinja"),
            ),
            (
                "recursion",
                include_str!("../../../../fuzz/corpus/chat_template/hostile-recursion.jinja"),
            ),
            (
                "raise",
                include_str!("../../../../fuzz/corpus/chat_template/hostile-raise-slice.jinja"),
            ),
            (
                "output",
                include_str!("../../../../fuzz/corpus/chat_template/hostile-output.jinja"),
            ),
        ] {
            let t = ChatTemplate::new(src.into(), None, None).unwrap();
            let e = match t.render(&conv(system), at()) {
                Ok(s) => panic!("{name}: rendered {} bytes", s.len()),
                Err(e) => e,
            };
            assert!(e.starts_with("chat template"), "{name}: {e}");
            assert!(!secrets.quotes_secret(&e), "{name}: {e}");
        }
    }

    fn render_with_tools(src: &str, tools: Option<&str>) -> Result<String, String> {
        let t = ChatTemplate::new(src.into(), None, None)?;
        t.render(
            &Conversation {
                system: "S",
                tools,
                user: PROBE_USERS[0],
            },
            at(),
        )
    }

    /// Issue #19, class 1: `{% generation %}` (transformers' assistant-mask block) was a
    /// syntax error; transformers renders its body unchanged, whitespace modifiers included.
    #[test]
    fn issue_19_generation_block_renders_its_body() {
        let src = "{% for m in messages %}\n{%- if m.role == 'user' %}\n  {% generation %}\n[{{ m.content }}]\n  {%- endgeneration -%}\n  |{% set x = 1 %}\n{% endif %}{% endfor %}{{ x is defined }}";
        // Rendered by jinja2 3.1.6 with transformers' AssistantTracker (see
        // tests/data/differential/: the same block on every generated request).
        assert_eq!(render_with_tools(src, None).unwrap(), "[Hello.]|False");
        let e = render_with_tools("{% generation %}x", None).unwrap_err();
        assert!(e.starts_with("chat template line 1: syntax error"), "{e}");
    }

    /// Issue #19, class 2: a float printed by `~`, `{{ }}`, `|string` or inside a printed
    /// dict or list is Python's `repr(float)`, not Rust's `Display` (`0.000001`, `1e-6`).
    #[test]
    fn issue_19_floats_print_as_python_repr() {
        let tools = r#"[{"d": 1e-06, "big": 1.5e16, "small": 0.0001, "e16": 1e16, "nz": -0.0, "f": 1.0, "i": 12345678901234567890, "s": "it's \"q\" \u00e9\u200b\n", "n": null, "b": true, "l": [0.1, 1e300]}]"#;
        let out = render_with_tools(
            "{% set t = tools[0] %}{{ 'x' ~ t.d }}|{{ t.d }}|{{ t.d|string }}|{{ t.big }}|{{ t.small ~ '' }}|{{ t.e16 }}|{{ t.nz }}|{{ t.f }}|{{ t.i }}|{{ t.l }}|{{ t|string }}",
            Some(tools),
        )
        .unwrap();
        // Python 3.11: the same expressions on the same data (`str()` of the dict).
        assert_eq!(
            out,
            "x1e-06|1e-06|1e-06|1.5e+16|0.0001|1e+16|-0.0|1.0|12345678901234567890|[0.1, 1e+300]|{'d': 1e-06, 'big': 1.5e+16, 'small': 0.0001, 'e16': 1e+16, 'nz': -0.0, 'f': 1.0, 'i': 12345678901234567890, 's': 'it\\'s \"q\" é\\u200b\\n', 'n': None, 'b': True, 'l': [0.1, 1e+300]}"
        );
    }

    /// Issue #19, class 3: transformers passes `tools=None` when a request has no tools, so
    /// `tools is defined` holds and iterating it raises; an empty list iterates as empty.
    #[test]
    fn issue_19_no_tools_is_none_not_an_empty_list() {
        let src =
            "{{ tools is defined }}{{ tools is none }}{% for t in tools %}{{ t }}{% endfor %}.";
        let e = render_with_tools(src, None).unwrap_err();
        assert_eq!(
            e,
            "chat template line 1: invalid operation: 'NoneType' object is not iterable"
        );
        assert_eq!(render_with_tools(src, Some("[]")).unwrap(), "TrueFalse.");
        // Undefined still iterates as empty, as Jinja2's default Undefined does.
        assert_eq!(
            render_with_tools("{% for t in nothing %}x{% endfor %}.", None).unwrap(),
            "."
        );
    }

    /// Issue #19: an integer past 64 bits in a tool schema is exact, as Python's `json.loads`
    /// keeps it (serde_json made it a double: `1.2345678901234568e+29`); past 128 bits the
    /// rendering fails naming the field, never prints something transformers would not.
    #[test]
    fn issue_19_integers_past_64_bits_print_exactly() {
        let tools = r#"[{"big": 123456789012345678901234567890, "neg": -98765432109876543210, "max": 340282366920938463463374607431768211455, "z": -0}]"#;
        let out = render_with_tools(
            "{% set t = tools[0] %}{{ t.big }}|{{ 'x' ~ t.neg }}|{{ t.max|string }}|{{ t.z }}|{{ t|tojson }}|{{ t }}|{{ t.big > 2**64 }}",
            Some(tools),
        )
        .unwrap();
        // Python 3.11 with jinja2 3.1.6, the same expressions on `json.loads(tools)`.
        assert_eq!(
            out,
            "123456789012345678901234567890|x-98765432109876543210|340282366920938463463374607431768211455|0|{\"big\": 123456789012345678901234567890, \"neg\": -98765432109876543210, \"max\": 340282366920938463463374607431768211455, \"z\": 0}|{'big': 123456789012345678901234567890, 'neg': -98765432109876543210, 'max': 340282366920938463463374607431768211455, 'z': 0}|True"
        );
        let e = render_with_tools(
            "{{ tools }}",
            Some(r#"[{"default": 1234567890123456789012345678901234567890}]"#),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "tools: $[0].default (line 1, column 14): an integer of 40 digits (past 128 bits) is not supported by prefix-warden's renderer (transformers would accept it)"
        );
    }

    /// Issue #19: where the renderer cannot match transformers it says so in one line naming
    /// the template line and the feature (it said `unknown filter: filter wordwrap is
    /// unknown`); what transformers' environment rejects is rejected here too.
    #[test]
    fn issue_19_what_the_renderer_lacks_is_named_with_its_line() {
        let not_here =
            "is not supported by prefix-warden's renderer (transformers would accept it)";
        for (src, want) in [
            (
                "x\n{{ messages[0].content|wordwrap(10) }}",
                "chat template line 2: the `wordwrap` filter",
            ),
            (
                "{{ 'a'|center(9) }}",
                "chat template line 1: the `center` filter",
            ),
            (
                "{% if true %}\n\n{% if messages is callable %}{% endif %}{% endif %}",
                "chat template line 3: the `callable` test",
            ),
            (
                "{% set c = cycler('a', 'b') %}{{ c.next() }}",
                "chat template line 1: the global `cycler()`",
            ),
            (
                "{{ messages[0].role.zfill(9) }}",
                "chat template line 1: the str method `zfill()`",
            ),
            (
                "{{ messages[0].copy() }}",
                "chat template line 1: the dict method `copy()`",
            ),
        ] {
            let e = render_with_tools(src, None).unwrap_err();
            assert_eq!(e, format!("{want} {not_here}"), "{src}");
        }
        // Jinja2 as transformers configures it rejects these (no `jinja2.ext.do`, no such
        // filter, test or global), so the renderer does too.
        for src in [
            "{% do messages.append(1) %}",
            "{{ 'a b'|split }}",
            "{{ 'x' is startingwith('x') }}",
            "{{ debug() }}",
        ] {
            let e = render_with_tools(src, None).unwrap_err();
            assert!(!e.contains(not_here), "{src}: {e}");
        }
        // A method Python's str lacks is an ordinary error.
        let e = render_with_tools("{{ messages[0].role.nosuch() }}", None).unwrap_err();
        assert!(e.contains("unknown method"), "{e}");
    }

    /// Issue #19: `format` and `%` on strings print as Python's `str % args` does inside
    /// transformers: the cases of `tests/data/templates/format_cases.json`, rendered by
    /// transformers' `render_jinja_template` (`scripts/reference/gen_format_cases.py`).
    #[test]
    fn python_formatting_renders_as_transformers_does() {
        let data: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../tests/data/templates/format_cases.json"
        ))
        .unwrap();
        let tools = data["tools"].as_str().unwrap();
        let cases = data["cases"].as_array().unwrap();
        assert!(cases.len() >= 20, "{}", cases.len());
        let mut fails = Vec::new();
        for case in cases {
            let src = case["template"].as_str().unwrap();
            let got = render_with_tools(src, Some(tools));
            match (&got, case["output"].as_str()) {
                (Ok(g), Some(w)) if g == w => {}
                (Err(_), None) => {}
                _ => fails.push(format!(
                    "{src}\n  transformers: {}\n  prefix-warden: {got:?}",
                    case
                )),
            }
        }
        assert!(fails.is_empty(), "{}", fails.join("\n"));
    }

    #[test]
    fn an_endless_template_runs_out_of_fuel() {
        let t = ChatTemplate::new(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                .into(),
            None,
            None,
        )
        .unwrap();
        let e = t.render(&conv("x"), at()).unwrap_err();
        assert!(e.contains("fuel"), "{e}");
    }

    #[test]
    fn syntax_errors_are_reported_at_load_with_their_line() {
        let e = ChatTemplate::new("ok\n{% if %}".into(), None, None).unwrap_err();
        assert!(e.starts_with("chat template line 2: syntax error"), "{e}");
    }

    #[test]
    fn tokenizer_config_json_gives_template_and_tokens() {
        let t = ChatTemplate::from_bytes(
            "tokenizer_config.json",
            br#"{"bos_token": {"content": "<s>"}, "eos_token": "</s>", "chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"}]}"#,
        )
        .unwrap();
        assert_eq!(t.render(&conv("S"), at()).unwrap(), "<s>S</s>");
    }
}
