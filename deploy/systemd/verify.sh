#!/usr/bin/env bash
# Verify deploy/systemd/prefix-warden.service with systemd-analyze, on a machine where the
# daemon binary may not be installed (CI, a developer box). Works without systemd as PID 1.
#
#   deploy/systemd/verify.sh                 # verify + security score
#   PREFIX_BIN=target/release/prefix deploy/systemd/verify.sh
#
# Why: `systemd-analyze verify` checks that ExecStart's binary exists. With no
# /usr/local/bin/prefix it prints
#   prefix-warden.service: Command /usr/local/bin/prefix is not executable: No such file or directory
# and exits 1, although the unit itself is fine. So, if /usr/local/bin/prefix is missing, this
# script installs $PREFIX_BIN (default: target/release/prefix if built, else a 2-line shell stub)
# there for the check and removes it again afterwards. An existing /usr/local/bin/prefix is never
# touched. Needs root only in that case.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
unit="$here/prefix-warden.service"
bin=/usr/local/bin/prefix
placed=""

cleanup() { if [ -n "$placed" ]; then rm -f "$bin"; fi; }
trap cleanup EXIT

if [ ! -x "$bin" ]; then
  src="${PREFIX_BIN:-$here/../../target/release/prefix}"
  mkdir -p "$(dirname "$bin")"
  if [ -x "$src" ]; then
    install -m 0755 "$src" "$bin"
  else
    printf '#!/bin/sh\necho "stub for systemd-analyze verify" >&2; exit 1\n' >"$bin"
    chmod 0755 "$bin"
  fi
  placed=1
fi

systemd-analyze verify "$unit"
echo "systemd-analyze verify: OK"
# --offline analyses the unit file itself; no running systemd needed (systemd >= 250).
systemd-analyze security --offline=yes --no-pager "$unit" | tail -n 1
