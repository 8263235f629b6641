#!/usr/bin/env python3
"""Compares data/model-lifecycle.toml with the retirement dates the official SDKs ship:
anthropic-python's `anthropic/_data/deprecated_models.py` (the SDK warns with these) and
openai-python's `openai/types/shared/chat_model.py` ("Deprecated values ... Announced shutdown
date"). Fails when a model in the data file has another date than its SDK says, or is not
deprecated by it, or when a model the SDK deprecates is missing from the data file.

    python scripts/clients/check_lifecycle.py data/model-lifecycle.toml   # in the SDK venv
"""
import datetime as dt, re, sys, tomllib
from pathlib import Path

import anthropic
import openai
from anthropic._data import DEPRECATED_MODELS
from openai.types.shared import chat_model


def anthropic_dates():
    out = {}
    for model, text in DEPRECATED_MODELS.items():
        day = re.sub(r"(\d+)(st|nd|rd|th)", r"\1", text)
        out[model] = dt.datetime.strptime(day, "%B %d, %Y").date().isoformat()
    return out


def openai_dates():
    src = Path(chat_model.__file__).read_text()
    block = src[src.index('"""Deprecated values:'):]
    block = block[: block.index('"""', 3)]
    out = {}
    for item in re.split(r"\n- ", block):
        m = re.search(r"Announced shutdown\s+date:\s+(\d{4}-\d\d-\d\d)", item)
        if not m:
            continue
        names = re.findall(r'"([^"]+)"', item[: m.start()])
        for n in names:
            out[n] = m.group(1)
    return out


def main():
    data = tomllib.loads(Path(sys.argv[1]).read_text())
    sdk = {"anthropic": anthropic_dates(), "openai": openai_dates()}
    print(f"anthropic {anthropic.__version__}: {len(sdk['anthropic'])} deprecated models; "
          f"openai {openai.__version__}: {len(sdk['openai'])}")
    problems, listed = [], {"anthropic": set(), "openai": set()}
    for e in data["model"]:
        for m in e["models"]:
            listed.setdefault(e["provider"], set()).add(m)
            want = sdk.get(e["provider"], {}).get(m)
            if want is None:
                problems.append(f"{e['provider']}/{m}: in the data file ({e['retires']}) but not deprecated by the SDK")
            elif want != e["retires"]:
                problems.append(f"{e['provider']}/{m}: data file says {e['retires']}, the SDK {want}")
    for m in sorted(set(sdk["anthropic"]) - listed["anthropic"]):
        problems.append(f"anthropic/{m}: the SDK deprecates it ({sdk['anthropic'][m]}); the data file does not list it")
    for m in sorted(set(sdk["openai"]) - listed["openai"]):
        problems.append(f"openai/{m}: the SDK deprecates it ({sdk['openai'][m]}); the data file does not list it")
    for p in problems:
        print("MISMATCH:", p)
    if problems:
        sys.exit(1)
    print(f"ok: {sum(len(v) for v in listed.values())} models agree with the SDKs")


if __name__ == "__main__":
    main()
