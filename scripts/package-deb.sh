#!/usr/bin/env bash
# Builds the Debian package with cargo-deb: target/debian/prefix-warden_<version>-1_<arch>.deb.
#
#   scripts/package-deb.sh            # needs cargo-deb (cargo install --locked cargo-deb)
#
# What goes where (Cargo.toml [package.metadata.deb] lists the assets):
#   /usr/bin/prefix
#   /etc/prefix-warden/daemon.toml              conffile: the shipped config with every relative
#                                               path pointing under /usr/share/prefix-warden and
#                                               state_dir /var/lib/prefix-warden
#   /lib/systemd/system/prefix-warden.service   deploy/systemd/prefix-warden.service, ExecStart
#                                               on /usr/bin/prefix (not enabled or started)
#   /usr/share/prefix-warden/{tokenizers,prompts,templates,data,deploy}
#   /usr/share/doc/prefix-warden/               README, ARCHITECTURE, docs/*.md
#   /usr/share/man/man1/prefix*.1.gz            `prefix man --dir`
#   bash, zsh and fish completions              `prefix completions <shell>`
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release -q
out=target/deb-assets
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"
share=/usr/share/prefix-warden
# Relative paths in daemon.toml are resolved against its directory (/etc/prefix-warden): make
# the shipped ones absolute under $share.
sed -E \
  -e 's#^state_dir = "state"#state_dir = "/var/lib/prefix-warden"#' \
  -e "s#= \"(prompts|data/|tokenizers/|templates/|deploy/)#= \"$share/\\1#g" \
  daemon.toml >"$out/daemon.toml"
sed -i "1i # Installed by the prefix-warden package (a conffile: your edits are kept on upgrade).\\n# The shipped data lives under $share; state under /var/lib/prefix-warden.\\n#" "$out/daemon.toml"
if grep -nE '= "(prompts|data/|tokenizers/|templates/|deploy/|state")' "$out/daemon.toml"; then
  echo "a relative path is left in the packaged daemon.toml (above)" >&2; exit 1
fi
sed 's#^ExecStart=/usr/local/bin/prefix #ExecStart=/usr/bin/prefix #' deploy/systemd/prefix-warden.service >"$out/prefix-warden.service"
grep -q '^ExecStart=/usr/bin/prefix ' "$out/prefix-warden.service"
target/release/prefix man --dir "$out/man"
gzip -9n "$out"/man/*.1
target/release/prefix completions bash >"$out/completions/prefix"
target/release/prefix completions zsh >"$out/completions/_prefix"
target/release/prefix completions fish >"$out/completions/prefix.fish"
# Stripped: the package carries no debug info (build with `cargo build --release` for backtraces
# with line numbers).
cargo deb --no-build --locked --strip --output target/debian/
ls -l target/debian/*.deb
