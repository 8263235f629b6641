#!/usr/bin/env bash
# Installs the package scripts/package-deb.sh built, checks it the way an operator would use
# it, and removes it again (dpkg --purge), leaving the machine as it was. Needs root.
#
#   scripts/test-deb.sh [target/debian/prefix-warden_*.deb]
set -euo pipefail
cd "$(dirname "$0")/.."
deb=${1:-$(ls -t target/debian/prefix-warden_*.deb | head -n 1)}
[ "$(id -u)" -eq 0 ] || { echo "run as root (dpkg -i)" >&2; exit 1; }
if dpkg -s prefix-warden >/dev/null 2>&1; then
  echo "prefix-warden is already installed here; not touching it" >&2; exit 1
fi
state=$(mktemp -d)
cleanup() { dpkg --purge prefix-warden >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
dpkg -i "$deb" >/dev/null
echo "installed: $(dpkg-query -W -f='${Package} ${Version}' prefix-warden)"
# The conffile, the binary on PATH, the unit, docs, man pages, completions.
dpkg-query -W -f='${Conffiles}\n' prefix-warden | grep -q '/etc/prefix-warden/daemon.toml'
/usr/bin/prefix --version
for f in /lib/systemd/system/prefix-warden.service /usr/share/man/man1/prefix.1.gz \
  /usr/share/man/man1/prefix-diff.1.gz /usr/share/bash-completion/completions/prefix \
  /usr/share/zsh/vendor-completions/_prefix /usr/share/fish/vendor_completions.d/prefix.fish \
  /usr/share/doc/prefix-warden/README.md /usr/share/doc/prefix-warden/runbook.md \
  /usr/share/doc/prefix-warden/copyright /usr/share/prefix-warden/data/model-lifecycle.toml \
  /usr/share/prefix-warden/prometheus/prefix-warden.rules.yml; do
  [ -s "$f" ] || { echo "missing from the package: $f" >&2; exit 1; }
done
zcat /usr/share/man/man1/prefix.1.gz | grep -q '^\.TH prefix 1'
# The installed unit, as systemd would load it (ExecStart must exist: /usr/bin/prefix).
grep -q '^ExecStart=/usr/bin/prefix daemon --config /etc/prefix-warden/daemon.toml' /lib/systemd/system/prefix-warden.service
systemd-analyze verify /lib/systemd/system/prefix-warden.service
echo "systemd-analyze verify (installed unit): OK"
# The installed config works as shipped: every tokenizer pin verifies, every model is current,
# and one daemon pass completes, as the unit runs it (state in PREFIX_WARDEN_STATE_DIR).
PREFIX_WARDEN_STATE_DIR=$state /usr/bin/prefix check --config /etc/prefix-warden/daemon.toml --quiet >/dev/null
PREFIX_WARDEN_STATE_DIR=$state /usr/bin/prefix daemon --once --config /etc/prefix-warden/daemon.toml >"$state/once.json" 2>"$state/once.log"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["ready"] is True and s["pairs"] and not s["last_evaluation_errors"], s; print("daemon --once on the installed config: ready, %d pairs" % len(s["pairs"]))' "$state/once.json"
# Completions load in bash.
bash -c 'source /usr/share/bash-completion/completions/prefix && complete -p prefix' >/dev/null
dpkg --purge prefix-warden >/dev/null
for f in /usr/bin/prefix /etc/prefix-warden/daemon.toml /lib/systemd/system/prefix-warden.service; do
  if [ -e "$f" ]; then echo "left after purge: $f" >&2; exit 1; fi
done
echo "purged: nothing left in /usr/bin, /etc/prefix-warden or the unit directory"
