//! DeepSeek's three splits in one pass: `\p{N}{1,3}`, then runs of CJK, then its word pattern,
//! each `Isolated` on the pieces of the one before, as `tokenizers` applies them.
//!
//! Where the text is ASCII, [`super::scan_block`] splits it 64 bytes at a time, numbers
//! included (no CJK character is ASCII). Elsewhere the text between two number or CJK matches
//! is a text of its own for the word pattern, split a piece at a time by the
//! [`Scanner`](super::scan::Scanner); the next match is found once per such stretch
//! ([`Finder::next`]). A number is one piece whatever follows (the word pattern matches no
//! part of it); a CJK run is split by the word pattern too, as `tokenizers` splits every piece
//! of one split by the next. What no pattern matches outside numbers and CJK runs (an `O` of
//! [`super::scan_block`] not before a letter) is not reported: the caller takes it as text
//! between matches, as `Isolated` does.

use super::scan::{ascii_ahead, Finder, Run, Scanner};

pub struct DeepSeek {
    runs: Finder,
    words: Scanner,
}

impl DeepSeek {
    /// `words`: the scanner of DeepSeek's third pattern.
    pub fn new(words: Scanner) -> Self {
        Self {
            runs: Finder::new(Run::NumbersAndCjk),
            words,
        }
    }

    /// Calls `f(start, end)` for each match of the three splits, in order.
    pub fn pieces(&self, text: &str, mut f: impl FnMut(usize, usize)) {
        let b = text.as_bytes();
        let mut at = 0;
        // Where the text the word pattern splits from `at` ends: the next number or CJK match
        // (while `at` is before it; found again once `at` reaches it).
        let mut words_end = 0;
        while at < b.len() {
            if ascii_ahead(b, at) {
                at = super::scan_block::pieces(
                    b,
                    at,
                    super::scan_block::Form::DeepSeekNumbers,
                    &mut f,
                );
                if at == b.len() {
                    break;
                }
            }
            if at >= words_end {
                match self.runs.next(b, at) {
                    Some(p) if p == at => {
                        at = match self.runs.cjk_run(b, at) {
                            Some(end) => self.split_cjk(&b[..end], at, &mut f),
                            None => self.runs.matches_at(b, at, &mut f),
                        };
                        continue;
                    }
                    Some(p) => words_end = p,
                    None => words_end = b.len(),
                }
            }
            at = self.words.piece(&b[..words_end], at, &mut f);
        }
    }

    /// Splits a run of CJK, `b[at..]`, by the word pattern, calling `f` for its matches and
    /// the text between them: a run is not always one word (`・`, `゠` are punctuation, `゛`
    /// a symbol, U+3040 no character), and what is between its matches is not to be joined
    /// with text before or after the run. Returns `b.len()`.
    fn split_cjk(&self, b: &[u8], mut at: usize, f: &mut impl FnMut(usize, usize)) -> usize {
        let mut gap = at;
        while at < b.len() {
            at = self.words.piece(b, at, &mut |a, e| {
                if a > gap {
                    f(gap, a);
                }
                f(a, e);
                gap = e;
            });
        }
        if gap < b.len() {
            f(gap, b.len());
        }
        b.len()
    }
}
