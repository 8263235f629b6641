//! OpenAI's harmony format, which gpt-oss is served with (vLLM renders its chat requests with
//! `openai-harmony`): a system message with the model identity, knowledge cutoff, today's
//! date, reasoning effort and valid channels; a developer message with the instructions (the
//! prompt) and the function tools; then the user message. The defaults are the crate's
//! (`SystemContent::new()`), the date is the render clock's, as vLLM sets it.
//!
//! The output is text with the special tokens written in it (`<|start|>`, `<|message|>`,
//! `<|end|>`): [`crate::tokenizer::Tokenizer::encode_rendered_with_offsets`] matches them and
//! encodes the text between them on its own, which is exactly how the crate renders (each
//! role, header and content piece is `encode_ordinary`d apart, with formatting tokens between).
//! Ids are checked against the crate itself (its Python binding, `openai-harmony` on PyPI,
//! which wraps the same Rust code) by `scripts/reference/gen_template_ids.py`.
//!
//! Why not the crate as a dependency: 0.0.8 pulls in an HTTP client (it downloads vocabulary
//! files), an image codec, and turns on `serde_json`'s `preserve_order` for the whole build,
//! which would change how the emulator serializes tool blocks. What rendering needs is this
//! file and the vendored schema converter (`harmony_ts.rs`).

use super::harmony_ts::json_schema_to_typescript;
use super::ojson::Json;

/// Identifies this renderer's output in fingerprints and cache keys: bump when it changes.
pub const VERSION: &str = "harmony (openai-harmony 0.0.8 defaults, HarmonyGptOss)";

const MODEL_IDENTITY: &str = "You are ChatGPT, a large language model trained by OpenAI.";
const KNOWLEDGE_CUTOFF: &str = "2024-06";
const REASONING: &str = "medium";
const CHANNELS: &str =
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.";
const FUNCTIONS_CHANNEL: &str =
    "Calls to these tools must go to the commentary channel: 'functions'.";

fn message(role: &str, content: &str) -> String {
    format!("<|start|>{role}<|message|>{content}<|end|>")
}

/// The `# Tools` section for function tools given as a JSON array in the OpenAI function
/// format (`{"type": "function", "function": {name, description, parameters}}`, or the
/// flat Responses form).
fn tools_section(tools: &Json) -> Result<Option<String>, String> {
    let list = tools.as_array().ok_or("tools: expected a JSON array")?;
    if list.is_empty() {
        return Ok(None);
    }
    let mut lines = vec![
        "## functions\n".to_string(),
        "namespace functions {\n".to_string(),
    ];
    for t in list {
        let f = t.get("function").unwrap_or(t);
        let name = f
            .get("name")
            .and_then(Json::as_str)
            .ok_or("tools: a tool without a `name`")?;
        let description = f.get("description").and_then(Json::as_str).unwrap_or("");
        for line in description.lines() {
            lines.push(format!("// {line}"));
        }
        match f.get("parameters") {
            Some(p) if *p != Json::Null => lines.push(format!(
                "type {name} = (_: {}) => any;\n",
                json_schema_to_typescript(p, "")
            )),
            _ => lines.push(format!("type {name} = () => any;\n")),
        }
    }
    lines.push("} // namespace functions".to_string());
    Ok(Some(["# Tools".to_string(), lines.join("\n")].join("\n\n")))
}

/// The conversation system, developer (`instructions`, `tools`), user, as text with its
/// special tokens.
pub fn render(
    instructions: &str,
    tools: Option<&str>,
    user: &str,
    date: &str,
) -> Result<String, String> {
    let tools = match tools {
        Some(t) => tools_section(&Json::parse(t).map_err(|e| format!("tools: {e}"))?)?,
        None => None,
    };
    let mut channels = CHANNELS.to_string();
    if tools.is_some() {
        channels.push('\n');
        channels.push_str(FUNCTIONS_CHANNEL);
    }
    let system = [
        format!("{MODEL_IDENTITY}\nKnowledge cutoff: {KNOWLEDGE_CUTOFF}\nCurrent date: {date}"),
        format!("Reasoning: {REASONING}"),
        channels,
    ]
    .join("\n\n");
    let mut developer = vec!["# Instructions".to_string(), instructions.to_string()];
    developer.extend(tools);
    Ok([
        message("system", &system),
        message("developer", &developer.join("\n\n")),
        message("user", user),
    ]
    .concat())
}
