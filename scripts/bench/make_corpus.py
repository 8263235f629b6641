#!/usr/bin/env python3
"""Builds the tokenizer benchmark's corpus: ~16 MB of real text that does not repeat.

A corpus made of one text repeated flatters any engine that remembers what it merged before
(issue #24: prefix-warden's per-call memo turns repetition into free work). This one is made of
distinct real documents, read from what is installed offline on a Debian machine with a Rust
toolchain, in fixed sections and a fixed order:

  prompts   the repository's corpus (tests/data/corpus) and the shared system prompts
            (../shared/corpus when present): English, code, JSON, Chinese, Japanese, Russian
  docs      Debian package documentation, English (/usr/share/doc: README, NEWS, changelogs,
            copyright files with their licence texts)
  man       English manual pages, troff source (/usr/share/man/man[1-8])
  man-l10n  translated manual pages: Japanese, Korean, Chinese, Russian, Ukrainian, German,
            French, Spanish, Polish (/usr/share/man/LANG)
  gettext   translated messages of Debian packages (/usr/share/locale/LANG/LC_MESSAGES/*.mo):
            Chinese, Japanese, Korean, Russian, Ukrainian, Arabic, Persian, Hebrew, Hindi, Greek,
            Thai, each message once
  python    the Python standard library's sources (/usr/lib/python3.X)
  rust      Rust sources of the crates prefix-warden's Cargo.lock names, from the cargo registry
            (~/.cargo/registry/src; `cargo fetch` is run first, so every one is there), a few files per crate so
            that many crates and authors appear

Every document is split into paragraphs (blank-line separated; a gettext message is one) and a
paragraph of 32 bytes or more that was already taken, anywhere, is dropped: licence headers,
boilerplate and the licence texts of copyright files appear once. The figure printed at the end
checks it: the fraction of 64-byte windows (starting at a word boundary) seen earlier in the text.

Each document's source is written to SOURCES.tsv beside the corpus: section, path, the Debian
package and version or crate that ships it, and its licence (a crate's `license` field; for a
Debian package, its copyright file, which the tsv names). The text is only read from the machine
and written under target/: it is not committed.

Same machine, same packages: same bytes. The sha256 of the result is printed and compared with
EXPECTED_SHA256 (the corpus the README's figures were measured on); a different machine gets a
different corpus, and the script says so (exit 3 with --check, a warning otherwise).

    python3 scripts/bench/make_corpus.py OUT_DIR [--mb 16] [--check]
"""

from __future__ import annotations

import argparse
import gettext
import glob
import gzip
import hashlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

# The corpus the README's figures were measured on (--mb 16, the bench machine; since 2026-12-02,
# when tiktoken-rs left Cargo.lock and so its sources left the text: 476bdcf2… before).
EXPECTED_SHA256 = {16.0: "3df5d797c9de5e15a0fa1b20fd03901ee681bddf5011d586412db4ed2beeea2c"}

ROOT = Path(__file__).resolve().parents[2]


def product_packages(lock: dict) -> list[dict]:
    """The packages of `lock` (a parsed Cargo.lock) that prefix-warden and prefix-warden-core
    reach through their dependency lists (every kind, every platform): the lock without the
    bench-only workspace member's crates."""
    by_name: dict[str, list[dict]] = {}
    for p in lock["package"]:
        by_name.setdefault(p["name"], []).append(p)

    def package(dep: str) -> dict:
        name, *rest = dep.split(" ")
        cands = by_name[name]
        return next(c for c in cands if not rest or c["version"] == rest[0])

    todo = [p for p in lock["package"] if p["name"] in ("prefix-warden", "prefix-warden-core")]
    seen = {(p["name"], p["version"]) for p in todo}
    out = list(todo)
    while todo:
        for dep in todo.pop().get("dependencies", []):
            p = package(dep)
            if (p["name"], p["version"]) not in seen:
                seen.add((p["name"], p["version"]))
                out.append(p)
                todo.append(p)
    return out
MIN_PARA = 32

# Section budgets, in fractions of the whole (prompts take what they have, up to their share).
SECTIONS = [
    ("prompts", 0.13),
    ("docs", 0.17),
    ("man", 0.09),
    ("man-l10n", 0.16),
    ("gettext", 0.17),
    ("python", 0.14),
    ("rust", 0.14),
]
MAN_LANGS = ["ja", "ko", "zh_CN", "zh_TW", "ru", "uk", "de", "fr", "es", "pl"]
MO_LANGS = ["zh_CN", "zh_TW", "ja", "ko", "ru", "uk", "ar", "fa", "he", "hi", "el", "th"]


class Dpkg:
    """Which Debian package ships a path, from dpkg's file lists (read once)."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}
        for lst in sorted(glob.glob("/var/lib/dpkg/info/*.list")):
            pkg = Path(lst).stem.split(":")[0]
            for line in Path(lst).read_text(errors="replace").splitlines():
                self.owner.setdefault(line, pkg)
        self.versions: dict[str, str] = {}
        try:
            out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
                                 capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                p, v = line.split(" ", 1)
                self.versions[p] = v
        except (OSError, subprocess.CalledProcessError):
            pass

    def source(self, path: str) -> tuple[str, str]:
        """(package=version, licence pointer) for an installed file."""
        real = os.path.realpath(path)
        pkg = self.owner.get(path) or self.owner.get(real) or "?"
        ver = self.versions.get(pkg, "?")
        return f"{pkg}={ver}", f"/usr/share/doc/{pkg}/copyright"


def read_text(path: str) -> str | None:
    """The file as UTF-8 text (gunzipped), or None when it is not UTF-8 or cannot be read."""
    try:
        b = Path(path).read_bytes()
        if path.endswith(".gz"):
            b = gzip.decompress(b)
        s = b.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None
    return s if "\x00" not in s else None


def mo_messages(path: str) -> list[str] | None:
    """The translations of a gettext catalog, in the catalog's order, each once."""
    try:
        with open(path, "rb") as f:
            t = gettext.GNUTranslations(f)
    except (OSError, UnicodeDecodeError, ValueError, LookupError):
        return None
    out = []
    for k, v in t._catalog.items():  # noqa: SLF001 (the only way to list a catalog)
        if (k == "" or k == ("", 0)) or not isinstance(v, str) or not v.strip():
            continue
        out.append(v)
    return out


class Builder:
    def __init__(self, total: int) -> None:
        self.total = total
        self.parts: list[str] = []
        self.size = 0
        self.seen: set[bytes] = set()
        self.sources: list[tuple[str, str, str, str, int]] = []

    def add(self, section: str, path: str, paragraphs: list[str], origin: str, licence: str,
            budget_end: int) -> None:
        """Appends the paragraphs not seen before, up to budget_end bytes of corpus."""
        kept = []
        n = 0
        for p in paragraphs:
            p = p.strip("\n")
            if not p.strip():
                continue
            b = p.encode()
            if len(b) >= MIN_PARA:
                h = hashlib.blake2b(b, digest_size=16).digest()
                if h in self.seen:
                    continue
                self.seen.add(h)
            p = self.new_lines(p)
            if not p.strip():
                continue
            kept.append(p)
            n += len(p.encode()) + 2
            if self.size + n >= budget_end:
                break
        if not kept:
            return
        doc = "\n\n".join(kept) + "\n\n"
        self.parts.append(doc)
        self.size += len(doc.encode())
        self.sources.append((section, path, origin, licence, len(doc.encode())))


    def new_lines(self, p: str) -> str:
        """The paragraph without the lines that start a 64-byte run of lines already taken
        (troff macro blocks, rulers, repeated code), nor troff comments."""
        lines = [ln for ln in p.split("\n") if not ln.startswith(('.\\"', "'\\\"", '.\\#'))]
        out = []
        for i in range(len(lines)):
            key, j = lines[i], i + 1
            while len(key) < 64 and j < len(lines):
                key += "\n" + lines[j]
                j += 1
            if len(key) >= MIN_PARA:
                h = hashlib.blake2b(key.encode(), digest_size=16).digest()
                if h in self.seen:
                    continue
                self.seen.add(h)
            out.append(lines[i])
        return "\n".join(out)


def paragraphs(s: str) -> list[str]:
    return re.split(r"\n[ \t]*\n", s.replace("\r\n", "\n"))


def crate_licence(crate_dir: Path) -> str:
    try:
        pkg = tomllib.loads((crate_dir / "Cargo.toml").read_text()).get("package", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return "?"
    lic = pkg.get("license")
    return lic if isinstance(lic, str) else ("file: " + str(pkg.get("license-file", "?")))


def build(total: int) -> Builder:
    b = Builder(total)
    dpkg = Dpkg()
    end = 0
    for section, frac in SECTIONS:
        end = total if section == SECTIONS[-1][0] else end + int(total * frac)
        # A section that falls short leaves its share to the next ones.
        if section == "prompts":
            dirs = [ROOT / "tests/data/corpus", ROOT.parent / "shared/corpus"]
            srcs = {}
            shared_tsv = ROOT.parent / "shared/corpus/SOURCES.tsv"
            if shared_tsv.exists():
                for line in shared_tsv.read_text().splitlines()[1:]:
                    c = line.split("\t")
                    srcs[c[0]] = (f"{c[1]}@{c[3][:12]}:{c[2]}", c[4])
            for d in dirs:
                for f in sorted(d.glob("*.txt")):
                    s = read_text(str(f))
                    if s is None:
                        continue
                    origin, lic = srcs.get(f.name, (f"prefix-warden {f.relative_to(ROOT.parent)}", "see the directory's README/SOURCES"))
                    b.add(section, str(f), paragraphs(s), origin, lic, end)
                    if b.size >= end:
                        break
        elif section == "docs":
            files = []
            for pat in ("*/README*", "*/NEWS*", "*/changelog*", "*/copyright", "*/*.txt", "*/*.md"):
                files += glob.glob("/usr/share/doc/" + pat)
            for f in sorted(set(files)):
                if b.size >= end:
                    break
                if not os.path.isfile(f):
                    continue
                s = read_text(f)
                if s is None:
                    continue
                # At most 40 kB of one document, so that one long changelog cannot fill it.
                b.add(section, f, paragraphs(s[:40_000]), *dpkg.source(f), end)
        elif section in ("man", "man-l10n"):
            if section == "man":
                groups = [sorted(glob.glob("/usr/share/man/man[1-8]/*.gz"))]
            else:
                groups = [sorted(glob.glob(f"/usr/share/man/{lang}/man[1-8]/*.gz")) for lang in MAN_LANGS]
            start = b.size
            for i, files in enumerate(groups):
                # An equal share for each language, what one leaves going to the next.
                stop = start + (end - start) * (i + 1) // len(groups)
                for f in files:
                    if b.size >= stop:
                        break
                    s = read_text(f)
                    if s is None or s.startswith(".so "):
                        continue
                    b.add(section, f, paragraphs(s[:30_000]), *dpkg.source(f), stop)
        elif section == "gettext":
            start = b.size
            for i, lang in enumerate(MO_LANGS):
                stop = start + (end - start) * (i + 1) // len(MO_LANGS)
                for f in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
                    if b.size >= stop:
                        break
                    msgs = mo_messages(f)
                    if msgs:
                        b.add(section, f, msgs, *dpkg.source(f), stop)
        elif section == "python":
            libs = sorted(glob.glob("/usr/lib/python3.[0-9]*"))
            lib = libs[-1]
            files = sorted(p for p in glob.glob(lib + "/**/*.py", recursive=True)
                           if "/site-packages/" not in p and "/dist-packages/" not in p)
            # Every fourth module, so that the section spans the whole library.
            for f in files[::4]:
                if b.size >= end:
                    break
                s = read_text(f)
                if s is not None:
                    b.add(section, f, paragraphs(s[:30_000]), *dpkg.source(f), end)
        elif section == "rust":
            # Every crate of prefix-warden's Cargo.lock (cargo fetch, every platform's) that its
            # two crates reach, not the bench-only peers member's (tiktoken-rs, bpe-openai) nor
            # whatever else the registry holds: the same set on every machine.
            subprocess.run(["cargo", "fetch", "--locked", "-q"], cwd=ROOT, check=True)
            lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
            srcs = sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*")))
            reg = []
            for pk in sorted(product_packages(lock), key=lambda p: (p["name"], p["version"])):
                if "registry" not in pk.get("source", ""):
                    continue
                found = [d for s in srcs if os.path.isdir(d := f"{s}/{pk['name']}-{pk['version']}")]
                if found:
                    reg.append(found[0])
            for crate in reg:
                if b.size >= end:
                    break
                cd = Path(crate)
                lic = crate_licence(cd)
                rs = sorted(cd.glob("src/**/*.rs"))[:3]
                for f in rs:
                    s = read_text(str(f))
                    if s is not None:
                        b.add(section, str(f), paragraphs(s[:12_000]), f"crates.io {cd.name}", lic, end)
    return b


def shingle_repeats(data: bytes, width: int = 64) -> tuple[int, int]:
    """(windows, windows seen before): 64-byte windows starting after a space or newline."""
    seen: set[int] = set()
    n = dup = 0
    for m in re.finditer(rb"[ \n]", data):
        p = m.end()
        if p + width > len(data):
            break
        h = hash(data[p:p + width])
        n += 1
        if h in seen:
            dup += 1
        else:
            seen.add(h)
    return n, dup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--mb", type=float, default=16)
    ap.add_argument("--check", action="store_true", help="exit 3 when the sha256 is not EXPECTED_SHA256")
    a = ap.parse_args()
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    b = build(int(a.mb * 1e6))
    data = "".join(b.parts).encode()
    (out / "corpus.txt").write_bytes(data)
    with open(out / "SOURCES.tsv", "w") as f:
        f.write("section\tpath\torigin\tlicence\tbytes\n")
        for r in b.sources:
            f.write("\t".join(map(str, r)) + "\n")
    by_section: dict[str, int] = {}
    for s, *_, n in b.sources:
        by_section[s] = by_section.get(s, 0) + n
    sha = hashlib.sha256(data).hexdigest()
    n, dup = shingle_repeats(data)
    print(f"corpus: {out / 'corpus.txt'}: {len(data):,} bytes, {len(b.sources)} documents, sha256 {sha}",
          file=sys.stderr)
    print("  " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in by_section.items()), file=sys.stderr)
    print(f"  64-byte windows seen before: {dup:,} of {n:,} ({100 * dup / max(n, 1):.2f}%)", file=sys.stderr)
    want = EXPECTED_SHA256.get(a.mb)
    if want is None:
        print(f"  no recorded sha256 for --mb {a.mb:g}", file=sys.stderr)
    elif sha == want:
        print("  the corpus the README's figures were measured on (sha256 as recorded)", file=sys.stderr)
    else:
        msg = (f"  sha256 differs from the corpus the README's figures were measured on ({want}): "
               "other packages are installed here; figures are comparable within one run only")
        print(msg, file=sys.stderr)
        if a.check:
            sys.exit(3)


if __name__ == "__main__":
    main()
