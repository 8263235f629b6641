#!/usr/bin/env python3
"""The true minimum Rust version of prefix-warden: the highest `rust-version` any package of the
locked dependency graph of its two crates declares (Linux x86_64, dev and build dependencies
included, since the tests build them too; the bench-only member scripts/bench/peers left out).

usage:
  scripts/msrv.py          # print it, with the packages that set it
  scripts/msrv.py --check  # also fail unless both crates' Cargo.toml `rust-version` equal it

Run by scripts/test.sh, so a dependency update that raises the floor cannot leave a stale claim.
"""
import json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1",
         "--filter-platform", "x86_64-unknown-linux-gnu"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    # The product's graph: what prefix-warden and prefix-warden-core reach (dev and build
    # dependencies included), not the bench-only member's (scripts/bench/peers).
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = set(meta["workspace_members"])
    product = [p["id"] for p in meta["packages"] if p["name"] in ("prefix-warden", "prefix-warden-core") and p["id"] in members]
    used, todo = set(product), list(product)
    while todo:
        for d in nodes[todo.pop()]["deps"]:
            if d["pkg"] not in used:
                used.add(d["pkg"])
                todo.append(d["pkg"])
    need = []
    for p in meta["packages"]:
        if p["id"] in used and p["id"] not in members and p.get("rust_version"):
            v = tuple(int(x) for x in p["rust_version"].split("."))
            need.append((v + (0,) * (3 - len(v)), f'{p["name"]} {p["version"]}'))
    top = max(v for v, _ in need)
    msrv = f"{top[0]}.{top[1]}" + (f".{top[2]}" if top[2] else "")
    print(f"minimum Rust version of the locked graph: {msrv} "
          f"(set by {', '.join(n for v, n in need if v == top)})")
    if "--check" in sys.argv:
        bad = []
        for manifest in [ROOT / "Cargo.toml", ROOT / "crates/core/Cargo.toml"]:
            m = re.search(r'^rust-version = "([^"]+)"', manifest.read_text(), re.M)
            claimed = m.group(1) if m else None
            if claimed != msrv:
                bad.append(f"{manifest.relative_to(ROOT)}: rust-version = {claimed!r}, the locked graph needs {msrv}")
        for b in bad:
            print(b, file=sys.stderr)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
