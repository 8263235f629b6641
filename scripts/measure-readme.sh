#!/usr/bin/env bash
# Re-measures the figures README.md states, and prints them with the day, the machine and the
# commit, so the README can be brought up to date from one run (figures change with the machine:
# compare ratios, not seconds).
#
#   scripts/measure-readme.sh          # daemon start and memory, short tokenize, traffic (1M requests)
#   scripts/measure-readme.sh --all    # also the tokenizer table (bench-tokenizers.sh 16, ~10 min),
#                                      # /metrics rendering (cargo bench) and the ingest load test
#
# Which script each README figure comes from:
#   "The daemon ... ready in, resident memory"      scripts/measure-memory.sh
#   "a short prefix tokenize costs about"           this script (best of 5)
#   "Speed" of discover / simulate                  scripts/bench-traffic.sh
#   the tokenizer table                             scripts/bench-tokenizers.sh 16
#   "/metrics renders 1,000 pairs"                  cargo bench --bench metrics
#   "POST /v1/usage serves"                         scripts/load-ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
all=${1:-}
cargo build --locked --release -q
echo "# $(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "## load at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
echo "## the daemon (scripts/measure-memory.sh)"
scripts/measure-memory.sh
echo "## a short prefix tokenize (tables cached), best of 5"
state=$(mktemp -d); trap 'rm -rf "$state"' EXIT
echo "Hello, world" | PREFIX_WARDEN_STATE_DIR=$state target/release/prefix tokenize --tokenizer openai/o200k_base >/dev/null
python3 - "$state" <<'PY'
import subprocess, sys, time, os
env = dict(os.environ, PREFIX_WARDEN_STATE_DIR=sys.argv[1])
best = min(
    (lambda t0: (subprocess.run(["target/release/prefix", "tokenize", "--tokenizer", "openai/o200k_base"],
                                input=b"Hello, world", stdout=subprocess.DEVNULL, env=env, check=True),
                 time.monotonic() - t0)[1])(time.monotonic())
    for _ in range(5))
print(f"prefix tokenize (o200k_base, 12 bytes): {best:.2f} s")
PY
echo "## traffic (scripts/bench-traffic.sh)"
scripts/bench-traffic.sh
if [ "$all" = "--all" ]; then
  echo "## tokenizers (scripts/bench-tokenizers.sh 16)"
  scripts/bench-tokenizers.sh 16
  echo "## /metrics rendering (cargo bench --bench metrics)"
  cargo bench --locked --bench metrics 2>&1 | grep -E 'time:|render' || true
  echo "## ingest load (scripts/load-ingest.sh)"
  scripts/load-ingest.sh
fi
