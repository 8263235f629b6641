//! JSON as Python's `json.dumps` writes it, which is what Hugging Face's `tojson` filter is
//! (`transformers` replaces Jinja's own filter, which HTML-escapes `<>&'`): keys in insertion
//! order, `ensure_ascii=False` by default, `", "` / `": "` separators (`","` with an indent),
//! floats as Python prints them. And the reverse: a JSON document read into template values
//! with its key order kept (a tools file is rendered in the order its author wrote it).

use indexmap::IndexMap;
use minijinja::value::{Value, ValueKind};

/// A template map with its keys in insertion order.
pub fn ordered_map<'a>(items: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::from_object(
        items
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<IndexMap<Value, Value>>(),
    )
}

/// The keyword arguments of `json.dumps` that templates use.
pub struct DumpOptions {
    pub indent: Option<String>,
    pub ensure_ascii: bool,
    pub item_sep: String,
    pub key_sep: String,
    pub sort_keys: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        Self {
            indent: None,
            ensure_ascii: false,
            item_sep: ", ".into(),
            key_sep: ": ".into(),
            sort_keys: false,
        }
    }
}

/// Most nesting a value may have, as Python's recursion limit bounds `json.dumps`.
const MAX_DEPTH: usize = 128;

pub fn dumps(v: &Value, o: &DumpOptions) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, v, o, 0)?;
    Ok(out)
}

fn newline(out: &mut String, o: &DumpOptions, depth: usize) {
    if let Some(ind) = &o.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write_value(out: &mut String, v: &Value, o: &DumpOptions, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("tojson: value nested too deeply".into());
    }
    match v.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Undefined => return Err("tojson: value is undefined".into()),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                out.push_str(&v.to_string());
            } else {
                let f = f64::try_from(v.clone()).map_err(|e| e.to_string())?;
                out.push_str(&python_float(f));
            }
        }
        ValueKind::String => write_str(out, v.as_str().unwrap_or_default(), o.ensure_ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter().map_err(|e| e.to_string())?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                newline(out, o, depth + 1);
                write_value(out, item, o, depth + 1)?;
            }
            newline(out, o, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter().map_err(|e| e.to_string())?.collect();
            if o.sort_keys {
                keys.sort();
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                newline(out, o, depth + 1);
                match k.kind() {
                    ValueKind::String => {
                        write_str(out, k.as_str().unwrap_or_default(), o.ensure_ascii)
                    }
                    ValueKind::None => out.push_str("\"null\""),
                    ValueKind::Bool | ValueKind::Number => {
                        let mut s = String::new();
                        write_value(&mut s, k, o, depth + 1)?;
                        write_str(out, &s, o.ensure_ascii);
                    }
                    _ => return Err("tojson: keys must be str, int, float, bool or None".into()),
                }
                out.push_str(&o.key_sep);
                let item = v.get_item(k).map_err(|e| e.to_string())?;
                write_value(out, &item, o, depth + 1)?;
            }
            newline(out, o, depth);
            out.push('}');
        }
        other => return Err(format!("tojson: a {other} is not JSON serializable")),
    }
    Ok(())
}

/// `repr(float)` for the finite values JSON has; `NaN` and `Infinity` as Python writes them.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Python's repr (shortest digits, ties to even; exponent form below 1e-4 and from 1e16
    // on): the same function `~` and `{{ }}` print floats with.
    minijinja::value::python_float_repr(f)
}

fn write_str(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses JSON into template values, objects keeping their key order.
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Seed.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct Seed;

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Visitor)
    }
}

struct Visitor;

impl<'de> serde::de::Visitor<'de> for Visitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::from(()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = a.next_element_seed(Seed)? {
            items.push(v);
        }
        Ok(Value::from(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        // Python's json keeps the last of duplicate keys, at the first one's position, as an
        // IndexMap insert does.
        let mut items: IndexMap<Value, Value> = IndexMap::new();
        while let Some(k) = a.next_key::<String>()? {
            let v = a.next_value_seed(Seed)?;
            items.insert(Value::from(k), v);
        }
        Ok(Value::from_object(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_python_json_dumps_writes() {
        let v = parse(r#"{"b": 1, "a": [1.5, 1e20, 0.0001, 1e-5, "<é>\n\u0001"], "c": {}, "d": null, "e": true, "f": 1.0}"#).unwrap();
        assert_eq!(
            dumps(&v, &DumpOptions::default()).unwrap(),
            r#"{"b": 1, "a": [1.5, 1e+20, 0.0001, 1e-05, "<é>\n\u0001"], "c": {}, "d": null, "e": true, "f": 1.0}"#
        );
        let o = DumpOptions {
            indent: Some("  ".into()),
            item_sep: ",".into(),
            ensure_ascii: true,
            ..Default::default()
        };
        assert_eq!(
            dumps(&parse(r#"{"k": ["é😀", []]}"#).unwrap(), &o).unwrap(),
            "{\n  \"k\": [\n    \"\\u00e9\\ud83d\\ude00\",\n    []\n  ]\n}"
        );
    }

    /// Issue #19: Python's repr picks, among the shortest digits that read back, the closest
    /// decimal with ties to even; Rust's shortest formatter rounded a tie up. Expected strings
    /// are Python 3.11's `repr` of the same doubles.
    #[test]
    fn floats_are_python_repr_including_ties() {
        for (f, py) in [
            (650695463490133.25, "650695463490133.2"),
            (1e-06, "1e-06"),
            (1.5e16, "1.5e+16"),
            (1e16, "1e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.0001, "0.0001"),
            (1e-05, "1e-05"),
            (-0.0, "-0.0"),
            (123456.789, "123456.789"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-2.5e-7, "-2.5e-07"),
        ] {
            assert_eq!(python_float(f), py, "{f:e}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let v = parse(&deep).unwrap();
        assert!(dumps(&v, &DumpOptions::default()).is_ok());
        let mut v = Value::from(1);
        for _ in 0..200 {
            v = Value::from(vec![v]);
        }
        assert!(dumps(&v, &DumpOptions::default()).is_err());
    }
}
