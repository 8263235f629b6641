#!/usr/bin/env python3
"""How many of the joins a rank-file merge tries are tokens (docs/tokenizer-profile.md, fifth round).

tiktoken's merge of a piece looks up the join of every adjacent pair of parts, and again each
join beside a merge. This replays that merge (plainly, as `_byte_pair_merge` does) on a sample
of the text's pieces that are not one token whole, each distinct piece once (as the engine's
memo does), and counts the lookups: two-byte joins (dense arrays in the engine) apart, and the
longer ones by whether they are a token.

Usage: python3 scripts/bench/merge_joins.py RANK_FILE(.gz) SPEC_JSON TEXT [--chunks 40]
(needs the `regex` package: the bench venv has it). The fifth round's figures came from
    target/bench-venv/bin/python scripts/bench/merge_joins.py \\
      tokenizers/openai/o200k_base.tiktoken.gz tokenizers/openai/o200k_base.spec.json CORPUS
"""

import argparse
import random

import regex

import rank_file

ap = argparse.ArgumentParser()
ap.add_argument("ranks")
ap.add_argument("spec")
ap.add_argument("text")
ap.add_argument("--chunks", type=int, default=40, help="chunks of 50,000 characters, at seeded random offsets")
a = ap.parse_args()

ranks, pattern = rank_file.load(a.ranks, a.spec)
text = open(a.text, encoding="utf-8", newline="").read()
rng = random.Random(1)
starts = sorted(rng.sample(range(max(1, len(text) - 50_000)), a.chunks))

n = {"pieces": 0, "whole": 0, "merged distinct": 0, "two-byte joins": 0, "joins that are tokens": 0, "joins that are not": 0}
seen = set()


def look(b: bytes):
    if len(b) <= 2:
        n["two-byte joins"] += 1
    elif b in ranks:
        n["joins that are tokens"] += 1
    else:
        n["joins that are not"] += 1
    return ranks.get(b)


for s in starts:
    for m in regex.finditer(pattern, text[s : s + 50_000]):
        p = m.group().encode()
        n["pieces"] += 1
        if p in ranks:
            n["whole"] += 1
            continue
        if p in seen:
            continue
        seen.add(p)
        n["merged distinct"] += 1
        parts = [p[i : i + 1] for i in range(len(p))]
        pair = [look(parts[i] + parts[i + 1]) for i in range(len(parts) - 1)]
        while True:
            best = min(((r, i) for i, r in enumerate(pair) if r is not None), default=None)
            if best is None:
                break
            i = best[1]
            parts[i] += parts.pop(i + 1)
            pair.pop(i)
            if i < len(parts) - 1:
                pair[i] = look(parts[i] + parts[i + 1])
            if i > 0:
                pair[i - 1] = look(parts[i - 1] + parts[i])

longer = n["joins that are tokens"] + n["joins that are not"]
for k, v in n.items():
    print(f"{k:>24}: {v:,}")
print(f"{'not a token':>24}: {n['joins that are not'] / max(1, longer):.1%} of the joins of 3 bytes or more")
