#!/usr/bin/env bash
# Runs every test of prefix-warden on a fresh Debian machine, installing what the tests need.
#
#   scripts/test.sh
#
# Needs: a Rust toolchain (cargo, clippy). Installs with apt-get when missing, for tests that
# run the real thing on loopback: prometheus (promtool, and a Prometheus server for the
# end-to-end test), prometheus-alertmanager (alerts are delivered to a real one), dnsmasq and
# etcd-server (the live-color lookup backends and the fleet's coordination), openssl, systemd (systemd-analyze, for the unit file),
# chromium (the status page at `/` in a real headless browser, with and without JavaScript).
# Run as root or install those packages first. Ports 9464-9466 must be free (the README
# examples start a daemon and emulators there).
#
# What it costs (README "Costs", measured by scripts/costs.sh): one debug build that is also the
# clippy run (clippy-driver as the workspace's rustc wrapper, so dependencies compile once for
# both), one release build, and a few minutes of tests. Every temporary file goes under
# target/tmp (TMPDIR), so /tmp is left as it was found; the run ends by checking that
# `git status` is as it began. Each step prints its duration, and a summary at the end.
# Coverage-guided fuzzing (libFuzzer, nightly) is scripts/fuzz.sh, outside this run: the fuzz
# targets' properties run here as unit tests on their seeds and mutations (src/fuzz_props).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step_name=""
step_start=$SECONDS
summary=()
step() {
  if [ -n "$step_name" ]; then summary+=("$(printf '%5ss  %s' $((SECONDS - step_start)) "$step_name")"); fi
  step_name=$1
  step_start=$SECONDS
  [ -z "$1" ] || echo "== $1"
}

git_before=$(git status --porcelain 2>/dev/null || true)
export TMPDIR="$PWD/target/tmp"
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"

for port in 9464 9465 9466; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use (a daemon or emulator from the README's \"Run it\"?): stop it first" >&2
    exit 1
  fi
done

step "packages (apt-get, when missing)"
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The fleet's etcd over TLS (tests/it/fleet.rs makes a CA and certificates).
command -v openssl >/dev/null 2>&1 || need+=(openssl)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
# libzmq (the zmq crate builds it from source, for the engines' KV-cache events) is C++.
command -v g++ >/dev/null 2>&1 || need+=(g++)
# GNU time: peak memory of one process (scripts/check-tokenizer-memory.py).
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "run as root, or: apt-get install ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

tmp_before=$(ls -A /tmp)

step "the core crate cannot do network IO"
# prefix-warden-core's dependency tree must hold no async runtime or HTTP crate.
if cargo tree --locked -p prefix-warden-core -e normal --prefix none | grep -E '^(tokio|hyper|reqwest|axum|h2|hickory)[ -]'; then
  echo "prefix-warden-core depends on a network crate (above)" >&2; exit 1
fi

step "the minimum Rust version claimed is the locked graph's (scripts/msrv.py)"
python3 scripts/msrv.py --check

step "formatting (the bench peers' member included); the fuzz package's lockfile is current"
cargo fmt --all -- --check
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

step "alert rules (promtool)"
promtool check rules deploy/prometheus/prefix-warden.rules.yml
tests/prometheus/make-e2e-rules.sh --check
(cd tests/prometheus && promtool test rules ./*.test.yml)

# The release build runs in the background from here, at low priority (target/release has its
# own lock): it takes the core the debug build leaves idle (its last crates and links compile one
# at a time) and the CPU the tests leave while they wait on daemons, timers and child processes.
# Then the libFuzzer targets are type-checked on stable (scripts/fuzz.sh builds them on nightly):
# each is one line calling its check in src/fuzz_props, which the tests run.
(b=$SECONDS; env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS nice -n 15 cargo build --locked --release -q \
  >"$TMPDIR/release-build.log" 2>&1 && echo $((SECONDS - b)) >"$TMPDIR/release-build.secs" &&
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS CARGO_TARGET_DIR="$PWD/target/fuzz-check" nice -n 15 \
    cargo check --locked -q --manifest-path fuzz/Cargo.toml --bins >>"$TMPDIR/release-build.log" 2>&1) &
release_pid=$!
trap 'pkill -TERM -P "$release_pid" 2>/dev/null; kill "$release_pid" 2>/dev/null || true' EXIT

step "clippy and the tests' build (one build: clippy-driver is the rustc of the workspace's crates)"
# What `cargo clippy --workspace --all-targets -- -D warnings` checks, in the same compilation as
# the tests: cargo clippy runs clippy-driver as RUSTC_WORKSPACE_WRAPPER with its arguments in
# CLIPPY_ARGS, joined by __CLIPPY_HACKERY__. Dependencies are built once, not once per command.
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver) ||
  { echo "needs clippy (rustup component add clippy)" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --locked --workspace --all-targets --no-run

step "rust tests (the release build runs beside them, at low priority)"
cargo test --locked --workspace --all-targets --no-fail-fast
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

step "release build and fuzz targets' check (what was left of them after the tests)"
if ! wait "$release_pid"; then
  cat "$TMPDIR/release-build.log" >&2
  echo "cargo build --release or the fuzz targets' cargo check failed (above)" >&2
  exit 1
fi
trap - EXIT
summary+=("$(printf '%5ss  %s' "$(cat "$TMPDIR/release-build.secs")" "(release build from start to end, beside the debug build and the tests)")")
cargo build --locked --release -q

step "the tokenizers' memory bound: 64 MiB + 4x the input, cold and warm (scripts/check-tokenizer-memory.py)"
python3 scripts/check-tokenizer-memory.py target/release/prefix

step "tokenizer benchmark, short: 1 MB, one round, ids against the reference (the README's table: scripts/bench-tokenizers.sh 16)"
# The script the README's engine table comes from, on a fresh machine: the peers' crates and PyPI
# packages as a user installs them, the corpus made here, every engine's ids compared; it fails
# if prefix-warden's ids differ, it does not run, or it passes its memory bound. Ratios at 1 MB
# and one round are noise-sized: the table's figures are from 16 MB and several rounds.
REPS=1 scripts/bench-tokenizers.sh 1

step "systemd unit"
PREFIX_BIN=target/release/prefix deploy/systemd/verify.sh

step "Debian package (cargo-deb): build, install, verify the installed unit, purge"
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb --version 3.8.0
scripts/package-deb.sh
scripts/test-deb.sh

step "the README's install and run examples (scripts/readme-examples.sh)"
scripts/readme-examples.sh

step "official SDKs against the emulator"
# The anthropic and openai Python packages, unmodified, as clients of `prefix emulate`.
venv="${PREFIX_WARDEN_CLIENTS_VENV:-target/clients-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/clients/requirements.txt
"$venv/bin/python" -W ignore::DeprecationWarning scripts/clients/sdk_clients.py target/release/prefix .
# The retirement dates of data/model-lifecycle.toml against the ones these SDKs ship.
"$venv/bin/python" scripts/clients/check_lifecycle.py data/model-lifecycle.toml

step "fault scripts, short (longer runs: docs/reliability.md)"
# An outside sqlite3 reader during daemon passes and kill -9s: no row lost; prefix backup.
python3 scripts/faults.py outside-reader 20
# Three replicas on a three-member etcd: SIGKILLs, a member stopped, quorum lost and regained,
# a prompt edit: exactly one warm-up per group and tick outside the takeover windows and the
# spells etcd had no leader (observed), alerts delivered once (200 ticks: docs/reliability.md).
python3 scripts/fleet-faults.py 40

step "the Kubernetes example (kubernetes-validate, strict schemas)"
k8s_venv=target/k8s-venv
[ -x "$k8s_venv/bin/kubernetes-validate" ] || {
  python3 -m venv "$k8s_venv" && "$k8s_venv/bin/pip" install -q --disable-pip-version-check kubernetes-validate==1.37.0
}
"$k8s_venv/bin/kubernetes-validate" --strict deploy/kubernetes/prefix-warden.yaml

step "KV-cache event warm-ups, short (the figures in docs/reliability.md: scripts/bench-kv-warmups.py)"
# 4 emulated vLLM hosts evicting at random: warmed blind, then only where evicted; same residency.
python3 scripts/bench-kv-warmups.py --short

step "traffic benchmark at 20,000 requests (the 1M-request figures in README.md: scripts/bench-traffic.sh)"
scripts/bench-traffic.sh 20000

step "the clone is left as it was"
git_after=$(git status --porcelain 2>/dev/null || true)
if [ "$git_after" != "$git_before" ]; then
  echo "scripts/test.sh changed the checkout (git status):" >&2
  diff <(echo "$git_before") <(echo "$git_after") >&2 || true
  exit 1
fi
rm -rf "$TMPDIR"
tmp_new=$(comm -13 <(echo "$tmp_before" | sort) <(ls -A /tmp | sort))
if [ -n "$tmp_new" ]; then
  echo "new in /tmp since this run began (every temporary file of ours belongs under \$TMPDIR):" >&2
  echo "$tmp_new" >&2
  # On a machine where other work writes /tmp meanwhile, PREFIX_WARDEN_TMP_CHECK=warn reports
  # the entries without failing (CI runs on a machine of its own: strict).
  [ "${PREFIX_WARDEN_TMP_CHECK:-strict}" = warn ] || exit 1
fi

step ""
echo "== durations"
printf '%s\n' "${summary[@]}"
printf '%5ss  total\n' $((SECONDS - started))
