//! Where a registered prefix is cached on self-hosted engines (issue #22): the KV-cache events
//! vLLM and SGLang publish ([`wire`]), read into per-host residency of each registered prefix
//! ([`residency`]), with vLLM's `sha256_cbor` block-hash chain ([`hash`]) to cross-check the
//! hashes they carry.

pub mod hash;
pub mod residency;
pub mod wire;
