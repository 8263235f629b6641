//! The splits that take ASCII a block of 64 bytes at a time (`tokenizer::scan_block`, with the
//! classes of the core's `sse2` module, its second module with `unsafe` code): the input as
//! text (invalid UTF-8 replaced, at most 64 KiB) split by DeepSeek's fused splitter
//! (`tokenizer::scan_deepseek`: numbers, CJK runs and words in one pass) and by `fancy-regex`
//! with DeepSeek's three patterns one after the other, each on every piece of the one before
//! (`Isolated`), as `tokenizers` does; and by Qwen's, o200k's and tekken's patterns, scanner
//! against `fancy-regex`.
//!
//! Must hold: no crash; the same pieces, in the same order.

use std::sync::OnceLock;

use prefix_warden_core::tokenizer::Splitter;

/// DeepSeek V3's three `Split` patterns (its tokenizer.json, the JSON escapes of `\r` and `\n`
/// undone).
const PATTERNS: [&str; 3] = [
    r"\p{N}{1,3}",
    "[\u{4e00}-\u{9fa5}\u{3040}-\u{309f}\u{30a0}-\u{30ff}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
];

/// The patterns split a block at a time on their own: Qwen's (2, 2.5 and 3), o200k's and
/// Mistral tekken's.
const SINGLE: [&str; 3] = [
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];

struct Splitters {
    fused: Splitter,
    reference: Vec<Splitter>,
    /// Each of [`SINGLE`]: its scanner and `fancy-regex`.
    single: Vec<(Splitter, Splitter)>,
}

fn splitters() -> &'static Splitters {
    static S: OnceLock<Splitters> = OnceLock::new();
    S.get_or_init(|| {
        let (fused, n) = Splitter::fused(&PATTERNS).expect("DeepSeek's splits fuse");
        assert_eq!(n, 3, "all three splits in one");
        let reference = PATTERNS
            .iter()
            .map(|p| Splitter::fancy(p).expect("a valid pattern"))
            .collect();
        let single = SINGLE
            .iter()
            .map(|p| {
                let fast = Splitter::new(p).expect("a known pattern");
                assert!(fast.is_fast(), "{p} has a scanner");
                (fast, Splitter::fancy(p).expect("a valid pattern"))
            })
            .collect();
        Splitters {
            fused,
            reference,
            single,
        }
    })
}

/// The pieces of `text[start..end]` split by `s`, `Isolated`: its matches and the text between.
fn isolated(s: &Splitter, text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut v = vec![];
    let mut at = start;
    s.pieces(&text[start..end], |a, b| {
        let (a, b) = (start + a, start + b);
        v.extend([(at, a), (a, b)].into_iter().filter(|(x, y)| x < y));
        at = b;
    })
    .expect("the split does not fail");
    v.extend((at < end).then_some((at, end)));
    v
}

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(&data[..data.len().min(64 << 10)]);
    let s = splitters();
    let got = isolated(&s.fused, &text, 0, text.len());
    let mut want = vec![(0, text.len())];
    for r in &s.reference {
        want = want
            .into_iter()
            .flat_map(|(a, b)| isolated(r, &text, a, b))
            .collect();
    }
    assert_eq!(
        got, want,
        "the fused split differs from the three in sequence"
    );
    for (i, (fast, reference)) in s.single.iter().enumerate() {
        assert_eq!(
            isolated(fast, &text, 0, text.len()),
            isolated(reference, &text, 0, text.len()),
            "the split by {} differs from fancy-regex's",
            ["Qwen's pattern", "o200k's", "tekken's"][i]
        );
    }
}
