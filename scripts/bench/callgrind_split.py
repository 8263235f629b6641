#!/usr/bin/env python3
"""Splits a callgrind profile of `tokenizer-peers prefix-warden ID ...` into the rank-file
engine's parts: self instructions summed per function (inlined code counts for the function it
was inlined into, so the parts add up exactly), grouped by what the function does, as shares of
the one encode call (RankBpe::encode, inclusive).

    python3 scripts/bench/callgrind_split.py CALLGRIND_OUT
"""

import re
import subprocess
import sys
from collections import Counter

GROUPS = [
    ("pre-tokenizer split (the scanner, scan.rs and classes.rs; before #24 the regex automata)",
     r"regex_automata::|pretok::|Splitter::pieces|whitespace_end|scan::|classes::"),
    ("rank lookups (rank_table.rs: whole pieces and the pairs probed while merging)", r"rank_table::"),
    ("whole-piece step (RankBpe::encode's closure: lookup inlined, ids push)", r"RankBpe::encode::\{\{closure\}\}"),
    # The memo (memo.rs) is mostly inlined into the engine's closures since #24; what is left of it
    # as functions of its own (growing the table) is counted here.
    ("memo of merged pieces (memo.rs functions not inlined; before #24 a HashMap)",
     r"memo::Memo::|hashbrown.*reserve_rehash"),
    ("byte-pair merge (merge::by_rank; before #24 tiktoken_rs::byte_pair_split)",
     r"merge::by_rank|tiktoken_rs::|_byte_pair_merge|byte_pair_split|SpecFromIter|from_iter"),
    ("allocation (malloc, realloc, free, Vec growth)", r"malloc|realloc|free|_int_|raw_vec|RawVec|alloc::alloc|finish_grow|do_reserve_and_handle|grow_one"),
    ("memcpy, memmove, memcmp (copies; key comparisons; Vec::remove in the merge)", r"memcpy|memmove|memcmp"),
    ("RankBpe::encode itself (loop, id offset)", r"RankBpe::encode$"),
]


def main() -> None:
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", sys.argv[1]],
                         capture_output=True, text=True, check=True).stdout
    self_cost: Counter = Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*?):(.*?)(?: \[.*\])?$", line)
        if m and "PROGRAM TOTALS" not in line:
            self_cost[m[3].strip()] += int(m[1].replace(",", ""))
    inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", sys.argv[1]],
                         capture_output=True, text=True, check=True).stdout
    encode = max(int(m[1].replace(",", "")) for m in re.finditer(r"\s*([\d,]+) \([ \d.]+%\)\s+\S*:prefix_warden_core::tokenizer::rank_bpe::RankBpe::encode(?: \[|$)", inc, re.M))
    total = sum(self_cost.values())
    grouped: Counter = Counter()
    rest: Counter = Counter()
    for fn, c in self_cost.items():
        for name, pat in GROUPS:
            if re.search(pat, fn):
                grouped[name] += c
                break
        else:
            rest[fn] += c
    inside = sum(grouped.values())
    print(f"instructions: {total:,} in the process, {encode:,} in RankBpe::encode (inclusive); "
          f"the parts below add up to {inside:,}: the allocator and the mem* functions also "
          f"serve the loading, which they cannot be told apart from here. Shares: of the parts' sum.")
    print()
    print("| part | instructions | share |")
    print("|---|---|---|")
    for name, _ in GROUPS:
        print(f"| {name} | {grouped[name]:,} | {100 * grouped[name] / inside:.1f}% |")
    print()
    print("outside the encode (reading and verifying the file, loading the tables, hashing the ids "
          f"for the bench): {total - inside:,}; largest: " +
          ", ".join(f"{fn[:60]} {c / 1e6:.0f}M" for fn, c in rest.most_common(4)))


if __name__ == "__main__":
    main()
