//! Special tokens written in rendered text (`<|im_start|>`, `[INST]`): found leftmost-longest,
//! as Hugging Face matches added tokens and as tiktoken's `allowed_special="all"` does for
//! specials that are not prefixes of each other.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, MatchKind};

pub struct SpecialSplit {
    ac: Option<AhoCorasick>,
    ids: Vec<u32>,
}

/// A piece of rendered text: a special token (its id and byte range) or a run of text.
pub enum Piece {
    Special(u32, (usize, usize)),
    Text(usize, usize),
}

impl SpecialSplit {
    pub fn new(specials: &BTreeMap<String, u32>) -> Self {
        let (strs, ids): (Vec<&str>, Vec<u32>) = specials
            .iter()
            .filter(|(s, _)| !s.is_empty())
            .map(|(s, id)| (s.as_str(), *id))
            .unzip();
        let ac = (!strs.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&strs)
                .expect("special token strings build a matcher")
        });
        Self { ac, ids }
    }

    pub fn pieces<'a>(&'a self, text: &'a str) -> impl Iterator<Item = Piece> + 'a {
        let mut out = Vec::new();
        let mut pos = 0;
        if let Some(ac) = &self.ac {
            for m in ac.find_iter(text) {
                if m.start() > pos {
                    out.push(Piece::Text(pos, m.start()));
                }
                out.push(Piece::Special(
                    self.ids[m.pattern().as_usize()],
                    (m.start(), m.end()),
                ));
                pos = m.end();
            }
        }
        if pos < text.len() {
            out.push(Piece::Text(pos, text.len()));
        }
        out.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_split_text_leftmost_longest() {
        let m: BTreeMap<String, u32> = [("<a>", 1), ("<a><b>", 2), ("[X]", 3)]
            .into_iter()
            .map(|(s, i)| (s.to_string(), i))
            .collect();
        let s = SpecialSplit::new(&m);
        let got: Vec<String> = s
            .pieces("x<a><b>y[X][X]<a>")
            .map(|p| match p {
                Piece::Special(id, (a, b)) => format!("{id}@{a}-{b}"),
                Piece::Text(a, b) => format!("t{a}-{b}"),
            })
            .collect();
        assert_eq!(
            got,
            ["t0-1", "2@1-7", "t7-8", "3@8-11", "3@11-14", "1@14-17"]
        );
    }
}
