#!/usr/bin/env python3
"""Writes examples/logs/diagnosed.jsonl.gz: two agents' conversations with the causes of cache
misses injected (a system prompt edit, a tool reorder, a model switch, an idle gap past the
TTL, an edited message, a new prompt_cache_key, a compared id the provider no longer
holds, a diagnosis the provider could not make), each request naming the previous response for
the providers' cache diagnostics, answered by `prefix emulate` (which implements both providers'
diagnostics as documented) and logged with its response.

  * Anthropic Message Batches lines (claude-sonnet-4-6, once claude-opus-4-6): `params` joined with
    the batch result's `result.message` (id, usage, diagnostics), the system prompt marked with
    cache_control, `diagnostics.previous_message_id` naming the previous message.
  * OpenAI Batch lines for /v1/responses (gpt-5.6, once gpt-5.5): `body` joined with the output
    line's `response` (status_code, body: id, usage, prompt_cache_diagnostics),
    `prompt_cache_options.comparison_response_id` naming the previous response.

The emulator's answers are deterministic (ids count from 1, o200k stands in for Claude's private
tokenizer), so the file is too. Usage:
    python3 scripts/gen_diagnosed_logs.py [--prefix target/debug/prefix]          # (re)write
    python3 scripts/gen_diagnosed_logs.py --check [--prefix ...]                  # compare
README and docs/traffic.md show `prefix simulate` on it (scripts/reason-tables.sh).
"""
import argparse, datetime as dt, gzip, json, socket, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ROOT / "prompts" / "texts"
OUT = ROOT / "examples" / "logs" / "diagnosed.jsonl.gz"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)


def ts(minutes):
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def edit(text, sentence):
    """`text` with `sentence` inserted after the line nearest its middle: a prompt deploy."""
    middle = text.index("\n", len(text) // 2) + 1
    return text[:middle] + sentence + "\n" + text[middle:]


class Emulator:
    def __init__(self, prefix):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [prefix, "emulate", "--listen", f"127.0.0.1:{port}", "--tokenizer", "openai/o200k_base"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/admin/stats", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        sys.exit("the emulator did not come up")

    def post(self, path, body, key=True):
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
        if key:
            req.add_header("x-api-key", "test-key")
            req.add_header("authorization", "Bearer test-key")
            req.add_header("anthropic-version", "2023-06-01")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            sys.exit(f"{path}: HTTP {e.code}: {e.read().decode()[:300]}")

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def anthropic_turns():
    """(minute, model, tools, system, messages, compare, note): one conversation of Claude Sonnet."""
    system = (TEXTS / "cline__cline__system_claude_sonnet_4.txt").read_text()
    edited = edit(system, "Always run the test suite before you say a change is done.")
    tools = [
        {"name": "read_file", "description": "Read a file.",
         "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
        {"name": "run_command", "description": "Run a shell command.",
         "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
    ]
    convo = []

    def say(i):
        convo.append({"role": "user", "content": f"Step {i}: look at src/module_{i}.rs and tell me what it does."})
        return list(convo)

    def answer(i):
        convo.append({"role": "assistant", "content": f"module_{i} parses the configuration and checks field {i}."})

    s = [
        (0, "claude-sonnet-4-6", tools, system, "first"),
        (1, "claude-sonnet-4-6", tools, system, "prev"),
        (2, "claude-sonnet-4-6", tools, system, "prev"),
        (4, "claude-sonnet-4-6", tools, edited, "prev"),          # prompt deploy: system_changed
        (5, "claude-sonnet-4-6", tools, edited, "prev"),
        (7, "claude-sonnet-4-6", tools[::-1], edited, "prev"),    # tools reordered: tools_changed
        (8, "claude-sonnet-4-6", tools[::-1], edited, "prev"),
        (9, "claude-opus-4-6", tools[::-1], edited, "prev"),      # model switch
        (10, "claude-sonnet-4-6", tools[::-1], edited, "prev"),   # back: model_changed
        (11, "claude-sonnet-4-6", tools[::-1], edited, "prev"),
        (25, "claude-sonnet-4-6", tools[::-1], edited, "prev"),   # idle 14 min: TTL expired
        (26, "claude-sonnet-4-6", tools[::-1], edited, "rewrite"),  # an earlier message edited
        (27, "claude-sonnet-4-6", tools[::-1], edited, "prev"),
        (28, "claude-sonnet-4-6", tools[::-1], edited, "gone"),   # compared id unknown
        (29, "claude-sonnet-4-6", tools[::-1], edited, "unavailable"),
    ]
    for i, (m, model, t, sys_text, how) in enumerate(s):
        if how == "rewrite":
            convo[0] = {"role": "user", "content": "Step 0: look at src/main.rs instead and tell me what it does."}
        msgs = say(i)
        yield m, model, t, sys_text, msgs, how
        answer(i)


def openai_turns():
    """The same causes for a Responses agent (GPT-5.6: diagnostics came with prompt_cache_options,
    which older models refuse), plus a new prompt_cache_key; its TTL is 30 minutes."""
    instructions = (TEXTS / "browser-use__browser-use__system_prompt.txt").read_text()
    edited = edit(instructions, "Prefer the page's own search box over site: queries.")
    tools = [
        {"type": "function", "name": "open_url", "description": "Open a URL.",
         "parameters": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}},
        {"type": "function", "name": "click", "description": "Click an element.",
         "parameters": {"type": "object", "properties": {"index": {"type": "integer"}}, "required": ["index"]}},
    ]
    convo = []
    s = [
        (0, "gpt-5.6", tools, instructions, "agent-a", "first"),
        (1, "gpt-5.6", tools, instructions, "agent-a", "prev"),
        (3, "gpt-5.6", tools, edited, "agent-a", "prev"),        # input_changed
        (4, "gpt-5.6", tools, edited, "agent-a", "prev"),
        (6, "gpt-5.6", tools[::-1], edited, "agent-a", "prev"),  # tools_changed
        (7, "gpt-5.6", tools[::-1], edited, "agent-a", "prev"),
        (8, "gpt-5.5", tools[::-1], edited, "agent-a", "prev"),  # model switch
        (9, "gpt-5.6", tools[::-1], edited, "agent-a", "prev"),  # back: model_changed
        (10, "gpt-5.6", tools[::-1], edited, "agent-b", "prev"),  # prompt_cache_key_changed
        (11, "gpt-5.6", tools[::-1], edited, "agent-b", "prev"),
        (52, "gpt-5.6", tools[::-1], edited, "agent-b", "prev"),  # idle 41 min: past the 30-min TTL
        (53, "gpt-5.6", tools[::-1], edited, "agent-b", "gone"),
    ]
    for i, (m, model, t, ins, key, how) in enumerate(s):
        convo.append({"role": "user", "content": f"Open result {i} and list its links."})
        yield m, model, t, ins, key, list(convo), how
        convo.append({"role": "assistant", "content": f"Result {i} has {i + 3} links."})


def build(prefix):
    emu = Emulator(prefix)
    lines = []
    try:
        clock = 0

        def advance(m):
            nonlocal clock
            if m > clock:
                emu.post("/admin/clock", {"advance_ms": (m - clock) * 60_000}, key=False)
                clock = m

        prev = None
        for i, (m, model, tools, system, msgs, how) in enumerate(anthropic_turns()):
            advance(m)
            params = {"model": model, "max_tokens": 16, "tools": tools,
                      "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
                      "messages": msgs}
            if how == "gone":
                params["diagnostics"] = {"previous_message_id": "msg_expired0000000000000000"}
            elif how == "unavailable":
                emu.post("/admin/diagnostics", {"unavailable": 1}, key=False)
                params["diagnostics"] = {"previous_message_id": prev}
            else:  # the first turn names none, so later turns can name it
                params["diagnostics"] = {"previous_message_id": prev}
            r = emu.post("/v1/messages", params)
            prev = r["id"]
            lines.append((m, 0, i, {"custom_id": f"claude-{i:02d}", "timestamp": ts(m), "params": params,
                                    "result": {"type": "succeeded", "message": r}}))
        clock_start = clock
        prev = None
        for i, (m, model, tools, ins, key, msgs, how) in enumerate(openai_turns()):
            advance(clock_start + m)
            body = {"model": model, "max_output_tokens": 16, "tools": tools, "instructions": ins,
                    "input": msgs, "prompt_cache_key": key}
            if model == "gpt-5.5":
                pass  # before GPT-5.6: no prompt_cache_options, so no diagnostics
            elif how == "gone":
                body["prompt_cache_options"] = {"comparison_response_id": "resp_expired0000000000000000"}
            elif how != "first":
                body["prompt_cache_options"] = {"comparison_response_id": prev}
            r = emu.post("/v1/responses", body)
            # The emulator's clock starts at its wall-clock start: log the scenario's time.
            r["created_at"] = int((T0 + dt.timedelta(minutes=clock_start + m)).timestamp())
            prev = r["id"]
            lines.append((clock_start + m, 1, i, {"custom_id": f"gpt-{i:02d}", "method": "POST", "url": "/v1/responses",
                                                  "timestamp": ts(clock_start + m), "body": body,
                                                  "response": {"status_code": 200, "body": r}}))
    finally:
        emu.close()
    lines.sort(key=lambda x: x[:3])
    return "".join(json.dumps(v, ensure_ascii=False) + "\n" for *_, v in lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prefix", default=str(ROOT / "target" / "debug" / "prefix"))
    ap.add_argument("--check", action="store_true", help="compare with the committed file")
    a = ap.parse_args()
    text = build(a.prefix)
    if a.check:
        old = gzip.decompress(OUT.read_bytes()).decode()
        if old != text:
            sys.exit(f"{OUT.relative_to(ROOT)} differs from what the emulator answers now: rerun without --check")
        print(f"{OUT.relative_to(ROOT)}: as the emulator answers")
        return
    OUT.write_bytes(gzip.compress(text.encode(), mtime=0))
    print(f"wrote {OUT.relative_to(ROOT)}: {text.count(chr(10))} lines")


if __name__ == "__main__":
    main()
