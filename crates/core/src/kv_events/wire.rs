//! The engines' KV-cache event batches on the wire (issue #22): the msgpack payload of the third
//! frame of `[topic, seq (8 bytes big-endian), payload]`, decoded with every count checked
//! against the bytes left before anything is allocated, and encoded the way the engines do
//! (for `prefix emulate --engine`).
//!
//! - vLLM (`vllm/distributed/kv_events.py`, msgspec): a batch is the array `[ts, [event…],
//!   data_parallel_rank]`; an event is a tagged map `{"type": "BlockStored", "block_hashes",
//!   "parent_block_hash", "token_ids", "block_size", "lora_id", "medium", "lora_name",
//!   ["extra_keys", "group_idx", …]}` (defaults omitted), `{"type": "BlockRemoved",
//!   "block_hashes", "medium", ["group_idx"]}`, `{"type": "AllBlocksCleared"}`; older releases
//!   encode an event as a positional array whose first element is the tag. A block hash is an
//!   int (the digest's last 8 bytes, the default) or the digest's bytes
//!   (`VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0`).
//! - SGLang (`srt/disaggregation/kv_events.py`): the same framing and tags; hashes are signed
//!   64-bit ints, media `GPU`, `CPU_PINNED`, `DISK`, `EXTERNAL`.
//!
//! A hash is kept as a [`BlockHash`]: an int as its 64 bits, bytes as their last 8 bytes read
//! big-endian (what vLLM's int encoding publishes for the same block), so both encodings of one
//! block are one key. Unknown map keys are skipped; unknown tags are an error naming them.

use rmp::Marker;

/// Largest payload decoded (vLLM's batches are one scheduler step: kilobytes).
pub const MAX_PAYLOAD: usize = 16 << 20;
/// Deepest nesting skipped inside an unknown field.
const MAX_SKIP_DEPTH: usize = 16;
/// Longest string read (tags, media, lora names).
const MAX_STR: usize = 256;

/// A block's hash, as both vLLM encodings and SGLang's map it (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHash(pub u64);

/// Where a block lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Medium {
    Gpu,
    /// Any other tier: CPU (vLLM `CPU`, SGLang `CPU_PINNED`), disk, storage, external pools.
    Other,
}

impl Medium {
    /// `None` (the engines' default) is GPU.
    fn parse(s: Option<&str>) -> Medium {
        match s {
            None | Some("GPU") => Medium::Gpu,
            Some(_) => Medium::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Medium::Gpu => "gpu",
            Medium::Other => "other",
        }
    }
}

/// One KV-cache event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Stored {
        hashes: Vec<BlockHash>,
        /// The parent of the first block (`None`: the first block of a sequence).
        parent: Option<BlockHash>,
        /// The tokens of every block, `block_size` each, concatenated.
        token_ids: Vec<u32>,
        block_size: u32,
        medium: Medium,
        /// vLLM's KV-cache group (hybrid models); 0 when absent.
        group: u32,
    },
    Removed {
        hashes: Vec<BlockHash>,
        medium: Medium,
        group: u32,
    },
    AllCleared,
}

/// One published batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub ts: f64,
    pub events: Vec<Event>,
    pub rank: Option<i64>,
}

/// What is wrong with a payload, in one line (never its bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kv event payload: {0}")]
pub struct WireError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(m.into()))
}

/// A cursor over the payload.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn marker(&mut self) -> Result<Marker, WireError> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or_else(|| WireError("truncated".into()))?;
        self.buf = rest;
        Ok(Marker::from_u8(b))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return err(format!(
                "truncated: {n} bytes announced, {} left",
                self.buf.len()
            ));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    fn be(&mut self, n: usize) -> Result<u64, WireError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A length announced by a header: each element takes at least one byte, so a count above
    /// the bytes left is a lie, refused before anything is allocated.
    fn count(&mut self, n: u64, what: &str) -> Result<usize, WireError> {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > self.buf.len() {
            return err(format!(
                "{what} announces {n} elements, {} bytes left",
                self.buf.len()
            ));
        }
        Ok(n)
    }

    fn array_len(&mut self, what: &str) -> Result<usize, WireError> {
        let m = self.marker()?;
        self.array_len_after(m, what)
    }

    fn array_len_after(&mut self, m: Marker, what: &str) -> Result<usize, WireError> {
        let n = match m {
            Marker::FixArray(n) => u64::from(n),
            Marker::Array16 => self.be(2)?,
            Marker::Array32 => self.be(4)?,
            m => return err(format!("{what}: expected an array, found {m:?}")),
        };
        self.count(n, what)
    }

    fn map_len(&mut self, m: Marker, what: &str) -> Result<usize, WireError> {
        let n = match m {
            Marker::FixMap(n) => u64::from(n),
            Marker::Map16 => self.be(2)?,
            Marker::Map32 => self.be(4)?,
            m => return err(format!("{what}: expected a map, found {m:?}")),
        };
        self.count(n.saturating_mul(2), what).map(|n| n / 2)
    }

    fn str_after(&mut self, m: Marker, what: &str) -> Result<&'a str, WireError> {
        let n = match m {
            Marker::FixStr(n) => u64::from(n),
            Marker::Str8 => self.be(1)?,
            Marker::Str16 => self.be(2)?,
            Marker::Str32 => self.be(4)?,
            m => return err(format!("{what}: expected a string, found {m:?}")),
        };
        if n as usize > MAX_STR {
            return err(format!("{what}: a string of {n} bytes"));
        }
        let b = self.take(n as usize)?;
        std::str::from_utf8(b).map_err(|_| WireError(format!("{what}: not UTF-8")))
    }

    fn opt_str(&mut self, what: &str) -> Result<Option<&'a str>, WireError> {
        match self.marker()? {
            Marker::Null => Ok(None),
            m => self.str_after(m, what).map(Some),
        }
    }

    /// An integer as i128 (covers u64 and i64).
    fn int_after(&mut self, m: Marker, what: &str) -> Result<i128, WireError> {
        Ok(match m {
            Marker::FixPos(n) => i128::from(n),
            Marker::FixNeg(n) => i128::from(n),
            Marker::U8 => i128::from(self.be(1)?),
            Marker::U16 => i128::from(self.be(2)?),
            Marker::U32 => i128::from(self.be(4)?),
            Marker::U64 => i128::from(self.be(8)?),
            Marker::I8 => i128::from(self.be(1)? as u8 as i8),
            Marker::I16 => i128::from(self.be(2)? as u16 as i16),
            Marker::I32 => i128::from(self.be(4)? as u32 as i32),
            Marker::I64 => i128::from(self.be(8)? as i64),
            m => return err(format!("{what}: expected an integer, found {m:?}")),
        })
    }

    fn int(&mut self, what: &str) -> Result<i128, WireError> {
        let m = self.marker()?;
        self.int_after(m, what)
    }

    fn opt_int(&mut self, what: &str) -> Result<Option<i128>, WireError> {
        match self.marker()? {
            Marker::Null => Ok(None),
            m => self.int_after(m, what).map(Some),
        }
    }

    fn float(&mut self, what: &str) -> Result<f64, WireError> {
        match self.marker()? {
            Marker::F64 => Ok(f64::from_bits(self.be(8)?)),
            Marker::F32 => Ok(f64::from(f32::from_bits(self.be(4)? as u32))),
            m => self.int_after(m, what).map(|i| i as f64),
        }
    }

    fn hash_after(&mut self, m: Marker, what: &str) -> Result<BlockHash, WireError> {
        let n = match m {
            Marker::Bin8 => self.be(1)?,
            Marker::Bin16 => self.be(2)?,
            Marker::Bin32 => self.be(4)?,
            m => {
                let i = self.int_after(m, what)?;
                // u64 as published by vLLM, i64 by SGLang: the same 64 bits.
                return Ok(BlockHash(i as u64));
            }
        };
        if n == 0 || n > 64 {
            return err(format!("{what}: a hash of {n} bytes"));
        }
        let b = self.take(n as usize)?;
        let tail = &b[b.len().saturating_sub(8)..];
        Ok(BlockHash(
            tail.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
        ))
    }

    fn hash(&mut self, what: &str) -> Result<BlockHash, WireError> {
        let m = self.marker()?;
        self.hash_after(m, what)
    }

    fn opt_hash(&mut self, what: &str) -> Result<Option<BlockHash>, WireError> {
        match self.marker()? {
            Marker::Null => Ok(None),
            m => self.hash_after(m, what).map(Some),
        }
    }

    fn hashes(&mut self, what: &str) -> Result<Vec<BlockHash>, WireError> {
        let n = self.array_len(what)?;
        (0..n).map(|_| self.hash(what)).collect()
    }

    fn tokens(&mut self) -> Result<Vec<u32>, WireError> {
        let n = self.array_len("token_ids")?;
        (0..n)
            .map(|_| {
                let i = self.int("token_ids")?;
                u32::try_from(i).map_err(|_| WireError(format!("token_ids: {i} is not a token id")))
            })
            .collect()
    }

    /// Skips one value of any kind (an unknown field), at most [`MAX_SKIP_DEPTH`] deep.
    fn skip(&mut self, depth: usize) -> Result<(), WireError> {
        if depth > MAX_SKIP_DEPTH {
            return err("nested too deep");
        }
        let m = self.marker()?;
        let n = match m {
            Marker::Null | Marker::True | Marker::False | Marker::FixPos(_) | Marker::FixNeg(_) => {
                0
            }
            Marker::U8 | Marker::I8 => 1,
            Marker::U16 | Marker::I16 => 2,
            Marker::U32 | Marker::I32 | Marker::F32 => 4,
            Marker::U64 | Marker::I64 | Marker::F64 => 8,
            Marker::FixStr(n) => n as usize,
            Marker::Str8 | Marker::Bin8 => self.be(1)? as usize,
            Marker::Str16 | Marker::Bin16 => self.be(2)? as usize,
            Marker::Str32 | Marker::Bin32 => self.be(4)? as usize,
            Marker::FixExt1 => 2,
            Marker::FixExt2 => 3,
            Marker::FixExt4 => 5,
            Marker::FixExt8 => 9,
            Marker::FixExt16 => 17,
            Marker::Ext8 => self.be(1)? as usize + 1,
            Marker::Ext16 => self.be(2)? as usize + 1,
            Marker::Ext32 => self.be(4)? as usize + 1,
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let n = self.array_len_after(m, "field")?;
                for _ in 0..n {
                    self.skip(depth + 1)?;
                }
                return Ok(());
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let n = self.map_len(m, "field")?;
                for _ in 0..n * 2 {
                    self.skip(depth + 1)?;
                }
                return Ok(());
            }
            Marker::Reserved => return err("reserved marker 0xc1"),
        };
        self.take(n).map(|_| ())
    }
}

/// Decodes one payload (vLLM or SGLang, tagged maps or positional events).
pub fn decode(payload: &[u8]) -> Result<Batch, WireError> {
    if payload.len() > MAX_PAYLOAD {
        return err(format!(
            "{} bytes, more than the {MAX_PAYLOAD} read",
            payload.len()
        ));
    }
    let mut r = Reader { buf: payload };
    let n = r.array_len("batch")?;
    if !(2..=3).contains(&n) {
        return err(format!("batch: {n} fields, expected [ts, events, rank]"));
    }
    let ts = r.float("ts")?;
    let count = r.array_len("events")?;
    let mut events = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        events.push(event(&mut r)?);
    }
    let rank = if n == 3 {
        r.opt_int("data_parallel_rank")?
            .map(|i| i64::try_from(i).unwrap_or(i64::MAX))
    } else {
        None
    };
    if !r.buf.is_empty() {
        return err(format!("{} bytes after the batch", r.buf.len()));
    }
    Ok(Batch { ts, events, rank })
}

/// The fields an event may carry, as read from either form.
#[derive(Default)]
struct Fields {
    hashes: Option<Vec<BlockHash>>,
    parent: Option<BlockHash>,
    token_ids: Option<Vec<u32>>,
    block_size: Option<u32>,
    medium: Medium0,
    group: u32,
}

/// The medium before it is known to be set.
#[derive(Default)]
struct Medium0(Option<Medium>);

fn event(r: &mut Reader) -> Result<Event, WireError> {
    let m = r.marker()?;
    let mut f = Fields::default();
    let tag = match m {
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
            let n = r.map_len(m, "event")?;
            let mut tag = None;
            for _ in 0..n {
                let km = r.marker()?;
                let key = r.str_after(km, "event key")?;
                match key {
                    "type" => {
                        let vm = r.marker()?;
                        tag = Some(r.str_after(vm, "type")?);
                    }
                    _ => field(r, key, &mut f)?,
                }
            }
            tag.ok_or_else(|| WireError("event: no `type`".into()))?
        }
        // Positional (older vLLM): [tag, fields in declaration order…].
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
            let n = r.array_len_after(m, "event")?;
            if n == 0 {
                return err("event: an empty array");
            }
            let tm = r.marker()?;
            let tag = r.str_after(tm, "type")?;
            let names: &[&str] = match tag {
                "BlockStored" => &[
                    "block_hashes",
                    "parent_block_hash",
                    "token_ids",
                    "block_size",
                    "lora_id",
                    "medium",
                    "lora_name",
                    "extra_keys",
                    "group_idx",
                ],
                "BlockRemoved" => &["block_hashes", "medium", "group_idx"],
                _ => &[],
            };
            for i in 1..n {
                match names.get(i - 1) {
                    Some(name) => field(r, name, &mut f)?,
                    None => r.skip(0)?,
                }
            }
            tag
        }
        m => return err(format!("event: expected a map or an array, found {m:?}")),
    };
    let medium = f.medium.0.unwrap_or(Medium::Gpu);
    match tag {
        "BlockStored" => {
            let hashes = f
                .hashes
                .ok_or_else(|| WireError("BlockStored: no block_hashes".into()))?;
            let token_ids = f
                .token_ids
                .ok_or_else(|| WireError("BlockStored: no token_ids".into()))?;
            let block_size = f
                .block_size
                .ok_or_else(|| WireError("BlockStored: no block_size".into()))?;
            if block_size == 0 || token_ids.len() != hashes.len() * block_size as usize {
                return err(format!(
                    "BlockStored: {} token ids for {} blocks of {block_size}",
                    token_ids.len(),
                    hashes.len()
                ));
            }
            Ok(Event::Stored {
                hashes,
                parent: f.parent,
                token_ids,
                block_size,
                medium,
                group: f.group,
            })
        }
        "BlockRemoved" => Ok(Event::Removed {
            hashes: f
                .hashes
                .ok_or_else(|| WireError("BlockRemoved: no block_hashes".into()))?,
            medium,
            group: f.group,
        }),
        "AllBlocksCleared" => Ok(Event::AllCleared),
        other => err(format!(
            "unknown event type `{}`",
            crate::escape::escape(other)
        )),
    }
}

fn field(r: &mut Reader, key: &str, f: &mut Fields) -> Result<(), WireError> {
    match key {
        "block_hashes" => f.hashes = Some(r.hashes("block_hashes")?),
        "parent_block_hash" => f.parent = r.opt_hash("parent_block_hash")?,
        "token_ids" => f.token_ids = Some(r.tokens()?),
        "block_size" => {
            let i = r.int("block_size")?;
            f.block_size = Some(
                u32::try_from(i)
                    .ok()
                    .filter(|b| (1..=1 << 20).contains(b))
                    .ok_or_else(|| WireError(format!("block_size: {i}")))?,
            );
        }
        "medium" => f.medium = Medium0(Some(Medium::parse(r.opt_str("medium")?))),
        "group_idx" => {
            f.group = match r.opt_int("group_idx")? {
                None => 0,
                Some(i) => u32::try_from(i).map_err(|_| WireError(format!("group_idx: {i}")))?,
            }
        }
        _ => r.skip(0)?,
    }
    Ok(())
}

/// How [`encode`] writes events and hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// Tagged maps (current vLLM, SGLang) or positional arrays (older vLLM).
    pub tagged: bool,
    /// Hashes as ints (the default) or as 32 bytes (`VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0`;
    /// the 64 bits placed last, as vLLM's int is the digest's last 8 bytes).
    pub int_hashes: bool,
    /// SGLang names its CPU tier `CPU_PINNED`.
    pub sglang: bool,
}

/// Encodes a batch as the engine would publish it.
pub fn encode(b: &Batch, e: Encoding) -> Vec<u8> {
    let mut out = Vec::new();
    let w = &mut out;
    // Writes to a Vec cannot fail.
    let _ = rmp::encode::write_array_len(w, 3);
    let _ = rmp::encode::write_f64(w, b.ts);
    let _ = rmp::encode::write_array_len(w, b.events.len() as u32);
    for ev in &b.events {
        encode_event(w, ev, e);
    }
    match b.rank {
        Some(r) => {
            let _ = rmp::encode::write_sint(w, r);
        }
        None => {
            let _ = rmp::encode::write_nil(w);
        }
    }
    out
}

fn encode_hash(w: &mut Vec<u8>, h: BlockHash, e: Encoding) {
    if e.int_hashes {
        if e.sglang {
            let _ = rmp::encode::write_sint(w, h.0 as i64);
        } else {
            let _ = rmp::encode::write_uint(w, h.0);
        }
    } else {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&h.0.to_be_bytes());
        let _ = rmp::encode::write_bin(w, &b);
    }
}

fn encode_str(w: &mut Vec<u8>, s: &str) {
    let _ = rmp::encode::write_str(w, s);
}

fn medium_name(m: Medium, e: Encoding) -> &'static str {
    match (m, e.sglang) {
        (Medium::Gpu, _) => "GPU",
        (Medium::Other, true) => "CPU_PINNED",
        (Medium::Other, false) => "CPU",
    }
}

fn encode_event(w: &mut Vec<u8>, ev: &Event, e: Encoding) {
    match ev {
        Event::Stored {
            hashes,
            parent,
            token_ids,
            block_size,
            medium,
            group,
        } => {
            let fields: u32 = if e.sglang { 7 } else { 8 };
            let with_group = *group != 0 && !e.sglang;
            let n = fields + u32::from(with_group) * if e.tagged { 1 } else { 2 };
            if e.tagged {
                let _ = rmp::encode::write_map_len(w, n);
                encode_str(w, "type");
            } else {
                let _ = rmp::encode::write_array_len(w, n);
            }
            encode_str(w, "BlockStored");
            let key = |w: &mut Vec<u8>, k: &str| {
                if e.tagged {
                    encode_str(w, k);
                }
            };
            key(w, "block_hashes");
            let _ = rmp::encode::write_array_len(w, hashes.len() as u32);
            for h in hashes {
                encode_hash(w, *h, e);
            }
            key(w, "parent_block_hash");
            match parent {
                Some(p) => encode_hash(w, *p, e),
                None => {
                    let _ = rmp::encode::write_nil(w);
                }
            }
            key(w, "token_ids");
            let _ = rmp::encode::write_array_len(w, token_ids.len() as u32);
            for t in token_ids {
                let _ = rmp::encode::write_uint(w, u64::from(*t));
            }
            key(w, "block_size");
            let _ = rmp::encode::write_uint(w, u64::from(*block_size));
            key(w, "lora_id");
            let _ = rmp::encode::write_nil(w);
            key(w, "medium");
            encode_str(w, medium_name(*medium, e));
            if !e.sglang {
                key(w, "lora_name");
                let _ = rmp::encode::write_nil(w);
            }
            if with_group {
                if !e.tagged {
                    // extra_keys comes before group_idx positionally.
                    let _ = rmp::encode::write_nil(w);
                }
                key(w, "group_idx");
                let _ = rmp::encode::write_uint(w, u64::from(*group));
            }
        }
        Event::Removed {
            hashes,
            medium,
            group,
        } => {
            let with_group = *group != 0 && !e.sglang;
            let n = 3 + u32::from(with_group);
            if e.tagged {
                let _ = rmp::encode::write_map_len(w, n);
                encode_str(w, "type");
            } else {
                let _ = rmp::encode::write_array_len(w, n);
            }
            encode_str(w, "BlockRemoved");
            if e.tagged {
                encode_str(w, "block_hashes");
            }
            let _ = rmp::encode::write_array_len(w, hashes.len() as u32);
            for h in hashes {
                encode_hash(w, *h, e);
            }
            if e.tagged {
                encode_str(w, "medium");
            }
            encode_str(w, medium_name(*medium, e));
            if with_group {
                if e.tagged {
                    encode_str(w, "group_idx");
                }
                let _ = rmp::encode::write_uint(w, u64::from(*group));
            }
        }
        Event::AllCleared => {
            if e.tagged {
                let _ = rmp::encode::write_map_len(w, 1);
                encode_str(w, "type");
            } else {
                let _ = rmp::encode::write_array_len(w, 1);
            }
            encode_str(w, "AllBlocksCleared");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Batch {
        Batch {
            ts: 1_796_000_000.25,
            events: vec![
                Event::Stored {
                    hashes: vec![BlockHash(7), BlockHash(u64::MAX - 3)],
                    parent: None,
                    token_ids: (0..32).collect(),
                    block_size: 16,
                    medium: Medium::Gpu,
                    group: 0,
                },
                Event::Stored {
                    hashes: vec![BlockHash(9)],
                    parent: Some(BlockHash(u64::MAX - 3)),
                    token_ids: (100..116).collect(),
                    block_size: 16,
                    medium: Medium::Other,
                    group: 2,
                },
                Event::Removed {
                    hashes: vec![BlockHash(9)],
                    medium: Medium::Other,
                    group: 2,
                },
                Event::AllCleared,
            ],
            rank: Some(1),
        }
    }

    #[test]
    fn every_encoding_decodes_to_the_same_batch() {
        let b = sample();
        for tagged in [true, false] {
            for int_hashes in [true, false] {
                let e = Encoding {
                    tagged,
                    int_hashes,
                    sglang: false,
                };
                assert_eq!(decode(&encode(&b, e)).unwrap(), b, "{e:?}");
            }
        }
        // SGLang: signed hashes, no groups.
        let mut s = b.clone();
        if let Event::Stored { group, .. } | Event::Removed { group, .. } = &mut s.events[1] {
            *group = 0;
        }
        if let Event::Removed { group, .. } = &mut s.events[2] {
            *group = 0;
        }
        let e = Encoding {
            tagged: true,
            int_hashes: true,
            sglang: true,
        };
        assert_eq!(decode(&encode(&s, e)).unwrap(), s);
    }

    #[test]
    fn lies_and_garbage_are_one_line_errors_without_allocating() {
        // An array announcing 2^32-1 events in a 10-byte payload.
        let lie = [
            0x93, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0xff, 0xff, 0xff, 0xff,
        ];
        let e = decode(&lie).unwrap_err().to_string();
        assert!(e.contains("announces 4294967295 elements"), "{e}");
        for bad in [
            &b""[..],
            &[0xc1],
            &[0x93, 0xc0],
            &[0x92, 0x01, 0x91, 0x81, 0xa4],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        // A BlockStored whose tokens do not fill its blocks.
        let mut b = sample();
        if let Event::Stored { token_ids, .. } = &mut b.events[0] {
            token_ids.pop();
        }
        let bytes = encode(
            &b,
            Encoding {
                tagged: true,
                int_hashes: true,
                sglang: false,
            },
        );
        let e = decode(&bytes).unwrap_err().to_string();
        assert!(e.contains("31 token ids for 2 blocks of 16"), "{e}");
    }
}
