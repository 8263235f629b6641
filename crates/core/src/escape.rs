//! Text from outside (request logs above all) made safe to print: every character that a
//! terminal acts on or that hides or reorders text is written as a visible `\u{..}` escape.
//!
//! Every text and Markdown table goes through [`crate::report::table`], which escapes each cell
//! with [`escape`]; lines printed outside a table that carry such text use [`Escaped`]. JSON
//! output keeps exact values: serde_json writes C0 controls (ESC, newlines) as `\u00XX`; DEL,
//! C1 and bidi characters are valid JSON and stay, so a script that prints a value raw
//! (`jq -r`) escapes it itself.
//!
//! The escape is for people, not a reversible encoding: a backslash is left as it is (JSON
//! output is the exact form).

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must not reach a terminal raw: C0 controls (tab, newline and carriage return too:
/// one value stays on one line), DEL, C1 controls (U+0080–U+009F, among them the 8-bit CSI),
/// the bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069), and the line and paragraph separators (U+2028, U+2029).
///
/// Joiners stay (U+200C, U+200D): scripts and emoji sequences need them and they move nothing.
pub fn is_unsafe(c: char) -> bool {
    matches!(
        c,
        '\0'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// Displays a string with every [`is_unsafe`] character as `\u{hex}`; other text is unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(is_unsafe) {
            f.write_str(&rest[..i])?;
            let Some(c) = rest[i..].chars().next() else {
                break;
            };
            write!(f, "\\u{{{:x}}}", u32::from(c))?;
            rest = &rest[i + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// `s` escaped as [`Escaped`] shows it; borrowed (no copy) when nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if s.contains(is_unsafe) {
        Cow::Owned(Escaped(s).to_string())
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn controls_bidi_and_separators_are_escaped() {
        for (raw, want) in [
            (
                "gpt-5.5\n\u{1b}[31mowner: evil\nmodels: [x]",
                r"gpt-5.5\u{a}\u{1b}[31mowner: evil\u{a}models: [x]",
            ),
            ("a\tb\rc\0d", r"a\u{9}b\u{d}c\u{0}d"),
            ("del\u{7f}", r"del\u{7f}"),
            ("csi\u{9b}2J nel\u{85}", r"csi\u{9b}2J nel\u{85}"),
            ("title\u{1b}]0;x\u{7}", r"title\u{1b}]0;x\u{7}"),
            ("invoice\u{202e}fdp.exe", r"invoice\u{202e}fdp.exe"),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}\u{202a}\u{202b}\u{202c}\u{202d}",
                r"\u{2066}\u{2067}\u{2068}\u{2069}\u{202a}\u{202b}\u{202c}\u{202d}",
            ),
            ("\u{200e}\u{200f}\u{61c}", r"\u{200e}\u{200f}\u{61c}"),
            ("line\u{2028}para\u{2029}", r"line\u{2028}para\u{2029}"),
            // Text after the last escape is kept, multi-byte characters included.
            ("\u{1b}漢字", r"\u{1b}漢字"),
        ] {
            assert_eq!(escape(raw), want, "{raw:?}");
            assert_eq!(Escaped(raw).to_string(), want, "{raw:?}");
        }
    }

    #[test]
    fn ordinary_unicode_text_is_unchanged_and_not_copied() {
        for s in [
            "",
            "openai/gpt-5.5",
            "漢字とかなのテキスト、中文文本",
            "emoji 🎉 and a family 👨\u{200d}👩\u{200d}👧 (joined by U+200D)",
            "café naïve Ångström Ærøskøbing",
            "مرحبا بالعالم עברית",
            "ZWNJ in Persian: می\u{200c}خواهم",
            r"a backslash \ and \u{1b} as text",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s), "{s:?}");
            assert_eq!(Escaped(s).to_string(), s);
        }
    }

    proptest! {
        #[test]
        fn nothing_unsafe_survives_and_safe_text_is_kept(s in any::<String>()) {
            let e = escape(&s);
            prop_assert!(!e.contains(is_unsafe));
            if !s.contains(is_unsafe) {
                prop_assert_eq!(&*e, s.as_str());
            }
            // The same as escaping one character at a time.
            let each: String = s
                .chars()
                .map(|c| if is_unsafe(c) { format!("\\u{{{:x}}}", u32::from(c)) } else { c.to_string() })
                .collect();
            prop_assert_eq!(&*e, each.as_str());
        }
    }
}
