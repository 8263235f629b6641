#!/usr/bin/env bash
# The best of N encodes of the benchmark text by one engine, each in its own process: how the
# figures of each engine change in docs/tokenizer-profile.md were taken (issue #24).
#
#   scripts/bench/best-of.sh ENGINE ENCODING [N]     # N defaults to 5
#   scripts/bench/best-of.sh prefix-warden openai/o200k_base
#   scripts/bench/best-of.sh bpe-openai o200k_base 3
#
# Needs the peers binary and the text (scripts/bench-tokenizers.sh or profile-tokenizer.sh build
# them); run from the repository root, tokenizers as daemon.toml names them.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-$PWD/target}
for _ in $(seq "${3:-5}"); do
  "$target/release/tokenizer-peers" "$1" "$2" daemon.toml "$target/bench-corpus/corpus.txt"
done | python3 -c '
import json, sys
runs = [json.loads(line) for line in sys.stdin if line.startswith("{")]
best = min(r["encode_cpu_s"] for r in runs)
mb = float(sys.argv[3]) / 1e6
print(f"{sys.argv[1]} {sys.argv[2]}: best of {len(runs)} {best:.3f} s encode CPU, {mb / best:.1f} MB/s, "
      f"{runs[0][\"count\"]} ids, sha256 {runs[0][\"sha256\"][:16]}")' "$1" "$2" "$(stat -c %s "$target/bench-corpus/corpus.txt")"
