//! The Jinja environment Hugging Face `transformers` renders chat templates in, rebuilt on
//! `minijinja`: `trim_blocks` and `lstrip_blocks`, no autoescaping, `{% break %}` and
//! `{% continue %}`, Python's `str`/`dict`/`list` methods (`minijinja-contrib`'s pycompat),
//! `raise_exception`, `strftime_now` on an injected clock, `tojson` as `json.dumps`, and `format`
//! and `%` on strings as Python's printf-style formatting ([`super::pyformat`]).
//!
//! The environment holds no clock: it is compiled once per template ([`environment`]) and
//! `strftime_now` is a context value of each rendering ([`clock`]), so one compiled template
//! renders at any time.
//!
//! Bounded: templates run on fuel, so a template that loops forever, builds a huge string, or
//! renders a huge tools file ends in an error rather than a hang or an out-of-memory abort.
//! minijinja charges one unit per instruction and one per 64 bytes of every value an operation
//! creates (checked before a repeat or concatenation allocates) and of the output; [`FUEL`]
//! therefore bounds both the steps and the bytes one rendering may create.

use chrono::{DateTime, Utc};
use minijinja::value::{Kwargs, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind};

use super::{pyformat, pyjson, unsupported};

/// One rendering's budget: 2,000,000 instructions, or 128 MiB of values and output created
/// (64 bytes a unit), whichever runs out first. The largest real rendering (an 8 MiB prompt,
/// the most a prompt may hold, with tools) needs about a tenth of it. It was 20,000,000: a
/// template could create 1.3 GB before running out (issue #18).
const FUEL: u64 = 2_000_000;

/// An environment holding one template, `chat_template`, compiled. A rendering passes the
/// time through its context (`strftime_now`, [`clock`]).
pub fn environment(source: &str) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .expect("the default delimiters"),
    );
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
        Err(Error::new(ErrorKind::InvalidOperation, msg))
    });
    env.add_filter("tojson", tojson);
    // Jinja2's `format` and `%` on a string are Python's `str % args` (minijinja's `format`
    // ignores surplus arguments and has no string `%`).
    env.add_filter("format", pyformat::format_filter);
    env.set_string_rem_callback(|_, lhs, rhs| pyformat::rem(lhs, rhs));
    env.add_test("iterable", is_iterable);
    // What Jinja2 lacks fails here as in transformers (`No filter named 'split'`).
    for f in unsupported::MINIJINJA_ONLY_FILTERS {
        env.remove_filter(f);
    }
    for t in unsupported::MINIJINJA_ONLY_TESTS {
        env.remove_test(t);
    }
    for g in unsupported::MINIJINJA_ONLY_GLOBALS {
        env.remove_global(g);
    }
    env.add_template_owned("chat_template", python_string_continuations(source))?;
    Ok(env)
}

/// `strftime_now` reading `now`: the context value a rendering at `now` passes (a context
/// variable shadows nothing the environment defines; the environment has no clock).
pub fn clock(now: DateTime<Utc>) -> Value {
    Value::from_function(move |fmt: String| -> Result<String, Error> { strftime(now, &fmt) })
}

/// Python's `strftime`, for the codes chat templates use (chrono's are the same letters).
/// `%f` is Python's: microseconds, six digits (a `datetime` has no finer part); chrono's `%f`
/// is nine digits of nanoseconds, so it is written `%6f` here.
fn strftime(now: DateTime<Utc>, fmt: &str) -> Result<String, Error> {
    use std::fmt::Write;
    let mut python = String::with_capacity(fmt.len());
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        python.push(c);
        if c == '%' {
            match chars.next() {
                Some('f') => python.push_str("6f"),
                Some(n) => python.push(n),
                None => {}
            }
        }
    }
    let items: Vec<_> = chrono::format::StrftimeItems::new(&python).collect();
    if items
        .iter()
        .any(|i| matches!(i, chrono::format::Item::Error))
    {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now: unsupported format `{fmt}`"),
        ));
    }
    let mut s = String::new();
    write!(s, "{}", now.format_with_items(items.into_iter()))
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, "strftime_now: cannot format"))?;
    Ok(s)
}

/// Jinja's `is iterable`: strings, sequences, mappings and undefined (Jinja's `Undefined`
/// iterates as empty), not `none`, numbers or booleans.
fn is_iterable(v: Value) -> bool {
    use minijinja::value::ValueKind as K;
    match v.kind() {
        K::None | K::Bool | K::Number => false,
        K::Undefined => true,
        _ => v.try_iter().is_ok(),
    }
}

/// `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
fn tojson(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let mut o = pyjson::DumpOptions::default();
    if let Some(ind) = kwargs.get::<Option<Value>>("indent")? {
        o.indent = if let Some(n) = ind.as_i64() {
            Some(" ".repeat(n.clamp(0, 64) as usize))
        } else {
            ind.as_str().map(str::to_string)
        };
        if o.indent.is_some() {
            o.item_sep = ",".into();
        }
    }
    if let Some(a) = kwargs.get::<Option<bool>>("ensure_ascii")? {
        o.ensure_ascii = a;
    }
    if let Some(seps) = kwargs.get::<Option<Vec<String>>>("separators")? {
        if let [item, key] = &seps[..] {
            o.item_sep = item.clone();
            o.key_sep = key.clone();
        } else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be a pair",
            ));
        }
    }
    if let Some(s) = kwargs.get::<Option<bool>>("sort_keys")? {
        o.sort_keys = s;
    }
    kwargs.assert_all_used()?;
    pyjson::dumps(&v, &o)
        .map(Value::from_safe_string)
        .map_err(|m| Error::new(ErrorKind::InvalidOperation, m))
}

/// Jinja string literals are unescaped like Python's: a backslash before a newline continues
/// the literal on the next line (Mistral Small 3.1 writes `"\\<newline>\\<newline>"` for an
/// empty string). minijinja keeps both characters, so they are removed here, inside string
/// literals inside tags only.
fn python_string_continuations(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut in_tag = false;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match (in_tag, quote) {
            (false, _) => {
                if c == b'{' && matches!(b.get(i + 1), Some(b'{' | b'%')) {
                    in_tag = true;
                    out.extend_from_slice(&b[i..i + 2]);
                    i += 2;
                    continue;
                }
            }
            (true, None) => {
                if matches!(c, b'"' | b'\'') {
                    quote = Some(c);
                } else if matches!(c, b'}' | b'%') && b.get(i + 1) == Some(&b'}') {
                    in_tag = false;
                    out.extend_from_slice(&b[i..i + 2]);
                    i += 2;
                    continue;
                }
            }
            (true, Some(q)) => {
                if c == b'\\' {
                    if b.get(i + 1) == Some(&b'\n') {
                        i += 2;
                        continue;
                    }
                    out.extend_from_slice(&b[i..(i + 2).min(b.len())]);
                    i += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    // Only ASCII bytes were removed, at ASCII positions: still UTF-8.
    String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's `%f` is six digits of microseconds; `%%f` is a literal.
    #[test]
    fn percent_f_is_microseconds_as_in_python() {
        let t: DateTime<Utc> = "2027-02-03T04:05:06.123456789Z".parse().unwrap();
        assert_eq!(strftime(t, "%S.%f|%%f|%H").unwrap(), "06.123456|%f|04");
        let whole: DateTime<Utc> = "2027-02-03T04:05:06Z".parse().unwrap();
        assert_eq!(strftime(whole, "%f").unwrap(), "000000");
    }

    #[test]
    fn backslash_newline_continues_a_string_literal_inside_tags_only() {
        let src = "a\\\nb{{ 'x\\\ny' + \"p\\\n\\\nq\" + 'it\\'s' }}c\\\n";
        assert_eq!(
            python_string_continuations(src),
            "a\\\nb{{ 'xy' + \"pq\" + 'it\\'s' }}c\\\n"
        );
    }
}
