#!/usr/bin/env bash
# Where prefix-warden's rank-file engine spends its time on the benchmark text
# (docs/tokenizer-profile.md comes from here):
#   1. `tokenizer-peers stages`: the engine's steps timed one after the other, best of REPS;
#   2. callgrind (instructions) of one encode of the whole text, split into the engine's parts by
#      scripts/bench/callgrind_split.py.
#
#   scripts/bench/profile-tokenizer.sh [TOKENIZER_ID...]     # default o200k_base, cl100k_base
#
# Needs valgrind. The text is make_corpus.py's (16 MB, rebuilt each time: a few seconds); outputs go to
# $CARGO_TARGET_DIR (default target)/profile/.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The peers member builds into the workspace's target directory, as the workspace's crates do.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
target=$CARGO_TARGET_DIR
export TMPDIR=${TMPDIR:-$target/tmp}
mkdir -p "$TMPDIR" "$target/profile"
ids=("$@")
[ ${#ids[@]} -gt 0 ] || ids=(openai/o200k_base openai/cl100k_base)
cargo build --locked --release -q -p tokenizer-peers
bin="$target/release/tokenizer-peers"
corpus="$target/bench-corpus/corpus.txt"
python3 scripts/bench/make_corpus.py "$target/bench-corpus" --mb 16
echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), text sha256 $(sha256sum "$corpus" | cut -c1-16)…"
for id in "${ids[@]}"; do
  name=${id##*/}
  echo "## $id: steps (best of ${REPS:-3})"
  for _ in $(seq "${REPS:-3}"); do "$bin" stages "$id" daemon.toml "$corpus"; done |
    python3 -c '
import sys, re
best, head, distinct, merges = {}, None, None, {}
for line in sys.stdin:
    if " MB, " in line:
        head = line.rstrip()
    elif line.startswith("distinct"):
        distinct = line.rstrip()
    elif line.lstrip().startswith("merge, "):
        # The merge of the distinct pieces of one length: the row of its best round.
        key, s = line.split(":")[0].strip(), float(re.search(r", ([0-9.]+) s,", line)[1])
        if key not in merges or s < merges[key][0]:
            merges[key] = (s, line.rstrip())
    else:
        m = re.match(r"(.+?)\s+([0-9.]+) s\s", line)
        best[m[1]] = min(best.get(m[1], 1e9), float(m[2]))
print(head)
mb = float(head.split(": ")[1].split(" MB")[0])
for k, v in best.items():
    print(f"  {k:<45} {v:.3f} s  {mb / v:6.1f} MB/s")
print(distinct)
for _, row in merges.values():
    print(row)'
  echo "## $id: callgrind, one encode of the whole text (inclusive instructions)"
  out="$target/profile/callgrind.$name.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" prefix-warden "$id" daemon.toml "$corpus" >/dev/null 2>"$target/profile/valgrind.$name.log"
  python3 scripts/bench/callgrind_split.py "$out"
  echo "  (callgrind_annotate --inclusive=yes $out: every function)"
done
