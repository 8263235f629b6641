//! Python's printf-style string formatting (`str % args`), which is what a chat template's
//! `"%s: %d" | format(a, b)` and `"%s-%s" % (a, b)` are inside transformers (Jinja2's `format`
//! filter is `soft_str(value) % (kwargs or args)`, and `%` on a string is Python's operator).
//! minijinja's own `format` filter ignores surplus arguments and prints values its own way;
//! this follows CPython's `PyUnicode_Format`: `%s` is `str()`, `%r` `repr()`, `%a` `ascii()`,
//! numbers as C's printf with Python's rules (`%d` truncates a float, `%x` refuses one, `%g`
//! strips zeros, `#`, `0`, `-`, `+`, ` ` flags, `*` width and precision), and the same errors
//! (too few or too many arguments, a mapping key on a non-mapping, a bad conversion).
//!
//! A width or precision above [`MAX_WIDTH`] is refused (Python would pad to it): a template
//! could otherwise ask for gigabytes in one conversion.

use minijinja::value::{Kwargs, Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Error, ErrorKind};

/// Largest width or precision formatted.
pub const MAX_WIDTH: usize = 10_000;

/// The right operand of `%`: a tuple's items are the arguments; anything else is one.
pub enum Args<'a> {
    Tuple(&'a [Value]),
    One(&'a Value),
}

/// The `format` filter as Jinja2 defines it: positional arguments as a tuple, or keyword
/// arguments as a mapping, never both.
pub fn format_filter(value: &Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let mut args: Vec<Value> = args.0.into_iter().map(Value::from).collect();
    let kwargs = match args.last() {
        Some(last) if last.is_kwargs() => args.pop(),
        _ => None,
    };
    let fmt = str_of(value);
    let out = match kwargs {
        Some(_) if !args.is_empty() => {
            return Err(type_error(
                "format: can't handle positional and keyword arguments at the same time",
            ))
        }
        Some(kw) => {
            let kw = Kwargs::try_from(kw)?;
            if kw.has("value") {
                // Jinja2's `do_format(value, *args, **kwargs)`.
                return Err(type_error(
                    "do_format() got multiple values for argument 'value'",
                ));
            }
            let map: indexmap::IndexMap<Value, Value> = kw
                .args()
                .map(|k| Ok((Value::from(k), kw.get::<Value>(k)?)))
                .collect::<Result<_, Error>>()?;
            percent(&fmt, Args::One(&Value::from_object(map)))?
        }
        None => percent(&fmt, Args::Tuple(&args))?,
    };
    Ok(Value::from(out))
}

/// `string % rhs` (the environment's string-`%` callback): a tuple literal spreads.
pub fn rem(lhs: &Value, rhs: &Value) -> Result<Value, Error> {
    let fmt = str_of(lhs);
    let out = match rhs.downcast_object_ref::<minijinja::value::Tuple>() {
        Some(t) => percent(&fmt, Args::Tuple(t))?,
        None => percent(&fmt, Args::One(rhs))?,
    };
    Ok(Value::from(out))
}

fn type_error(m: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, m.into())
}

/// Python's `str()` of a template value (an undefined value is `''`, as Jinja2's).
fn str_of(v: &Value) -> String {
    v.to_string()
}

/// Python's `repr()` of a template value.
fn repr_of(v: &Value) -> String {
    if v.is_undefined() {
        "Undefined".into()
    } else {
        format!("{v:?}")
    }
}

/// Python's `ascii()`: `repr()` with what is not ASCII escaped.
fn ascii_of(v: &Value) -> String {
    let mut out = String::new();
    for c in repr_of(v).chars() {
        match u32::from(c) {
            n if n < 0x80 => out.push(c),
            n if n < 0x100 => out.push_str(&format!("\\x{n:02x}")),
            n if n < 0x10000 => out.push_str(&format!("\\u{n:04x}")),
            n => out.push_str(&format!("\\U{n:08x}")),
        }
    }
    out
}

/// Python's type name of a value, for error messages.
fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "Undefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Map => "dict",
        _ if v.downcast_object_ref::<minijinja::value::Tuple>().is_some() => "tuple",
        ValueKind::Seq => "list",
        _ => "object",
    }
}

/// An integer (Python's `int`, `bool` included): sign and magnitude.
fn as_int(v: &Value) -> Option<(bool, u128)> {
    match v.kind() {
        ValueKind::Bool => Some((false, u128::from(v.is_true()))),
        ValueKind::Number if v.is_integer() => {
            if let Ok(n) = i128::try_from(v.clone()) {
                Some((n < 0, n.unsigned_abs()))
            } else {
                u128::try_from(v.clone()).ok().map(|n| (false, n))
            }
        }
        _ => None,
    }
}

fn as_float(v: &Value) -> Option<f64> {
    match as_int(v) {
        Some((neg, m)) => Some(if neg { -(m as f64) } else { m as f64 }),
        None if v.kind() == ValueKind::Number => f64::try_from(v.clone()).ok(),
        None => None,
    }
}

/// The state `PyUnicode_Format` keeps: the current argument source and its cursor.
struct Cursor<'a> {
    args: Args<'a>,
    /// The value a `%(key)` looked up, which the next conversion consumes.
    looked_up: Option<Value>,
    /// `arglen` / `argidx` as CPython keeps them: -1 / -2 for a single (non-tuple) argument.
    len: isize,
    idx: isize,
    /// The right operand when Python sees a mapping in it (a dict, a list, an undefined
    /// value), else `None`.
    dict: Option<&'a Value>,
}

impl Cursor<'_> {
    fn next(&mut self) -> Result<Value, Error> {
        if self.idx < self.len {
            self.idx += 1;
            if let Some(v) = &self.looked_up {
                return Ok(v.clone());
            }
            return Ok(match &self.args {
                Args::One(v) => (*v).clone(),
                Args::Tuple(t) => t[(self.idx - 1) as usize].clone(),
            });
        }
        Err(type_error("not enough arguments for format string"))
    }
}

/// `fmt % args`, as Python computes it.
pub fn percent(fmt: &str, args: Args) -> Result<String, Error> {
    let (len, idx, dict) = match &args {
        Args::Tuple(t) => (t.len() as isize, 0, None),
        Args::One(v) => (
            -1,
            -2,
            // `PyMapping_Check`: anything with `__getitem__` but a tuple or a string (Jinja2's
            // `Undefined` has one).
            matches!(
                v.kind(),
                ValueKind::Map | ValueKind::Seq | ValueKind::Undefined
            )
            .then_some(*v),
        ),
    };
    let mut cur = Cursor {
        args,
        looked_up: None,
        len,
        idx,
        dict,
    };
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::with_capacity(fmt.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        if chars.get(i) == Some(&'%') {
            out.push('%');
            i += 1;
            continue;
        }
        i = conversion(&chars, i, &mut cur, &mut out)?;
    }
    if cur.idx < cur.len && cur.dict.is_none() {
        return Err(type_error(
            "not all arguments converted during string formatting",
        ));
    }
    Ok(out)
}

/// A conversion's flags, width and precision.
#[derive(Default)]
struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    alt: bool,
    zero: bool,
    width: usize,
    prec: Option<usize>,
}

/// One conversion, from just after its `%`; returns the index after it.
fn conversion(
    chars: &[char],
    mut i: usize,
    cur: &mut Cursor,
    out: &mut String,
) -> Result<usize, Error> {
    let incomplete = || Error::new(ErrorKind::InvalidOperation, "incomplete format");
    if chars.get(i) == Some(&'(') {
        let Some(dict) = cur.dict else {
            return Err(type_error("format requires a mapping"));
        };
        let start = i + 1;
        let mut depth = 1;
        i += 1;
        while depth > 0 {
            match chars.get(i) {
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "incomplete format key",
                    ))
                }
                Some('(') => depth += 1,
                Some(')') => depth -= 1,
                Some(_) => {}
            }
            i += 1;
        }
        let key: String = chars[start..i - 1].iter().collect();
        if dict.kind() != ValueKind::Map {
            return Err(type_error(format!(
                "{} indices must be integers or slices, not str",
                type_name(dict)
            )));
        }
        let v = dict.get_item(&Value::from(key.as_str()))?;
        if v.is_undefined() {
            // A KeyError in Python; the key is the template's text, not the prompt's.
            return Err(type_error(format!("KeyError: {key:?}")));
        }
        cur.looked_up = Some(v);
        cur.len = -1;
        cur.idx = -2;
    }
    let mut s = Spec::default();
    loop {
        match chars.get(i) {
            Some('-') => s.left = true,
            Some('+') => s.plus = true,
            Some(' ') => s.space = true,
            Some('#') => s.alt = true,
            Some('0') => s.zero = true,
            _ => break,
        }
        i += 1;
    }
    let number = |i: &mut usize| -> usize {
        let mut n: usize = 0;
        while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
            n = n.saturating_mul(10).saturating_add(d as usize);
            *i += 1;
        }
        n
    };
    let star = |cur: &mut Cursor| -> Result<i128, Error> {
        match as_int(&cur.next()?) {
            Some((neg, m)) => {
                let m = i128::try_from(m).unwrap_or(i128::MAX);
                Ok(if neg { -m } else { m })
            }
            None => Err(type_error("* wants int")),
        }
    };
    if chars.get(i) == Some(&'*') {
        i += 1;
        let w = star(cur)?;
        if w < 0 {
            s.left = true;
        }
        s.width = usize::try_from(w.unsigned_abs()).unwrap_or(usize::MAX);
    } else {
        s.width = number(&mut i);
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        if chars.get(i) == Some(&'*') {
            i += 1;
            let p = star(cur)?;
            s.prec = Some(usize::try_from(p.max(0)).unwrap_or(usize::MAX));
        } else {
            s.prec = Some(number(&mut i));
        }
    }
    if s.width > MAX_WIDTH || s.prec.is_some_and(|p| p > MAX_WIDTH) {
        return Err(type_error(format!(
            "a format width or precision above {MAX_WIDTH} is not supported by prefix-warden's renderer (transformers would accept it)"
        )));
    }
    if matches!(chars.get(i), Some('h' | 'l' | 'L')) {
        i += 1;
    }
    let Some(&c) = chars.get(i) else {
        return Err(incomplete());
    };
    let at = i;
    i += 1;
    let v = cur.next()?;
    let (body, numeric) = match c {
        's' | 'r' | 'a' => {
            let text = match c {
                's' => str_of(&v),
                'r' => repr_of(&v),
                _ => ascii_of(&v),
            };
            let text = match s.prec {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            };
            (text, false)
        }
        'd' | 'i' | 'u' => {
            let (neg, digits) = match (as_int(&v), as_float(&v)) {
                (Some((neg, m)), _) => (neg, m.to_string()),
                (None, Some(f)) => float_to_int_text(f)?,
                (None, None) => {
                    return Err(type_error(format!(
                        "%{c} format: a real number is required, not {}",
                        type_name(&v)
                    )))
                }
            };
            (int_text(neg, &digits, "", &s), true)
        }
        'o' | 'x' | 'X' => {
            let Some((neg, m)) = as_int(&v) else {
                return Err(type_error(format!(
                    "%{c} format: an integer is required, not {}",
                    type_name(&v)
                )));
            };
            let (digits, prefix) = match c {
                'o' => (format!("{m:o}"), "0o"),
                'x' => (format!("{m:x}"), "0x"),
                _ => (format!("{m:X}"), "0X"),
            };
            (
                int_text(neg, &digits, if s.alt { prefix } else { "" }, &s),
                true,
            )
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let Some(f) = as_float(&v) else {
                return Err(type_error(format!(
                    "must be real number, not {}",
                    type_name(&v)
                )));
            };
            (float_text(f, c, &s), true)
        }
        'c' => {
            let ch = match (as_int(&v), v.as_str()) {
                (Some((neg, m)), _) => match u32::try_from(m).ok().filter(|_| !neg).and_then(char::from_u32) {
                    Some(ch) => ch,
                    None if !neg && m < 0x110000 => {
                        return Err(type_error(
                            "%c of a surrogate is not supported by prefix-warden's renderer (transformers would accept it)",
                        ))
                    }
                    None => return Err(type_error("%c arg not in range(0x110000)")),
                },
                (None, Some(t)) if t.chars().count() == 1 => t.chars().next().unwrap_or_default(),
                _ => return Err(type_error("%c requires int or char")),
            };
            (ch.to_string(), false)
        }
        other => {
            return Err(type_error(format!(
                "unsupported format character {other:?} (0x{:x}) at index {at}",
                u32::from(other)
            )))
        }
    };
    pad(body, numeric, &s, out);
    Ok(i)
}

/// A signed integer's text with a precision (minimum digits), sign and radix prefix; the
/// zero padding to the width is [`pad`]'s.
fn int_text(neg: bool, digits: &str, prefix: &str, s: &Spec) -> String {
    let mut t = String::new();
    if neg {
        t.push('-');
    } else if s.plus {
        t.push('+');
    } else if s.space {
        t.push(' ');
    }
    t.push_str(prefix);
    if let Some(p) = s.prec {
        for _ in digits.len()..p {
            t.push('0');
        }
    }
    t.push_str(digits);
    t
}

/// `int(f)` as text, for `%d` of a float.
fn float_to_int_text(f: f64) -> Result<(bool, String), Error> {
    if f.is_nan() {
        return Err(type_error("cannot convert float NaN to integer"));
    }
    if f.is_infinite() {
        return Err(type_error("cannot convert float infinity to integer"));
    }
    let t = f.trunc();
    // `{:.0}` of an integral double is its exact decimal expansion.
    let digits = format!("{:.0}", t.abs());
    Ok((t < 0.0 && digits != "0", digits))
}

/// A float in `%e`, `%f` or `%g` form (upper case for `E`, `F`, `G`), with sign.
fn float_text(f: f64, c: char, s: &Spec) -> String {
    let mut t = String::new();
    if f.is_sign_negative() && !f.is_nan() {
        t.push('-');
    } else if s.plus {
        t.push('+');
    } else if s.space {
        t.push(' ');
    }
    let upper = c.is_ascii_uppercase();
    let a = f.abs();
    let body = if f.is_nan() {
        "nan".to_string()
    } else if f.is_infinite() {
        "inf".to_string()
    } else {
        let prec = s.prec.unwrap_or(6);
        match c.to_ascii_lowercase() {
            'f' => fixed(a, prec, s.alt),
            'e' => exp(a, prec, s.alt),
            _ => general(a, prec, s.alt),
        }
    };
    t.push_str(&if upper {
        body.to_ascii_uppercase()
    } else {
        body
    });
    t
}

fn fixed(a: f64, prec: usize, alt: bool) -> String {
    let mut t = format!("{a:.prec$}");
    if alt && prec == 0 {
        t.push('.');
    }
    t
}

/// `d.ddde+XX`: Rust writes `d.ddde5`; Python a sign and two digits at least.
fn exp(a: f64, prec: usize, alt: bool) -> String {
    let t = format!("{a:.prec$e}");
    let (mant, e) = t.split_once('e').expect("an exponent");
    let e: i32 = e.parse().expect("a decimal exponent");
    let mut m = mant.to_string();
    if alt && prec == 0 {
        m.push('.');
    }
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// `%g`: `%e` when the exponent is below -4 or at least the precision, else `%f`; trailing
/// zeros (and a bare point) removed unless `#`.
fn general(a: f64, prec: usize, alt: bool) -> String {
    let p = prec.max(1);
    let e_form = format!("{a:.prec$e}", prec = p - 1);
    let x: i64 = e_form
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .expect("a decimal exponent");
    let t = if x < -4 || x >= p as i64 {
        exp(a, p - 1, alt)
    } else {
        let decimals = (p as i64 - 1 - x) as usize;
        let mut t = format!("{a:.decimals$}");
        if alt && !t.contains('.') {
            t.push('.');
        }
        t
    };
    if alt {
        return t;
    }
    let (mant, tail) = match t.find('e') {
        Some(k) => t.split_at(k),
        None => (t.as_str(), ""),
    };
    let mant = if mant.contains('.') {
        mant.trim_end_matches('0').trim_end_matches('.')
    } else {
        mant
    };
    format!("{mant}{tail}")
}

/// Pads to the width: left-aligned with `-`, zero-filled after the sign and radix prefix with
/// `0` for a number, else right-aligned with spaces.
fn pad(body: String, numeric: bool, s: &Spec, out: &mut String) {
    let n = body.chars().count();
    if n >= s.width {
        out.push_str(&body);
        return;
    }
    let fill = s.width - n;
    if s.left {
        out.push_str(&body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if s.zero && numeric {
        let sign_len = body.starts_with(['-', '+', ' ']) as usize;
        let prefix_len = if body[sign_len..].starts_with("0x")
            || body[sign_len..].starts_with("0X")
            || body[sign_len..].starts_with("0o")
        {
            2
        } else {
            0
        };
        let (head, digits) = body.split_at(sign_len + prefix_len);
        out.push_str(head);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(&body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt1(f: &str, v: Value) -> String {
        percent(f, Args::Tuple(&[v]))
            .unwrap_or_else(|e| format!("ERR {}", e.detail().unwrap_or_default()))
    }

    /// Python 3.11: `f % (v,)` for each case (the output of the session that made these).
    #[test]
    fn conversions_print_as_python_prints_them() {
        let inf = f64::INFINITY;
        for (f, v, py) in [
            ("%05s", Value::from("ab"), "   ab"),
            ("%-5s|", Value::from("ab"), "ab   |"),
            ("%05f", Value::from(inf), "00inf"),
            ("%+05d", Value::from(-3), "-0003"),
            ("% d", Value::from(5), " 5"),
            ("%#x", Value::from(255), "0xff"),
            ("%#o", Value::from(8), "0o10"),
            ("%.3d", Value::from(5), "005"),
            ("%-06d|", Value::from(5), "5     |"),
            ("%05.1f", Value::from(-2.25), "-02.2"),
            ("%g", Value::from(1e-5), "1e-05"),
            ("%g", Value::from(123456789.0), "1.23457e+08"),
            ("%#g", Value::from(1.0), "1.00000"),
            ("%.0g", Value::from(0.0001234), "0.0001"),
            ("%e", Value::from(12345.678), "1.234568e+04"),
            ("%r", Value::from("it's"), "\"it's\""),
            ("%a", Value::from("\u{e9}\u{1f600}"), "'\\xe9\\U0001f600'"),
            ("%c", Value::from(65), "A"),
            ("%c", Value::from("\u{e9}"), "\u{e9}"),
            ("%5.2s|", Value::from("abc"), "   ab|"),
            ("%d", Value::from(true), "1"),
            ("%d", Value::from(3.9), "3"),
            ("%x", Value::from(-255), "-ff"),
            ("%s", Value::from(()), "None"),
            ("%G", Value::from(1e-10), "1E-10"),
            ("%F", Value::from(f64::NAN), "NAN"),
            ("%.2f", Value::from(2.675), "2.67"),
            ("%10.4e", Value::from(-0.0), "-0.0000e+00"),
            ("%i", Value::from(-0.0), "0"),
            ("%#.0f", Value::from(3.0), "3."),
            ("%#.3g", Value::from(1.0), "1.00"),
            ("%o", Value::from(-8), "-10"),
            ("%+s", Value::from(1), "1"),
            ("%05r", Value::from("x"), "  'x'"),
            ("%05c", Value::from(65), "    A"),
            ("%-+7.2f|", Value::from(1.23456), "+1.23  |"),
            ("%.2s", Value::from(()), "No"),
            ("%s", Value::from(1.5e16), "1.5e+16"),
            ("%d", Value::from(10i128.pow(30)), "1000000000000000000000000000000"),
            ("%f", Value::from(10i128.pow(30)), "1000000000000000019884624838656.000000"),
            ("%.3s", Value::from("\u{e9}\u{1f600}ab"), "\u{e9}\u{1f600}a"),
            ("%.0e", Value::from(15.5), "2e+01"),
            ("%g", Value::from(100000.0), "100000"),
            ("%g", Value::from(1000000.0), "1e+06"),
            ("%g", Value::from(0.0001), "0.0001"),
            ("%- 5d|", Value::from(3), " 3   |"),
            ("%#5x|", Value::from(255), " 0xff|"),
            ("%#05x|", Value::from(255), "0x0ff|"),
            ("%08.3d", Value::from(-5), "-0000005"),
            ("%#.3x", Value::from(5), "0x005"),
            ("%r", Value::from("a\u{0}\u{200b}"), "'a\\x00\\u200b'"),
            ("%.1f", Value::from(0.25), "0.2"),
            ("%.1f", Value::from(0.05), "0.1"),
            ("%.20f", Value::from(0.1), "0.10000000000000000555"),
            ("%5s|", Value::from("\u{65e5}\u{672c}"), "   \u{65e5}\u{672c}|"),
            ("%d", Value::from(1e300), "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160"),
        ] {
            assert_eq!(fmt1(f, v.clone()), py, "{f} % {v:?}");
        }
    }

    /// Python's errors, in the same cases (the message is Python's).
    #[test]
    fn what_python_refuses_is_an_error() {
        let two = [Value::from(1), Value::from(2)];
        let e = |f: &str, a: Args| {
            percent(f, a)
                .unwrap_err()
                .detail()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(
            e("%s %s", Args::Tuple(&two[..1])),
            "not enough arguments for format string"
        );
        assert_eq!(
            e("%s", Args::Tuple(&two)),
            "not all arguments converted during string formatting"
        );
        assert_eq!(
            e("abc", Args::One(&Value::from(5))),
            "not all arguments converted during string formatting"
        );
        assert_eq!(e("%", Args::Tuple(&[])), "incomplete format");
        assert_eq!(
            e("%q", Args::One(&Value::from(1))),
            "unsupported format character 'q' (0x71) at index 1"
        );
        assert_eq!(
            e("%05%", Args::Tuple(&two[..1])),
            "unsupported format character '%' (0x25) at index 3"
        );
        assert_eq!(
            e("%d", Args::One(&Value::from("x"))),
            "%d format: a real number is required, not str"
        );
        assert_eq!(
            e("%x", Args::One(&Value::from(1.5))),
            "%x format: an integer is required, not float"
        );
        assert_eq!(
            e("%f", Args::One(&Value::from("x"))),
            "must be real number, not str"
        );
        assert_eq!(
            e("%c", Args::One(&Value::from("ab"))),
            "%c requires int or char"
        );
        assert_eq!(
            e("%(a)s", Args::One(&Value::from(vec![1]))),
            "list indices must be integers or slices, not str"
        );
        assert_eq!(
            e("%(a)s", Args::Tuple(&two[..1])),
            "format requires a mapping"
        );
        assert_eq!(
            e("%d", Args::One(&Value::from(f64::NAN))),
            "cannot convert float NaN to integer"
        );
        assert_eq!(
            e("%*d", Args::Tuple(&[Value::from("a"), Value::from(3)])),
            "* wants int"
        );
        assert_eq!(
            e("%c", Args::One(&Value::from(0x110000))),
            "%c arg not in range(0x110000)"
        );
        assert!(e("%99999s", Args::One(&Value::from(1)))
            .contains("not supported by prefix-warden's renderer"));
        // What Python accepts in the same family.
        let ok = |f: &str, a: Args| percent(f, a).unwrap();
        assert_eq!(ok("abc", Args::One(&Value::from(vec![1]))), "abc");
        assert_eq!(ok("abc", Args::Tuple(&[])), "abc");
        assert_eq!(ok("%s%%%s", Args::Tuple(&two)), "1%2");
        let ints = [5, 3, 5, 3, -5, 3].map(Value::from);
        assert_eq!(
            ok("%*d|%-*d|%*d|", Args::Tuple(&ints)),
            "    3|3    |3    |"
        );
        assert_eq!(
            ok("%.*f", Args::Tuple(&[Value::from(2), Value::from(1.23456)])),
            "1.23"
        );
        assert_eq!(
            ok(
                "%hd %ld %Lf",
                Args::Tuple(&[Value::from(1), Value::from(2), Value::from(3.0)])
            ),
            "1 2 3.000000"
        );
        let map = super::super::pyjson::ordered_map([("a", Value::from(1))]);
        assert_eq!(ok("%(a)s", Args::One(&map)), "1");
        assert_eq!(ok("%s", Args::One(&map)), "{'a': 1}");
        assert_eq!(
            e("%(a)s %s", Args::One(&map)),
            "not enough arguments for format string"
        );
    }
}
