#!/usr/bin/env python3
"""Warm-ups spent with and without KV-cache events, at the same residency (issue #22).

usage: scripts/bench-kv-warmups.py [--hosts N] [--ticks T] [--evict P] [--seed S] [--short]

Starts N emulated vLLM hosts (`prefix emulate --engine vllm --kv-events ... --kv-replay ...`)
and a daemon whose `vllm` group warms the prompt `cline-hermes-4` on all of them every 2 s
(`schedule = "*/2 * * * * *"`, no jitter). Between ticks (1.2 s after each), each host evicts
every block (`POST /admin/kv {"evict": true}`, published as `BlockRemoved`) with probability P,
drawn from a generator seeded with S: the same (tick, host) schedule in both runs. Two runs,
each on fresh emulators and a fresh daemon:

  blind   the group without `[[warmup.kv_events]]`: every host warmed every tick;
  events  one `[[warmup.kv_events]]` per host: a host whose warmable prefix is resident is
          skipped (`skipped_resident`), an evicted or unknown one is warmed.

Measured over the T ticks, the same way in both runs:
  requests   warm-up requests the emulators answered (GET /admin/stats, /v1/ paths);
  prefill    GPU tokens the warm-ups cost: input tokens not read from cache (cache_write +
             uncached, as the emulator counts what an engine's prefix cache misses);
  read       input tokens served from cache (re-read, not recomputed): with prefix caching a
             warm-up of a resident prefix costs little prefill (the block holding the last
             token and the generation prompt) but is still a request and a pass over the
             cached blocks;
  residency  fraction of (host, tick) with the prefix in the host's cache 1.0 s after the tick
             (the emulator's live sequences: only warm-ups reach these hosts).
--short: 4 hosts, 8 ticks (about 50 s in all). The binary: $PREFIX_BIN, else
$CARGO_TARGET_DIR/release/prefix, else target/release/prefix. Scratch files under $TMPDIR (else
target/tmp). Prints one table; exits non-zero if a run fails or the two residencies differ by
more than --tolerance (default 0.05).
"""
import argparse, json, os, random, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.error, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "cline-hermes-4"
MODEL = "Qwen3-8B"
TICK = 2.0
SAMPLE_AT = 1.0
EVICT_AT = 1.2
# The emulated engine's chat template (src/emulator/engine.rs), so the ids the daemon matches
# are the ids the emulator caches (as tests/it/kv_events.rs sets it up).
TEMPLATE = ("{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def binary():
    if os.environ.get("PREFIX_BIN"):
        return Path(os.environ["PREFIX_BIN"])
    return Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release/prefix"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def http(url, body=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def wait(what, f, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if f():
            return
        time.sleep(0.05)
    raise SystemExit(f"not within {timeout} s: {what}")


class Host:
    def __init__(self, d, log):
        self.http, self.events, self.replay = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http}"
        self.ev = f"tcp://127.0.0.1:{self.events}"
        self.rp = f"tcp://127.0.0.1:{self.replay}"
        self.p = subprocess.Popen(
            [str(binary()), "emulate", "--engine", "vllm", "--tokenizer", "openai/o200k_base",
             "--listen", f"127.0.0.1:{self.http}", "--kv-events", self.ev, "--kv-replay", self.rp],
            cwd=d, stdout=subprocess.DEVNULL, stderr=log)
        wait("an emulator up", lambda: self.stats() is not None)

    def stats(self):
        code, body = http(f"{self.base}/admin/stats")
        return json.loads(body) if code == 200 else None

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill(); self.p.wait()


def totals(st):
    reqs = sum(n for path, by in st["requests"].items() if path.startswith("/v1/")
               for n in by.values())
    return {"requests": reqs, "read": st["cache_read_tokens"],
            "prefill": st["cache_write_tokens"] + st["uncached_input_tokens"]}


def skipped(port):
    """Warm-ups the daemon skipped because the prefix was resident, so far."""
    m = http(f"http://127.0.0.1:{port}/metrics")[1]
    return sum(float(l.rsplit(" ", 1)[1]) for l in m.splitlines()
               if l.startswith("prefix_warden_warmup_requests_total{")
               and 'result="skipped_resident"' in l)


def config(d, hosts, events):
    """The shipped daemon.toml's head and o200k entry, an o200k entry with the emulator's chat
    template for vllm/Qwen3-8B, and the group."""
    cfg = (ROOT / "daemon.toml").read_text()
    head, *blocks = cfg.split("[[tokenizer]]")
    o200k = next(b for b in blocks if 'id = "openai/o200k_base"' in b)
    o200k = o200k[:o200k.find("\n[") if "\n[" in o200k else len(o200k)]
    o200k = o200k.split("\n# ---")[0]
    chat = "\n".join(l for l in o200k.replace('id = "openai/o200k_base"', 'id = "emulator/o200k-chat"')
                     .splitlines() if not l.startswith("models"))
    port = free_port()
    pubs = "".join(
        f'\n[[warmup.kv_events]]\ntarget = "{h.base}"\nendpoint = "{h.ev}"\nreplay = "{h.rp}"\n'
        for h in hosts) if events else ""
    text = (f"{head}[[tokenizer]]{o200k}\n[[tokenizer]]{chat}\nmodels = [\"vllm/{MODEL}\"]\n"
            f"template = {{ file = \"templates/emulator.jinja\", sha256 = \"unpinned\" }}\n\n"
            f"[daemon]\nlisten = \"127.0.0.1:{port}\"\n\n"
            f"[[warmup]]\ngroup = \"g\"\nschedule = \"*/2 * * * * *\"\njitter_secs = 0\n"
            f"provider = \"vllm\"\nmodel = \"{MODEL}\"\nprompts = [\"{PROMPT}\"]\n"
            f"lookup = {{ backend = \"file\", path = \"live.json\" }}\n{pubs}")
    (d / "daemon.toml").write_text(text)
    (d / "live.json").write_text(json.dumps(
        {"live": "blue", "colors": {"blue": {"targets": [h.base for h in hosts]}}}))
    return port


def run(name, args, scratch_root):
    d = Path(tempfile.mkdtemp(prefix=f"bench-kv-warmups-{name}-", dir=scratch_root))
    for item in ["prompts", "data", "tokenizers", "templates"]:
        shutil.copytree(ROOT / item, d / item, symlinks=True)
    (d / "templates/emulator.jinja").write_text(TEMPLATE)
    # A minimal config for the emulators (they read cache_rules and the tokenizer registry).
    log = open(d / "processes.log", "ab")
    hosts = []
    daemon = None
    try:
        config(d, [], False)
        hosts = [Host(d, log) for _ in range(args.hosts)]
        port = config(d, hosts, name == "events")
        daemon = subprocess.Popen([str(binary()), "daemon", "--config", str(d / "daemon.toml")],
                                  cwd=d, stdout=subprocess.DEVNULL, stderr=log)
        wait("the daemon ready", lambda: http(f"http://127.0.0.1:{port}/readyz")[0] == 200, 120)
        # The first ticks warm every host (never heard of, or blind).
        wait("the prefix cached on every host",
             lambda: all(h.stats()["cache_entries"] > 0 for h in hosts), 60)
        rng = random.Random(args.seed)
        # Start at the next tick boundary, plus a whole tick so the first counted tick is clean.
        t0 = (int(time.time() // TICK) + 2) * TICK
        while time.time() < t0 + SAMPLE_AT:
            time.sleep(0.01)
        before = [totals(h.stats()) for h in hosts]
        skipped_before = skipped(port)
        resident = 0
        evictions = []
        for k in range(args.ticks):
            boundary = t0 + (k + 1) * TICK
            while time.time() < boundary + SAMPLE_AT:
                time.sleep(0.01)
            resident += sum(h.stats()["cache_entries"] > 0 for h in hosts)
            evict = [rng.random() < args.evict for _ in hosts]
            evictions.append(sum(evict))
            while time.time() < boundary + EVICT_AT:
                time.sleep(0.01)
            for h, e in zip(hosts, evict):
                if e:
                    code, body = http(f"{h.base}/admin/kv", {"evict": True})
                    if code != 200:
                        raise SystemExit(f"evict: {code} {body}")
        # The window: from 1.0 s after tick 0 to 1.0 s after tick T (T ticks' warm-ups).
        after = [totals(h.stats()) for h in hosts]
        out = {k: sum(a[k] - b[k] for a, b in zip(after, before)) for k in before[0]}
        out["residency"] = resident / (args.ticks * args.hosts)
        out["skipped"] = int(skipped(port) - skipped_before)
        out["evictions"] = evictions
        return out
    finally:
        if daemon:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill(); daemon.wait()
        for h in hosts:
            h.stop()
        log.close()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--evict", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directories")
    args = ap.parse_args()
    if args.short:
        args.hosts, args.ticks = 4, 8
    if not binary().exists():
        sys.exit(f"{binary()}: no such binary (cargo build --release, or set PREFIX_BIN)")
    scratch_root = Path(os.environ.get("TMPDIR") or ROOT / "target/tmp")
    scratch_root.mkdir(parents=True, exist_ok=True)
    started = time.time()
    res = {name: run(name, args, scratch_root) for name in ("blind", "events")}
    print(f"{args.hosts} emulated vLLM hosts, {args.ticks} ticks of {TICK:g} s, eviction "
          f"probability {args.evict:g} per host and tick (seed {args.seed}), "
          f"{time.time() - started:.0f} s")
    print(f"{'run':<8} {'requests':>9} {'skipped':>8} {'prefill tokens':>15} "
          f"{'read tokens':>12} {'residency':>10}")
    for name, r in res.items():
        print(f"{name:<8} {r['requests']:>9} {r['skipped']:>8} {r['prefill']:>15} "
              f"{r['read']:>12} {r['residency']:>10.3f}")
    # The last draw's evictions come after the window's last tick.
    print(f"evictions the window's ticks had to repair: {sum(res['blind']['evictions'][:-1])} "
          f"of {args.ticks * args.hosts} (host, tick)")
    b, e = res["blind"], res["events"]
    if b["requests"]:
        print(f"events/blind: requests {e['requests'] / b['requests']:.3f}, prefill tokens "
              f"{e['prefill'] / max(b['prefill'], 1):.3f}, read tokens "
              f"{e['read'] / max(b['read'], 1):.3f}")
    if abs(b["residency"] - e["residency"]) > args.tolerance:
        sys.exit(f"residency differs: blind {b['residency']:.3f}, events {e['residency']:.3f}")
    if b["requests"] == 0 or e["requests"] >= b["requests"]:
        sys.exit("the events run sent no fewer warm-ups than the blind one")


if __name__ == "__main__":
    main()
