#!/usr/bin/env python3
"""Side-by-side tokenizer benchmark: prefix-warden's engine against its peers, on one text, in
one run, one thread each, with the ids of every engine compared to the file's reference.

Engines, per kind of file:
  rank files (o200k_base, cl100k_base)   prefix-warden, quicktok-v1, Python tiktoken, fastokens
                                         (from_tiktoken), riptoken, tokendagger, bpe-openai,
                                         tiktoken-rs
  byte-level tokenizer.json              prefix-warden, tokenizers (the venv's: 1.0 rc), fastokens,
                                         quicktok-v1 (its bundled qwen3, for qwen/qwen3 only)
  SentencePiece .model                   prefix-warden, sentencepiece
  tekken (Mistral)                       prefix-warden, Python tiktoken, fastokens (from_tiktoken,
                                         its vocabulary written out as a rank file)
The reference whose ids everyone is compared with: tiktoken, tokenizers, sentencepiece.

Each engine runs as its own process (REPS rounds, the engines interleaved within a round, so
that a busy spell of the machine falls on all of them): the process loads the tokenizer, encodes
the whole text in one call, and reports the CPU and wall seconds of that call (in process: MB/s
is computed from the CPU seconds, steadier than wall time on a shared machine; a row whose CPU
time is well above its wall time is marked, as it used more than one thread; the × column
divides by prefix-warden's figure of the same run) and the sha256 of
the ids. /usr/bin/time gives the whole process's CPU seconds (start, load, encode, hashing) and
peak RSS. `prefix tokenize` (the CLI as a user runs it; it also writes every id as JSON) is
measured as a whole process beside them.

Usage (scripts/bench-tokenizers.sh sets this up):
    python3 scripts/bench/tokenizers.py PREFIX_BIN PEERS_BIN CONFIG TEXT [--reps N] [--only ID ...]
Prints markdown tables on stdout; progress on stderr. Exit 1 when prefix-warden's ids differ
from the reference (a peer that differs is marked, not fatal).
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

PY = r'''
import sys, json, hashlib, gzip, base64, time, array, os
from importlib.metadata import version
engine, fmt, path, spec, text_path, work = sys.argv[1:7]
text = open(text_path, encoding="utf-8", newline="").read()
def raw(p):
    b = open(p, "rb").read()
    return gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b
offset = 0
if engine == "tiktoken" and fmt == "tekken":
    import tiktoken
    d = json.loads(raw(path)); c = d["config"]; offset = c["default_num_special_tokens"]
    ranks = {base64.b64decode(e["token_bytes"]): i for i, e in enumerate(d["vocab"][: c["default_vocab_size"] - offset])}
    enc = tiktoken.Encoding("x", pat_str=c["pattern"], mergeable_ranks=ranks, special_tokens={})
    f = enc.encode_ordinary; pkg = "tiktoken"
elif engine == "tiktoken":
    import tiktoken
    s = json.load(open(spec)); offset = s["id_offset"]
    ranks = {base64.b64decode(t): int(r) for t, r in (l.split() for l in raw(path).decode().splitlines() if l.strip())}
    enc = tiktoken.Encoding("x", pat_str=s["pattern"], mergeable_ranks=ranks, special_tokens=s["special_tokens"])
    f = enc.encode_ordinary; pkg = "tiktoken"
elif engine == "riptoken":
    import riptoken, tiktoken
    s = json.load(open(spec))
    ranks = {base64.b64decode(t): int(r) for t, r in (l.split() for l in raw(path).decode().splitlines() if l.strip())}
    core = riptoken.CoreBPE(ranks, s["special_tokens"], s["pattern"])
    enc = riptoken.Encoding(core, tiktoken.Encoding("x", pat_str=s["pattern"], mergeable_ranks=ranks, special_tokens=s["special_tokens"]))
    f = enc.encode_ordinary; pkg = "riptoken"
elif engine == "tokendagger":
    import tokendagger
    s = json.load(open(spec))
    ranks = {base64.b64decode(t): int(r) for t, r in (l.split() for l in raw(path).decode().splitlines() if l.strip())}
    enc = tokendagger.Tokenizer("x", pat_str=s["pattern"], mergeable_ranks=ranks, special_tokens=s["special_tokens"])
    f = enc.encode_ordinary; pkg = "tokendagger"
elif engine == "quicktok-v1":
    import quicktok
    name = {"hf-json": "qwen3"}.get(fmt) or os.path.basename(path).split(".")[0]
    enc = quicktok.get_encoding(name)
    # Rank files: encode is tiktoken's encode_ordinary. tokenizer.json: its added tokens are
    # matched in the text, as `tokenizers` does.
    f = enc.encode_with_special if fmt == "hf-json" else enc.encode; pkg = "quicktok-v1"
elif engine == "tokenizers":
    import tokenizers
    plain = os.path.join(work, os.path.basename(path).removesuffix(".gz"))
    if not os.path.exists(plain):
        open(plain, "wb").write(raw(path))
    tok = tokenizers.Tokenizer.from_file(plain)
    f = lambda t: tok.encode(t, add_special_tokens=False, padding=None, truncation=None).ids; pkg = "tokenizers"
elif engine == "fastokens":
    import fastokens
    if fmt == "tiktoken":
        s = json.load(open(spec)); offset = s["id_offset"]
        plain = os.path.join(work, os.path.basename(path).removesuffix(".gz"))
        if not os.path.exists(plain):
            open(plain, "wb").write(raw(path))
        tok = fastokens.Tokenizer.from_tiktoken(plain, pattern=s["pattern"], special_tokens={})
    elif fmt == "tekken":
        # Its vocabulary as the rank file fastokens reads (the ranks the tiktoken reference
        # above is given), its pattern; ids offset by the special tokens, as the reference's.
        d = json.loads(raw(path)); c = d["config"]; offset = c["default_num_special_tokens"]
        plain = os.path.join(work, os.path.basename(path).removesuffix(".gz") + ".tiktoken")
        if not os.path.exists(plain):
            with open(plain, "w") as out:
                for i, e in enumerate(d["vocab"][: c["default_vocab_size"] - offset]):
                    out.write(f"{e['token_bytes']} {i}\n")
        tok = fastokens.Tokenizer.from_tiktoken(plain, pattern=c["pattern"], special_tokens={})
    else:
        tok = fastokens.Tokenizer.from_json_str(raw(path).decode())
    f = lambda t: tok.encode(t, add_special_tokens=False).ids; pkg = "fastokens"
elif engine == "sentencepiece":
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file=path)
    f = lambda t: sp.encode(t, out_type=int); pkg = "sentencepiece"
else:
    sys.exit("unknown engine " + engine)
f("warm up")
w0, c0 = time.perf_counter(), time.process_time()
ids = f(text)
w1, c1 = time.perf_counter(), time.process_time()
a = array.array("I", ids)
if offset:
    a = array.array("I", (i + offset for i in a))
if sys.byteorder != "little":
    a.byteswap()
print(json.dumps({"count": len(a), "sha256": hashlib.sha256(a.tobytes()).hexdigest(),
                  "encode_s": w1 - w0, "encode_cpu_s": c1 - c0, "version": version(pkg)}))
'''

REFERENCE = {"tiktoken": "tiktoken", "tekken": "tiktoken", "hf-json": "tokenizers", "sentencepiece": "sentencepiece"}
RUST_ENCODING = {"openai/o200k_base": "o200k_base", "openai/cl100k_base": "cl100k_base"}


def engines_for(t: dict) -> list[str]:
    fmt, tid = t["format"], t["id"]
    if fmt == "tiktoken":
        e = ["prefix-warden", "prefix tokenize", "tiktoken", "fastokens"]
        if tid in RUST_ENCODING:
            e += ["quicktok-v1", "riptoken", "tokendagger", "bpe-openai", "tiktoken-rs"]
        return e
    if fmt == "hf-json":
        return ["prefix-warden", "prefix tokenize", "tokenizers", "fastokens"] + (
            ["quicktok-v1"] if tid == "qwen/qwen3" else [])
    if fmt == "tekken":
        return ["prefix-warden", "prefix tokenize", "tiktoken", "fastokens"]
    if fmt == "sentencepiece":
        return ["prefix-warden", "prefix tokenize", "sentencepiece"]
    return []


def timed(cmd: list[str], out: Path, env: dict) -> tuple[float, float]:
    """Runs cmd under /usr/bin/time, stdout to out; returns (CPU s, peak RSS MB) of the process.

    /usr/bin/time forks the command from its own small process: measured from this Python
    process, a child's peak RSS would include the pages it inherited before exec."""
    stats = out.with_suffix(".time")
    with open(out, "wb") as o:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(stats), *cmd],
                           stdout=o, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.decode(errors='replace')[-2000:]}")
    _wall, user, sys_, rss = stats.read_text().split()[-4:]
    return float(user) + float(sys_), int(rss) / 1024


def installed_version(package: str) -> str:
    """The version of a Python engine installed in this venv (the engines' own script reports it
    from a run; this is for the rows of engines that did not load)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def lock_version(lock: Path, name: str) -> str:
    m = re.search(r'name = "' + re.escape(name) + r'"\nversion = "([^"]+)"', lock.read_text())
    return m.group(1) if m else "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix_bin")
    ap.add_argument("peers_bin")
    ap.add_argument("config")
    ap.add_argument("text")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--commit", default="?")
    # The workspace's lockfile, which holds the peers member's crates.
    ap.add_argument("--peers-lock", default=str(Path(__file__).resolve().parents[2] / "Cargo.lock"))
    a = ap.parse_args()

    cfg_path = Path(a.config).resolve()
    cfg = tomllib.loads(cfg_path.read_text())
    entries = [t for t in cfg["tokenizer"] if (not a.only or t["id"] in a.only) and engines_for(t)]
    text = Path(a.text).resolve()
    mb = text.stat().st_size / 1e6
    work = Path(tempfile.mkdtemp())
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    script = work / "engine.py"
    script.write_text(PY)
    # One thread each: the Rust engines' pools, and tokenizers' own parallelism, held to one.
    # fastokens runs its merges on worker threads of its own unless FASTOKENS_BPE_THREADS says
    # otherwise (0.3.5; with them, its encode used 1.6 CPU seconds per wall second here).
    env = dict(os.environ, RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1",
               FASTOKENS_BPE_THREADS="1")
    lock = Path(a.peers_lock)
    rust_versions = {"bpe-openai": lock_version(lock, "bpe-openai"), "tiktoken-rs": lock_version(lock, "tiktoken-rs")}

    def command(engine: str, t: dict) -> list[str]:
        if engine == "prefix-warden":
            return [a.peers_bin, "prefix-warden", t["id"], str(cfg_path), str(text)]
        if engine in ("bpe-openai", "tiktoken-rs"):
            return [a.peers_bin, engine, RUST_ENCODING[t["id"]], str(cfg_path), str(text)]
        if engine == "prefix tokenize":
            return [a.prefix_bin, "--config", str(cfg_path), "tokenize", "--tokenizer", t["id"], str(text)]
        return [sys.executable, str(script), engine, t["format"], t["file"], t.get("spec", "-"), str(text), str(work)]

    def measure(engine: str, t: dict) -> dict | None:
        out = work / "out.json"
        try:
            cpu, rss = timed(command(engine, t), out, env)
        except RuntimeError as e:
            print(f"  {engine}: {e}", file=sys.stderr)
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            skipped[(t["id"], engine)] = lines[-1][:120] if lines else "failed"
            return None
        doc = json.loads(out.read_bytes())
        if engine == "prefix tokenize":
            import array
            import hashlib
            ids = array.array("I", doc["ids"])
            doc = {"count": doc["count"], "sha256": hashlib.sha256(ids.tobytes()).hexdigest()}
        doc.update(cpu_s=cpu, rss_mb=rss)
        if engine == "prefix-warden":
            doc["version"] = a.commit
        elif engine == "prefix tokenize":
            doc["version"] = a.commit + " (CLI)"
        elif engine in rust_versions:
            doc["version"] = rust_versions[engine]
        return doc

    results: dict[tuple[str, str], dict] = {}
    skipped: dict[tuple[str, str], str] = {}
    for rep in range(a.reps):
        for t in entries:
            for engine in engines_for(t):
                key = (t["id"], engine)
                if key in skipped:
                    continue
                r = measure(engine, t)
                if r is None:
                    continue
                prev = results.get(key)
                # Best of the rounds: the in-process encode time, and the whole process's CPU.
                if prev is None:
                    results[key] = r
                else:
                    for k in ("encode_s", "encode_cpu_s", "cpu_s", "rss_mb"):
                        if k in r:
                            prev[k] = min(prev[k], r[k])
                    if r["sha256"] != prev["sha256"]:
                        prev["sha256"] = "unstable"
                s = f"{r['encode_cpu_s']:.2f} s encode CPU ({r['encode_s']:.2f} wall), " if "encode_s" in r else ""
                print(f"[{rep + 1}/{a.reps}] {t['id']} {engine}: {s}{r['cpu_s']:.2f} s process CPU", file=sys.stderr)

    cores = os.cpu_count()
    print(f"Text: {text.name}, {mb:.2f} MB; one thread per engine; best of {a.reps} rounds, engines "
          f"interleaved in each; {cores} cores. MB/s: in process, one encode call on the whole text, "
          f"over the CPU seconds of that call (load excluded; on a shared machine CPU time is steadier "
          f"than wall time); × prefix-warden: that MB/s over prefix-warden's of the same run. Process CPU s and "
          f"peak MB: the whole process (start, load, encode, hash of the ids; `prefix tokenize` writes "
          f"the ids as JSON instead).")
    print()
    print("| tokenizer | engine | version | tokens | MB/s | × prefix-warden | process CPU s | peak MB | ids |")
    print("|---|---|---|---|---|---|---|---|---|")
    bad = False
    # The engine's memory bound (issue #24), in the unit of the peak column (MiB).
    bound = 64 + 4 * text.stat().st_size / (1 << 20)
    over = []
    for t in entries:
        ref = results.get((t["id"], REFERENCE[t["format"]]))
        ours = results.get((t["id"], "prefix-warden"))
        rows = [(e, results[(t["id"], e)]) for e in engines_for(t) if (t["id"], e) in results]
        rows.sort(key=lambda r: -(mb / r[1]["encode_cpu_s"]) if "encode_cpu_s" in r[1] else 0)
        for e, r in rows:
            same = ref is not None and r["sha256"] == ref["sha256"]
            if e.startswith("prefix") and not same:
                bad = True
            if e.startswith("prefix") and r["rss_mb"] > bound:
                over.append(f"{t['id']} {e}: {r['rss_mb']:.0f} MiB")
            ids = "reference" if e == REFERENCE[t["format"]] else ("equal" if same else "**differ**")
            speed = mb / r["encode_cpu_s"] if "encode_cpu_s" in r else None
            x = f"{speed / (mb / ours['encode_cpu_s']):.2f}" if speed and ours else "-"
            # CPU seconds well above wall seconds: the engine used more than one thread.
            if speed and r["encode_cpu_s"] > max(1.2 * r["encode_s"], r["encode_s"] + 0.05):
                ids += f" (encode CPU {r['encode_cpu_s']:.2f} s in {r['encode_s']:.2f} s wall: threads)"
            if e == "prefix-warden":
                x = "1.00"
            print(f"| `{t['id']}` | {e} | {r['version']} | {r['count']:,} | "
                  f"{f'{speed:.1f}' if speed else '-'} | {x} | {r['cpu_s']:.2f} | {r['rss_mb']:.0f} | {ids} |")
        for e in engines_for(t):
            if (t["id"], e) in skipped:
                why = skipped[(t["id"], e)].replace("|", "/")
                v = rust_versions.get(e) or installed_version(e)
                print(f"| `{t['id']}` | {e} | {v} | - | - | - | - | - | does not load or run: {why} |")
    print()
    print(f"Memory bound (64 MiB + 4x the input): {bound:.0f} MiB; prefix-warden's peaks "
          + (f"over it: {', '.join(over)}" if over else "all within it") + ".")
    ours_skipped = sorted(f"{i} {e}" for (i, e) in skipped if e.startswith("prefix"))
    if ours_skipped:
        sys.exit("prefix-warden did not run: " + ", ".join(ours_skipped) + " (above)")
    if bad:
        sys.exit("prefix-warden's ids differ from the reference (above)")
    if over:
        sys.exit("prefix-warden passed its memory bound (above)")


if __name__ == "__main__":
    main()
