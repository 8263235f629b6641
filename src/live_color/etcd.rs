//! The `etcd` backend: one key holds the color, another the color entry, read through the v3
//! JSON gateway (`POST /v3/kv/range`).

use super::*;

/// The value of one etcd key through the v3 JSON gateway, `None` when the key does not exist.
pub(super) async fn etcd_get(
    client: &reqwest::Client,
    endpoint: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, LookupError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let src = format!("etcd {} key {key}", redact_url(endpoint));
    let body = serde_json::json!({ "key": b64.encode(key) });
    let req = client.post(format!("{endpoint}/v3/kv/range")).json(&body);
    let bytes = http_body(&src, req).await?;
    range_answer(&src, &bytes)
}

/// The value in a `/v3/kv/range` answer, `None` when the key does not exist.
pub fn range_answer(src: &str, bytes: &[u8]) -> Result<Option<Vec<u8>>, LookupError> {
    let answer: Value = serde_json::from_slice(bytes)
        .map_err(|e| LookupError::Malformed(format!("{src}: gateway answer is not json: {e}")))?;
    let Some(kv) = answer.get("kvs").and_then(|k| k.get(0)) else {
        return Ok(None);
    };
    // proto3 JSON leaves out an empty value.
    let value = kv.get("value").and_then(Value::as_str).unwrap_or("");
    let value = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| LookupError::Malformed(format!("{src}: value is not base64")))?;
    if value.len() > MAX_DOC_BYTES {
        return Err(LookupError::Malformed(format!(
            "{src}: larger than {MAX_DOC_BYTES} bytes"
        )));
    }
    Ok(Some(value))
}

pub(super) async fn resolve_etcd(
    client: &reqwest::Client,
    endpoint: &str,
    color_key: &str,
    targets_key: &str,
) -> Result<LiveColor, LookupError> {
    let shown = redact_url(endpoint);
    let src = format!("etcd {shown} key {color_key}");
    let Some(raw) = etcd_get(client, endpoint, color_key).await? else {
        return Err(LookupError::Malformed(format!(
            "etcd {shown}: key {color_key} not found"
        )));
    };
    let raw = String::from_utf8(raw)
        .map_err(|_| LookupError::Malformed(format!("{src}: value is not utf-8")))?;
    let color = check_color(&src, "value", raw.trim().trim_matches('"'))?;
    let key = targets_key.replace("{color}", &color);
    let Some(doc) = etcd_get(client, endpoint, &key).await? else {
        return Err(LookupError::UnknownColor(color));
    };
    let src = format!("etcd {shown} key {key}");
    let entry = parse_json(&src, &doc)?;
    let (targets, prompts) = parse_entry(&src, "value", &entry)?;
    let reason = format!("etcd {shown}: {color_key}={color}, {key}");
    live(color, targets, prompts, reason)
}
