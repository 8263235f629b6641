#!/usr/bin/env python3
"""How much starting a merge from whole characters saves, and a check of the rule (issue #24,
docs/tokenizer-profile.md, sixth round; the engine's rule is crates/core/src/tokenizer/atoms.rs).

A character of 2-4 bytes that is a token may start a rank-file merge as one part unless the byte
before or after it in the piece could join part or all of it at a rank at or below the
character's own inner merges. This script works the rule out again, independently of the
engine (exact byte sets instead of the engine's 64-bit masks, which only refuse more), replays
tiktoken's merge on a sample of the text's pieces that are not one token (each distinct piece
once, as the engine's memo does), from bytes and from whole characters, and counts the parts
saved and any piece whose ids differ (there must be none).

Usage: python3 scripts/bench/atoms.py RANK_FILE(.gz) SPEC_JSON TEXT [--chunks 40]
(needs the `regex` package: the bench venv has it). The sixth round's figures came from
    target/bench-venv/bin/python scripts/bench/atoms.py \\
      tokenizers/openai/o200k_base.tiktoken.gz tokenizers/openai/o200k_base.spec.json CORPUS
"""

import argparse
import collections
import random

import regex

import rank_file

ap = argparse.ArgumentParser()
ap.add_argument("ranks")
ap.add_argument("spec")
ap.add_argument("text")
ap.add_argument("--chunks", type=int, default=40, help="chunks of 20,000 characters, at seeded random offsets")
a = ap.parse_args()

ranks, pattern = rank_file.load(a.ranks, a.spec)


def merge(parts):
    """tiktoken's merge from the given parts: the lowest-ranked join first, the leftmost on a tie."""
    parts = list(parts)
    while True:
        best = min(((ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                    if parts[i] + parts[i + 1] in ranks), default=None)
        if best is None:
            return parts
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def inner_max(t):
    """The highest rank of the merges that make t from its bytes, or None if they do not."""
    parts, most = [bytes([x]) for x in t], -1
    while len(parts) > 1:
        best = min(((ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1)
                    if parts[i] + parts[i + 1] in ranks), default=None)
        if best is None:
            return None
        most = max(most, best[0])
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return most


def char_len(b):
    return 2 if 0xC0 <= b <= 0xDF else 3 if 0xE0 <= b <= 0xEF else 4 if 0xF0 <= b <= 0xF7 else 0


# Candidates and, for each, the bytes that may not stand before (left) or after (right) it.
atoms = {}
for t, r in ranks.items():
    if 2 <= len(t) <= 4 and char_len(t[0]) == len(t):
        try:
            t.decode()
        except UnicodeDecodeError:
            continue
        m = inner_max(t)
        if m is not None:
            atoms[t] = (r, m, set(), set())
prefixes, suffixes = collections.defaultdict(list), collections.defaultdict(list)
for t in atoms:
    for j in range(1, len(t) + 1):
        prefixes[t[:j]].append(t)
        suffixes[t[j - 1:]].append(t)
for t, r in ranks.items():
    for q in range(1, len(t)):
        left, right = t[:q], t[q:]
        for c in prefixes.get(right, ()):
            if r <= atoms[c][1]:
                atoms[c][2].add(left[-1])
        for c in suffixes.get(left, ()):
            if r <= atoms[c][1]:
                atoms[c][3].add(right[0])


def start(p, n):
    """The parts a merge of p starts from: whole characters where the rule allows, else bytes."""
    parts, i = [], 0
    while i < len(p):
        k = char_len(p[i])
        c = p[i:i + k]
        at = atoms.get(c) if k else None
        if at and (i == 0 or p[i - 1] not in at[2]) and (i + k == len(p) or p[i + k] not in at[3]):
            parts.append(c)
            n["characters started whole"] += 1
        else:
            k = 1
            n["characters of 2-4 bytes kept in bytes"] += p[i] >= 0xC0
            parts.append(p[i:i + 1])
        i += k
    return parts


text = open(a.text, encoding="utf-8", newline="").read()
rng = random.Random(3)
n, seen = collections.Counter(), set()
for s in sorted(rng.sample(range(max(1, len(text) - 20_000)), a.chunks)):
    for m in regex.finditer(pattern, text[s:s + 20_000]):
        p = m.group().encode()
        if p in ranks or p in seen:
            continue
        seen.add(p)
        n["merged distinct"] += 1
        n["bytes (parts from bytes)"] += len(p)
        n["non-ASCII bytes"] += sum(x >= 0x80 for x in p)
        whole = start(p, n)
        n["parts from whole characters"] += len(whole)
        if merge(whole) != merge([bytes([x]) for x in p]):
            n["pieces whose ids differ"] += 1
            print("DIFFERS:", p[:60])
print(f"{'single-character tokens':>40}: {len(atoms):,}")
for k in ("merged distinct", "bytes (parts from bytes)", "non-ASCII bytes", "parts from whole characters",
          "characters started whole", "characters of 2-4 bytes kept in bytes", "pieces whose ids differ"):
    print(f"{k:>40}: {n[k]:,}")
print(f"{'parts saved':>40}: {1 - n['parts from whole characters'] / max(1, n['bytes (parts from bytes)']):.1%}")
