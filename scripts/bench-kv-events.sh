#!/usr/bin/env bash
# KV-cache event ingest (issue #22): 64 emulated engine hosts publish over ZMQ on loopback to
# the daemon's subscriber thread for SECONDS (default 3600: memory must stay flat over an
# hour), offering RATE batches of 100 events a second each (default 100: 640,000 events/s).
# Prints events applied per second and per CPU-second of the subscriber thread, RSS over the
# run, and the time from a published eviction to the warm-up decision. Figures:
# docs/reliability.md ("KV-cache events").
#
#   scripts/bench-kv-events.sh [SECONDS] [HOSTS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --bench kv_events -- "${1:-3600}" "${2:-64}" "${3:-100}"
