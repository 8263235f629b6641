#!/usr/bin/env python3
"""Differential ids: the reference's ids of generated requests' renderings (issue #19).

For every template under templates/ that gen_template_ids.py pairs with a shipped tokenizer
(TEMPLATE_TOKENS with a tokenizer label), a sample of the committed generated requests
(tests/data/differential/requests.jsonl.gz, every STRIDE-th: 200 of 2,000) is rendered with
transformers' `render_jinja_template` (clock frozen at DATE, as differential.py does) and the
rendering tokenized whole by the reference for that tokenizer (gen_template_ids.Ids.encode:
`tokenizers` for a tokenizer.json, tiktoken with allowed_special="all" for tiktoken and tekken
files), the way an engine tokenizes a rendered request.

Output: tests/data/differential/ids.json.gz (gzip, mtime 0):
  {"reference": .., "stride": STRIDE, "templates": {path: {"tokenizer": label,
    "ids": {"<case index>": "<token count>:<first 16 hex of sha256(ids as little-endian u32)>"
                           | "error"}}}}

tests/it/differential.rs (`generated_requests_tokenize_as_the_reference_does`) renders and
tokenizes the same cases with the project and compares, case by case.

Usage:
    python3 scripts/reference/differential_ids.py           # (re)write
    python3 scripts/reference/differential_ids.py --check   # compare with the committed file
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from differential import OUT, TEMPLATES, USER, freeze_clock, gz  # noqa: E402
from gen_template_ids import TEMPLATE_TOKENS, Ids  # noqa: E402

STRIDE = 10


def digest(ids: list[int]) -> str:
    h = hashlib.sha256(b"".join(struct.pack("<I", i) for i in ids)).hexdigest()[:16]
    return f"{len(ids)}:{h}"


def build() -> dict:
    import tokenizers
    import transformers
    from transformers.utils.chat_template_utils import render_jinja_template

    freeze_clock()
    # Lines end at "\n" only: the texts hold U+2028 and friends, which splitlines() splits at.
    text = gzip.decompress((OUT / "requests.jsonl.gz").read_bytes()).decode("utf-8")
    requests = [json.loads(l) for l in text.split("\n") if l]
    sample = list(range(0, len(requests), STRIDE))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        encoders: dict[str, Ids] = {}
        for name, (label, bos, eos) in sorted(TEMPLATE_TOKENS.items()):
            if label is None:
                continue
            if label not in encoders:
                encoders[label] = Ids(label, Path(tmp))
            src = (TEMPLATES / name).read_text(encoding="utf-8")
            kw = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}
            ids = {}
            for i in sample:
                req = requests[i]
                msgs = [{"role": "system", "content": req["system"]}, {"role": "user", "content": USER}]
                tools = None if req["tools"] is None else json.loads(req["tools"])
                try:
                    text = render_jinja_template([msgs], tools=tools, chat_template=src,
                                                 add_generation_prompt=False, **kw)[0][0]
                except Exception:  # the template raised: no ids on either side
                    ids[str(i)] = "error"
                    continue
                ids[str(i)] = digest(encoders[label].encode(text)[0])
            out[name] = {"tokenizer": label, "ids": ids}
            print(f"{name} ({label}): {len(ids)} cases", file=sys.stderr)
    import tiktoken

    return {
        "reference": f"transformers {transformers.__version__} render_jinja_template; tokenizers {tokenizers.__version__}; "
                     f"tiktoken {tiktoken.__version__}",
        "stride": STRIDE,
        "templates": out,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    blob = json.dumps(build(), sort_keys=True, separators=(",", ":")).encode("utf-8")
    path = OUT / "ids.json.gz"
    if args.check:
        if gzip.decompress(path.read_bytes()) != blob:
            print(f"error: {path} differs from what the reference produces now", file=sys.stderr)
            sys.exit(1)
        print("ok: matches the reference", file=sys.stderr)
        return
    path.write_bytes(gz(blob))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
