#!/usr/bin/env python3
"""Splits a text by a rank file's pattern into texts of one kind of piece each, to time engines
on each kind (docs/tokenizer-profile.md, sixth round):

  whole.txt     the pieces that are one token, in order, concatenated;
  merged.txt    the pieces that are not (they must be merged), in order;
  distinct.txt  each piece of merged.txt once (a memo of merged pieces saves nothing on it);
  distinct-ascii.txt, distinct-other.txt: distinct.txt's ASCII pieces and the others.

Concatenated pieces are split again by the engines, mostly but not always the same way.

Usage: python3 scripts/bench/split_pieces.py RANK_FILE(.gz) SPEC_JSON TEXT OUT_DIR
(needs the `regex` package: the bench venv has it).
"""

import os
import sys

import regex

import rank_file

rank_path, spec, text_path, out = sys.argv[1:5]
tokens, pattern = rank_file.load(rank_path, spec)
text = open(text_path, encoding="utf-8", newline="").read()
kinds = {k: [] for k in ("whole", "merged", "distinct", "distinct-ascii", "distinct-other")}
seen = set()
for m in regex.finditer(pattern, text):
    p = m.group()
    if p.encode() in tokens:
        kinds["whole"].append(p)
        continue
    kinds["merged"].append(p)
    if p not in seen:
        seen.add(p)
        kinds["distinct"].append(p)
        kinds["distinct-ascii" if p.isascii() else "distinct-other"].append(p)
os.makedirs(out, exist_ok=True)
for k, pieces in kinds.items():
    with open(os.path.join(out, k + ".txt"), "w", encoding="utf-8", newline="") as f:
        f.write("".join(pieces))
    print(f"{k + '.txt':>20}: {len(pieces):,} pieces, {sum(len(p.encode()) for p in pieces):,} bytes")
