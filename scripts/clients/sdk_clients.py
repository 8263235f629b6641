#!/usr/bin/env python3
"""The official Anthropic and OpenAI Python SDKs, unmodified, against `prefix emulate`.

usage: sdk_clients.py PREFIX_BINARY PROJECT_DIR

Starts the emulator on a free loopback port (hosted APIs), then with each SDK sends the same
cacheable request twice and checks what a real provider would answer: 200s, the SDK's own
response types, a cache write on the first request and a cache read on the second, and a
RateLimitError (the SDK's class for 429) when the emulator is told to answer 429; and the
token-count endpoints (messages.count_tokens, responses.input_tokens.count). Prints one
line per check and, last, 'N passed, M failed'; exits non-zero on any failure.
"""
import json, os, socket, subprocess, sys, time, urllib.request

import anthropic
import openai

binary, project = sys.argv[1], sys.argv[2]
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def admin(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


port = free_port()
base = f"http://127.0.0.1:{port}"
emu = subprocess.Popen([binary, "emulate", "--listen", f"127.0.0.1:{port}", "--tokenizer", "openai/o200k_base"],
                       cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/admin/stats", timeout=1).read(); break
        except Exception:
            time.sleep(0.1)
    system = open(os.path.join(project, "prompts/texts/cline__cline__system_claude_sonnet_4.txt")).read()

    # Anthropic: the SDK sends its own auth and anthropic-version headers.
    a = anthropic.Anthropic(api_key="sk-ant-emulator", base_url=base, max_retries=0)
    usages = []
    for _ in range(2):
        m = a.messages.create(
            model="claude-sonnet-4-6", max_tokens=1,
            system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "."}])
        usages.append(m.usage)
    check("anthropic: messages.create answers a Message", type(m).__name__ == "Message", repr(m))
    check("anthropic: first request writes the cache", (usages[0].cache_creation_input_tokens or 0) > 1024, repr(usages[0]))
    check("anthropic: second request reads it", (usages[1].cache_read_input_tokens or 0) == usages[0].cache_creation_input_tokens, repr(usages[1]))
    admin(base, "/admin/faults", {"mode": "rate_limit_ok_body", "count": 1, "retry_after_secs": 1})
    try:
        a.messages.create(model="claude-sonnet-4-6", max_tokens=1, system=system, messages=[{"role": "user", "content": "."}])
        check("anthropic: a 429 is a RateLimitError", False, "no error raised")
    except anthropic.RateLimitError as e:
        check("anthropic: a 429 is a RateLimitError", e.status_code == 429)

    # OpenAI: Chat Completions and Responses, bearer auth.
    o = openai.OpenAI(api_key="sk-emulator", base_url=base + "/v1", max_retries=0)
    cached = []
    for _ in range(2):
        c = o.chat.completions.create(model="gpt-5.5", max_tokens=1,
                                      messages=[{"role": "system", "content": system}, {"role": "user", "content": "."}])
        cached.append(c.usage.prompt_tokens_details.cached_tokens if c.usage.prompt_tokens_details else 0)
    check("openai: chat.completions answers a ChatCompletion", type(c).__name__ == "ChatCompletion", repr(c))
    check("openai chat: the second request reads the cache", cached[0] == 0 and cached[1] > 1024, repr(cached))
    r = o.responses.create(model="gpt-5.5", max_output_tokens=16, instructions=system, input=".")
    check("openai: responses.create answers a Response", type(r).__name__ == "Response", repr(r))
    check("openai responses: usage carries cached tokens", r.usage.input_tokens_details.cached_tokens > 1024, repr(r.usage))
    admin(base, "/admin/faults", {"mode": "rate_limit_ok_body", "count": 1, "retry_after_secs": 1})
    try:
        o.chat.completions.create(model="gpt-5.5", max_tokens=1, messages=[{"role": "user", "content": "hi"}])
        check("openai: a 429 is a RateLimitError", False, "no error raised")
    except openai.RateLimitError as e:
        check("openai: a 429 is a RateLimitError", e.status_code == 429)

    # The count endpoints the counting tokenizers call, and the admin switch that moves them.
    n1 = a.messages.count_tokens(model="claude-sonnet-4-6", system=system,
                                 messages=[{"role": "user", "content": "Hello."}]).input_tokens
    check("anthropic: messages.count_tokens answers input_tokens", n1 > 1024, repr(n1))
    t1 = o.responses.input_tokens.count(model="gpt-5.5", instructions=system, input="Hello.").input_tokens
    check("openai: responses.input_tokens.count answers input_tokens", t1 > 1024, repr(t1))
    admin(base, "/admin/count", {"offset": 7})
    n2 = a.messages.count_tokens(model="claude-sonnet-4-6", system=system,
                                 messages=[{"role": "user", "content": "Hello."}]).input_tokens
    t2 = o.responses.input_tokens.count(model="gpt-5.5", instructions=system, input="Hello.").input_tokens
    check("count endpoints: the admin offset moves both counts", (n2 - n1, t2 - t1) == (7, 7), repr((n1, n2, t1, t2)))

    # Cache diagnostics (issue #21): each provider's answers, read by the SDKs' own types.
    msgs = [{"role": "user", "content": "Hello."}]
    d1 = a.messages.create(model="claude-sonnet-4-6", max_tokens=1, system=system, messages=msgs,
                           diagnostics={"previous_message_id": None})
    check("anthropic diagnostics: a first turn has no reason", d1.diagnostics is not None and d1.diagnostics.cache_miss_reason is None, repr(d1.diagnostics))
    d2 = a.messages.create(model="claude-sonnet-4-6", max_tokens=1, system=system + " Today is Tuesday.", messages=msgs,
                           diagnostics={"previous_message_id": d1.id})
    r = d2.diagnostics.cache_miss_reason
    check("anthropic diagnostics: a system edit is system_changed", type(r).__name__ == "CacheMissSystemChanged" and r.cache_missed_input_tokens > 1024, repr(d2.diagnostics))
    d3 = a.messages.create(model="claude-opus-4-6", max_tokens=1, system=system + " Today is Tuesday.", messages=msgs,
                           diagnostics={"previous_message_id": d2.id})
    check("anthropic diagnostics: another model is model_changed", type(d3.diagnostics.cache_miss_reason).__name__ == "CacheMissModelChanged", repr(d3.diagnostics))
    d4 = a.messages.create(model="claude-opus-4-6", max_tokens=1, system=system, messages=msgs,
                           diagnostics={"previous_message_id": "msg_unknown"})
    check("anthropic diagnostics: an unknown id is previous_message_not_found", type(d4.diagnostics.cache_miss_reason).__name__ == "CacheMissPreviousMessageNotFound", repr(d4.diagnostics))
    admin(base, "/admin/diagnostics", {"unavailable": 1})
    d5 = a.messages.create(model="claude-opus-4-6", max_tokens=1, system=system, messages=msgs,
                           diagnostics={"previous_message_id": d4.id})
    check("anthropic diagnostics: the admin fault gives unavailable", type(d5.diagnostics.cache_miss_reason).__name__ == "CacheMissUnavailable", repr(d5.diagnostics))
    r1 = o.responses.create(model="gpt-5.6", max_output_tokens=16, instructions=system, input="Hello.")
    r2 = o.responses.create(model="gpt-5.6", max_output_tokens=16, instructions=system, input="Hello.",
                            prompt_cache_options={"comparison_response_id": r1.id})
    check("openai diagnostics: the same request is cache_hit", type(r2.prompt_cache_diagnostics).__name__ == "PromptCacheDiagnosticsCacheHit", repr(r2.prompt_cache_diagnostics))
    r3 = o.responses.create(model="gpt-5.6", max_output_tokens=16, instructions=system, input="Hello.", prompt_cache_key="tenant-2",
                            prompt_cache_options={"comparison_response_id": r2.id})
    pd = r3.prompt_cache_diagnostics
    check("openai diagnostics: another key is a cache_miss, prompt_cache_key_changed", type(pd).__name__ == "PromptCacheDiagnosticsCacheMiss" and pd.reason == "prompt_cache_key_changed" and pd.cache_missed_tokens > 1024, repr(pd))
    r4 = o.responses.create(model="gpt-5.6", max_output_tokens=16, instructions=system, input="Hello.",
                            prompt_cache_options={"comparison_response_id": "resp_unknown"})
    check("openai diagnostics: an unknown id is comparison_response_not_found", type(r4.prompt_cache_diagnostics).__name__ == "PromptCacheDiagnosticsComparisonResponseNotFound", repr(r4.prompt_cache_diagnostics))
    # Each cache-keying option changed against r1, one at a time, and a compaction (admin).
    prev = r1.id
    for reason, extra in [
        ("text_format_changed", {"text": {"format": {"type": "json_object"}}}),
        ("reasoning_effort_changed", {"reasoning": {"effort": "high"}}),
        ("verbosity_changed", {"text": {"verbosity": "low"}}),
        ("service_tier_changed", {"service_tier": "flex"}),
    ]:
        rx = o.responses.create(model="gpt-5.6", max_output_tokens=16, instructions=system, input="Hello.",
                                prompt_cache_options={"comparison_response_id": prev}, **extra)
        pd = rx.prompt_cache_diagnostics
        check(f"openai diagnostics: {reason}", type(pd).__name__ == "PromptCacheDiagnosticsCacheMiss" and pd.reason == reason, repr(pd))
    admin(base, "/admin/diagnostics", {"compacted": 1})
    rc = o.responses.create(model="gpt-5.6", max_output_tokens=16, instructions=system, input="Hello.",
                            prompt_cache_options={"comparison_response_id": r1.id})
    pd = rc.prompt_cache_diagnostics
    check("openai diagnostics: the admin fault gives context_compacted", type(pd).__name__ == "PromptCacheDiagnosticsCacheMiss" and pd.reason == "context_compacted", repr(pd))
finally:
    emu.terminate()
    emu.wait(10)

passed = sum(results)
print(f"sdk-clients: {passed} passed, {len(results) - passed} failed")
sys.exit(0 if passed == len(results) else 1)
