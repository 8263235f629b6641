#!/usr/bin/env python3
"""Golden fingerprint vectors: an independent (Python, hashlib) implementation of the spec.

Spec
  * Encoding: a token id sequence is hashed as the concatenation of its ids, each a little-endian u32.
  * Fingerprint: "sha256:" + lowercase hex SHA-256 of that encoding (the empty sequence hashes the
    empty input: sha256:e3b0c442...b855).
  * Block hash list with block size B: for i in 0..ceil(n/B), entry i = the first 16 lowercase hex
    digits of the SHA-256 of the encoding of ids[0 : min((i+1)*B, n)] (a prefix hash, not a hash of
    the block alone). The last entry may cover a partial block; an empty sequence has no entries.

Output: tests/data/golden/fingerprints.json
  {"spec": "...",
   "vectors": [{"ids": [...], "fingerprint": ..., "block_size": B, "blocks": [...]}, ...],
   "corpus": {"<label>": {"<corpus file>": {"count": n, "fingerprint": ...,
              "blocks16_first": ..., "blocks16_last": ..., "blocks16_len": ...}}}}
The corpus part uses the reference ids in tests/data/expected_ids/*.json.gz (run
gen_expected_ids.py first). Only the Python standard library is needed.

Usage: python3 scripts/reference/gen_golden_fingerprints.py [--check]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ROOT / "tests" / "data" / "expected_ids"
OUT = ROOT / "tests" / "data" / "golden" / "fingerprints.json"

SPEC = (
    "ids encoded as little-endian u32, concatenated; fingerprint = 'sha256:' + lowercase hex "
    "SHA-256 of the encoding (empty sequence = SHA-256 of empty input); blocks with size B: for i in "
    "0..ceil(n/B), entry i = first 16 hex digits of SHA-256 of the encoding of ids[0:min((i+1)*B, n)] "
    "(prefix hashes; last block may be partial; empty sequence has no blocks)"
)


def encode(ids: list[int]) -> bytes:
    for t in ids:
        if not (0 <= t <= 0xFFFFFFFF):
            raise ValueError(f"id {t} is not a u32")
    return struct.pack(f"<{len(ids)}I", *ids)


def fingerprint(ids: list[int]) -> str:
    return "sha256:" + hashlib.sha256(encode(ids)).hexdigest()


def blocks_direct(ids: list[int], b: int) -> list[str]:
    """Straight from the definition: hash each prefix from scratch."""
    n = len(ids)
    nblocks = (n + b - 1) // b
    return [hashlib.sha256(encode(ids[: min((i + 1) * b, n)])).hexdigest()[:16] for i in range(nblocks)]


def blocks_incremental(ids: list[int], b: int) -> list[str]:
    """Same result with one running hash (snapshot at each block end); used for the long corpus texts."""
    h = hashlib.sha256()
    out = []
    for start in range(0, len(ids), b):
        h.update(encode(ids[start : start + b]))
        out.append(h.copy().hexdigest()[:16])
    return out


def vector(ids: list[int], b: int) -> dict:
    blocks = blocks_direct(ids, b)
    assert blocks == blocks_incremental(ids, b)
    return {"ids": ids, "fingerprint": fingerprint(ids), "block_size": b, "blocks": blocks}


def hand_vectors() -> list[dict]:
    return [
        vector([], 16),
        vector([0], 16),
        vector([1, 2, 3], 16),
        vector([4294967295], 16),
        vector(list(range(16)), 16),  # exactly one full block
        vector(list(range(17)), 16),  # one full block + partial block of 1
        vector([100000 + 7 * i for i in range(33)], 16),  # 2 full blocks + partial of 1
        vector([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], 4),  # B=4: blocks of 4, 4, 2
        vector([256, 65536, 16777216, 2147483648], 4),  # byte order check; exactly one block
    ]


def corpus_vectors() -> dict:
    files = sorted(EXPECTED.glob("*.json.gz"))
    if not files:
        sys.exit(f"error: no {EXPECTED.relative_to(ROOT)}/*.json.gz; run gen_expected_ids.py first")
    corpus: dict[str, dict] = {}
    for p in files:
        doc = json.loads(gzip.decompress(p.read_bytes()))
        entry = {}
        for name, ids in sorted(doc["ids"].items()):
            blocks = blocks_incremental(ids, 16)
            entry[name] = {
                "count": len(ids),
                "fingerprint": fingerprint(ids),
                "blocks16_first": blocks[0] if blocks else None,
                "blocks16_last": blocks[-1] if blocks else None,
                "blocks16_len": len(blocks),
            }
            # Last block covers the whole sequence: its hash is a prefix of the fingerprint.
            if blocks:
                assert entry[name]["fingerprint"][len("sha256:") :].startswith(blocks[-1])
        corpus[doc["tokenizer"]] = entry
    return corpus


def main() -> None:
    ap = argparse.ArgumentParser(description="Write tests/data/golden/fingerprints.json")
    ap.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = ap.parse_args()

    # Self-check of the encoding and the empty-input rule.
    assert encode([1, 256]) == b"\x01\x00\x00\x00\x00\x01\x00\x00"
    assert fingerprint([]) == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    doc = {"spec": SPEC, "vectors": hand_vectors(), "corpus": corpus_vectors()}
    text = json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True) + "\n"
    if args.check:
        if not OUT.exists() or json.loads(OUT.read_text()) != doc:
            sys.exit(f"error: {OUT.relative_to(ROOT)} is out of date")
        print("ok: golden fingerprints match", file=sys.stderr)
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    n = sum(len(v) for v in doc["corpus"].values())
    print(f"wrote {OUT.relative_to(ROOT)}: {len(doc['vectors'])} vectors, {n} corpus entries", file=sys.stderr)


if __name__ == "__main__":
    main()
