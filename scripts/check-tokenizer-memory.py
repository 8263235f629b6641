#!/usr/bin/env python3
"""Peak resident memory of `prefix tokenize` for every tokenizer of the shipped registry that
has local ids, against the engine's bound: 64 MiB + 4x the input (issue #24).

Each tokenizer is loaded cold (an empty state dir: the file parsed, its table cache written)
and warm (the table cache read), on a small text (one real prompt of tests/data/corpus, a few
KB: the 64 MiB is the whole budget there) and on all of tests/data/corpus at once (0.98 MB of
real prompts, none repeated). The peak is the process's own maximum resident set, measured as
the bench measures it (scripts/bench/tokenizers.py's `timed`, under /usr/bin/time: a child's
peak read from this process would count the pages it was spawned with). Exits 1 if any run
passes the bound or fails.

    scripts/check-tokenizer-memory.py [target/release/prefix]
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = {"tiktoken", "tekken", "hf-json", "sentencepiece"}
MIB = 1 << 20

_spec = importlib.util.spec_from_file_location("bench_tokenizers", ROOT / "scripts/bench/tokenizers.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def main() -> int:
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "target/release/prefix").resolve()
    if not prefix.exists():
        sys.exit(f"{prefix}: build first (cargo build --release)")
    cfg = tomllib.loads((ROOT / "daemon.toml").read_text())
    entries = [t for t in cfg["tokenizer"] if t["format"] in LOCAL]
    corpus = sorted((ROOT / "tests/data/corpus").glob("*.txt"))
    failed = False
    with tempfile.TemporaryDirectory() as work:
        w = Path(work)
        small = corpus[0]
        whole = w / "corpus.txt"
        whole.write_bytes(b"".join(p.read_bytes() for p in corpus))
        lines = [f'state_dir = "{w / "state"}"']
        for t in entries:
            lines.append("[[tokenizer]]")
            for k in ("id", "provider", "format", "file", "spec", "sha256"):
                if k in t:
                    v = str(ROOT / t[k]) if k in ("file", "spec") else t[k]
                    lines.append(f"{k} = {json.dumps(v)}")
        (w / "registry.toml").write_text("\n".join(lines) + "\n")
        print("| tokenizer | load | input | input bytes | peak MiB | bound MiB |")
        print("|---|---|---|---|---|---|")
        for t in entries:
            shutil.rmtree(w / "state", ignore_errors=True)
            for load, text in (("cold", small), ("warm", small), ("warm", whole)):
                cmd = [str(prefix), "--config", str(w / "registry.toml"), "tokenize", "--quiet",
                       "--format", "count", "--tokenizer", t["id"], str(text)]
                size = text.stat().st_size
                bound = 64 + 4 * size / MIB
                name = "one prompt" if text == small else "tests/data/corpus"
                try:
                    _cpu, mib = bench.timed(cmd, w / "out.json", dict(os.environ))
                    peak = f"{mib:.1f}" + ("" if mib <= bound else " **over**")
                    failed |= mib > bound
                except RuntimeError as e:
                    peak = f"- ({str(e).strip()[-200:]})".replace("\n", " ")
                    failed = True
                print(f"| `{t['id']}` | {load} | {name} | {size:,} | {peak} | {bound:.1f} |")
    if failed:
        print("a tokenizer load passed 64 MiB + 4x its input, or failed (above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
