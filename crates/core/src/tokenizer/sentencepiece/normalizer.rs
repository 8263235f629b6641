//! SentencePiece normalization, as `normalizer.cc` does it: the model's precompiled character
//! map (longest rule wins), user-defined symbols left untouched, an optional dummy `▁` prefix,
//! spaces escaped to `▁`, and (when the spec says so) extra whitespace removed. Also returns,
//! for every normalized byte, the original byte it came from, for offsets.

use super::proto::NormalizerSpec;

/// `▁` (U+2581), SentencePiece's visible space.
pub const SPACE: &str = "\u{2581}";

/// A precompiled character map: a darts-clone double-array trie over the input bytes whose
/// values point into a blob of NUL-terminated replacement strings.
struct CharsMap {
    units: Vec<u32>,
    /// NUL-terminated replacement strings, checked to be UTF-8 at load.
    normalized: String,
}

impl CharsMap {
    /// `<u32 trie size in bytes><trie units><replacement strings>`, little-endian.
    fn parse(blob: &[u8]) -> Result<Self, String> {
        let bad = |why: &str| format!("normalizer_spec.precompiled_charsmap: {why}");
        if blob.len() <= 4 {
            return Err(bad("too short"));
        }
        let trie_bytes = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if trie_bytes >= blob.len() - 4 || !trie_bytes.is_multiple_of(4) || trie_bytes == 0 {
            return Err(bad("trie size does not fit the blob"));
        }
        let units = blob[4..4 + trie_bytes]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let normalized = String::from_utf8(blob[4 + trie_bytes..].to_vec())
            .map_err(|_| bad("replacement strings are not UTF-8"))?;
        Ok(Self { units, normalized })
    }

    /// Whether some rule of two bytes or more starts with byte `c` followed by an ASCII byte
    /// (a walk to `c`'s node, then a look at its ASCII children).
    fn continues_with_ascii(&self, c: u8) -> bool {
        let offset = |u: u32| ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize;
        let Some(&root) = self.units.first() else {
            return false;
        };
        let node = offset(root) ^ usize::from(c);
        match self.units.get(node) {
            Some(&u) if (u & ((1 << 31) | 0xff)) == u32::from(c) => {
                let node = node ^ offset(u);
                (1..0x80u32).any(|d| {
                    self.units
                        .get(node ^ d as usize)
                        .is_some_and(|&u| (u & ((1 << 31) | 0xff)) == d)
                })
            }
            _ => false,
        }
    }

    /// The longest rule matching a prefix of `input`: (bytes consumed, replacement).
    fn longest(&self, input: &[u8]) -> Option<(usize, &str)> {
        // Darts-clone unit layout: bit 8 = has leaf, low 31 bits = value (for leaves),
        // label = bit 31 | low byte, offset = (unit >> 10) << ((unit & 0x200) >> 6).
        let offset = |u: u32| ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize;
        let mut best = None;
        let mut node = 0usize;
        let mut unit = *self.units.first()?;
        node ^= offset(unit);
        for (i, &c) in input.iter().enumerate() {
            if c == 0 {
                break;
            }
            node ^= c as usize;
            unit = *self.units.get(node)?;
            if (unit & ((1 << 31) | 0xff)) != c as u32 {
                break;
            }
            node ^= offset(unit);
            if (unit >> 8) & 1 == 1 {
                let value = (*self.units.get(node)? & ((1 << 31) - 1)) as usize;
                best = Some((i + 1, value));
            }
        }
        let (len, value) = best?;
        // A rule pointing into the middle of a character is a broken file: `get` refuses it
        // and the rule is ignored.
        let tail = self.normalized.get(value..)?;
        let end = tail
            .as_bytes()
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(tail.len());
        Some((len, &tail[..end]))
    }
}

/// Matches the longest user-defined symbol at a position (SentencePiece's `PrefixMatcher`).
#[derive(Default)]
pub struct PrefixMatcher {
    /// First byte -> symbols starting with it, longest first.
    by_first: Vec<Vec<Box<[u8]>>>,
}

impl PrefixMatcher {
    pub fn new<'a>(symbols: impl IntoIterator<Item = &'a str>) -> Self {
        let mut by_first: Vec<Vec<Box<[u8]>>> = vec![Vec::new(); 256];
        for s in symbols {
            if let Some(&b) = s.as_bytes().first() {
                by_first[b as usize].push(s.as_bytes().into());
            }
        }
        for v in &mut by_first {
            v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        Self { by_first }
    }

    /// Whether some symbol starts with byte `b`.
    #[inline]
    pub fn starts_with_byte(&self, b: u8) -> bool {
        self.by_first
            .get(usize::from(b))
            .is_some_and(|v| !v.is_empty())
    }

    /// The length of the longest symbol `input` starts with.
    pub fn longest(&self, input: &[u8]) -> Option<usize> {
        let first = *input.first()?;
        self.by_first
            .get(first as usize)?
            .iter()
            .find(|s| input.starts_with(s))
            .map(|s| s.len())
    }
}

/// The byte length of the UTF-8 character at the start of `input`, or `None` when it is not a
/// valid one (SentencePiece then emits U+FFFD and consumes one byte).
pub fn char_len(input: &[u8]) -> Option<usize> {
    let n = match *input.first()? {
        0x00..=0x7f => return Some(1),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let c = input.get(..n)?;
    // Continuation bytes, then the overlong / surrogate / out-of-range second-byte rules.
    if !c[1..].iter().all(|&b| b & 0xc0 == 0x80) {
        return None;
    }
    let ok = match (c[0], c[1]) {
        (0xe0, b) => b >= 0xa0,
        (0xed, b) => b <= 0x9f,
        (0xf0, b) => b >= 0x90,
        (0xf4, b) => b <= 0x8f,
        _ => true,
    };
    ok.then_some(n)
}

pub struct Normalizer {
    charsmap: Option<CharsMap>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    treat_whitespace_as_suffix: bool,
    /// ASCII byte -> it normalizes to itself when an ASCII byte (or the end) follows: not a
    /// space, not NUL, no rule of its own, none that goes on from it with an ASCII byte. Runs
    /// of such bytes are copied whole (most of most text), not stepped through one by one.
    plain: [bool; 128],
    /// A space normalizes to a space when an ASCII byte (or the end) follows (as `plain`).
    plain_space: bool,
}

/// Normalized text and, when asked for, for each of its bytes plus one past the end, the
/// original byte offset.
pub struct Normalized {
    pub text: String,
    pub to_orig: Option<Vec<u32>>,
}

/// The normalized -> original byte map, or nothing when offsets are not wanted (it costs four
/// bytes per byte of text).
struct OrigMap(Option<Vec<u32>>);

impl OrigMap {
    fn repeat(&mut self, at: usize, n: usize) {
        if let Some(v) = &mut self.0 {
            v.extend(std::iter::repeat_n(at as u32, n));
        }
    }
    fn truncate(&mut self, n: usize) {
        if let Some(v) = &mut self.0 {
            v.truncate(n);
        }
    }
    fn run(&mut self, at: usize, n: usize) {
        if let Some(v) = &mut self.0 {
            v.extend(at as u32..(at + n) as u32);
        }
    }
    fn at(&self, i: usize) -> Option<usize> {
        self.0.as_ref().map(|v| v[i] as usize)
    }
}

impl Normalizer {
    pub fn new(spec: &NormalizerSpec, treat_whitespace_as_suffix: bool) -> Result<Self, String> {
        let charsmap = if spec.precompiled_charsmap.is_empty() {
            None
        } else {
            Some(CharsMap::parse(&spec.precompiled_charsmap)?)
        };
        // Whether byte `c`, followed by an ASCII byte or nothing, normalizes to itself.
        let alone = |c: u8| {
            c != 0
                && match &charsmap {
                    None => true,
                    Some(m) => {
                        m.longest(&[c])
                            .is_none_or(|(n, r)| n == 1 && r.as_bytes() == [c])
                            && !m.continues_with_ascii(c)
                    }
                }
        };
        let mut plain = [false; 128];
        for (c, p) in (0u8..).zip(plain.iter_mut()) {
            *p = c != b' ' && alone(c);
        }
        let plain_space = alone(b' ');
        Ok(Self {
            plain,
            plain_space,
            charsmap,
            add_dummy_prefix: spec.add_dummy_prefix,
            remove_extra_whitespaces: spec.remove_extra_whitespaces,
            escape_whitespaces: spec.escape_whitespaces,
            treat_whitespace_as_suffix,
        })
    }

    /// One normalization step at the start of `input`: (replacement, bytes consumed).
    fn prefix<'a>(&'a self, src: &'a str, pos: usize, users: &PrefixMatcher) -> (&'a str, usize) {
        let input = &src.as_bytes()[pos..];
        if let Some(n) = users.longest(input) {
            // User-defined symbols come from a UTF-8 field and match whole.
            return (src.get(pos..pos + n).unwrap_or("\u{fffd}"), n);
        }
        if let Some((n, s)) = self.charsmap.as_ref().and_then(|m| m.longest(input)) {
            return (s, n);
        }
        if src.is_char_boundary(pos) {
            let n = match input[0] {
                0x00..=0x7f => 1,
                0x80..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            return (&src[pos..pos + n], n);
        }
        // A charsmap rule ended inside a character: SentencePiece's malformed-UTF-8 path.
        ("\u{fffd}", 1)
    }

    /// How many bytes at the start of `input` normalize to themselves, one by one: bytes
    /// `plain` says are (plain ASCII no user symbol starts with), each followed by an ASCII
    /// byte or the end (a rule could join a byte to a combining mark after it). All the bytes
    /// before the first one that is not plain are ASCII, so only the last can be followed by
    /// a byte that is not.
    #[inline]
    fn plain_run(input: &[u8], plain: &[bool; 256]) -> usize {
        match input.iter().position(|&b| !plain[usize::from(b)]) {
            None => input.len(),
            Some(j) if input[j] < 0x80 => j,
            Some(j) => j.saturating_sub(1),
        }
    }

    /// Normalizes `input` (at most 4 GiB); `offsets`: also build the byte map.
    pub fn normalize(&self, src: &str, users: &PrefixMatcher, offsets: bool) -> Normalized {
        let mut input = src.as_bytes();
        let total = input.len();
        let mut text = String::with_capacity(input.len() + input.len() / 4 + 3);
        let mut to_orig = OrigMap(offsets.then(|| Vec::with_capacity(text.capacity() + 1)));
        let mut consumed = 0usize;
        if input.is_empty() {
            return Normalized {
                text,
                to_orig: offsets.then(|| vec![0]),
            };
        }
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (s, n) = self.prefix(src, total - input.len(), users);
                if s != " " {
                    break;
                }
                input = &input[n..];
                consumed += n;
            }
            if input.is_empty() {
                return Normalized {
                    text,
                    to_orig: offsets.then(|| vec![consumed as u32]),
                };
            }
        }
        let space = if self.escape_whitespaces { SPACE } else { " " };
        let push_ws = |text: &mut String, to_orig: &mut OrigMap, at: usize| {
            text.push_str(space);
            to_orig.repeat(at, space.len());
        };
        if !self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            push_ws(&mut text, &mut to_orig, consumed);
        }
        let mut prev_space = self.remove_extra_whitespaces;
        let mut plain = [false; 256];
        for (b, p) in (0u8..).zip(&mut plain[..128]) {
            *p = self.plain[usize::from(b)] && !users.starts_with_byte(b);
        }
        while !input.is_empty() {
            let run = Self::plain_run(input, &plain);
            if run > 0 {
                let at = total - input.len();
                text.push_str(&src[at..at + run]);
                to_orig.run(at, run);
                consumed += run;
                input = &input[run..];
                prev_space = false;
                continue;
            }
            if input[0] == b' '
                && self.plain_space
                && input.get(1).is_none_or(|&n| n < 0x80)
                && !users.starts_with_byte(b' ')
            {
                // What the general step below does with a space that stays a space.
                if !prev_space {
                    push_ws(&mut text, &mut to_orig, consumed);
                    prev_space = self.remove_extra_whitespaces;
                }
                consumed += 1;
                input = &input[1..];
                continue;
            }
            let (s, n) = self.prefix(src, total - input.len(), users);
            let mut sp = s;
            while prev_space && sp.starts_with(' ') {
                sp = &sp[1..];
            }
            if !sp.is_empty() {
                for ch in sp.split_inclusive(' ') {
                    match ch.strip_suffix(' ') {
                        Some(body) => {
                            text.push_str(body);
                            to_orig.repeat(consumed, body.len());
                            if self.escape_whitespaces {
                                push_ws(&mut text, &mut to_orig, consumed);
                            } else {
                                text.push(' ');
                                to_orig.repeat(consumed, 1);
                            }
                        }
                        None => {
                            text.push_str(ch);
                            to_orig.repeat(consumed, ch.len());
                        }
                    }
                }
                prev_space = sp.ends_with(' ');
            }
            consumed += n;
            input = &input[n..];
            if !self.remove_extra_whitespaces {
                prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while text.ends_with(space) {
                let len = text.len() - space.len();
                // Without the map, `consumed` only matters for that map: keep the total.
                consumed = to_orig.at(len).unwrap_or(total);
                text.truncate(len);
                to_orig.truncate(len);
            }
        }
        if self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            push_ws(&mut text, &mut to_orig, consumed);
        }
        to_orig.repeat(consumed, 1);
        Normalized {
            text,
            to_orig: to_orig.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The NFKC charsmap of the committed test model, with each whitespace setting.
    fn nfkc(remove_extra: bool, dummy: bool) -> Normalizer {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/spm/unigram-nfkc.model"
        );
        let proto = super::super::proto::parse(&std::fs::read(path).unwrap(), 1 << 20).unwrap();
        let mut spec = proto.normalizer;
        assert!(!spec.precompiled_charsmap.is_empty());
        spec.remove_extra_whitespaces = remove_extra;
        spec.add_dummy_prefix = dummy;
        Normalizer::new(&spec, false).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Runs of plain ASCII and plain spaces are copied whole; the text and the offsets
        /// are what stepping through every character with the charsmap gives, on text that
        /// mixes ASCII with combining marks, compatibility forms and NUL.
        #[test]
        fn copying_plain_runs_whole_changes_nothing(
            chars in proptest::collection::vec(proptest::sample::select(vec![
                'a', 'e', 'Z', '1', ' ', ' ', '.', '\0', '\t', '\n', '\u{301}', '\u{308}',
                'ｆ', '①', 'ﬁ', '\u{3000}', '\u{a0}', 'é', '中', '▁', '~',
            ]), 0..40),
            remove_extra: bool,
            dummy: bool,
            user: bool,
        ) {
            static BOTH: std::sync::OnceLock<Vec<(Normalizer, Normalizer)>> = std::sync::OnceLock::new();
            let both = BOTH.get_or_init(|| {
                [(false, false), (false, true), (true, false), (true, true)]
                    .into_iter()
                    .map(|(r, d)| {
                        let fast = nfkc(r, d);
                        assert!(fast.plain[usize::from(b'a')] && fast.plain_space);
                        let mut slow = nfkc(r, d);
                        slow.plain = [false; 128];
                        slow.plain_space = false;
                        (fast, slow)
                    })
                    .collect()
            });
            let text: String = chars.into_iter().collect();
            let (fast, slow) = &both[usize::from(remove_extra) * 2 + usize::from(dummy)];
            let users = if user { PrefixMatcher::new(["e1", "Z"]) } else { PrefixMatcher::default() };
            let (f, s) = (fast.normalize(&text, &users, true), slow.normalize(&text, &users, true));
            prop_assert_eq!(f.text, s.text);
            prop_assert_eq!(f.to_orig, s.to_orig);
        }
    }

    fn spec(add_dummy_prefix: bool, remove_extra: bool) -> NormalizerSpec {
        NormalizerSpec {
            name: "identity".into(),
            precompiled_charsmap: vec![],
            add_dummy_prefix,
            remove_extra_whitespaces: remove_extra,
            escape_whitespaces: true,
        }
    }

    #[test]
    fn escapes_spaces_adds_the_dummy_prefix_and_maps_offsets() {
        let n = Normalizer::new(&spec(true, false), false).unwrap();
        let out = n.normalize("a  b", &PrefixMatcher::default(), true);
        assert_eq!(out.text, "▁a▁▁b");
        let map = out.to_orig.unwrap();
        assert_eq!(map.len(), out.text.len() + 1);
        assert_eq!(map[0], 0);
        assert_eq!(map[3], 0, "`a` is byte 0");
        assert_eq!(*map.last().unwrap(), 4);
        assert!(n
            .normalize("a", &PrefixMatcher::default(), false)
            .to_orig
            .is_none());
        let out = n.normalize("", &PrefixMatcher::default(), true);
        assert_eq!(out.text, "", "no dummy prefix on empty text");
    }

    #[test]
    fn removes_extra_whitespace_when_the_spec_says_so() {
        let n = Normalizer::new(&spec(true, true), false).unwrap();
        assert_eq!(
            n.normalize("  a   b  ", &PrefixMatcher::default(), false)
                .text,
            "▁a▁b"
        );
        assert_eq!(
            n.normalize("   ", &PrefixMatcher::default(), false).text,
            ""
        );
    }

    #[test]
    fn a_broken_charsmap_is_an_error_or_ignored_never_a_panic() {
        let mut s = spec(true, false);
        for blob in [
            vec![1, 0, 0],
            vec![8, 0, 0, 0, 1],
            vec![255, 255, 255, 255, 0, 0],
        ] {
            s.precompiled_charsmap = blob;
            assert!(Normalizer::new(&s, false).is_err());
        }
        // A trie whose units point anywhere: lookups stop at the end of the table.
        s.precompiled_charsmap = [&8u32.to_le_bytes()[..], &[0xff; 8], b"x\0"].concat();
        let n = Normalizer::new(&s, false).unwrap();
        assert_eq!(
            n.normalize("abc", &PrefixMatcher::default(), false).text,
            "▁abc"
        );
    }

    #[test]
    fn char_len_agrees_with_the_standard_library_on_every_short_sequence() {
        for a in 0..=255u8 {
            for b in [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff] {
                for c in [0x80u8, 0xbf, 0x41] {
                    let bytes = [a, b, c, 0x80];
                    let want = (1..=4)
                        .find(|&n| std::str::from_utf8(&bytes[..n]).is_ok())
                        .filter(|&n| n == 1 || bytes[0] >= 0x80);
                    let want = match want {
                        Some(1) if a >= 0x80 => None,
                        w => w,
                    };
                    assert_eq!(char_len(&bytes), want, "{bytes:x?}");
                }
            }
        }
    }

    #[test]
    fn user_defined_symbols_match_longest_first() {
        let m = PrefixMatcher::new(["[A]", "[AB]", "x"]);
        assert_eq!(m.longest(b"[AB]c"), Some(4));
        assert_eq!(m.longest(b"[A]"), Some(3));
        assert_eq!(m.longest(b"[C]"), None);
        assert_eq!(m.longest(b""), None);
    }
}
