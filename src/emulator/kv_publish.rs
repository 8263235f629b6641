//! The engines' KV-cache events, as `prefix emulate --engine vllm|sglang --kv-events ENDPOINT`
//! publishes them (issue #22): what vLLM's `ZmqEventPublisher` does, on libzmq.
//!
//! - A PUB socket sends `[topic, seq (8 bytes big-endian), payload]`, the payload a batch in the
//!   engine's msgpack encoding ([`crate::kv_events::wire`]: tagged or positional events, int or
//!   bytes hashes, SGLang's names).
//! - A ROUTER socket (`--kv-replay`) answers `[identity, "", start seq]` with every buffered
//!   batch from that seq on (`[identity, "", topic, seq, payload]`, the last 10,000 kept), then
//!   the end marker `[identity, "", "", -1 as 8 bytes, ""]`.
//! - [`KvBlocks`] turns the engine emulator's cache into block events: after each request the
//!   full blocks of every live sequence are chained with vLLM's `sha256_cbor` chain
//!   ([`crate::kv_events::hash`], `NONE_HASH` from `--kv-hash-seed` as from the engine's
//!   `PYTHONHASHSEED`, vLLM's fixed default when unset; published as the digest's last 8 bytes),
//!   blocks that appeared are `BlockStored` (one event per run, its parent the block before),
//!   blocks that went are `BlockRemoved`. `--engine sglang` publishes the same hashes (SGLang's
//!   own are not reproduced).
//! - `POST /admin/kv` (`{"evict": true}` every block evicted as an engine would, `{"clear":
//!   true}` `AllBlocksCleared`, `{"drop_next": N}` the next N batches kept for replay but not
//!   published: a gap a subscriber must fill).

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc;
use std::time::Duration;

use crate::kv_events::hash::{int_form, Digest32, NoneHashSeed, Sha256Cbor};
use crate::kv_events::wire::{self, Batch, BlockHash, Encoding, Event, Medium};

/// Batches kept for replay (vLLM's `buffer_steps` default).
pub const REPLAY_BUFFER: usize = 10_000;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct KvEventsConfig {
    pub endpoint: String,
    pub replay: Option<String>,
    pub topic: String,
    pub encoding: Encoding,
    /// The emulated engine's `PYTHONHASHSEED` (`--kv-hash-seed`), which its block hashes
    /// start from.
    pub seed: NoneHashSeed,
}

enum Msg {
    Batch(Batch),
    DropNext(u32),
}

/// The publisher thread's handle: batches go in through a channel, in order.
pub struct Publisher {
    tx: mpsc::Sender<Msg>,
}

impl Publisher {
    /// Binds the sockets (an error names the endpoint) and starts the thread.
    pub fn start(cfg: KvEventsConfig) -> crate::error::Result<Publisher> {
        let ctx = zmq::Context::new();
        let fail = |what: &str, e: zmq::Error| {
            crate::error::Error::Other(format!("kv events: {what}: {e}"))
        };
        let publisher = ctx.socket(zmq::PUB).map_err(|e| fail("PUB socket", e))?;
        publisher
            .set_sndhwm(100_000)
            .map_err(|e| fail("PUB socket", e))?;
        publisher
            .bind(&cfg.endpoint)
            .map_err(|e| fail(&format!("bind {}", cfg.endpoint), e))?;
        let router = match &cfg.replay {
            Some(r) => {
                let s = ctx
                    .socket(zmq::ROUTER)
                    .map_err(|e| fail("ROUTER socket", e))?;
                s.set_sndhwm(2 * (REPLAY_BUFFER as i32 + 1))
                    .map_err(|e| fail("ROUTER socket", e))?;
                s.set_maxmsgsize(64).map_err(|e| fail("ROUTER socket", e))?;
                s.bind(r).map_err(|e| fail(&format!("bind {r}"), e))?;
                Some(s)
            }
            None => None,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("kv-events-pub".into())
            .spawn(move || publish_loop(publisher, router, rx, cfg))
            .map_err(|e| crate::error::Error::Other(format!("kv events: thread: {e}")))?;
        Ok(Publisher { tx })
    }

    pub fn send(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let _ = self.tx.send(Msg::Batch(Batch {
            ts,
            events,
            rank: Some(0),
        }));
    }

    pub fn drop_next(&self, n: u32) {
        let _ = self.tx.send(Msg::DropNext(n));
    }
}

fn publish_loop(
    publisher: zmq::Socket,
    router: Option<zmq::Socket>,
    rx: mpsc::Receiver<Msg>,
    cfg: KvEventsConfig,
) {
    let mut buffer: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let mut seq = 0u64;
    let mut dropping = 0u32;
    let topic = cfg.topic.as_bytes();
    loop {
        if let Some(r) = &router {
            while r.poll(zmq::POLLIN, 0).unwrap_or(0) > 0 {
                serve_replay(r, &buffer, topic);
            }
        }
        let msg = match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            // The emulator is gone.
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        match msg {
            Msg::DropNext(n) => dropping = n,
            Msg::Batch(b) => {
                let payload = wire::encode(&b, cfg.encoding);
                if dropping > 0 {
                    dropping -= 1;
                } else {
                    let seq_bytes = seq.to_be_bytes();
                    let _ = publisher.send_multipart([topic, &seq_bytes[..], &payload], 0);
                }
                if buffer.len() >= REPLAY_BUFFER {
                    buffer.pop_front();
                }
                buffer.push_back((seq, payload));
                seq += 1;
            }
        }
    }
}

/// One replay request: `[identity, "", start seq]`.
fn serve_replay(r: &zmq::Socket, buffer: &VecDeque<(u64, Vec<u8>)>, topic: &[u8]) {
    let Ok(frames) = r.recv_multipart(zmq::DONTWAIT) else {
        return;
    };
    let [id, _, start] = frames.as_slice() else {
        return;
    };
    let Ok(start) = <[u8; 8]>::try_from(start.as_slice()) else {
        return;
    };
    let start = u64::from_be_bytes(start);
    for (seq, payload) in buffer.iter().filter(|(s, _)| *s >= start) {
        let _ = r.send_multipart(
            [&id[..], b"", topic, &seq.to_be_bytes()[..], &payload[..]],
            0,
        );
    }
    let _ = r.send_multipart([&id[..], b"", b"", &(-1i64).to_be_bytes()[..], b""], 0);
}

/// The block-level view of the engine emulator's cache, and its publisher.
pub struct KvBlocks {
    publisher: Publisher,
    hasher: Sha256Cbor,
    live: HashSet<BlockHash>,
}

impl KvBlocks {
    pub fn new(publisher: Publisher, seed: &NoneHashSeed) -> KvBlocks {
        KvBlocks {
            publisher,
            hasher: Sha256Cbor::new(seed),
            live: HashSet::new(),
        }
    }

    /// Publishes what changed since the last call, given every live sequence's ids in blocks
    /// of `block_size` (the engine rule's).
    pub fn sync<'a>(&mut self, block_size: usize, sequences: impl Iterator<Item = &'a [u32]>) {
        let bs = block_size.max(1);
        let mut now: HashSet<BlockHash> = HashSet::new();
        let mut stored = Vec::new();
        for ids in sequences {
            let mut parent: Option<Digest32> = None;
            // A run of new blocks: one BlockStored.
            let mut run: Option<(Option<BlockHash>, Vec<BlockHash>, Vec<u32>)> = None;
            for tokens in ids.chunks_exact(bs) {
                let digest = self.hasher.block(parent.as_ref(), tokens);
                let h = int_form(&digest);
                let new = !self.live.contains(&h) && now.insert(h);
                if !new {
                    now.insert(h);
                }
                match (&mut run, new) {
                    (Some((_, hs, ts)), true) => {
                        hs.push(h);
                        ts.extend_from_slice(tokens);
                    }
                    (None, true) => {
                        run = Some((parent.as_ref().map(int_form), vec![h], tokens.to_vec()))
                    }
                    (Some(_), false) => stored.push(run.take().expect("a run")),
                    (None, false) => {}
                }
                parent = Some(digest);
            }
            stored.extend(run);
        }
        let removed: Vec<BlockHash> = self.live.difference(&now).copied().collect();
        let mut events = Vec::new();
        if !removed.is_empty() {
            events.push(Event::Removed {
                hashes: removed,
                medium: Medium::Gpu,
                group: 0,
            });
        }
        for (parent, hashes, token_ids) in stored {
            events.push(Event::Stored {
                hashes,
                parent,
                token_ids,
                block_size: bs as u32,
                medium: Medium::Gpu,
                group: 0,
            });
        }
        self.live = now;
        self.publisher.send(events);
    }

    /// Every block gone at once (`AllBlocksCleared`).
    pub fn cleared(&mut self) {
        self.live.clear();
        self.publisher.send(vec![Event::AllCleared]);
    }

    pub fn drop_next(&self, n: u32) {
        self.publisher.drop_next(n);
    }
}
