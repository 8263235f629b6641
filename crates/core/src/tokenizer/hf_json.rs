//! HF `tokenizer.json` files: natively ([`super::hf_bpe`]) when the file is a byte-level BPE
//! whose every stage that engine implements exactly, otherwise through the `tokenizers` crate.
//!
//! Encoding is `encode(text, add_special_tokens = false)`: no BOS/EOS, but added tokens written
//! in the text (`<think>`) are matched, as self-hosted engines do after rendering a chat
//! template. Offsets are byte offsets into the original text.

use std::collections::BTreeMap;

use super::hf_bpe::HfBpe;

enum Engine {
    Native(Box<HfBpe>),
    /// The `tokenizers` crate, and why the native engine could not take the file.
    Crate(Box<tokenizers::Tokenizer>, String),
}

pub struct HfJson {
    engine: Engine,
    /// Id -> bytes of every ordinary (non-added) token, for the vocabulary hash.
    vocab: Vec<(u32, Vec<u8>)>,
    special_tokens: BTreeMap<String, u32>,
}

/// Runs `f`, turning a panic inside the `tokenizers` crate into an error: that crate panics on
/// some malformed files (0.23: `.expect("Helper")` in `decoders/mod.rs` on an unreadable
/// `decoder`, even on the 11 bytes `{"decoder":` of a truncated download; found by fuzzing,
/// `fuzz/regressions/hf_json-*`). A bad file must be an error, never a crash.
fn contained<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(format!(
            "{what}: the tokenizers crate failed on this file (malformed tokenizer.json?)"
        ))
    })
}

impl HfJson {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        Self::from_native_or_bytes(HfBpe::from_bytes(bytes), bytes)
    }

    /// The native engine when it could be built, else the `tokenizers` crate on `bytes`.
    pub fn from_native_or_bytes(
        native: Result<super::hf_bpe::Loaded, String>,
        bytes: &[u8],
    ) -> Result<Self, String> {
        match native {
            Ok(l) => Ok(Self {
                engine: Engine::Native(Box::new(l.engine)),
                vocab: l.vocab,
                special_tokens: l.special_tokens,
            }),
            Err(why) => contained("not a usable tokenizer.json", || {
                Self::from_bytes_inner(bytes, why)
            }),
        }
    }

    /// Loads the file with the `tokenizers` crate even when the native engine could take it:
    /// the reference the native engine is tested against.
    pub fn with_tokenizers_crate(bytes: &[u8]) -> Result<Self, String> {
        contained("not a usable tokenizer.json", || {
            Self::from_bytes_inner(bytes, "asked for".into())
        })
    }

    /// Which engine encodes: `native`, or `tokenizers crate (<why not native>)`.
    pub fn engine(&self) -> String {
        match &self.engine {
            Engine::Native(_) => "native byte-level BPE".into(),
            Engine::Crate(_, why) => format!("tokenizers crate ({why})"),
        }
    }

    fn from_bytes_inner(bytes: &[u8], why: String) -> Result<Self, String> {
        let tok = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|e| format!("not a usable tokenizer.json: {e}"))?;
        let added = tok.get_added_tokens_decoder();
        let byte_level = decoder_is_byte_level(bytes);
        let mut vocab: Vec<(u32, Vec<u8>)> = tok
            .get_vocab(false)
            .into_iter()
            .filter(|(_, id)| !added.contains_key(id))
            .map(|(s, id)| (id, token_bytes(&s, byte_level)))
            .collect();
        vocab.sort_unstable_by_key(|(id, _)| *id);
        let special_tokens = added
            .iter()
            .map(|(id, t)| (t.content.clone(), *id))
            .collect();
        Ok(Self {
            engine: Engine::Crate(Box::new(tok), why),
            vocab,
            special_tokens,
        })
    }

    pub fn encode_with_offsets(&self, text: &str) -> Result<super::IdsWithOffsets, String> {
        match &self.engine {
            Engine::Native(n) => {
                let (mut ids, mut offsets) = (Vec::new(), Vec::new());
                n.encode_into(text, &mut ids, Some(&mut offsets));
                Ok((ids, offsets))
            }
            Engine::Crate(tok, _) => contained("encoding failed", || {
                let enc = tok
                    .encode(text, false)
                    .map_err(|e| format!("encoding failed: {e}"))?;
                Ok((enc.get_ids().to_vec(), enc.get_offsets().to_vec()))
            }),
        }
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        match &self.engine {
            Engine::Native(n) => {
                // One id per two bytes of text covers prose, code and CJK without a
                // reallocation, which would hold the old and the doubled vector at once: with
                // a quarter, qwen3 on the 16 MB bench text (4.6 M ids) peaked at 126 MiB, with
                // a third claude-legacy (5.3 M) at 125 MiB; with a half both stay under 117.
                let mut ids = super::huge::with_capacity(text.len() / 2);
                n.encode_into(text, &mut ids, None);
                Ok(ids)
            }
            Engine::Crate(tok, _) => contained("encoding failed", || {
                let enc = tok
                    .encode(text, false)
                    .map_err(|e| format!("encoding failed: {e}"))?;
                Ok(enc.get_ids().to_vec())
            }),
        }
    }

    pub fn vocab(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.vocab.iter().map(|(id, b)| (*id, b.as_slice()))
    }

    pub fn special_tokens(&self) -> &BTreeMap<String, u32> {
        &self.special_tokens
    }
}

/// Whether the file's decoder is byte-level (GPT-2 style), i.e. vocab strings are bytes
/// mapped to printable characters.
fn decoder_is_byte_level(json: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Head {
        decoder: Option<serde_json::Value>,
    }
    let Ok(h) = serde_json::from_slice::<Head>(json) else {
        return false;
    };
    fn has_byte_level(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(m) => {
                m.get("type").and_then(|t| t.as_str()) == Some("ByteLevel")
                    || m.values().any(has_byte_level)
            }
            serde_json::Value::Array(a) => a.iter().any(has_byte_level),
            _ => false,
        }
    }
    h.decoder.as_ref().is_some_and(has_byte_level)
}

/// The bytes a vocabulary string stands for.
pub(super) fn token_bytes(s: &str, byte_level: bool) -> Vec<u8> {
    if byte_level {
        let table = unicode_to_byte();
        if let Some(bytes) = s
            .chars()
            .map(|c| table.get(&c).copied())
            .collect::<Option<Vec<u8>>>()
        {
            return bytes;
        }
    }
    // SentencePiece-style vocabularies: `▁` is a space and `<0xNN>` a raw byte.
    if s.len() == 6 && s.starts_with("<0x") && s.ends_with('>') {
        if let Ok(b) = u8::from_str_radix(&s[3..5], 16) {
            return vec![b];
        }
    }
    s.replace('\u{2581}', " ").into_bytes()
}

/// GPT-2's `bytes_to_unicode`, inverted: printable character -> byte.
pub(super) fn unicode_to_byte() -> &'static std::collections::HashMap<char, u8> {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<char, u8>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).collect();
        printable.extend(0xA1..=0xAC);
        printable.extend(0xAE..=0xFF);
        let mut map = std::collections::HashMap::new();
        let mut n = 0;
        for b in 0..=255u32 {
            let c = if printable.contains(&b) {
                b
            } else {
                n += 1;
                255 + n
            };
            map.insert(char::from_u32(c).expect("valid char"), b as u8);
        }
        map
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_file_is_an_error_not_a_panic() {
        // Found by fuzzing: the tokenizers crate panics on this.
        let e = HfJson::from_bytes(br#"{"decoder":"#).err().unwrap();
        assert!(e.contains("not a usable tokenizer.json"), "{e}");
        for regression in [
            &include_bytes!("../../../../fuzz/regressions/hf_json-truncated-decoder")[..],
            &include_bytes!("../../../../fuzz/regressions/hf_json-misspelled-decoder-type")[..],
        ] {
            assert!(HfJson::from_bytes(regression).is_err());
        }
    }

    #[test]
    fn byte_level_strings_decode_to_bytes() {
        assert_eq!(token_bytes("Ġhello", true), b" hello");
        assert_eq!(token_bytes("Ċ", true), b"\n");
        assert_eq!(token_bytes("<0x0A>", false), b"\n");
        assert_eq!(token_bytes("\u{2581}the", false), b" the");
    }
}
