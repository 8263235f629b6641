//! JSON text read into template values as Python's `json.loads` reads it, which is how
//! transformers' callers hand a request's `tools` to a chat template: integers exact at any
//! size (serde_json without `arbitrary_precision` turns an integer past 64 bits into a double,
//! so `123456789012345678901234567890` printed as `1.2345678901234568e+29`), `-0` an integer,
//! `NaN` / `Infinity` / `-Infinity` accepted, a float past the double range read as `inf`,
//! objects in source order with the last of duplicate keys at the first one's position.
//!
//! Where a template value cannot hold what Python holds, reading fails with a one-line error
//! naming the field path, never a silent difference: an integer past 128 bits (minijinja's
//! widest), a lone UTF-16 surrogate (a Rust string cannot hold one), nesting deeper than
//! [`MAX_DEPTH`]. Errors never quote the text (tools are as secret as prompts): a key in a path
//! is the only text they carry, and renderings pass them through [`crate::redact`].

use indexmap::IndexMap;
use minijinja::value::Value;

/// Most nesting read (serde_json's limit, which this replaces; Python's is its recursion
/// limit, about 1,000).
pub const MAX_DEPTH: usize = 128;

/// Why a text could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    line: usize,
    column: usize,
    kind: LoadErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LoadErrorKind {
    /// Not JSON as Python reads it.
    Syntax(&'static str),
    /// JSON that Python reads, but that no template value can hold as Python holds it.
    Unsupported { path: String, what: String },
}

impl LoadError {
    /// Line of the offending character, from 1.
    pub fn line(&self) -> usize {
        self.line
    }
    /// Column (in characters) of the offending character, from 1.
    pub fn column(&self) -> usize {
        self.column
    }
    /// Whether Python reads the text (and transformers would render it): the renderer cannot
    /// hold a value as Python does, rather than the text not being JSON.
    pub fn is_unsupported(&self) -> bool {
        matches!(self.kind, LoadErrorKind::Unsupported { .. })
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            LoadErrorKind::Syntax(m) => {
                write!(f, "{m} at line {} column {}", self.line, self.column)
            }
            LoadErrorKind::Unsupported { path, what } => write!(
                f,
                "{path} (line {}, column {}): {what} is not supported by prefix-warden's renderer (transformers would accept it)",
                self.line, self.column
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// One step of the path to the value being read.
enum Step {
    Index(usize),
    Key(String),
}

/// `$[0].function.parameters["a key"]`: keys that are identifiers after a dot, others quoted.
fn path_text(path: &[Step]) -> String {
    let mut s = String::from("$");
    for step in path {
        match step {
            Step::Index(i) => s.push_str(&format!("[{i}]")),
            Step::Key(k)
                if !k.is_empty()
                    && !k.starts_with(|c: char| c.is_ascii_digit())
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                s.push('.');
                s.push_str(k);
            }
            Step::Key(k) => {
                s.push('[');
                s.push_str(&serde_json::to_string(k).unwrap_or_default());
                s.push(']');
            }
        }
    }
    s
}

/// Reads `text` as `json.loads` does.
pub fn loads(text: &str) -> Result<Value, LoadError> {
    let mut r = Reader {
        text,
        pos: 0,
        path: Vec::new(),
    };
    r.ws();
    let v = r.value()?;
    r.ws();
    if r.pos < text.len() {
        return Err(r.syntax("extra data after the value"));
    }
    Ok(v)
}

struct Reader<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    /// Where the value being read sits, for an unsupported value's error.
    path: Vec<Step>,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn error_at(&self, pos: usize, kind: LoadErrorKind) -> LoadError {
        let before = &self.text[..pos.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        LoadError {
            line,
            column: before[line_start..].chars().count() + 1,
            kind,
        }
    }

    fn syntax(&self, m: &'static str) -> LoadError {
        self.error_at(self.pos, LoadErrorKind::Syntax(m))
    }

    fn unsupported(&self, pos: usize, what: String) -> LoadError {
        self.error_at(
            pos,
            LoadErrorKind::Unsupported {
                path: path_text(&self.path),
                what,
            },
        )
    }

    /// JSON whitespace, as Python's scanner skips it.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, LoadError> {
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Value::from),
            Some(b'-' | b'0'..=b'9') => {
                if self.eat("-Infinity") {
                    Ok(Value::from(f64::NEG_INFINITY))
                } else {
                    self.number()
                }
            }
            _ if self.eat("null") => Ok(Value::from(())),
            _ if self.eat("true") => Ok(Value::from(true)),
            _ if self.eat("false") => Ok(Value::from(false)),
            _ if self.eat("NaN") => Ok(Value::from(f64::NAN)),
            _ if self.eat("Infinity") => Ok(Value::from(f64::INFINITY)),
            _ => Err(self.syntax("expected a value")),
        }
    }

    fn nested(
        &mut self,
        read: fn(&mut Self) -> Result<Value, LoadError>,
    ) -> Result<Value, LoadError> {
        if self.path.len() >= MAX_DEPTH {
            let what = format!("nesting deeper than {MAX_DEPTH} levels");
            return Err(self.unsupported(self.pos, what));
        }
        read(self)
    }

    fn array(&mut self) -> Result<Value, LoadError> {
        self.pos += 1;
        self.ws();
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::from(items));
        }
        loop {
            self.path.push(Step::Index(items.len()));
            let v = self.value()?;
            self.path.pop();
            items.push(v);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::from(items));
                }
                _ => return Err(self.syntax("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self) -> Result<Value, LoadError> {
        self.pos += 1;
        self.ws();
        let mut items: IndexMap<Value, Value> = IndexMap::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::from_object(items));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a key in double quotes"));
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected `:`"));
            }
            self.pos += 1;
            self.ws();
            self.path.push(Step::Key(key));
            let v = self.value()?;
            let Some(Step::Key(key)) = self.path.pop() else {
                unreachable!("the step pushed above")
            };
            // Python's dict keeps the last value of a duplicate key at the first one's
            // position, as an IndexMap insert does.
            items.insert(Value::from(key), v);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::from_object(items));
                }
                _ => return Err(self.syntax("expected `,` or `}`")),
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, Python's number pattern: an integer
    /// when it has neither fraction nor exponent (exact), otherwise `float(text)`.
    fn number(&mut self) -> Result<Value, LoadError> {
        let start = self.pos;
        let b = self.text.as_bytes();
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = start;
        if b[i] == b'-' {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(i),
            _ => {
                self.pos = i;
                return Err(self.syntax("expected a digit"));
            }
        }
        let mut float = false;
        if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i = digits(i + 1);
            float = true;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if b.get(j).is_some_and(u8::is_ascii_digit) {
                i = digits(j);
                float = true;
            }
        }
        self.pos = i;
        let text = &self.text[start..i];
        if float {
            // Correctly rounded, as Python's `float()`; past the double range it is `inf`.
            return Ok(Value::from(text.parse::<f64>().expect("a float literal")));
        }
        if let Ok(n) = text.parse::<i64>() {
            Ok(Value::from(n))
        } else if let Ok(n) = text.parse::<u64>() {
            Ok(Value::from(n))
        } else if let Ok(n) = text.parse::<i128>() {
            Ok(Value::from(n))
        } else if let Ok(n) = text.parse::<u128>() {
            Ok(Value::from(n))
        } else {
            let n = text.trim_start_matches('-').len();
            Err(self.unsupported(start, format!("an integer of {n} digits (past 128 bits)")))
        }
    }

    /// A string literal; the reader is at its opening quote.
    fn string(&mut self) -> Result<String, LoadError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let plain = rest
                .find(|c: char| c == '"' || c == '\\' || c < '\u{20}')
                .unwrap_or(rest.len());
            out.push_str(&rest[..plain]);
            self.pos += plain;
            match self.peek() {
                None => return Err(self.syntax("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let at = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos -= 1;
                            out.push(self.unicode_escape(at)?);
                            continue;
                        }
                        _ => return Err(self.syntax("invalid escape")),
                    };
                    self.pos += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.syntax("control character in a string")),
            }
        }
    }

    /// `\uXXXX`, or a surrogate pair of two; the reader is at the backslash.
    fn unicode_escape(&mut self, at: usize) -> Result<char, LoadError> {
        let hi = self.hex4()?;
        if !(0xd800..0xe000).contains(&hi) {
            return Ok(char::from_u32(hi).expect("not a surrogate"));
        }
        if hi < 0xdc00 && self.text[self.pos..].starts_with("\\u") {
            let back = self.pos;
            let lo = self.hex4()?;
            if (0xdc00..0xe000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                return Ok(char::from_u32(c).expect("a supplementary code point"));
            }
            self.pos = back;
        }
        Err(self.unsupported(at, "a lone UTF-16 surrogate".into()))
    }

    /// `\uXXXX` at the reader: the code unit.
    fn hex4(&mut self) -> Result<u32, LoadError> {
        let digits = self.text.get(self.pos + 2..self.pos + 6);
        match digits
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok())
        {
            Some(u) => {
                self.pos += 6;
                Ok(u)
            }
            None => {
                self.pos += 1;
                Err(self.syntax("invalid \\u escape"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        let v = loads(text).unwrap();
        format!("{v}")
    }

    /// Python 3.11: `str(json.loads(text))` for each text.
    #[test]
    fn reads_what_python_reads_as_python_holds_it() {
        for (text, py) in [
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            (
                "-123456789012345678901234567890",
                "-123456789012345678901234567890",
            ),
            ("18446744073709551616", "18446744073709551616"),
            ("-9223372036854775809", "-9223372036854775809"),
            // 2^128 - 1 and -2^127: the widest integers a template value holds.
            (
                "340282366920938463463374607431768211455",
                "340282366920938463463374607431768211455",
            ),
            (
                "-170141183460469231731687303715884105728",
                "-170141183460469231731687303715884105728",
            ),
            ("-0", "0"),
            ("-0.0", "-0.0"),
            ("1E400", "inf"),
            ("-1e400", "-inf"),
            ("NaN", "nan"),
            ("[Infinity, -Infinity]", "[inf, -inf]"),
            ("1e-06", "1e-06"),
            (" {\"b\": 1, \"a\": 2, \"b\": 3}\r\n", "{'b': 3, 'a': 2}"),
            (r#""\ud83d\ude00\u00e9\/\b""#, "\u{1f600}\u{e9}/\u{8}"),
        ] {
            assert_eq!(shown(text), py, "{text}");
        }
    }

    #[test]
    fn an_integer_past_128_bits_is_an_error_naming_its_path_not_a_float() {
        let text = "[{\"function\": {\"parameters\": {\"a key\": {\"default\":\n  340282366920938463463374607431768211456}}}}]";
        let e = loads(text).unwrap_err();
        assert!(e.is_unsupported());
        assert_eq!(
            e.to_string(),
            "$[0].function.parameters[\"a key\"].default (line 2, column 3): an integer of 39 digits (past 128 bits) is not supported by prefix-warden's renderer (transformers would accept it)"
        );
        let e = loads("[1, -170141183460469231731687303715884105729]").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("$[1] (line 1, column 5): an integer of 39 digits"),
            "{e}"
        );
        assert!(
            !e.to_string().contains("1701411834"),
            "the value is not quoted: {e}"
        );
    }

    #[test]
    fn what_a_rust_string_cannot_hold_or_too_deep_is_unsupported() {
        let e = loads(r#"{"k": "a\ud800b"}"#).unwrap_err();
        assert!(e.is_unsupported());
        assert!(
            e.to_string()
                .starts_with("$.k (line 1, column 9): a lone UTF-16 surrogate"),
            "{e}"
        );
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(loads(&deep).is_ok());
        let deeper = format!("[{deep}]");
        let e = loads(&deeper).unwrap_err();
        assert!(
            e.to_string().contains("nesting deeper than 128 levels"),
            "{e}"
        );
    }

    /// Texts Python's `json.loads` rejects are rejected, with the place.
    #[test]
    fn not_json_is_a_syntax_error_with_line_and_column() {
        for (text, line, column) in [
            ("", 1, 1),
            ("[1,]", 1, 4),
            ("{\"a\" 1}", 1, 6),
            ("[\n  01]", 2, 4),
            ("1.", 1, 2),
            ("-", 1, 2),
            ("\"a\tb\"", 1, 3),
            ("\"abc", 1, 5),
            ("[1] x", 1, 5),
            ("{'a': 1}", 1, 2),
            ("\"\\x41\"", 1, 3),
            ("\"\\u12G4\"", 1, 3),
            ("\u{feff}[]", 1, 1),
            ("nul", 1, 1),
        ] {
            let e = loads(text).unwrap_err();
            assert!(!e.is_unsupported(), "{text:?}: {e}");
            assert_eq!((e.line(), e.column()), (line, column), "{text:?}: {e}");
        }
    }
}
