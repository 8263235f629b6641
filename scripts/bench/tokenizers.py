#!/usr/bin/env python3
"""Side-by-side tokenizer benchmark: `prefix tokenize` versus the reference implementation of
each shipped tokenizer, on the same mixed text, in the same run, as whole processes.

For every [[tokenizer]] in daemon.toml: run `prefix tokenize --tokenizer ID MIX` and the
reference (Python tiktoken for rank files and tekken, `tokenizers` for tokenizer.json,
`sentencepiece` for .model files; each loads its file and encodes the whole text once), each as
its own process, REPS times; report the best wall time, the CPU time (user + sys) of that run and
the peak RSS, check that both produced the same ids, and print the ratios: versus the file's own
reference, and versus Python tiktoken on o200k_base (the anchor the engine is held to).

Usage (scripts/bench-tokenizers.sh sets this up; CONFIG's file and spec paths are absolute):
    python3 scripts/bench/tokenizers.py BIN CONFIG MIX_FILE [--reps N] [--only ID ...]
Prints a markdown table on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REF = r'''
import sys, json, hashlib, gzip, base64
fmt, path, spec, mix = sys.argv[1:5]
text = open(mix, encoding="utf-8").read()
def raw(p):
    b = open(p, "rb").read()
    return gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b
if fmt == "tiktoken":
    import tiktoken
    s = json.load(open(spec))
    ranks = {base64.b64decode(t): int(r) for t, r in (l.split() for l in raw(path).decode().splitlines() if l.strip())}
    enc = tiktoken.Encoding("x", pat_str=s["pattern"], mergeable_ranks=ranks, special_tokens=s["special_tokens"])
    ids = [i + s["id_offset"] for i in enc.encode_ordinary(text)]
elif fmt == "tekken":
    import tiktoken
    d = json.loads(raw(path)); c = d["config"]; n = c["default_num_special_tokens"]
    ranks = {base64.b64decode(e["token_bytes"]): i for i, e in enumerate(d["vocab"][: c["default_vocab_size"] - n])}
    enc = tiktoken.Encoding("x", pat_str=c["pattern"], mergeable_ranks=ranks, special_tokens={})
    ids = [i + n for i in enc.encode_ordinary(text)]
elif fmt == "hf-json":
    import tokenizers
    tok = tokenizers.Tokenizer.from_str(raw(path).decode())
    ids = tok.encode(text, add_special_tokens=False).ids
elif fmt == "sentencepiece":
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file=path)
    ids = sp.encode(text, out_type=int)
else:
    sys.exit("unknown format " + fmt)
h = hashlib.sha256(b"".join(i.to_bytes(4, "little") for i in ids)).hexdigest()
print(json.dumps({"count": len(ids), "sha256": h}))
'''

REFERENCE_NAME = {
    "tiktoken": "tiktoken",
    "tekken": "tiktoken",
    "hf-json": "tokenizers",
    "sentencepiece": "sentencepiece",
}


def run(cmd: list[str], stdout_path: Path) -> tuple[float, float, float]:
    """Runs cmd under /usr/bin/time with stdout to a file; returns (wall s, cpu s, peak RSS MB).

    /usr/bin/time forks the command from its own small process: measured from this (large)
    Python process, a child's peak RSS would include the pages it inherited before exec."""
    stats = stdout_path.with_suffix(".time")
    with open(stdout_path, "wb") as out:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(stats), *cmd],
                           stdout=out, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.decode(errors='replace')}")
    wall, user, sys_, rss = stats.read_text().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss) / 1024


def ours_digest(path: Path) -> dict:
    doc = json.loads(path.read_bytes())
    h = hashlib.sha256(b"".join(i.to_bytes(4, "little") for i in doc["ids"])).hexdigest()
    return {"count": doc["count"], "sha256": h}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("config")
    ap.add_argument("mix")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=[])
    a = ap.parse_args()

    if not shutil.which("/usr/bin/time"):
        sys.exit("needs /usr/bin/time (apt-get install time)")
    cfg_path = Path(a.config).resolve()
    cfg = tomllib.loads(cfg_path.read_text())
    entries = [t for t in cfg["tokenizer"] if not a.only or t["id"] in a.only]
    mix = Path(a.mix).resolve()
    mb = mix.stat().st_size / 1e6
    work = Path(tempfile.mkdtemp())
    ref_script = work / "ref.py"
    ref_script.write_text(REF)

    def best(cmd: list[str], out: Path) -> tuple[float, float, float]:
        runs = [run(cmd, out) for _ in range(a.reps)]
        return min(runs, key=lambda r: r[0])

    # The anchor: Python tiktoken on o200k_base.
    o200k = next(t for t in cfg["tokenizer"] if t["id"] == "openai/o200k_base")
    anchor_cmd = [sys.executable, str(ref_script), "tiktoken", o200k["file"], o200k["spec"], str(mix)]
    anchor = best(anchor_cmd, work / "anchor.json")
    print(f"anchor: Python tiktoken o200k_base {anchor[0]:.2f} s wall, {anchor[1]:.2f} s cpu", file=sys.stderr)

    rows = []
    for t in entries:
        tid, fmt = t["id"], t["format"]
        spec = t.get("spec", "-")
        ours_out, ref_out = work / "ours.json", work / "ref.json"
        ours = best([a.bin, "--config", str(cfg_path), "tokenize", "--tokenizer", tid, str(mix)], ours_out)
        got = ours_digest(ours_out)
        ref = best([sys.executable, str(ref_script), fmt, t["file"], spec, str(mix)], ref_out)
        want = json.loads(ref_out.read_text())
        same = got == want
        rows.append((tid, fmt, ours, ref, got["count"], same))
        print(f"{tid}: prefix {ours[0]:.2f} s, {REFERENCE_NAME[fmt]} {ref[0]:.2f} s, ids {'equal' if same else 'DIFFER'}", file=sys.stderr)

    print(f"Text: {mb:.1f} MB mixed corpus ({mix.name}); best of {a.reps}; whole processes; "
          f"CPU = user + sys of that run; {os.cpu_count()} cores.")
    print(f"Anchor: Python tiktoken on openai/o200k_base: {anchor[0]:.2f} s wall, {anchor[1]:.2f} s CPU, {anchor[2]:.0f} MB peak.")
    print()
    print("| tokenizer | format | tokens | prefix s (CPU s) | prefix peak MB | reference | reference s (CPU s) | reference peak MB | × reference (CPU) | × tiktoken o200k (CPU) | ids |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for tid, fmt, ours, ref, count, same in rows:
        print(f"| `{tid}` | {fmt} | {count:,} | {ours[0]:.2f} ({ours[1]:.2f}) | {ours[2]:.0f} | {REFERENCE_NAME[fmt]} "
              f"| {ref[0]:.2f} ({ref[1]:.2f}) | {ref[2]:.0f} | {ref[1] / ours[1]:.2f}× | {anchor[1] / ours[1]:.2f}× "
              f"| {'equal' if same else '**differ**'} |")
    if not all(r[5] for r in rows):
        sys.exit("ids differ (above)")


if __name__ == "__main__":
    main()
