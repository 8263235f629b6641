//! One tokenizer engine, in process: loads it, encodes the whole text once (one call, one
//! thread) and prints a JSON line with the id count, the sha256 of the ids (u32 little endian,
//! as scripts/bench/tokenizers.py hashes them), and the seconds spent loading and encoding.
//!
//!   tokenizer-peers ENGINE ENCODING CONFIG TEXT
//!
//! ENGINE: `prefix-warden` (ENCODING is a tokenizer id of CONFIG, loaded with the table cache
//! of CONFIG's state_dir), `bpe-openai` or `tiktoken-rs` (ENCODING is `o200k_base` or
//! `cl100k_base`, their built-in tables; CONFIG is not read).

use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};

type Encode = Box<dyn Fn(&str) -> Vec<u32>>;

fn load(engine: &str, encoding: &str, config: &Path) -> Result<Encode, String> {
    match engine {
        "prefix-warden" => {
            let cfg =
                prefix_warden_core::config::Config::load(config).map_err(|e| format!("{e:#}"))?;
            let entry = cfg.tokenizer(encoding).map_err(|e| format!("{e:#}"))?;
            let tok =
                prefix_warden_core::tokenizer::Tokenizer::load_cached(entry, Some(&cfg.state_dir))
                    .map_err(|e| format!("{e:#}"))?;
            Ok(Box::new(move |t| tok.encode(t).expect("encode")))
        }
        "bpe-openai" => {
            let tok = match encoding {
                "o200k_base" => bpe_openai::o200k_base(),
                "cl100k_base" => bpe_openai::cl100k_base(),
                _ => return Err(format!("bpe-openai has no {encoding}")),
            };
            Ok(Box::new(move |t| tok.encode(t)))
        }
        "tiktoken-rs" => {
            let tok = match encoding {
                "o200k_base" => tiktoken_rs::o200k_base(),
                "cl100k_base" => tiktoken_rs::cl100k_base(),
                _ => return Err(format!("tiktoken-rs has no {encoding}")),
            }
            .map_err(|e| e.to_string())?;
            Ok(Box::new(move |t| tok.encode_ordinary(t)))
        }
        _ => Err(format!("unknown engine {engine}")),
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: tokenizer-peers ENGINE ENCODING CONFIG TEXT");
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&a[4]).expect("read text");
    let t0 = Instant::now();
    let encode = load(&a[1], &a[2], Path::new(&a[3])).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    // bpe-openai builds its tables lazily on first use: one short call makes it part of loading.
    encode("warm up");
    let t1 = Instant::now();
    let ids = encode(&text);
    let t2 = Instant::now();
    let mut h = Sha256::new();
    for i in &ids {
        h.update(i.to_le_bytes());
    }
    println!(
        "{{\"count\": {}, \"sha256\": \"{:x}\", \"load_s\": {:.4}, \"encode_s\": {:.4}}}",
        ids.len(),
        h.finalize(),
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64()
    );
}
