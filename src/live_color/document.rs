//! The JSON document of the `file` and `http` backends and the color entries it (and etcd)
//! holds: parsing, field paths, target and color checks.

use super::*;

/// Picks the live color out of a whole document (`file` and `http`).
pub fn pick_from_document(
    src: &str,
    bytes: &[u8],
    color_path: &str,
    colors_path: &str,
) -> Result<LiveColor, LookupError> {
    let doc = parse_json(src, bytes)?;
    let color = match at_path(&doc, color_path) {
        None | Some(Value::Null) => {
            return Err(LookupError::Malformed(format!(
                "{src}: no `{color_path}` field"
            )))
        }
        Some(Value::String(s)) => check_color(src, color_path, s)?,
        Some(_) => {
            return Err(LookupError::Malformed(format!(
                "{src}: `{color_path}` is not a string"
            )))
        }
    };
    let colors = match at_path(&doc, colors_path) {
        Some(Value::Object(m)) => m,
        _ => {
            return Err(LookupError::Malformed(format!(
                "{src}: no `{colors_path}` object"
            )))
        }
    };
    let Some(entry) = colors.get(&color) else {
        return Err(LookupError::UnknownColor(color));
    };
    let (targets, prompts) = parse_entry(src, &format!("{colors_path}.{color}"), entry)?;
    let reason = format!("{src}: {color_path}={color}");
    live(color, targets, prompts, reason)
}

/// The answer, once the color has targets; `reason` gets the target count appended.
pub(super) fn live(
    color: String,
    targets: Vec<String>,
    prompts: Option<Vec<String>>,
    reason: String,
) -> Result<LiveColor, LookupError> {
    if targets.is_empty() {
        return Err(LookupError::NoTargets(color));
    }
    let reason = format!("{reason} ({})", count(targets.len(), "target"));
    Ok(LiveColor {
        color,
        targets,
        prompts,
        reason,
    })
}

pub(super) fn parse_json(src: &str, bytes: &[u8]) -> Result<Value, LookupError> {
    if bytes.len() > MAX_DOC_BYTES {
        return Err(LookupError::Malformed(format!(
            "{src}: larger than {MAX_DOC_BYTES} bytes"
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| LookupError::Malformed(format!("{src}: not json: {e}")))
}

/// The value at a dot-separated path of object fields.
pub(super) fn at_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, key| v.get(key))
}

/// A color entry: its targets (checked, deduplicated; may be empty) and prompts.
pub(super) type Entry = (Vec<String>, Option<Vec<String>>);

pub(super) fn parse_entry(src: &str, at: &str, entry: &Value) -> Result<Entry, LookupError> {
    let malformed = |m: String| LookupError::Malformed(format!("{src}: {at}{m}"));
    if !entry.is_object() {
        return Err(malformed(": not an object".into()));
    }
    let targets = match entry.get("targets") {
        None => return Err(malformed(": no `targets` list".into())),
        Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.as_slice().iter().collect(),
        Some(_) => return Err(malformed(".targets: not a list".into())),
    };
    let mut out: Vec<String> = Vec::with_capacity(targets.len());
    for (i, t) in targets.into_iter().enumerate() {
        let Some(t) = t.as_str() else {
            return Err(malformed(format!(".targets[{i}]: not a string")));
        };
        let t = check_target(t).map_err(|m| malformed(format!(".targets[{i}]: {m}")))?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    let prompts = match entry.get("prompts") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .enumerate()
                .map(|(i, p)| match p.as_str() {
                    Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
                    _ => Err(malformed(format!(".prompts[{i}]: not a prompt id"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(malformed(".prompts: not a list".into())),
    };
    Ok((out, prompts))
}

/// A target base URL: http(s), with a host, without credentials; trailing slashes dropped.
pub(super) fn check_target(t: &str) -> Result<String, String> {
    let t = t.trim();
    let shown = || t.chars().take(100).collect::<String>();
    let url = reqwest::Url::parse(t).map_err(|_| format!("`{}` is not a url", shown()))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: it carries credentials.
        return Err("a target must not carry credentials".into());
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{}` is not an http(s) url", shown()));
    }
    Ok(t.trim_end_matches('/').to_string())
}

/// A color name: 1 to 63 of `[A-Za-z0-9_-]`, so it fits a DNS label, an etcd key and a label.
pub(super) fn check_color(src: &str, field: &str, color: &str) -> Result<String, LookupError> {
    let c = color.trim();
    if c.is_empty() {
        return Err(LookupError::Malformed(format!("{src}: `{field}` is empty")));
    }
    if c.len() > 63
        || !c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let shown: String = c.chars().take(64).collect();
        return Err(LookupError::Malformed(format!(
            "{src}: `{field}` = `{}` is not a color name (1 to 63 letters, digits, - or _)",
            shown.escape_default()
        )));
    }
    Ok(c.to_string())
}

pub(super) fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
