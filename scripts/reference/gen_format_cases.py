#!/usr/bin/env python3
"""Reference renderings of Python string formatting in chat templates (issue #19).

Each template of CASES uses Jinja2's `format` filter or `%` on a string (Python's printf-style
`str % args`); it is rendered by transformers' own `render_jinja_template` with

    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hello."}]
    tools    = json.loads(TOOLS)      (floats, ints past 64 bits, None, booleans, text)

and the output (or the exception's type when the template raises) is recorded.
crates/core/src/template/mod.rs (`python_formatting_renders_as_transformers_does`) renders
the same templates with the project and compares.

Output: tests/data/templates/format_cases.json (plain JSON, small).

Usage:
    pip install -r scripts/reference/requirements.txt
    python3 scripts/reference/gen_format_cases.py            # (re)write the file
    python3 scripts/reference/gen_format_cases.py --check    # compare with the committed file
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "templates" / "format_cases.json"

TOOLS = (
    '[{"name": "get_weather", "description": "it\'s \\"quoted\\" \\u00e9\\u200b\\n",'
    ' "f": 1e-06, "g": 1234.5, "h": -2.25, "i": 42, "big": 123456789012345678901234567890,'
    ' "neg": -98765432109876543210, "nz": -0, "n": null, "b": true, "e": "\\u00e9\\ud83d\\ude00ab",'
    ' "l": [1, "a", null, true, 1e+16], "d": {"k": 0.1}},'
    ' {"name": "t2", "description": "", "f": 0.0001, "g": 1e16, "h": 0.25, "i": -7, "big": 340282366920938463463374607431768211455,'
    ' "neg": -170141183460469231731687303715884105728, "nz": 0, "n": null, "b": false, "e": "x", "l": [], "d": {}}]'
)

CASES = [
    # the filter
    '{{ "%s %d %r %.2f %x %05d %%"|format("a", 42, "it\'s", 3.14159, 255, 7) }}',
    '{{ "%(name)s=%(v)08.3f"|format(name="pi", v=3.14159) }}|{{ "%s"|format(name="pi") }}',
    # Jinja2's filter function has a parameter named `value`: a keyword of that name clashes
    '{{ "%(name)s=%(value)08.3f"|format(name="pi", value=3.14159) }}',
    '{{ "%s"|format([1, "a", none, true, 1e-06]) }}|{{ 5|format() }}|{{ "100%%"|format() }}',
    '{{ "%s|%r"|format(nothing, nothing) }}',
    '{{ "%s"|format(1, 2) }}',
    '{{ "%s %s"|format(1) }}',
    '{{ "x"|format(1, a=2) }}',
    # the operator
    '{{ "%s" % messages[0].content }}|{{ "%s %s" % (messages[0].role, messages[1].role) }}',
    '{{ "%r" % messages[0] }}|{{ "%s" % messages }}',
    '{{ "%s" % [1, 2] }}|{{ "%s" % (1,) }}|{{ (1, 2) }}|{{ "%s" % ((1, 2),) }}|{{ "%s" % none }}',
    '{{ "%5s|%-5s|%05.1f|%+d|% d|%#o|%#X|%c|%c" % ("ab", "cd", -2.25, 3, 4, 8, 255, 65, "a") }}',
    '{{ "%g|%g|%g|%.3g|%G|%e|%.0e|%#.0f|%.1f|%.1f" % (0.0001, 1e-05, 1e16, 1234.5, 1e-10, 12345.678, 15.5, 3.0, 0.25, 0.05) }}',
    '{{ "%d|%i|%d|%x|%o|%.3d|%08.3d|%#05x" % (3.9, -0.0, true, -255, -8, 5, -5, 255) }}',
    '{{ "%*d|%-*d|%.*f|%s%%%s" % (5, 3, 5, 3, 2, 3.14159, 1, 2) }}',
    '{% for t in tools %}{{ "%s(%r) f=%s g=%g h=%.1f i=%+05d n=%s b=%s l=%s d=%r" % (t.name, t.description, t.f, t.g, t.h, t.i, t.n, t.b, t.l, t.d) }}\n{% endfor %}',
    '{% for t in tools %}{{ "%s|%s|%s|%d|%x|%r" % (t.big, t.neg, t.nz, t.big, t.big, t.big) }}\n{% endfor %}',
    '{% for t in tools %}{{ "%.3s|%a|%r|%8s|%-8s|" % (t.e, t.e, t.description, t.e, t.e) }}\n{% endfor %}',
    '{% for t in tools %}{{ "%(name)s: %(f)s %(g).2e" % t }}\n{% endfor %}',
    '{{ "%s %s" % (1,) }}',
    '{{ "%s" % (1, 2) }}',
    '{{ "%d" % "x" }}',
    '{{ "%x" % 1.5 }}',
    '{{ "%q" % 1 }}',
    '{{ "%(a)s" % (1,) }}',
    '{{ "abc" % 5 }}',
    '{{ "abc" % [1] }}|{{ "abc" % {} }}|{{ "%%" % () }}|{{ "abc" % nothing }}',
    '{{ "%s|%s" % nothing }}',
    '{{ "%(a)s" % nothing }}',
    '{{ "abc"|format(nothing) }}',
]


def render_all() -> dict:
    import jinja2
    import transformers
    from transformers.utils.chat_template_utils import render_jinja_template

    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hello."}]
    cases = []
    for src in CASES:
        try:
            out = render_jinja_template([msgs], tools=json.loads(TOOLS), chat_template=src,
                                        add_generation_prompt=False)[0][0]
            cases.append({"template": src, "output": out, "error": None})
        except Exception as e:  # the template raised: an error on both sides
            cases.append({"template": src, "output": None, "error": type(e).__name__})
    return {
        "reference": f"transformers {transformers.__version__} render_jinja_template; jinja2 {jinja2.__version__}; "
                     f"Python {sys.version.split()[0]}",
        "tools": TOOLS,
        "cases": cases,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = json.dumps(render_all(), indent=1, ensure_ascii=False) + "\n"
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"error: {OUT} differs from what the reference renders now", file=sys.stderr)
            sys.exit(1)
        print("ok: matches the reference", file=sys.stderr)
        return
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(CASES)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
