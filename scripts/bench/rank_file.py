"""A `.tiktoken` rank file (gzipped or not) and its spec's split pattern, for the bench scripts
(merge_joins.py, atoms.py, split_pieces.py)."""

import base64
import gzip
import json


def load(rank_path, spec_path):
    """(token bytes -> rank, the split pattern)."""
    raw = open(rank_path, "rb").read()
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    ranks = {base64.b64decode(t): int(r) for t, r in (l.split() for l in raw.decode().splitlines() if l.strip())}
    return ranks, json.load(open(spec_path))["pattern"]
