//! One tokenizer engine, in process: loads it, encodes the whole text once (one call, one
//! thread) and prints a JSON line with the id count, the sha256 of the ids (u32 little endian,
//! as scripts/bench/tokenizers.py hashes them), and the seconds spent loading and encoding.
//!
//!   tokenizer-peers ENGINE ENCODING CONFIG TEXT
//!
//! ENGINE: `prefix-warden` (ENCODING is a tokenizer id of CONFIG, loaded with the table cache
//! of CONFIG's state_dir), `bpe-openai` or `tiktoken-rs` (ENCODING is `o200k_base` or
//! `cl100k_base`, their built-in tables; CONFIG is not read).
//!
//! `stages` (ENCODING: a rank-file tokenizer id of CONFIG) times the steps of prefix-warden's
//! rank-file engine one after the other, for docs/tokenizer-profile.md, with the parts the
//! engine had before issue #24 beside them: the split on the regex automata and on the
//! scanner; the scanner with a `HashMap<Vec<u8>, u32>` whole-piece lookup, then with
//! `tiktoken-rs`'s merge of the other pieces (the old engine on the new split); and the engine
//! itself (scanner, rank table, merge by rank), with the counts of pieces.

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

/// CPU seconds of this process, every thread (CLOCK_PROCESS_CPUTIME_ID): on a busy machine
/// closer to the work done than wall time, and it would show a second thread.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// The rank-file engine's steps, timed one after the other (see the file's doc).
fn stages(id: &str, config: &Path, text: &str) -> Result<(), String> {
    use prefix_warden_core::tokenizer::{
        parse_rank_file, read_maybe_gzip, read_spec, Splitter, Tokenizer,
    };
    let cfg = prefix_warden_core::config::Config::load(config).map_err(|e| format!("{e:#}"))?;
    let entry = cfg.tokenizer(id).map_err(|e| format!("{e:#}"))?;
    let spec_path = entry.spec.as_ref().ok_or("not a rank file with a spec")?;
    let (spec, _) = read_spec(id, spec_path).map_err(|e| format!("{e:#}"))?;
    let ranks = parse_rank_file(&read_maybe_gzip(&entry.file).map_err(|e| format!("{e:#}"))?)?;
    let split = Splitter::new(&spec.pattern)?;
    let automata = Splitter::automata(&spec.pattern).ok_or("no regex form for this pattern")?;
    let tok = Tokenizer::load_cached(entry, Some(&cfg.state_dir)).map_err(|e| format!("{e:#}"))?;
    let b = text.as_bytes();
    let secs = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    let (mut pieces, mut whole, mut merged_bytes) = (0usize, 0usize, 0usize);
    let s_automata = secs(&mut || automata.pieces(text, |_, _| pieces += 1).unwrap());
    let mut n = 0usize;
    let s_split = secs(&mut || split.pieces(text, |_, _| n += 1).unwrap());
    assert_eq!(
        n, pieces,
        "the scanner and the automata give as many pieces"
    );
    let mut found = 0u64;
    let s_lookup = secs(&mut || {
        split
            .pieces(text, |s, e| {
                if let Some(&r) = ranks.get(&b[s..e]) {
                    found += r as u64;
                    whole += 1;
                } else {
                    merged_bytes += e - s;
                }
            })
            .unwrap()
    });
    let mut ids: Vec<u32> = Vec::new();
    let s_before = secs(&mut || {
        ids = Vec::with_capacity(text.len() / 3);
        split
            .pieces(text, |s, e| match ranks.get(&b[s..e]) {
                Some(&r) => ids.push(r),
                None => ids.extend(
                    tiktoken_rs::byte_pair_split(&b[s..e], &ranks)
                        .into_iter()
                        .map(|p| ranks[p]),
                ),
            })
            .unwrap()
    });
    let table = prefix_warden_core::tokenizer::parts::RankTable::new(&ranks);
    let atoms = prefix_warden_core::tokenizer::parts::Atoms::of_ranks(&table);
    let mut byte_rank = [0u32; 256];
    for (b, r) in byte_rank.iter_mut().enumerate() {
        *r = ranks[&[b as u8][..]];
    }
    let mut sum = 0u64;
    let s_table = secs(&mut || {
        split
            .pieces(text, |s, e| {
                if let Some(r) = table.get(&b[s..e]) {
                    sum += r as u64;
                }
            })
            .unwrap()
    });
    assert_eq!(sum, found, "the rank table finds what the HashMap finds");
    let mut no_memo = Vec::new();
    let s_no_memo = secs(&mut || {
        let mut parts = Vec::new();
        no_memo = Vec::with_capacity(text.len() / 3);
        split
            .pieces(text, |s, e| match table.get(&b[s..e]) {
                Some(r) => no_memo.push(r),
                None => prefix_warden_core::tokenizer::parts::by_rank(
                    &b[s..e],
                    &table,
                    &byte_rank,
                    &atoms,
                    &mut parts,
                    &mut no_memo,
                ),
            })
            .unwrap()
    });
    assert_eq!(ids, no_memo, "the steps' ids are the engine's");
    let mut full = Vec::new();
    let s_full = secs(&mut || full = tok.encode(text).unwrap());
    assert_eq!(ids, full, "the steps' ids are the engine's");
    // What merging costs by the length of the piece: each distinct merged piece once (what the
    // memo leaves to merge), grouped by length.
    const BUCKETS: [(usize, usize); 7] = [
        (2, 4),
        (5, 8),
        (9, 12),
        (13, 16),
        (17, 24),
        (25, 64),
        (65, usize::MAX),
    ];
    let mut distinct: Vec<Vec<&[u8]>> = vec![Vec::new(); BUCKETS.len()];
    let mut seen = std::collections::HashSet::new();
    split
        .pieces(text, |s, e| {
            let p = &b[s..e];
            if table.get(p).is_none() && seen.insert(p) {
                if let Some(k) = BUCKETS
                    .iter()
                    .position(|&(lo, hi)| (lo..=hi).contains(&p.len()))
                {
                    distinct[k].push(p);
                }
            }
        })
        .unwrap();
    let mut merge_rows = Vec::new();
    let (mut parts, mut out) = (Vec::new(), Vec::new());
    for (&(lo, hi), v) in BUCKETS.iter().zip(&distinct) {
        let t = secs(&mut || {
            out.clear();
            for p in v {
                prefix_warden_core::tokenizer::parts::by_rank(
                    p, &table, &byte_rank, &atoms, &mut parts, &mut out,
                );
            }
        });
        let bytes: usize = v.iter().map(|p| p.len()).sum();
        let hi = if hi == usize::MAX {
            String::new()
        } else {
            hi.to_string()
        };
        merge_rows.push(format!(
            "  merge, pieces of {lo}-{hi} bytes: {} distinct, {bytes} bytes, {t:.3} s, {:.0} ns/piece, {:.0} ns/byte",
            v.len(),
            t * 1e9 / v.len().max(1) as f64,
            t * 1e9 / bytes.max(1) as f64
        ));
    }
    let mb = text.len() as f64 / 1e6;
    println!(
        "{id}: {mb:.2} MB, {pieces} pieces, {whole} found whole in the table ({:.1}%), {} merged ({merged_bytes} bytes), {} ids (sum {found})",
        100.0 * whole as f64 / pieces as f64,
        pieces - whole,
        full.len()
    );
    for (name, s) in [
        ("split on the regex automata (before)", s_automata),
        ("split on the scanner", s_split),
        ("scanner + HashMap<Vec<u8>, u32> lookup", s_lookup),
        ("scanner + HashMap + tiktoken-rs merge", s_before),
        ("scanner + rank table lookup", s_table),
        ("scanner + rank table + merge, no memo", s_no_memo),
        ("the engine (+ memo of merged pieces)", s_full),
    ] {
        println!("{name:<45} {s:.3} s  {:.1} MB/s", mb / s);
    }
    println!(
        "distinct merged pieces: {} of {}",
        seen.len(),
        pieces - whole
    );
    for row in merge_rows {
        println!("{row}");
    }
    Ok(())
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() == 5 && a[1] == "stages" {
        let text = std::fs::read_to_string(&a[4]).expect("read text");
        if let Err(e) = stages(&a[2], Path::new(&a[3]), &text) {
            eprintln!("{e}");
            std::process::exit(2);
        }
        return;
    }
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
    let c1 = cpu_seconds();
    let ids = encode(&text);
    let c2 = cpu_seconds();
    let t2 = Instant::now();
    // PEERS_REPS=N (a tool for A/B runs, not the bench): N - 1 more calls, and the least CPU
    // time of all N, which the machine's bursts of noise touch less than any single call.
    let reps: usize = std::env::var("PEERS_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let mut least = c2 - c1;
    for _ in 1..reps {
        let c = cpu_seconds();
        let again = encode(&text);
        least = least.min(cpu_seconds() - c);
        assert_eq!(again, ids, "a repeated call gives the same ids");
    }
    if reps > 1 {
        eprintln!("least of {reps}: {least:.4}");
    }
    let mut h = Sha256::new();
    for i in &ids {
        h.update(i.to_le_bytes());
    }
    println!(
        "{{\"count\": {}, \"sha256\": \"{:x}\", \"load_s\": {:.4}, \"encode_s\": {:.4}, \"encode_cpu_s\": {:.4}}}",
        ids.len(),
        h.finalize(),
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        c2 - c1
    );
}
