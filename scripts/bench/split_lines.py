#!/usr/bin/env python3
"""Splits a text by line into three texts, to time engines on each (docs/tokenizer-profile.md,
seventh round):

  ascii.txt  the lines of ASCII only (English prose and code, most of the bench text);
  cjk.txt    the lines with a Han, hiragana or katakana character (DeepSeek's CJK split);
  other.txt  every other line (Cyrillic, Arabic, Greek, ... and Latin with accents).

Each keeps its lines in order, line ends included.

Usage: python3 scripts/bench/split_lines.py TEXT OUT_DIR
"""

import os
import re
import sys

text_path, out = sys.argv[1:3]
text = open(text_path, encoding="utf-8", newline="").read()
cjk = re.compile("[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]")
kinds = {"ascii": [], "cjk": [], "other": []}
for line in text.splitlines(keepends=True):
    kinds["ascii" if line.isascii() else "cjk" if cjk.search(line) else "other"].append(line)
os.makedirs(out, exist_ok=True)
for k, lines in kinds.items():
    body = "".join(lines)
    with open(os.path.join(out, k + ".txt"), "w", encoding="utf-8", newline="") as f:
        f.write(body)
    print(f"{k + '.txt':>10}: {len(lines):,} lines, {len(body.encode()):,} bytes")
