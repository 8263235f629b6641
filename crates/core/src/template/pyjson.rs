//! JSON as Python's `json.dumps` writes it, which is what Hugging Face's `tojson` filter is
//! (`transformers` replaces Jinja's own filter, which HTML-escapes `<>&'`): keys in insertion
//! order, `ensure_ascii=False` by default, `", "` / `": "` separators (`","` with an indent),
//! floats as Python prints them. And the reverse ([`parse`]): a JSON document read into
//! template values as `json.loads` reads it, key order kept (a tools file is rendered in the
//! order its author wrote it), integers exact.

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

/// Parses JSON into template values as Python's `json.loads` does (see [`super::json_loads`]):
/// objects keeping their key order, integers exact.
pub fn parse(text: &str) -> Result<Value, super::json_loads::LoadError> {
    super::json_loads::loads(text)
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
    // The tie cases are written with every digit of the exact double on purpose.
    #[allow(clippy::excessive_precision)]
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

    /// Generated tool-schema-like JSON (issue #19): what a tools file can hold, written in
    /// every notation a client may use, read by [`parse`] and printed by [`dumps`].
    mod round_trips {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum J {
            Null,
            Bool(bool),
            /// Any integer a template value holds (past 2^53, where a double loses digits, and
            /// past 64 bits, where serde_json makes it a double).
            Int(i128),
            /// A finite double and the notation its source text uses (see [`float_text`]).
            Float(f64, u8),
            Str(String),
            Arr(Vec<J>),
            /// Keys in source order; duplicates possible (Python keeps the last value at the
            /// first one's position).
            Obj(Vec<(String, J)>),
        }

        /// One finite double in one of six notations, all of which read back as that double:
        /// shortest (`1e-7`, `1.0`), `e`, `E`, 17 significant digits, plain decimal (no
        /// exponent, however long), and an explicit `e+`.
        fn float_text(f: f64, notation: u8) -> String {
            let s = match notation % 6 {
                0 => format!("{f:?}"),
                1 => format!("{f:e}"),
                2 => format!("{f:E}"),
                3 => format!("{f:.16e}"),
                4 => format!("{f}"),
                _ => {
                    let e = format!("{f:e}");
                    if e.contains("e-") {
                        e
                    } else {
                        e.replace('e', "e+")
                    }
                }
            };
            // A JSON number without `.` or an exponent is an int: keep it a float.
            if s.contains(['.', 'e', 'E']) {
                s
            } else {
                format!("{s}.0")
            }
        }

        /// Text mixing any character with the ones JSON and Python escape or treat apart.
        fn text() -> impl Strategy<Value = String> {
            let c = prop_oneof![
                any::<char>(),
                prop::sample::select(vec![
                    '\t',
                    '\u{8}',
                    '\u{c}',
                    '\r',
                    '\n',
                    '"',
                    '\\',
                    '/',
                    '\u{0}',
                    '\u{1f}',
                    '\u{7f}',
                    '\u{85}',
                    '\u{2028}',
                    '\u{feff}',
                    'e',
                    '\u{e9}',
                    '\u{1f600}',
                ]),
            ];
            prop::collection::vec(c, 0..10).prop_map(|v| v.into_iter().collect())
        }

        fn odd_key() -> impl Strategy<Value = String> {
            prop_oneof![
                3 => text(),
                1 => prop::sample::select(vec![
                    String::new(),
                    "\"".into(),
                    "\\".into(),
                    "a\nb".into(),
                    "\u{2028}\u{2029}".into(),
                    "\u{0}\u{1f}\u{7f}".into(),
                    "null".into(),
                    "1".into(),
                    "type".into(),
                    "\u{1f9d1}\u{200d}\u{1f4bb}".into(),
                    "\u{d55c}\u{ad6d}\u{c5b4}".into(),
                ]),
            ]
        }

        // The tie cases are written with every digit of the exact double on purpose.
        #[allow(clippy::excessive_precision)]
        fn float() -> impl Strategy<Value = f64> {
            prop_oneof![
                any::<f64>().prop_filter("finite", |f| f.is_finite()),
                prop::sample::select(vec![
                    0.0,
                    -0.0,
                    5e-324,
                    1e-320,
                    2.2250738585072014e-308,
                    1e-7,
                    1e-6,
                    0.0001,
                    0.1,
                    1.0,
                    100.0,
                    1e16,
                    9007199254740993.0,
                    650695463490133.25,
                    1e308,
                    f64::MAX,
                ]),
                (-330i32..309).prop_map(|e| 10f64.powi(e)),
            ]
        }

        fn int() -> impl Strategy<Value = i128> {
            prop_oneof![
                any::<i64>().prop_map(i128::from),
                any::<u64>().prop_map(i128::from),
                // Past 64 bits: Python keeps them exact, and so must the reader.
                any::<i128>(),
                (-5i128..5).prop_map(|d| (1i128 << 53) + d),
                prop::sample::select(vec![
                    i128::from(i64::MIN),
                    i128::from(i64::MAX),
                    i128::from(u64::MAX),
                    0,
                ]),
            ]
        }

        fn json() -> impl Strategy<Value = J> {
            let leaf = prop_oneof![
                Just(J::Null),
                any::<bool>().prop_map(J::Bool),
                int().prop_map(J::Int),
                (float(), any::<u8>()).prop_map(|(f, n)| J::Float(f, n)),
                odd_key().prop_map(J::Str),
            ];
            leaf.prop_recursive(5, 64, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
                    prop::collection::vec((odd_key(), inner), 0..6).prop_map(J::Obj),
                ]
            })
        }

        /// The source text: compact or spaced, strings escaped as serde_json escapes them.
        fn source(j: &J, spaced: bool, out: &mut String) {
            let (item, key) = if spaced { (" , ", " : ") } else { (",", ":") };
            match j {
                J::Null => out.push_str("null"),
                J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                J::Int(i) => out.push_str(&i.to_string()),
                J::Float(f, n) => out.push_str(&float_text(*f, *n)),
                J::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
                J::Arr(a) => {
                    out.push('[');
                    for (i, x) in a.iter().enumerate() {
                        if i > 0 {
                            out.push_str(item);
                        }
                        source(x, spaced, out);
                    }
                    out.push(']');
                }
                J::Obj(o) => {
                    out.push('{');
                    for (i, (k, x)) in o.iter().enumerate() {
                        if i > 0 {
                            out.push_str(item);
                        }
                        out.push_str(&serde_json::to_string(k).unwrap());
                        out.push_str(key);
                        source(x, spaced, out);
                    }
                    out.push('}');
                }
            }
        }

        /// What Python's `json.dumps(json.loads(source))` writes, written independently:
        /// ints exact, floats as `repr`, strings escaped as `json.dumps(ensure_ascii=False)`
        /// does (`"`, `\`, the C0 controls; nothing else), duplicate keys as a dict keeps
        /// them.
        fn python(j: &J, out: &mut String) {
            match j {
                J::Null => out.push_str("null"),
                J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                J::Int(i) => out.push_str(&i.to_string()),
                J::Float(f, _) => out.push_str(&python_float(*f)),
                J::Str(s) => python_str(s, out),
                J::Arr(a) => {
                    out.push('[');
                    for (i, x) in a.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        python(x, out);
                    }
                    out.push(']');
                }
                J::Obj(o) => {
                    let mut dict: Vec<(&String, &J)> = Vec::new();
                    for (k, x) in o {
                        match dict.iter_mut().find(|(dk, _)| *dk == k) {
                            Some(slot) => slot.1 = x,
                            None => dict.push((k, x)),
                        }
                    }
                    out.push('{');
                    for (i, (k, x)) in dict.into_iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        python_str(k, out);
                        out.push_str(": ");
                        python(x, out);
                    }
                    out.push('}');
                }
            }
        }

        fn python_str(s: &str, out: &mut String) {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out.push('"');
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            /// Read in any notation, printed as Python prints what `json.loads` read: the same
            /// doubles (correctly rounded), the same ints (exact past 2^53), keys in order.
            #[test]
            fn printed_as_python_prints_it_whatever_the_notation(j in json(), spaced in any::<bool>()) {
                let mut src = String::new();
                source(&j, spaced, &mut src);
                let mut want = String::new();
                python(&j, &mut want);
                let v = parse(&src).unwrap();
                let got = dumps(&v, &DumpOptions::default()).unwrap();
                prop_assert_eq!(&got, &want, "source {}", src);
                // Printing is a fixed point: what was printed reads back to the same text.
                let again = dumps(&parse(&got).unwrap(), &DumpOptions::default()).unwrap();
                prop_assert_eq!(&again, &want);
                // ensure_ascii writes ASCII only, and reads back to the same values.
                let o = DumpOptions { ensure_ascii: true, ..Default::default() };
                let ascii = dumps(&v, &o).unwrap();
                prop_assert!(ascii.is_ascii(), "{}", ascii);
                let back = dumps(&parse(&ascii).unwrap(), &DumpOptions::default()).unwrap();
                prop_assert_eq!(&back, &want);
            }

            /// A float stays a float and keeps its value: `repr` always has `.` or `e`, and
            /// reads back as the same double (bit for bit, -0.0 included).
            #[test]
            fn a_float_reads_back_as_the_same_double(f in float(), n in any::<u8>()) {
                let printed = dumps(&parse(&float_text(f, n)).unwrap(), &DumpOptions::default()).unwrap();
                prop_assert!(printed.contains(['.', 'e']), "{}", printed);
                prop_assert_eq!(printed.parse::<f64>().unwrap().to_bits(), f.to_bits(), "{}", printed);
            }
        }
    }
}
