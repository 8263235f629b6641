//! Token ids of every shipped tokenizer on every corpus text equal the reference
//! implementation's (Python tiktoken / tokenizers / sentencepiece / mistral-common), as committed
//! in tests/data/expected_ids by scripts/reference/gen_expected_ids.py; so do the ids of the two
//! SentencePiece test models (unigram, NFKC charsmap) in tests/data/spm.

use std::collections::BTreeMap;

use prefix_warden::config::Config;
use prefix_warden::tokenizer::Tokenizer;
use rayon::prelude::*;

use crate::support::{corpus, root};

#[derive(serde::Deserialize)]
struct Expected {
    tokenizer: String,
    file_sha256: String,
    ids: BTreeMap<String, Vec<u32>>,
}

fn expected(label: &str) -> Expected {
    let p = root()
        .join("tests/data/expected_ids")
        .join(format!("{}.json.gz", label.replace('/', "__")));
    let bytes = prefix_warden::tokenizer::read_maybe_gzip(&p)
        .unwrap_or_else(|e| panic!("{label}: no expected ids: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn every_shipped_tokenizer_matches_the_reference_on_the_whole_corpus() {
    let cfg = Config::load(&root().join("daemon.toml")).unwrap();
    let texts = corpus();
    assert_eq!(
        texts.len(),
        41,
        "the whole shared corpus is in tests/data/corpus"
    );
    // An entry with a chat template reads the same file as a bare entry; what it adds, the
    // rendering, is checked against transformers in templates.rs.
    let failures: Vec<String> = cfg
        .tokenizers
        .par_iter()
        .filter(|t| t.template.is_none())
        .flat_map(|entry| {
            let exp = expected(&entry.id);
            assert_eq!(exp.tokenizer, entry.id);
            let tok = Tokenizer::load(entry).unwrap();
            assert_eq!(
                tok.identity.file_sha256, exp.file_sha256,
                "{}: expected ids are for another file",
                entry.id
            );
            compare(&entry.id, entry.format, &tok, &exp, &texts)
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn sentencepiece_unigram_and_nfkc_models_match_the_reference_on_the_whole_corpus() {
    use prefix_warden::config::TokenizerFormat;
    let texts = corpus();
    let mut failures = Vec::new();
    for (label, file) in [
        ("test/spm-unigram-nfkc", "tests/data/spm/unigram-nfkc.model"),
        ("test/spm-bpe-nfkc", "tests/data/spm/bpe-nfkc.model"),
    ] {
        let exp = expected(label);
        let tok = Tokenizer::load_file(
            label,
            &root().join(file),
            TokenizerFormat::Sentencepiece,
            None,
        )
        .unwrap();
        assert_eq!(tok.identity.file_sha256, exp.file_sha256, "{label}");
        failures.extend(compare(
            label,
            TokenizerFormat::Sentencepiece,
            &tok,
            &exp,
            &texts,
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every text's ids and offsets against the expected ids: one line per mismatch.
fn compare(
    label: &str,
    format: prefix_warden::config::TokenizerFormat,
    tok: &Tokenizer,
    exp: &Expected,
    texts: &[(String, String)],
) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, text) in texts {
        let want = exp
            .ids
            .get(name)
            .unwrap_or_else(|| panic!("{label}: no expected ids for {name}"));
        let got = tok.encode(text).unwrap();
        if &got != want {
            let at = got
                .iter()
                .zip(want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            bad.push(format!(
                "{label} on {name}: first difference at token {at} (got {} ids, want {})",
                got.len(),
                want.len()
            ));
        }
        let (ids2, offs) = tok.encode_with_offsets(text).unwrap();
        assert_eq!(&ids2, &got);
        if let Err(why) = check_offsets(format, text, &offs) {
            bad.push(format!("{label} on {name}: offsets: {why}"));
        }
    }
    bad
}

/// Rank engines (tiktoken, tekken) split bytes: their offsets tile the text exactly, each token
/// starting where the last ended, the last ending at the end (a token may end inside a
/// multi-byte character). SentencePiece offsets tile the text too, on character boundaries (a
/// character spelled in byte pieces belongs to its last one). HF engines report the characters a token came from: in bounds, on
/// character boundaries, never going backwards.
fn check_offsets(
    format: prefix_warden::config::TokenizerFormat,
    text: &str,
    offs: &[(usize, usize)],
) -> Result<(), String> {
    use prefix_warden::config::TokenizerFormat;
    if let Some((i, (a, b))) = offs
        .iter()
        .enumerate()
        .find(|(_, (a, b))| a > b || *b > text.len())
    {
        return Err(format!(
            "token {i}: [{a}, {b}) out of bounds ({} bytes)",
            text.len()
        ));
    }
    if format == TokenizerFormat::Sentencepiece {
        on_char_boundaries(text, offs)?;
    }
    match format {
        TokenizerFormat::Tiktoken | TokenizerFormat::Tekken | TokenizerFormat::Sentencepiece => {
            let mut at = 0;
            for (i, (a, b)) in offs.iter().enumerate() {
                if *a != at {
                    return Err(format!(
                        "token {i} starts at {a}, the previous ended at {at}"
                    ));
                }
                at = *b;
            }
            if at != text.len() {
                return Err(format!(
                    "the last token ends at {at}, the text at {}",
                    text.len()
                ));
            }
        }
        TokenizerFormat::HfJson => {
            for (i, w) in offs.windows(2).enumerate() {
                if w[1].0 < w[0].0 {
                    return Err(format!("token {} starts before token {i}", i + 1));
                }
            }
            on_char_boundaries(text, offs)?;
        }
        TokenizerFormat::AnthropicCount
        | TokenizerFormat::GeminiCount
        | TokenizerFormat::OpenaiCount => return Err("a counting tokenizer has no ids".into()),
    }
    Ok(())
}

fn on_char_boundaries(text: &str, offs: &[(usize, usize)]) -> Result<(), String> {
    match offs
        .iter()
        .enumerate()
        .find(|(_, (a, b))| !text.is_char_boundary(*a) || !text.is_char_boundary(*b))
    {
        Some((i, (a, b))) => Err(format!(
            "token {i}: [{a}, {b}) is not on character boundaries"
        )),
        None => Ok(()),
    }
}

#[test]
fn offsets_checks_catch_gaps_overlaps_and_split_characters() {
    use prefix_warden::config::TokenizerFormat::{HfJson, Tiktoken};
    assert!(check_offsets(Tiktoken, "abc", &[(0, 1), (1, 3)]).is_ok());
    assert!(
        check_offsets(Tiktoken, "abc", &[(0, 1), (2, 3)]).is_err(),
        "gap"
    );
    assert!(
        check_offsets(Tiktoken, "abc", &[(0, 2), (1, 3)]).is_err(),
        "overlap"
    );
    assert!(check_offsets(Tiktoken, "abc", &[(0, 2)]).is_err(), "short");
    assert!(
        check_offsets(HfJson, "é", &[(0, 1)]).is_err(),
        "inside a character"
    );
    assert!(
        check_offsets(HfJson, "ab", &[(1, 2), (0, 1)]).is_err(),
        "backwards"
    );
    assert!(
        check_offsets(HfJson, "é", &[(0, 2), (0, 2)]).is_ok(),
        "two tokens, one char"
    );
}

#[test]
fn nfc_normalizer_is_the_only_difference_between_the_qwen_rank_file_and_qwen3_json() {
    // The "one glyph splits differently" upgrade: decomposed é (e + U+0301) is composed by the
    // Qwen3 tokenizer.json's NFC normalizer and left alone by the rank file.
    let cfg = Config::load(&root().join("daemon.toml")).unwrap();
    let rank = Tokenizer::load(cfg.tokenizer("qwen/qwen2.5-qwen3").unwrap()).unwrap();
    let json = Tokenizer::load(cfg.tokenizer("qwen/qwen3").unwrap()).unwrap();
    assert_eq!(rank.vocab_hash, json.vocab_hash, "same id -> bytes table");
    let composed = "Please r\u{e9}sum\u{e9} the caf\u{e9} menu.";
    let decomposed = "Please re\u{301}sume\u{301} the cafe\u{301} menu.";
    assert_eq!(
        rank.encode(composed).unwrap(),
        json.encode(composed).unwrap()
    );
    assert_ne!(
        rank.encode(decomposed).unwrap(),
        json.encode(decomposed).unwrap()
    );
    assert_eq!(
        json.encode(decomposed).unwrap(),
        rank.encode(composed).unwrap(),
        "NFC(decomposed) == composed"
    );
}

#[test]
fn native_byte_level_bpe_takes_every_shipped_tokenizer_json_and_agrees_with_the_tokenizers_crate() {
    // The exact-ids test covers the corpus; these strings cover what the corpus lacks: text
    // that normalization changes, added tokens next to each other and inside words, whitespace
    // runs of every kind, and a piece long enough for the heap-based merge.
    use prefix_warden::config::TokenizerFormat;
    use prefix_warden::tokenizer::HfJson;
    let cfg = Config::load(&root().join("daemon.toml")).unwrap();
    let long_run = "=".repeat(5000);
    let long_word = "ab".repeat(3000);
    let texts = [
        "",
        " ",
        "Please re\u{301}sume\u{301} the cafe\u{301} menu, \u{fb01}ne \u{2460} \u{ff21}.",
        "<think></think><think>x</think>y<｜end▁of▁sentence｜><|im_start|>system\n",
        "a  b   \n\n  \t c \u{3000}\u{3000}d\r\n\r\n   ",
        "数字123456 和 日本語のテキスト, カタカナ, 한국어; Ёлка! 🦀🦀 e\u{301}\u{302}",
        "don't I'LL we've 'S x'd",
        &long_run,
        &long_word,
    ];
    let mut checked = 0;
    for entry in cfg
        .tokenizers
        .iter()
        .filter(|t| t.format == TokenizerFormat::HfJson && t.template.is_none())
    {
        let tok = Tokenizer::load(entry).unwrap();
        assert!(
            tok.engine().starts_with("native"),
            "{}: {}",
            entry.id,
            tok.engine()
        );
        let bytes = prefix_warden::tokenizer::read_maybe_gzip(&entry.file).unwrap();
        let reference = HfJson::with_tokenizers_crate(&bytes).unwrap();
        for t in &texts {
            assert_eq!(
                tok.encode(t).unwrap(),
                reference.encode(t).unwrap(),
                "{} on {:?}",
                entry.id,
                &t[..t.len().min(60)]
            );
            let (_, offs) = tok.encode_with_offsets(t).unwrap();
            check_offsets(TokenizerFormat::HfJson, t, &offs).unwrap();
        }
        checked += 1;
    }
    assert_eq!(checked, 4);
}

/// A pre-tokenizer of three splits that do not fuse (DeepSeek's with its CJK split before its
/// numbers split) takes the general path of the native split, which gives what the
/// `tokenizers` crate gives.
#[test]
fn three_splits_in_a_row_split_as_the_tokenizers_crate_does() {
    use prefix_warden::tokenizer::HfJson;
    let file = root().join("tokenizers/deepseek/deepseek-v3.tokenizer.json.gz");
    let bytes = prefix_warden::tokenizer::read_maybe_gzip(&file).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let list = json["pre_tokenizer"]["pretokenizers"]
        .as_array_mut()
        .unwrap();
    assert!(
        list.len() >= 4,
        "DeepSeek's numbers, CJK and main splits, then ByteLevel"
    );
    list.swap(0, 1);
    let bytes = json.to_string().into_bytes();
    let native = HfJson::from_bytes(&bytes).unwrap();
    assert!(native.engine().starts_with("native"), "{}", native.engine());
    let reference = HfJson::with_tokenizers_crate(&bytes).unwrap();
    for t in [
        "数字123456 和 日本語のテキスト12, カタカナ3 한국어; Ёлка! 🦀 x1y22z333w4444",
        "fn main() {\n    let v = vec![1, 20, 300, 4000];\n}\n\n  \t 東京2024年\r\n",
        "",
    ] {
        assert_eq!(
            native.encode(t).unwrap(),
            reference.encode(t).unwrap(),
            "{t:?}"
        );
    }
}

#[test]
fn a_tokenizer_json_the_native_engine_cannot_take_falls_back_and_says_why() {
    let file = root().join("tokenizers/qwen/qwen3.tokenizer.json.gz");
    let bytes = prefix_warden::tokenizer::read_maybe_gzip(&file).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    json["added_tokens"][0]["lstrip"] = true.into();
    let t = prefix_warden::tokenizer::HfJson::from_bytes(json.to_string().as_bytes()).unwrap();
    assert_eq!(
        t.engine(),
        "tokenizers crate (an added token has single_word, lstrip or rstrip)"
    );
    assert_eq!(t.encode("hello world").unwrap().len(), 2);
}

/// A registry tokenizer.json whose split the native engine does not know goes to the
/// `tokenizers` crate through the load the daemon and CLI use, which lets the file's bytes go
/// as soon as the native tables are parsed (the memory bound, scripts/check-tokenizer-memory.py):
/// a file it cannot parse keeps them for the crate, loaded twice (no native tables are cached
/// for it), with the crate's ids on the file's own bytes.
#[test]
fn a_registry_file_the_native_engine_cannot_take_is_the_tokenizers_crates_on_every_load() {
    use prefix_warden::tokenizer::HfJson;
    let bytes = prefix_warden::tokenizer::read_maybe_gzip(
        &root().join("tokenizers/qwen/qwen3.tokenizer.json.gz"),
    )
    .unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] =
        r"\p{L}+|\p{N}|[^\p{L}\p{N}]+".into();
    let bytes = json.to_string().into_bytes();
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("tok.json"), &bytes).unwrap();
    let sha = prefix_warden::tokenizer::sha256_hex(&bytes);
    std::fs::write(
        d.path().join("registry.toml"),
        format!(
            "state_dir = \"state\"\n[[tokenizer]]\nid = \"test/odd-split\"\nprovider = \"qwen\"\n\
             format = \"hf-json\"\nfile = \"tok.json\"\nsha256 = \"{sha}\"\n"
        ),
    )
    .unwrap();
    let cfg = Config::load(&d.path().join("registry.toml")).unwrap();
    let entry = cfg.tokenizer("test/odd-split").unwrap();
    let reference = HfJson::with_tokenizers_crate(&bytes).unwrap();
    let text = "Héllo wörld 12345, 東京2024年!\n  x_y";
    for load in ["cold", "warm"] {
        let t = Tokenizer::load_cached(entry, Some(&d.path().join("state"))).unwrap();
        assert_eq!(
            t.engine(),
            "tokenizers crate (a split pattern is not one of the known ones)",
            "{load}"
        );
        assert_eq!(
            t.encode(text).unwrap(),
            reference.encode(text).unwrap(),
            "{load}"
        );
    }
    assert!(
        !d.path().join("state/tokenizer-tables").exists(),
        "no native tables are cached for a file the native engine does not take"
    );
}
