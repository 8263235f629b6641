#!/usr/bin/env python3
"""Fault scripts for prefix-warden: kill -9 at random points, and a hostile provider.

usage:
  scripts/faults.py kill9 cold|source|ingest N      # N kills at random points of that activity
  scripts/faults.py outside-reader N                  # N daemon passes with sqlite3 reading
  scripts/faults.py hostile-provider SECONDS_PER_MODE

Runs the release binary (target/release/prefix; `cargo build --release` first) on a scratch copy
of the shipped config, on free loopback ports only, and stops by itself. Prints one line per
finding and, last, a summary line `<name>: N passed, M failed`; exits non-zero on any failure.

kill9 cold    a cold first pass (fingerprint cache removed) is killed at a random moment
              between start and ready; then the SQLite file must pass `PRAGMA integrity_check`,
              be mode 0600, and the next start must get ready with every pair and report no
              store recovery.
kill9 source  a tokenizer whose `source` (a local path) flips between two same-vocabulary
              files every 0.2 s (source_poll_secs = 1) is killed at random; then the same checks,
              and the fetched copy must be exactly one of the two files (installed atomically).
kill9 ingest  a burst of POST /v1/usage batches; before the kill, every acknowledged record
              must be counted in /metrics (prefix_warden_usage_records_total); then the checks.
outside-reader N
              the daemon passes every second while another process (Python's sqlite3, as an
              operator's `sqlite3 FILE 'PRAGMA integrity_check'` would) opens, checks and closes
              the database over and over; after at least N passes in all, interrupted by kill -9
              at random moments, every pass the daemon reported (/status last_evaluation) must
              be in the file (max last_seen), and `prefix backup` taken while it runs must
              pass integrity_check and hold every pair.
hostile-provider
              a warm-up group ticks every second against a provider double that answers, in
              turn: absurd rate-limit resets, retry-after in year 9999, a 429 saying "ok",
              a slow body, a truncated body, invalid JSON, a 1 MiB body, then normal answers.
              The group must keep ticking (runs counted for every mode) and recover to success.
"""
import gzip, hashlib, http.server, json, os, random, re, shutil, signal, socket, sqlite3, stat
import subprocess, sys, tempfile, threading, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release/prefix"
results = []


def report(name, ok, detail=""):
    results.append(ok)
    if not ok:
        print(f"FAIL {name}: {detail}", flush=True)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def scratch(keep_tokenizers=("openai/o200k_base",), daemon_extra="", rest=""):
    d = Path(tempfile.mkdtemp(prefix="pw-faults-"))
    for item in ["prompts", "data", "tokenizers", "deploy"]:
        shutil.copytree(ROOT / item, d / item, symlinks=True)
    cfg = (ROOT / "daemon.toml").read_text()
    head, *blocks = cfg.split("[[tokenizer]]")
    kept = "".join("[[tokenizer]]" + b.split("\n# ---")[0] + "\n" for b in blocks
                   if any(f'id = "{k}"' in b for k in keep_tokenizers))
    port = free_port()
    text = (f"{head}{kept}\n[daemon]\nlisten = \"127.0.0.1:{port}\"\nwatch_interval_secs = 1\n"
            f"{daemon_extra}\n{rest}\n")
    (d / "daemon.toml").write_text(text)
    return d, port


def get(port, path, timeout=2):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except Exception:
        return None, ""


def metric(text, name):
    total = None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def start(d):
    log = open(d / "daemon.log", "ab")
    return subprocess.Popen([str(BIN), "daemon", "--config", str(d / "daemon.toml")], cwd=d,
                            stdout=subprocess.DEVNULL, stderr=log)


def wait_ready(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if get(port, "/readyz")[0] == 200:
            return True
        time.sleep(0.05)
    return False


def kill9(p):
    p.send_signal(signal.SIGKILL)
    p.wait()


def check_store(d, port, pairs, name):
    db = d / "state/prefix-warden.sqlite"
    if db.exists():
        mode = stat.S_IMODE(db.stat().st_mode)
        report(f"{name}: mode", mode == 0o600, oct(mode))
        c = sqlite3.connect(db)
        ok = c.execute("PRAGMA integrity_check").fetchone()[0]
        c.close()
        report(f"{name}: integrity_check", ok == "ok", ok)
    p = start(d)
    try:
        ready = wait_ready(port)
        report(f"{name}: restart ready", ready, (d / "daemon.log").read_text()[-400:])
        if ready:
            st = json.loads(get(port, "/status")[1])
            report(f"{name}: every pair", len(st["pairs"]) == pairs, len(st["pairs"]))
            report(f"{name}: no store recovery", st["store"]["recoveries"] == 0, st["store"])
    finally:
        p.terminate(); p.wait(10)


def time_to_ready(d, port):
    shutil.rmtree(d / "state", ignore_errors=True)
    t = time.time(); p = start(d)
    ok = wait_ready(port); took = time.time() - t
    p.terminate(); p.wait(10)
    if not ok:
        sys.exit(f"the daemon did not get ready: {(d / 'daemon.log').read_text()[-800:]}")
    return took


def kill9_cold(n):
    d, port = scratch(keep_tokenizers=("openai/o200k_base", "qwen/qwen3", "deepseek/v3"))
    cold = time_to_ready(d, port)
    print(f"cold pass: ready in {cold:.2f} s; killing at random points of it", flush=True)
    for i in range(n):
        shutil.rmtree(d / "state/fingerprint-cache", ignore_errors=True)
        p = start(d)
        time.sleep(random.uniform(0, cold))
        kill9(p)
        check_store(d, port, 15, f"cold #{i}")
    shutil.rmtree(d)


def kill9_source(n):
    d, port = scratch(keep_tokenizers=("deepseek/v3",), daemon_extra="source_poll_secs = 1")
    v3 = d / "tokenizers/deepseek/deepseek-v3.tokenizer.json.gz"
    v4 = d / "tokenizers/deepseek/deepseek-v4.tokenizer.json.gz"
    upstream = d / "upstream.json.gz"
    shutil.copy(v3, upstream)
    cfg = (d / "daemon.toml").read_text()
    cfg = re.sub(r'sha256 = "ecb6[0-9a-f]+"', f'sha256 = "unpinned"\nsource = "{upstream}"', cfg)
    (d / "daemon.toml").write_text(cfg)
    shas = {hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest() for p in (v3, v4)}
    stop = threading.Event()

    def flip():
        k = 0
        while not stop.is_set():
            tmp = d / "upstream.tmp"
            shutil.copy(v4 if k % 2 else v3, tmp); os.replace(tmp, upstream)
            k += 1; time.sleep(0.2)
    t = threading.Thread(target=flip, daemon=True); t.start()
    for i in range(n):
        p = start(d)
        time.sleep(random.uniform(0.5, 4.0))
        kill9(p)
        copy = d / "state/tokenizer-sources/deepseek__v3"
        if copy.exists():
            sha = hashlib.sha256(gzip.decompress(copy.read_bytes())).hexdigest()
            report(f"source #{i}: the fetched copy is whole", sha in shas, sha)
        check_store(d, port, 5, f"source #{i}")
    stop.set(); t.join()
    shutil.rmtree(d)


def kill9_ingest(n):
    d, port = scratch()
    batch = json.dumps([{"prompt": "cline-hermes-4", "provider": "anthropic",
                         "usage": {"input_tokens": 3, "cache_read_input_tokens": 100}}] * 5).encode()
    for i in range(n):
        p = start(d)
        if not wait_ready(port):
            report(f"ingest #{i}: ready", False, "not ready"); kill9(p); continue
        acked, deadline = 0, time.time() + random.uniform(0.2, 2.0)
        while time.time() < deadline:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/usage", data=batch,
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        acked += 5
            except Exception:
                pass
        counted = metric(get(port, "/metrics")[1], "prefix_warden_usage_records_total") or 0
        report(f"ingest #{i}: every acknowledged record counted", counted == acked, f"{counted} vs {acked}")
        kill9(p)
        check_store(d, port, 5, f"ingest #{i}")
    shutil.rmtree(d)


def outside_reader(n):
    d, port = scratch(daemon_extra='schedule = "* * * * * *"')
    db = d / "state/prefix-warden.sqlite"
    stop = threading.Event()
    reads = [0]

    def reader():
        while not stop.is_set():
            if db.exists():
                try:
                    c = sqlite3.connect(db, timeout=2)
                    c.execute("PRAGMA integrity_check").fetchone()
                    c.execute("SELECT count(*) FROM fingerprint_history").fetchone()
                    c.close()
                    reads[0] += 1
                except sqlite3.Error:
                    pass
            time.sleep(0.01)
    t = threading.Thread(target=reader, daemon=True); t.start()
    passes, rnd = 0, 0
    while passes < n:
        p = start(d)
        if not wait_ready(port):
            report(f"reader #{rnd}: ready", False, (d / "daemon.log").read_text()[-400:])
            kill9(p); break
        first = json.loads(get(port, "/status")[1])["last_evaluation"]
        time.sleep(random.uniform(5, 12))
        if rnd == 0:
            out = d / "backup.sqlite"
            b = subprocess.run([str(BIN), "backup", "--config", str(d / "daemon.toml"), str(out)],
                               capture_output=True, text=True)
            report("backup while running", b.returncode == 0, b.stderr[-300:])
            if out.exists():
                c = sqlite3.connect(out)
                ok = c.execute("PRAGMA integrity_check").fetchone()[0]
                pairs = c.execute("SELECT count(*) FROM pair").fetchone()[0]
                c.close()
                report("backup integrity_check", ok == "ok", ok)
                report("backup holds every pair", pairs == 5, pairs)
                report("backup is private", stat.S_IMODE(out.stat().st_mode) == 0o600,
                       oct(stat.S_IMODE(out.stat().st_mode)))
        last = json.loads(get(port, "/status")[1])["last_evaluation"]
        passes += int(last - first) + 1
        kill9(p)
        c = sqlite3.connect(db, timeout=5)
        seen = c.execute("SELECT max(last_seen) FROM fingerprint_history").fetchone()[0]
        c.close()
        report(f"reader #{rnd}: the last reported pass is in the file", seen is not None and seen >= int(last) - 1,
               f"last pass {last}, newest row {seen}")
        rnd += 1
    stop.set(); t.join()
    report("the outside reader read", reads[0] > 0, reads[0])
    check_store(d, port, 5, "reader final")
    print(f"outside-reader: {passes} passes in {rnd} runs, {reads[0]} outside reads", flush=True)
    shutil.rmtree(d)


# retry_after_9999 comes last: honouring it (capped at an hour) defers the group from then on.
MODES = ["absurd_reset", "429_ok_body", "slow_body", "truncated", "bad_json", "huge_body", "normal",
         "retry_after_9999"]


def hostile_provider(secs):
    mode = {"m": "normal"}

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("content-length", 0)); self.rfile.read(n)
            m = mode["m"]
            body = json.dumps({"id": "c1", "object": "chat.completion", "model": "m",
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                            "finish_reason": "length"}],
                               "usage": {"prompt_tokens": 1000, "completion_tokens": 1,
                                         "prompt_tokens_details": {"cached_tokens": 896}}}).encode()
            status, headers = 200, {}
            if m == "absurd_reset":
                headers = {"x-ratelimit-limit-tokens": "100", "x-ratelimit-remaining-tokens": "50",
                           "x-ratelimit-reset-tokens": "99999999999999999999h"}
            elif m == "retry_after_9999":
                status, headers = 429, {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}
            elif m == "429_ok_body":
                status, body = 429, b'{"status":"ok"}'
            elif m == "bad_json":
                body = b"{not json"
            elif m == "huge_body":
                body = b"{\"pad\": \"" + b"x" * (1 << 20) + b"\"}"
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            try:
                if m == "slow_body":
                    for b in body[:20]:
                        self.wfile.write(bytes([b])); self.wfile.flush(); time.sleep(1)
                elif m == "truncated":
                    self.wfile.write(body[:10]); self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                else:
                    self.wfile.write(body)
            except Exception:
                pass

    pport = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", pport), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    rest = ('[[warmup]]\ngroup = "g"\nschedule = "* * * * * *"\nprovider = "vllm"\nmodel = "Qwen3-32B"\n'
            'prompts = ["cline-hermes-4"]\ntimeout_ms = 3000\nmax_attempts = 2\nbrownout_retries = 0\n'
            'lookup = { backend = "file", path = "live.json" }\n')
    d, port = scratch(rest=rest)
    (d / "live.json").write_text(json.dumps({"live": "blue", "colors": {"blue": {"targets": [f"http://127.0.0.1:{pport}"]}}}))
    p = start(d)
    try:
        report("hostile: ready", wait_ready(port))

        def runs():
            t = get(port, "/metrics")[1]
            out = {}
            for m in re.finditer(r'prefix_warden_warmup_runs_total\{[^}]*result="([a-z_]+)"[^}]*\} ([0-9.e+]+)', t):
                out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))  # summed over colors
            return out
        total = lambda r: sum(v for k, v in r.items() if k != "skipped_overlap")
        for m in MODES:
            mode["m"] = m
            before = runs(); time.sleep(secs); after = runs()
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
            print(f"{m}: runs {delta}", flush=True)
            report(f"hostile {m}: the group keeps ticking", total(after) > total(before), f"{delta}")
            if m == "normal":
                report("hostile: back to success with normal answers", delta.get("success", 0) > 0, delta)
            if m == "retry_after_9999":
                # Deferred (counted every tick), not wedged in a sleeping run.
                report("hostile: a year-9999 retry-after defers, counted each tick",
                       delta.get("deferred_budget", 0) >= secs - 2, delta)
        st = json.loads(get(port, "/status")[1])
        report("hostile: /status says deferred", st["warmups"]["g"]["last_result"] == "deferred_budget", st["warmups"]["g"])
    finally:
        p.terminate(); p.wait(10); srv.shutdown()
        shutil.rmtree(d)


def main():
    if not BIN.exists():
        sys.exit(f"{BIN} missing: cargo build --release")
    cmd = sys.argv[1:]
    if cmd[:1] == ["kill9"] and len(cmd) == 3:
        {"cold": kill9_cold, "source": kill9_source, "ingest": kill9_ingest}[cmd[1]](int(cmd[2]))
        name = f"kill9-{cmd[1]}"
    elif cmd[:1] == ["outside-reader"] and len(cmd) == 2:
        outside_reader(int(cmd[1])); name = "outside-reader"
    elif cmd[:1] == ["hostile-provider"] and len(cmd) == 2:
        hostile_provider(float(cmd[1])); name = "hostile-provider"
    else:
        sys.exit(__doc__)
    passed = sum(results)
    print(f"{name}: {passed} passed, {len(results) - passed} failed")
    sys.exit(0 if results and passed == len(results) else 1)


if __name__ == "__main__":
    main()
