//! A KV-cache event publisher's frames, as hostile as it likes: the payload through
//! `kv_events::wire::decode`, and what decodes applied to a host's residency index with the
//! `seq` the input's first 8 bytes claim, twice (a lying or repeating seq).
//!
//! Must hold: no panic, no OOM, bounded time; a decoded batch re-encodes and decodes to itself
//! (the codec loses nothing it keeps); the index keeps only blocks on the registered prefix's
//! chain (at most its block count per medium and group of a stored event, so here at most
//! the events' block count) and never more than `residency::MAX_KEPT`; resident tokens never
//! exceed the prefix; with a hash check (vLLM's `sha256_cbor` chain), no more blocks are checked
//! than stored blocks were read, none disagrees more than it was checked, and residency is the
//! same as without the check (tokens decide).
//!
//! Seeds (`fuzz/corpus/kv_events/`): the batches `scripts/reference/kv_events_wire.py encode DIR`
//! writes with vLLM's and SGLang's own encoders, each behind 8 bytes of seq (5).

use crate::kv_events::hash::{NoneHashSeed, Sha256Cbor};
use crate::kv_events::residency::{Host, Prefix, MAX_KEPT};
use crate::kv_events::wire::{self, Encoding, Medium};

pub fn check(data: &[u8]) {
    let (seq, payload) = match data.split_first_chunk::<8>() {
        Some((s, rest)) => (u64::from_be_bytes(*s), rest),
        None => (0, data),
    };
    let Ok(batch) = wire::decode(payload) else {
        return;
    };
    for tagged in [true, false] {
        let e = Encoding {
            tagged,
            int_hashes: true,
            sglang: false,
        };
        let again = wire::decode(&wire::encode(&batch, e)).expect("re-encoded batch decodes");
        assert_eq!(again.events, batch.events, "the codec lost an event");
    }
    let prefix: Vec<u32> = (0..64).collect();
    let prefixes = vec![Prefix {
        id: "p".into(),
        ids: prefix.clone(),
    }];
    let mut host = Host::new(prefixes.clone());
    let mut checked = Host::new(prefixes).with_hash_check(Sha256Cbor::new(&NoneHashSeed::unset()));
    for h in [&mut host, &mut checked] {
        h.apply(seq, &batch);
        h.apply(seq.wrapping_add(1), &batch);
        h.apply(seq, &batch);
    }
    assert!(host.kept_blocks() <= MAX_KEPT);
    for m in [Medium::Gpu, Medium::Other] {
        assert!(host.resident_tokens(0, m) <= prefix.len());
        assert_eq!(
            checked.resident_tokens(0, m),
            host.resident_tokens(0, m),
            "the hash check changed residency"
        );
    }
    let stored: u64 = batch
        .events
        .iter()
        .map(|e| match e {
            wire::Event::Stored { hashes, .. } => hashes.len() as u64,
            _ => 0,
        })
        .sum();
    let c = checked.counts;
    assert!(c.hash_checks <= 2 * stored, "{c:?}, {stored} stored");
    assert!(c.hash_disagreements <= c.hash_checks, "{c:?}");
    assert_eq!(host.counts.hash_checks, 0);
}
