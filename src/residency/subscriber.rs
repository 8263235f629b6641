//! One thread subscribed to every host's KV-cache events (libzmq SUB sockets, one poll over all
//! of them), replaying from the publisher's ROUTER socket what a gap in `seq` says was missed.
//!
//! Bounds: each SUB socket receives at most [`RCV_HWM`] queued messages of at most
//! [`MAX_MESSAGE`] bytes (`ZMQ_MAXMSGSIZE`: libzmq drops the connection of a peer that sends a
//! larger one, before allocating it); a frame that is not `[topic, 8-byte seq, payload]` or a
//! payload that does not decode is counted and skipped; a replay is read for at most
//! [`REPLAY_TIMEOUT`] and [`MAX_REPLAY`] batches. What a host's events can make us keep is
//! bounded by its [`Host`] index.
//!
//! Liveness: a host whose publisher has a replay socket is probed every [`PROBE_EVERY`] (a
//! replay from the next seq: the end marker proves it alive, and whatever comes back was
//! missed); one without is alive while it published within `stale_after`. A host not known
//! alive within `stale_after`, or whose gap could not be replayed, is *unknown* until its
//! events show it again: never reported resident.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::kv_events::hash::Sha256Cbor;
use crate::kv_events::residency::{Applied, Host, Prefix};
use crate::kv_events::wire::{self, MAX_PAYLOAD};

use super::{HostSpec, HostView, Shared, Unknown};

/// Messages queued per SUB socket before libzmq drops new ones (a gap, then replayed).
pub const RCV_HWM: i32 = 10_000;
/// Largest message accepted (the payload and its two small frames).
pub const MAX_MESSAGE: i64 = MAX_PAYLOAD as i64 + 4096;
/// How long a replay may take.
pub const REPLAY_TIMEOUT: Duration = Duration::from_secs(2);
/// Most batches one replay may return (vLLM keeps 10,000).
pub const MAX_REPLAY: usize = 20_000;
/// How often a host with a replay socket is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long a probe waits for the end marker (the thread waits with it: a dead host costs
/// this much every [`PROBE_EVERY`]).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(250);

struct Conn {
    spec: HostSpec,
    sub: Option<zmq::Socket>,
    host: Host,
    /// When the host was last known alive (a message, or a probe answered).
    alive_at: Option<Instant>,
    probed_at: Option<Instant>,
    /// A gap replay could not fill: unknown until events arrive again.
    lost: bool,
    /// Hash disagreements per prefix when last logged, and when: a WARN at most every
    /// [`WARN_EVERY`] per host, naming the prompts whose count rose.
    warned: (Vec<u64>, Option<Instant>),
}

/// How often a host's hash disagreements may be logged.
pub const WARN_EVERY: Duration = Duration::from_secs(60);

pub(super) fn run(
    shared: Arc<Shared>,
    specs: Vec<HostSpec>,
    prefixes: Vec<Prefix>,
    stale_after: Duration,
    stop: Arc<AtomicBool>,
) {
    let ctx = zmq::Context::new();
    let mut conns: Vec<Conn> = specs
        .into_iter()
        .map(|spec| Conn {
            sub: None,
            host: match &spec.hash_seed {
                Some(seed) => Host::new(prefixes.clone()).with_hash_check(Sha256Cbor::new(seed)),
                None => Host::new(prefixes.clone()),
            },
            spec,
            alive_at: None,
            probed_at: None,
            lost: false,
            warned: (vec![0; prefixes.len()], None),
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        for c in conns.iter_mut().filter(|c| c.sub.is_none()) {
            c.sub = connect(&ctx, &c.spec)
                .map_err(|e| {
                    tracing::warn!(host = %c.spec.name, endpoint = %c.spec.events, error = %e, "kv events: cannot subscribe");
                })
                .ok();
        }
        let ready: Vec<bool> = {
            let mut items: Vec<zmq::PollItem> = conns
                .iter()
                .filter_map(|c| c.sub.as_ref().map(|s| s.as_poll_item(zmq::POLLIN)))
                .collect();
            let _ = zmq::poll(&mut items, 100);
            items.iter().map(zmq::PollItem::is_readable).collect()
        };
        let mut i = 0;
        for c in conns.iter_mut() {
            if c.sub.is_none() {
                continue;
            }
            let readable = ready.get(i).copied().unwrap_or(false);
            i += 1;
            if readable {
                drain(&ctx, c, &shared);
            }
            probe(&ctx, c, &shared);
            publish(c, &shared, stale_after);
        }
    }
}

fn connect(ctx: &zmq::Context, spec: &HostSpec) -> Result<zmq::Socket, zmq::Error> {
    let s = ctx.socket(zmq::SUB)?;
    s.set_maxmsgsize(MAX_MESSAGE)?;
    s.set_rcvhwm(RCV_HWM)?;
    s.set_linger(0)?;
    s.connect(&spec.events)?;
    s.set_subscribe(spec.topic.as_bytes())?;
    Ok(s)
}

/// `[topic, seq, payload]` as seq and payload, or why not.
fn frame(frames: &[Vec<u8>]) -> Result<(u64, &[u8]), &'static str> {
    let [_, seq, payload] = frames else {
        return Err("not 3 frames");
    };
    let seq: [u8; 8] = seq
        .as_slice()
        .try_into()
        .map_err(|_| "seq is not 8 bytes")?;
    Ok((u64::from_be_bytes(seq), payload))
}

/// Reads every queued message of `c`.
fn drain(ctx: &zmq::Context, c: &mut Conn, shared: &Shared) {
    let Some(sub) = &c.sub else { return };
    let mut got = Vec::new();
    while let Ok(frames) = sub.recv_multipart(zmq::DONTWAIT) {
        got.push(frames);
        if got.len() >= RCV_HWM as usize {
            break;
        }
    }
    for frames in got {
        c.alive_at = Some(Instant::now());
        apply(ctx, c, &frames, shared);
    }
}

fn apply(ctx: &zmq::Context, c: &mut Conn, frames: &[Vec<u8>], shared: &Shared) {
    let (seq, payload) = match frame(frames) {
        Ok(x) => x,
        Err(why) => {
            shared.count_bad(&c.spec.name, why);
            return;
        }
    };
    let batch = match wire::decode(payload) {
        Ok(b) => b,
        Err(e) => {
            shared.count_bad(&c.spec.name, "payload");
            tracing::debug!(host = %c.spec.name, error = %e, "kv events: bad payload");
            return;
        }
    };
    c.lost = false;
    if let Applied::Gap { from, .. } = c.host.apply(seq, &batch) {
        let replayed = replay(ctx, c, from, REPLAY_TIMEOUT, shared);
        let filled = replayed && c.host.apply(seq, &batch) != (Applied::Gap { from, to: seq });
        if !filled {
            shared.count_gap(&c.spec.name, false);
            tracing::warn!(host = %c.spec.name, from, to = seq, "kv events: a gap replay could not fill; residency unknown until events show it again");
            c.host.reset();
            c.host.apply(seq, &batch);
            c.lost = true;
        } else {
            shared.count_gap(&c.spec.name, true);
        }
    }
}

/// Asks the replay socket for every batch from `from`, applies them; `true` when the end
/// marker came back in time.
fn replay(ctx: &zmq::Context, c: &mut Conn, from: u64, timeout: Duration, shared: &Shared) -> bool {
    let Some(endpoint) = c.spec.replay.clone() else {
        return false;
    };
    let Ok(dealer) = ctx.socket(zmq::DEALER) else {
        return false;
    };
    let setup = dealer
        .set_maxmsgsize(MAX_MESSAGE)
        .and_then(|()| dealer.set_linger(0))
        .and_then(|()| dealer.connect(&endpoint))
        .and_then(|()| dealer.send_multipart([&b""[..], &from.to_be_bytes()[..]], 0));
    if setup.is_err() {
        return false;
    }
    let deadline = Instant::now() + timeout;
    let mut n = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || n > MAX_REPLAY {
            return false;
        }
        match dealer.poll(zmq::POLLIN, left.as_millis() as i64) {
            Ok(k) if k > 0 => {}
            _ => return false,
        }
        let Ok(frames) = dealer.recv_multipart(0) else {
            return false;
        };
        // [ "", topic, seq, payload ]; the end marker's seq is -1.
        let Some(rest) = frames.split_first().map(|(_, r)| r) else {
            continue;
        };
        if rest.get(1).map(Vec::as_slice) == Some(&(-1i64).to_be_bytes()[..]) {
            c.alive_at = Some(Instant::now());
            return true;
        }
        n += 1;
        if let Ok((seq, payload)) = frame(rest) {
            match wire::decode(payload) {
                Ok(b) => {
                    c.host.apply(seq, &b);
                }
                Err(_) => shared.count_bad(&c.spec.name, "payload"),
            }
        } else {
            shared.count_bad(&c.spec.name, "replay frame");
        }
    }
}

/// Probes a host that has a replay socket (see the module doc).
fn probe(ctx: &zmq::Context, c: &mut Conn, shared: &Shared) {
    if c.spec.replay.is_none() || c.probed_at.is_some_and(|t| t.elapsed() < PROBE_EVERY) {
        return;
    }
    c.probed_at = Some(Instant::now());
    let from = c.host.last_seq().map_or(0, |s| s + 1);
    replay(ctx, c, from, PROBE_TIMEOUT, shared);
}

/// A WARN when a prefix's hash disagreements rose (host and prompt ids only: no tokens, no
/// hashes), at most every [`WARN_EVERY`].
fn warn_disagreements(c: &mut Conn) {
    if c.warned.1.is_some_and(|t| t.elapsed() < WARN_EVERY) {
        return;
    }
    let now: Vec<u64> = (0..c.host.prefixes().len())
        .map(|i| c.host.hash_disagreements(i))
        .collect();
    let rose: Vec<&str> = now
        .iter()
        .zip(&c.warned.0)
        .enumerate()
        .filter(|(_, (n, was))| n > was)
        .map(|(i, _)| c.host.prefixes()[i].id.as_str())
        .collect();
    if rose.is_empty() {
        return;
    }
    tracing::warn!(
        host = %c.spec.name,
        prompts = %rose.join(","),
        disagreements = c.host.counts.hash_disagreements,
        checks = c.host.counts.hash_checks,
        "kv events: stored blocks of registered prefixes carry hashes other than the configured sha256_cbor chain gives them (another seed, algorithm, extra keys or hash block size); residency still follows their tokens"
    );
    c.warned = (now, Some(Instant::now()));
}

fn publish(c: &mut Conn, shared: &Shared, stale_after: Duration) {
    if c.host.hash_checked() {
        warn_disagreements(c);
    }
    let unknown = if c.lost {
        Some(Unknown::GapNotReplayed)
    } else {
        match c.alive_at {
            None => Some(Unknown::NeverHeard),
            Some(t) if t.elapsed() > stale_after => Some(Unknown::Stale),
            Some(_) => None,
        }
    };
    let view = HostView::of(&c.host, unknown);
    shared.set(&c.spec.name, view);
}

/// The thread, and the flag that stops it.
pub struct Subscriber {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Subscriber {
    pub(super) fn spawn(
        shared: Arc<Shared>,
        specs: Vec<HostSpec>,
        prefixes: Vec<Prefix>,
        stale_after: Duration,
    ) -> std::io::Result<Subscriber> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kv-events-sub".into())
            .spawn(move || run(shared, specs, prefixes, stale_after, flag))?;
        Ok(Subscriber {
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}
