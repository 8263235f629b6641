#!/usr/bin/env python3
"""Differential test data: generated requests rendered by transformers (issue #19).

A seeded, deterministic generator writes N requests (system text, tools) and renders each with
every chat template under templates/ (the same bytes as ../shared/templates/: see
tests/data/differential/README.md) through transformers' own `render_jinja_template`, the
function `apply_chat_template` (and so vLLM and SGLang) renders with:

    render_jinja_template([messages], tools=TOOLS, chat_template=SRC,
                          add_generation_prompt=False, bos_token=.., eos_token=..)

with messages = [system: TEXT, user: "Hello."] and the clock frozen at DATE. TOOLS is None
(a request without tools: what transformers passes), [] or a list of generated function tools
written as JSON text (the text the project reads; Python reads it with json.loads).

What the generator covers: system text mixing corpus slices with every Unicode class the
corpus has and more (CJK, emoji and ZWJ sequences, combining marks, RTL, zero-width and
format characters, line/paragraph separators, controls, quotes, backslashes, CRLF, Jinja-like
braces); tool schemas with floats in every magnitude (1e-320..1e308, -0.0) and JSON notation
(`1e-06`, `1E-6`, `0.000001`, `1.0e-6`, `100.0`), ints past 2^53, past 64 bits and up to
the 128-bit limits (2^128 - 1, -2^127; json.loads keeps them exact), `-0`,
nulls, booleans, nested objects and arrays, keys in shuffled order, strings with quotes,
backslashes, newlines and emoji; no tools, empty tools.

Output (tests/data/differential/, gzip with mtime 0):
  requests.jsonl.gz  one request a line: {"system": str, "tools": str | null}
  expected.json.gz   {"reference": .., "date": .., "user": .., "templates": {path:
                      {"bos_token", "eos_token", "sha256": sha256 of the file,
                       "results": ["<first 16 hex of sha256(rendering)>" | "error", ..]}}}

tests/it/differential.rs renders the same requests with the project and compares, case by case.

Usage:
    pip install -r scripts/reference/requirements.txt
    python3 scripts/reference/differential.py            # (re)write, N=2000
    python3 scripts/reference/differential.py --check    # compare with the committed files
    python3 scripts/reference/differential.py --n 20000 --out /tmp/diff20k  # a longer run
        (then PREFIX_WARDEN_DIFFERENTIAL=/tmp/diff20k cargo test --test it differential)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_template_ids import TEMPLATE_TOKENS  # noqa: E402  (bos/eos per shipped template)

TEMPLATES = ROOT / "templates"
CORPUS = ROOT / "tests" / "data" / "corpus"
OUT = ROOT / "tests" / "data" / "differential"
USER = "Hello."
DATE = dt.datetime(2026, 11, 30, 12, 0, 0)
SEED = 19

# Characters by class; every class the corpus texts have, and the ones repr() escapes.
CLASSES = {
    "ascii": "abcXYZ019 .,;:!?-_/()[]<>=+*&%$#@^|~`",
    "quotes": "'\"`\u2018\u2019\u201c\u201d",
    "backslash": "\\",
    "whitespace": "\n\t\r \u00a0\u3000",
    "latin": "\u00e9\u00fc\u00df\u00f8\u00e7\u0153\u00c5",
    "combining": "e\u0301a\u0308\u0327",
    "cjk": "\u6f22\u5b57\u65e5\u672c\u8a9e\u4e2d\u6587\ud55c\uad6d\uc5b4\u3042\u30ab",
    "fullwidth": "\uff21\uff11\uff71\u2460",
    "rtl": "\u05e9\u05dc\u05d5\u05dd\u0645\u0631\u062d\u0628\u0627\u200f\u200e",
    "emoji": "\U0001f600\U0001f9d1\u200d\U0001f4bb\U0001f44d\U0001f3fd\u2764\ufe0f\U0001f1e8\U0001f1ed",
    "format": "\u200b\u200c\u200d\u2060\ufeff\u00ad",
    "separators": "\u2028\u2029\u0085",
    "controls": "\x01\x07\x1b\x7f",
    "private": "\ue000\U000f0000",
    "jinja": "{{ }}{% %}{# #}",
    "math": "\u2200\u2211\u221e\u2264\u00b1\u00b5",
}


def corpus_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]


def rand_text(r: random.Random, corpus: list[str], max_len: int) -> str:
    parts = []
    for _ in range(r.randint(0, 6)):
        if corpus and r.random() < 0.4:
            t = r.choice(corpus)
            i = r.randrange(len(t))
            parts.append(t[i : i + r.randint(1, max_len // 2 or 1)])
        else:
            cls = CLASSES[r.choice(sorted(CLASSES))]
            parts.append("".join(r.choice(cls) for _ in range(r.randint(1, 12))))
    return "".join(parts)[:max_len]


def rand_float_text(r: random.Random) -> str:
    """A float as JSON text, in a random notation; Python and Rust read the same double."""
    kind = r.random()
    if kind < 0.15:
        return r.choice(["0.0", "-0.0", "1.0", "100.0", "0.5", "1e-06", "1e+16", "1.5e16",
                         "0.0001", "0.00001", "1e16", "9999999999999998.0", "1e-320",
                         "1.7976931348623157e308", "5e-324", "2.5E-5", "1E-6", "0.1", "1e22"])
    mant = r.choice([r.randint(1, 9), r.randint(1, 99999), r.randint(1, 10**17)])
    exp = r.randint(-30, 30) if r.random() < 0.8 else r.randint(-300, 300)
    v = float(f"{mant}e{exp}")
    if v == float("inf"):  # JSON has no infinity: the largest double instead
        v = 1.7976931348623157e308
    if r.random() < 0.3:
        v = -v
    form = r.randrange(5)
    if form == 0:
        return repr(v)
    if form == 1:
        return f"{v:e}".replace("e", r.choice("eE"))
    if form == 2 and 1e-10 < abs(v) < 1e21:
        return f"{v:.{r.randint(1, 25)}f}"
    if form == 3:
        return f"{v:.17g}" if "e" in f"{v:.17g}" or "." in f"{v:.17g}" else f"{v:.17g}.0"
    return repr(v)


def rand_int(r: random.Random):
    """An int (or `-0`, which json.loads reads as the int 0): small, around 2^53, up to the
    64-bit limits, and past them up to what a template value holds (2^128 - 1, -2^127), which
    Python keeps exact. Past 128 bits the project refuses the request (tested in Rust)."""
    return r.choice([
        r.randint(-100, 100),
        r.randint(2**53 - 3, 2**53 + 3),
        -r.randint(2**53 - 3, 2**53 + 3),
        r.randint(2**60, 2**64 - 1),
        -r.randint(2**60, 2**63),
        0,
        r.randint(2**64, 2**64 + 3),
        r.randint(2**64, 2**127 - 1),
        -r.randint(2**63 + 1, 2**127),
        r.randint(2**127, 2**128 - 1),
        Raw("-0"),
    ])


class Raw:
    """A JSON fragment written as is (a float in its chosen notation)."""

    def __init__(self, text: str):
        self.text = text


def dump(v) -> str:
    """JSON text with the generator's float notations; compact or spaced at random."""
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, dict):
        return "{" + ", ".join(json.dumps(k, ensure_ascii=False) + ": " + dump(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def rand_value(r: random.Random, corpus: list[str], depth: int):
    k = r.random()
    if depth > 2 or k < 0.55:
        return r.choice([
            lambda: Raw(rand_float_text(r)),
            lambda: rand_int(r),
            lambda: None,
            lambda: r.random() < 0.5,
            lambda: rand_text(r, corpus, 40),
        ])()
    if k < 0.8:
        return [rand_value(r, corpus, depth + 1) for _ in range(r.randint(0, 4))]
    return {rand_key(r): rand_value(r, corpus, depth + 1) for _ in range(r.randint(0, 4))}


def rand_key(r: random.Random) -> str:
    return r.choice(["default", "minimum", "maximum", "enum", "examples", "x-meta", "zeta", "Alpha",
                     "_private", "1st", "with space", "quote'd", "dq\"", "\u00e9t\u00e9", "\U0001f511"])


def shuffled(r: random.Random, d: dict) -> dict:
    items = list(d.items())
    if r.random() < 0.5:
        r.shuffle(items)
    return dict(items)


def rand_property(r: random.Random, corpus: list[str]) -> dict:
    typ = r.choice(["string", "number", "integer", "boolean", "array", "object"])
    p: dict = {"type": typ}
    if r.random() < 0.7:
        p["description"] = rand_text(r, corpus, 80)
    if typ == "number":
        p["default"] = Raw(rand_float_text(r))
        if r.random() < 0.5:
            p["minimum"] = Raw(rand_float_text(r))
    elif typ == "integer":
        p["default"] = rand_int(r)
    elif typ == "string" and r.random() < 0.5:
        p["enum"] = [rand_text(r, corpus, 12) for _ in range(r.randint(1, 3))]
    elif typ == "array":
        p["items"] = {"type": r.choice(["string", "number"])}
    elif typ == "object":
        p["properties"] = {f"k{i}": {"type": "string"} for i in range(r.randint(0, 2))}
    for _ in range(r.randint(0, 2)):
        p[rand_key(r)] = rand_value(r, corpus, 1)
    return shuffled(r, p)


def rand_tool(r: random.Random, corpus: list[str], i: int) -> dict:
    props = {f"p{j}_{r.choice(['a', 'b', 'q'])}": rand_property(r, corpus) for j in range(r.randint(0, 4))}
    params = {"type": "object", "properties": props}
    if props and r.random() < 0.7:
        params["required"] = r.sample(sorted(props), r.randint(1, len(props)))
    if r.random() < 0.2:
        params[rand_key(r)] = rand_value(r, corpus, 1)
    fn = {"name": f"tool_{i}_{r.randint(0, 999)}", "description": rand_text(r, corpus, 120),
          "parameters": shuffled(r, params)}
    if r.random() < 0.15:
        fn["strict"] = r.random() < 0.5
    return shuffled(r, {"type": "function", "function": shuffled(r, fn)})


def generate(n: int) -> list[dict]:
    r = random.Random(SEED)
    corpus = corpus_texts()
    out = []
    for _ in range(n):
        system = rand_text(r, corpus, 400)
        k = r.random()
        if k < 0.3:
            tools = None
        elif k < 0.4:
            tools = "[]"
        else:
            tools = "[" + ", ".join(dump(rand_tool(r, corpus, i)) for i in range(r.randint(1, 3))) + "]"
        out.append({"system": system, "tools": tools})
    return out


def freeze_clock() -> None:
    import transformers.utils.chat_template_utils as ctu

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return DATE

    ctu.datetime = Frozen


def render_all(requests: list[dict]) -> dict:
    import jinja2
    import transformers
    from transformers.utils.chat_template_utils import render_jinja_template

    freeze_clock()
    templates = {}
    for name, (_, bos, eos) in sorted(TEMPLATE_TOKENS.items()):
        raw = (TEMPLATES / name).read_bytes()
        src = raw.decode("utf-8")
        kw = {}
        if bos is not None:
            kw["bos_token"] = bos
        if eos is not None:
            kw["eos_token"] = eos
        results = []
        for req in requests:
            msgs = [{"role": "system", "content": req["system"]}, {"role": "user", "content": USER}]
            tools = None if req["tools"] is None else json.loads(req["tools"])
            try:
                text = render_jinja_template([msgs], tools=tools, chat_template=src,
                                             add_generation_prompt=False, **kw)[0][0]
                results.append(hashlib.sha256(text.encode("utf-8")).hexdigest()[:16])
            except Exception:  # the template raised (or Jinja2 did): an error on both sides
                results.append("error")
        templates[name] = {"bos_token": bos, "eos_token": eos,
                           "sha256": hashlib.sha256(raw).hexdigest(), "results": results}
        print(f"{name}: {results.count('error')} errors of {len(results)}", file=sys.stderr)
    import unicodedata
    return {
        "reference": f"transformers {transformers.__version__} render_jinja_template; jinja2 {jinja2.__version__}; "
                     f"Python {sys.version.split()[0]} (Unicode {unicodedata.unidata_version})",
        "date": DATE.isoformat(),
        "user": USER,
        "seed": SEED,
        "templates": templates,
    }


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--show", nargs=2, metavar=("TEMPLATE", "CASE"),
                    help="print transformers' rendering of one case (to compare with the project's)")
    args = ap.parse_args()
    requests = generate(args.n)
    if args.show:
        from transformers.utils.chat_template_utils import render_jinja_template

        freeze_clock()
        name, case = args.show[0], int(args.show[1])
        _, bos, eos = TEMPLATE_TOKENS[name]
        kw = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}
        req = requests[case]
        msgs = [{"role": "system", "content": req["system"]}, {"role": "user", "content": USER}]
        tools = None if req["tools"] is None else json.loads(req["tools"])
        sys.stdout.write(render_jinja_template([msgs], tools=tools, chat_template=(TEMPLATES / name).read_text(encoding="utf-8"),
                                               add_generation_prompt=False, **kw)[0][0])
        return
    req_blob = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in requests).encode("utf-8")
    exp_blob = json.dumps(render_all(requests), sort_keys=True, separators=(",", ":")).encode("utf-8")
    if args.check:
        for fname, data in (("requests.jsonl.gz", req_blob), ("expected.json.gz", exp_blob)):
            if gzip.decompress((args.out / fname).read_bytes()) != data:
                print(f"error: {args.out / fname} differs from what the reference produces now", file=sys.stderr)
                sys.exit(1)
        print("ok: matches the reference", file=sys.stderr)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "requests.jsonl.gz").write_bytes(gz(req_blob))
    (args.out / "expected.json.gz").write_bytes(gz(exp_blob))
    print(f"wrote {len(requests)} requests x {len(TEMPLATE_TOKENS)} templates to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
