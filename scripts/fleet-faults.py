#!/usr/bin/env python3
"""A fleet under faults (issue #23): three daemon replicas coordinated through a real
three-member etcd cluster on loopback, three warm-up groups ticking every second, while replicas
are killed with SIGKILL and restarted, the etcd leader is stopped (the others elect a new one),
then quorum is lost and regained, and a prompt edit raises an alert.

usage:
  scripts/fleet-faults.py TICKS [--ttl SECS] [--jitter SECS] [--out FILE] [--verbose]

TICKS   ticks of faults after the fleet is up (each group ticks every 2 s); at least 40.
--ttl   the replicas' lease TTL (default 3).
--jitter  each group's jitter_secs (default 1): every replica fires a tick up to this late,
        each at its own random moment, as in production.
--out   also write the figures (markdown) to FILE.
--verbose  print the diagnostics a failure prints (the replicas' warnings and errors, etcd's
        elections) and keep the logs, also when the run passes.

Runs target/release/prefix (or $PREFIX_BIN) and Debian's etcd; every file goes under $TMPDIR.
Warm-ups are counted where they land: each group warms its own `prefix emulate` (one per group),
whose answers are read from its JSON log. Per group and tick: exactly one warm-up is wanted;
a tick with none is a *gap*, with more a *duplicate*. Gaps are explained by a window:
`takeover` (a SIGKILLed holder's groups, from the kill to one lease TTL, one tick and 1 s after) or
`no leader` (etcd had no leader, as observed: sampled every 0.2 s, no running member says it
leads with a majority of the members following it at its term; holders stop when their lease would have
expired, and nobody warms until etcd has a leader again; the documented cost of choosing missed
warm-ups over duplicates). The window lasts until one tick, the jitter and 2 s after the leader
is back. etcd 3.4 (Debian's) runs without pre-vote: a member back from a spell alone has a
higher term and forces further elections after quorum is back, seconds after the faults; only
observing the leader tells those apart from a replica that fails to resume.
Exits 1 when there is any duplicate, any unexplained gap, a takeover slower than TTL + 1 tick +
the jitter + 0.5 s (etcd's 500 ms expiry sweep), an alert not delivered exactly once per sink,
or etcd without a leader for more than 20 s outside the spell without quorum (the run would
then prove nothing).
"""
import argparse, http.server, json, os, shutil, signal, socket, subprocess, sys, tempfile
import threading, time, urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("PREFIX_BIN") or
           Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release/prefix")
GROUPS = ["g1", "g2", "g3"]
REPLICAS = ["r1", "r2", "r3"]
PROMPT = "cline-claude-sonnet-4"
TICK = 2


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def get(port, path, timeout=2):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except Exception:
        return None, ""


class Sink(http.server.BaseHTTPRequestHandler):
    """Records every alert delivery (webhook and Alertmanager's /api/v2/alerts)."""
    got = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Sink.got.append((time.time(), self.path, json.loads(body)))
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


class Fleet:
    def __init__(self, work, ttl, jitter):
        self.work, self.ttl, self.jitter = work, ttl, jitter
        self.etcd_ports = [(free_port(), free_port()) for _ in range(3)]
        self.etcd = [None] * 3
        self.replicas = {}
        self.ports = {r: free_port() for r in REPLICAS}
        self.emulators = {}
        self.emu_ports = {g: free_port() for g in GROUPS}
        self.sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()

    # -- etcd -------------------------------------------------------------------------------
    def etcd_start(self, i, new=False):
        initial = ",".join(f"e{j}=http://127.0.0.1:{p}" for j, (_, p) in enumerate(self.etcd_ports))
        c, p = self.etcd_ports[i]
        log = open(self.work / f"etcd{i}.log", "ab")
        self.etcd[i] = subprocess.Popen(
            ["etcd", "--name", f"e{i}", "--data-dir", str(self.work / f"etcd{i}"),
             "--listen-client-urls", f"http://127.0.0.1:{c}",
             "--advertise-client-urls", f"http://127.0.0.1:{c}",
             "--listen-peer-urls", f"http://127.0.0.1:{p}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
             "--initial-cluster", initial, "--initial-cluster-token", "pw-fleet",
             "--initial-cluster-state", "new" if new else "existing",
             "--heartbeat-interval", "100", "--election-timeout", "1000",
             # JSON lines with milliseconds: a failure's diagnostics place elections among the
             # replicas' warnings.
             "--logger", "zap", "--log-outputs", "stderr",
             "--listen-metrics-urls", f"http://127.0.0.1:{free_port()}"],
            stdout=log, stderr=log)

    def etcd_stop(self, i):
        self.etcd[i].send_signal(signal.SIGKILL); self.etcd[i].wait(); self.etcd[i] = None

    def etcd_status(self, i):
        """Member i's `/v3/maintenance/status` (None if it is stopped or does not answer)."""
        if self.etcd[i] is None:
            return None
        req = urllib.request.Request(f"http://127.0.0.1:{self.etcd_ports[i][0]}/v3/maintenance/status",
                                     data=b"{}", headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=1) as r:
                return json.loads(r.read())
        except Exception:
            return None

    def etcd_leader(self):
        """The index of the member that leads a quorum, from the running members' status: a
        member that says it leads, followed by a majority of the members at its term (None
        otherwise: an election, no quorum, or a leader that has not stepped down yet)."""
        status = {i: self.etcd_status(i) for i in range(3)}
        ids = {st["header"]["member_id"]: i for i, st in status.items() if st}
        for i, st in status.items():
            if not st or st.get("leader") != st["header"]["member_id"]:
                continue
            followers = [o for o in status.values()
                         if o and o.get("leader") == st["leader"] and o.get("raftTerm") == st.get("raftTerm")]
            if len(followers) >= 2:
                return ids[st["leader"]]
        return None

    def watch_leader(self, stop):
        """Samples the leader every 0.2 s until `stop` is set; the samples as (time, index or
        None)."""
        samples = []

        def run():
            while not stop.is_set():
                t = time.time()
                samples.append((t, self.etcd_leader()))
                stop.wait(max(0, t + 0.2 - time.time()))

        threading.Thread(target=run, daemon=True).start()
        return samples

    def etcd_healthy(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if any(get(c, "/health")[1].find('"true"') >= 0 for c, _ in self.etcd_ports):
                return True
            time.sleep(0.2)
        return False

    # -- replicas and emulators ---------------------------------------------------------------
    def write_configs(self):
        for item in ["prompts", "data", "tokenizers"]:
            shutil.copytree(ROOT / item, self.work / item, symlinks=True)
        (self.work / "key").write_text("emulator-accepts-any-key\n")
        for g in GROUPS:
            (self.work / f"live-{g}.json").write_text(json.dumps(
                {"live": "blue", "colors": {"blue": {"targets": [f"http://127.0.0.1:{self.emu_ports[g]}"]}}}))
        cfg = (ROOT / "daemon.toml").read_text()
        head, *blocks = cfg.split("[[tokenizer]]")
        kept = "".join("[[tokenizer]]" + b.split("\n# ---")[0] + "\n" for b in blocks
                       if 'id = "openai/o200k_base"' in b)
        head = head.replace('state_dir = "state"', 'state_dir = "state-REPLICA"')
        sink = self.sink.server_address[1]
        endpoints = ", ".join(f'"http://127.0.0.1:{c}"' for c, _ in self.etcd_ports)
        warmups = "".join(f"""
[[warmup]]
group = "{g}"
schedule = "*/2 * * * * *"
jitter_secs = {self.jitter}
provider = "anthropic"
model = "claude-sonnet-4-6"
prompts = ["{PROMPT}"]
api_key_file = "key"
diagnostics = false
lookup = {{ backend = "file", path = "live-{g}.json" }}
""" for g in GROUPS)
        for r in REPLICAS:
            text = (head.replace("REPLICA", r) + kept +
                    f'\n[daemon]\nlisten = "127.0.0.1:{self.ports[r]}"\nwatch_interval_secs = 1\n'
                    f'schedule = "*/2 * * * * *"\nalert_resend_secs = 3600\n'
                    f'webhook_url = "http://127.0.0.1:{sink}/webhook"\n'
                    f'alertmanager_url = "http://127.0.0.1:{sink}/am"\n'
                    f'\n[cluster]\nendpoints = [{endpoints}]\nname = "{r}"\n'
                    f'lease_ttl_secs = {self.ttl}\nrequest_timeout_ms = 500\n' + warmups)
            (self.work / f"{r}.toml").write_text(text)

    def emulator_start(self, g):
        log = open(self.work / f"emulator-{g}.log", "ab")
        env = dict(os.environ, RUST_LOG="info,prefix_warden::emulator=debug")
        self.emulators[g] = subprocess.Popen(
            [str(BIN), "--log-format", "json", "emulate", "--config", str(self.work / "r1.toml"),
             "--listen", f"127.0.0.1:{self.emu_ports[g]}", "--requests-per-minute", "0",
             "--input-tokens-per-minute", "0"],
            cwd=self.work, stdout=log, stderr=log, env=env)

    def replica_start(self, r):
        log = open(self.work / f"{r}.log", "ab")
        self.replicas[r] = subprocess.Popen(
            [str(BIN), "--log-format", "json", "daemon", "--config", str(self.work / f"{r}.toml")],
            cwd=self.work, stdout=subprocess.DEVNULL, stderr=log)

    def replica_kill(self, r):
        self.replicas[r].send_signal(signal.SIGKILL); self.replicas[r].wait(); self.replicas[r] = None

    def status(self, r):
        code, body = get(self.ports[r], "/status")
        return json.loads(body) if code == 200 else None

    def holders(self):
        """group -> replica, from any live replica's /status."""
        for r in REPLICAS:
            if self.replicas.get(r):
                st = self.status(r)
                if st and st.get("cluster"):
                    return st["cluster"]["holders"]
        return {}

    def stop_all(self):
        for p in list(self.replicas.values()) + list(self.emulators.values()) + self.etcd:
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in list(self.replicas.values()) + list(self.emulators.values()) + self.etcd:
            if p:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.sink.shutdown()


def warmups(work, group):
    """Unix times of the successful answers the group's emulator gave."""
    out = []
    for line in (work / f"emulator-{group}.log").read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        f = e.get("fields", e)
        if f.get("message") == "emulator: answered" and f.get("path") == "/v1/messages" and f.get("status") == 200:
            out.append(datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp())
    return out


def leaderless(samples, end):
    """The spells without a leader in `samples`: (first sample without one, first sample with
    one again, or `end`)."""
    spells, since = [], None
    for t, leader in samples:
        if leader is None and since is None:
            since = t
        elif leader is not None and since is not None:
            spells.append((since, t))
            since = None
    if since is not None:
        spells.append((since, end))
    return spells


def log_events(path):
    """A JSON log's lines as (Unix time, object); lines that are not JSON objects are left out."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            e = json.loads(line)
            out.append((datetime.fromisoformat(str(e.get("timestamp") or e.get("ts")).replace("Z", "+00:00")).timestamp(), e))
        except (ValueError, AttributeError):
            continue
    return out


def diagnostics(work, start, near=None):
    """The replicas' warnings, errors and recoveries and the etcd members' elections, in time
    order, as lines `+SECONDS who LEVEL message {fields}`; with `near` (Unix times), only those
    from 6 s before to 3 s after one of them."""
    out = []
    logs = [(r, work / f"{r}.log") for r in REPLICAS] + [(f"e{i}", work / f"etcd{i}.log") for i in range(3)]
    for who, path in logs:
        if not path.exists():
            continue
        for t, e in log_events(path):
            # The daemon's JSON lines carry their fields flat (`flatten_event`); etcd's zap
            # lines say `msg` and `ts`.
            level = str(e.get("level", "")).upper()
            msg = str(e.get("message") or e.get("msg") or "")
            if who.startswith("e"):
                if not any(w in msg for w in ("became leader", "lost leader", "elected leader", "no leader")):
                    continue
            elif level not in ("WARN", "ERROR") and msg != "etcd answers again":
                continue
            rest = {k: v for k, v in e.items() if k not in ("message", "msg", "level", "timestamp", "ts", "target", "caller")}
            out.append((t, f"+{t - start:.1f}s {who} {level} {msg} {json.dumps(rest)}"))
    if near is not None:
        out = [(t, line) for t, line in out if any(n - 6 <= t <= n + 3 for n in near)]
    return "\n".join(line for _, line in sorted(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ticks", type=int)
    ap.add_argument("--ttl", type=int, default=3)
    ap.add_argument("--jitter", type=int, default=1, choices=[0, 1])
    ap.add_argument("--out")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if a.ticks < 40:
        sys.exit("TICKS must be at least 40")
    if not BIN.exists():
        sys.exit(f"{BIN}: build it first (cargo build --release) or set PREFIX_BIN")
    work = Path(tempfile.mkdtemp(prefix="pw-fleet-"))
    fleet = Fleet(work, a.ttl, a.jitter)
    events = []  # (time, what, detail)
    failures = []
    watching = threading.Event()
    samples = []

    def at(what, detail=""):
        events.append((time.time(), what, detail))
        print(f"{time.strftime('%H:%M:%S')} {what} {detail}", flush=True)

    try:
        for i in range(3):
            fleet.etcd_start(i, new=True)
        if not fleet.etcd_healthy():
            sys.exit("etcd did not get healthy: " + (work / "etcd0.log").read_text()[-800:])
        fleet.write_configs()
        for g in GROUPS:
            fleet.emulator_start(g)
        end = time.time() + 60
        while time.time() < end and not all(get(fleet.emu_ports[g], "/admin/stats")[0] == 200 for g in GROUPS):
            time.sleep(0.2)
        for r in REPLICAS:
            fleet.replica_start(r)
        while time.time() < end and not (
                len(fleet.holders()) == len(GROUPS)
                and all(get(fleet.ports[r], "/readyz")[0] == 200 for r in REPLICAS)):
            time.sleep(0.2)
        if len(fleet.holders()) < len(GROUPS):
            sys.exit("the fleet did not take every group within 60 s: " + (work / "r1.log").read_text()[-1500:])
        samples = fleet.watch_leader(watching)
        time.sleep(2)  # hand-overs after the first runs settle
        start = (int(time.time()) // TICK + 1) * TICK
        time.sleep(start - time.time())
        at("start", json.dumps(fleet.holders()))
        n = a.ticks
        plan = [
            (0.10, "kill_holder", "g1"), (0.20, "restart", None),
            (0.30, "kill_holder", "g2"), (0.40, "restart", None),
            (0.48, "etcd_member_stop", None), (0.56, "etcd_member_start", None),
            (0.64, "quorum_lost", None), (0.74, "quorum_back", None),
            (0.86, "prompt_edit", None),
        ]
        killed = None
        member = 0  # the etcd member stopped and started: the leader at the time
        for frac, what, arg in plan:
            # Mid-tick: a request already sent at the tick is the old holder's, any later one
            # the new holder's.
            t = start + int(frac * n) * TICK + 1.5
            time.sleep(max(0, t - time.time()))
            if what == "kill_holder":
                h = fleet.holders()
                killed = h.get(arg)
                held = sorted(g for g, r in h.items() if r == killed)
                fleet.replica_kill(killed)
                at("kill", json.dumps({"replica": killed, "held": held}))
            elif what == "restart":
                fleet.replica_start(killed)
                at("restart", killed)
            elif what == "etcd_member_stop":
                # The leader: the others elect a new one (quorum kept), the harder case.
                leader = fleet.etcd_leader()
                member = 0 if leader is None else leader
                fleet.etcd_stop(member)
                at("etcd_member_stop", f"e{member}" + (" (the leader)" if leader is not None else ""))
            elif what == "etcd_member_start":
                fleet.etcd_start(member); at("etcd_member_start", f"e{member}")
            elif what == "quorum_lost":
                others = [i for i in range(3) if i != member]
                for i in others:
                    fleet.etcd_stop(i)
                at("quorum_lost", " ".join(f"e{i}" for i in others) + " stopped")
            elif what == "quorum_back":
                for i in others:
                    fleet.etcd_start(i)
                at("quorum_back", " ".join(f"e{i}" for i in others) + " started")
            elif what == "prompt_edit":
                p = work / "prompts/texts/cline__cline__system_claude_sonnet_4.txt"
                p.write_text(p.read_text() + "\nOne more rule.\n")
                at("prompt_edit", PROMPT)
        stop = start + n * TICK
        time.sleep(max(0, stop - time.time()) + 1.5)
        at("stop")
    finally:
        watching.set()
        fleet.stop_all()
        if not events or events[-1][1] != "stop":
            print(f"logs: {work}")

    # -- figures ---------------------------------------------------------------------------------
    ttl_window = a.ttl + TICK
    per_group = {}
    for g in GROUPS:
        counts = {}
        for t in warmups(work, g):
            k = start + int((t - start) // TICK) * TICK
            if start <= k < stop:
                counts[k] = counts.get(k, 0) + 1
        per_group[g] = counts
    windows = []
    for t, what, detail in events:
        if what == "kill":
            d = json.loads(detail)
            windows.append(("takeover", t, t + ttl_window + 1, set(d["held"])))
    spells = leaderless(samples, stop)
    for lo, hi in spells:
        windows.append(("no_leader", lo, hi + TICK + a.jitter + 2, set(GROUPS)))
    q0 = next(t for t, w, _ in events if w == "quorum_lost")
    q1 = next(t for t, w, _ in events if w == "quorum_back")
    # Without a leader other than while quorum was lost (elections included): more than 20 s
    # and etcd, not the fleet, is what this run measured.
    elsewhere = sum(max(0, min(hi, q0) - lo) + max(0, hi - max(lo, q1)) for lo, hi in spells)
    if not any(lo <= q1 and hi >= q0 for lo, hi in spells):
        failures.append("the leader watch never saw etcd without a leader while quorum was lost")
    if elsewhere > 20:
        failures.append(f"etcd had no leader for {elsewhere:.1f} s outside the spell without quorum")
    unexplained = []
    missed = []  # the unexplained gaps' ticks
    rows, total = [], {"ticks": 0, "one": 0, "dup": 0, "gap_takeover": 0, "gap_no_leader": 0, "gap_other": 0}
    for g in GROUPS:
        r = {"ticks": 0, "one": 0, "dup": 0, "gap_takeover": 0, "gap_no_leader": 0, "gap_other": 0}
        for k in range(start, stop, TICK):
            c = per_group[g].get(k, 0)
            r["ticks"] += 1
            if c == 1:
                r["one"] += 1
            elif c > 1:
                r["dup"] += 1
            else:
                why = next((w for w, lo, hi, gs in windows if g in gs and lo - 1 <= k <= hi), "other")
                r["gap_" + why] += 1
                if why == "other":
                    unexplained.append(f"{g} at +{k - start}s")
                    missed.append(k)
        rows.append((g, r))
        for k2 in total:
            total[k2] += r[k2]
    takeovers = []
    for t, what, detail in events:
        if what != "kill":
            continue
        d = json.loads(detail)
        for g in d["held"]:
            after = [x for x in warmups(work, g) if x > t]
            takeovers.append((d["replica"], g, (after[0] - t) if after else None))
    alerts = {}
    for t, path, body in Sink.got:
        if path.startswith("/am"):
            for al in body:
                key = ("alertmanager", al["labels"].get("alertname"), al["labels"].get("prompt"), al["labels"].get("kind"))
                alerts[key] = alerts.get(key, 0) + 1
        else:
            key = ("webhook", body.get("alertname"), body.get("labels", {}).get("prompt"), body.get("labels", {}).get("kind"))
            alerts[key] = alerts.get(key, 0) + 1

    lines = [f"fleet-faults: {n} ticks of {TICK} s (jitter up to {a.jitter} s), 3 replicas, 3 groups, 3-member etcd, lease TTL {a.ttl} s",
             "", "| group | ticks | exactly one | duplicates | gaps in takeover window | gaps while etcd had no leader | other gaps |",
             "|---|---|---|---|---|---|---|"]
    for g, r in rows + [("all", total)]:
        lines.append(f"| {g} | {r['ticks']} | {r['one']} | {r['dup']} | {r['gap_takeover']} | {r['gap_no_leader']} | {r['gap_other']} |")
    lines += ["", "| killed replica | group it held | first warm-up by the new holder after the kill |", "|---|---|---|"]
    for rep, g, dt in takeovers:
        lines.append(f"| {rep} | {g} | {'none' if dt is None else f'{dt:.2f} s'} |")
    lines += ["", "| sink | alert | deliveries |", "|---|---|---|"]
    for (sink, name, prompt, kind), c in sorted(alerts.items()):
        lines.append(f"| {sink} | {name} {prompt} {kind} | {c} |")
    lines += ["", "events: " + "; ".join(f"+{t - start:.1f}s {w} {d}" for t, w, d in events)]
    lines += ["", "etcd without a leader (sampled every 0.2 s): " +
              (", ".join(f"+{lo - start:.1f}s to +{hi - start:.1f}s" for lo, hi in spells) or "never")]
    if unexplained:
        lines += ["", "other gaps (the tick's start): " + ", ".join(unexplained)]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")

    if total["dup"]:
        failures.append(f"{total['dup']} duplicate warm-up(s)")
    if total["gap_other"]:
        failures.append(f"{total['gap_other']} gap(s) outside the takeover and no-leader windows")
    for rep, g, dt in takeovers:
        if dt is None or dt > a.ttl + TICK + a.jitter + 0.5:
            failures.append(f"takeover of {g} after killing {rep}: {dt} s > TTL + 1 tick + jitter + 0.5 s")
    expected = {("webhook", "PromptFingerprintChanged"), ("alertmanager", "PromptFingerprintChanged")}
    seen = {(s, n) for (s, n, _, _) in alerts}
    if not expected <= seen:
        failures.append(f"alerts missing: {sorted(expected - seen)}")
    for k, c in alerts.items():
        if c != 1:
            failures.append(f"alert {k} delivered {c} times")
    # Each replica says when etcd answers again after the spell without quorum, and for how long
    # it did not (an operator reads the outage from the log).
    for r in REPLICAS:
        back = [e for t, e in log_events(work / f"{r}.log")
                if t > q1 and e.get("message") == "etcd answers again"]
        if not any(float(e.get("down_secs", 0)) >= (q1 - q0) / 2 for e in back):
            failures.append(f"{r} did not log that etcd answers again after {q1 - q0:.0f} s without quorum")
    if a.verbose and not failures:
        print(diagnostics(work, start))
        print(f"fleet-faults: passed (logs: {work})")
        return
    if failures:
        # What a failure in CI, whose temporary files go with its clone, is read from: the
        # replicas' warnings and errors (no prompt text is ever logged) and etcd's leader
        # changes, each at its offset from the start, then those around the missed ticks, the
        # faults and the missed ticks last (CI shows the end of the output).
        print(diagnostics(work, start))
        if missed:
            print("around the missed ticks:")
            print(diagnostics(work, start, near=missed))
        print("events: " + "; ".join(f"+{t - start:.1f}s {w} {d}" for t, w, d in events))
        print("etcd without a leader: " + ", ".join(f"+{lo - start:.1f}s to +{hi - start:.1f}s" for lo, hi in spells))
        if unexplained:
            print("other gaps (the tick's start): " + ", ".join(unexplained))
        print("FAIL " + "; ".join(failures) + f" (logs: {work})")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print("fleet-faults: passed")


if __name__ == "__main__":
    main()
