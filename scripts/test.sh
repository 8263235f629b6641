#!/usr/bin/env bash
# Runs every test of prefix-warden on a fresh Debian machine, installing what the tests need.
#
#   scripts/test.sh
#
# Needs: a Rust toolchain (cargo). Installs with apt-get when missing, for tests that run the
# real thing on loopback: prometheus (promtool, and a Prometheus server for the end-to-end test),
# prometheus-alertmanager (alerts are delivered to a real one), dnsmasq and etcd-server (the
# live-color lookup backends), systemd (systemd-analyze, for the unit file), chromium (the status
# page at `/` in a real headless browser, with and without JavaScript). Run as root or install
# those packages first.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "run as root, or: apt-get install ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== the core crate cannot do network IO"
# prefix-warden-core's dependency tree must hold no async runtime or HTTP crate.
if cargo tree --locked -p prefix-warden-core -e normal --prefix none | grep -E '^(tokio|hyper|reqwest|axum|h2|hickory)[ -]'; then
  echo "prefix-warden-core depends on a network crate (above)" >&2; exit 1
fi

echo "== the minimum Rust version claimed is the locked graph's (scripts/msrv.py)"
python3 scripts/msrv.py --check

echo "== formatting and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -q -- -D warnings

echo "== alert rules (promtool)"
promtool check rules deploy/prometheus/prefix-warden.rules.yml
tests/prometheus/make-e2e-rules.sh --check
(cd tests/prometheus && promtool test rules ./*.test.yml)

echo "== rust tests"
log=$(mktemp -t prefix-warden-test.XXXXXX.log)
cargo test --locked --workspace --all-targets --no-fail-fast 2>&1 | tee "$log"

echo "== systemd unit"
cargo build --locked --release -q
PREFIX_BIN=target/release/prefix deploy/systemd/verify.sh

echo "== Debian package (cargo-deb): build, install, verify the installed unit, purge"
command -v cargo-deb >/dev/null 2>&1 || cargo install --locked cargo-deb --version 3.8.0
scripts/package-deb.sh
scripts/test-deb.sh

echo "== the README's install and run examples (scripts/readme-examples.sh)"
scripts/readme-examples.sh

echo "== official SDKs against the emulator"
# The anthropic and openai Python packages, unmodified, as clients of `prefix emulate`.
venv="${PREFIX_WARDEN_CLIENTS_VENV:-${TMPDIR:-/tmp}/prefix-warden-clients-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/clients/requirements.txt
"$venv/bin/python" -W ignore::DeprecationWarning scripts/clients/sdk_clients.py target/release/prefix .
# The retirement dates of data/model-lifecycle.toml against the ones these SDKs ship.
"$venv/bin/python" scripts/clients/check_lifecycle.py data/model-lifecycle.toml

echo "== fault scripts, short (longer runs: docs/reliability.md)"
# An outside sqlite3 reader during daemon passes and kill -9s: no row lost; prefix backup.
python3 scripts/faults.py outside-reader 20

echo "== traffic benchmark at 20,000 requests (the 1M-request figures in README.md: scripts/bench-traffic.sh)"
scripts/bench-traffic.sh 20000

echo "== fuzzing: every target briefly (scripts/fuzz.sh; longer runs in docs/reliability.md)"
# libFuzzer through cargo-fuzz on the nightly toolchain the machine image carries.
rustup toolchain list | grep -q '^nightly' || { echo "needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
scripts/fuzz.sh "${PREFIX_WARDEN_FUZZ_SECS:-10}"
