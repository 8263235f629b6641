#!/usr/bin/env python3
"""Generate hit-ratio.test.yml, the promtool unit tests of PromptCacheHitRatioDecay.

The scenarios need counters whose per-minute increments change every few minutes (a linear
slide of the hit ratio, a day/night traffic curve), which promtool's `a+bxN` notation cannot
express in one term, so this script builds them minute by minute and compresses runs of equal
increments back into `a+bxN` segments. Run it after changing a scenario:

    python3 tests/prometheus/gen-hit-ratio-tests.py > tests/prometheus/hit-ratio.test.yml

Standard library only; the output is deterministic (the "noise" is a fixed pseudo-random walk).

Token model for one prompt, per minute, with hit ratio r and input volume T tokens:
    cache read     = r * T
    uncached input = 0.05 * T       (the per-request tail after the last cache breakpoint)
    cache write    = (0.95 - r) * T (the part of the prefix that missed and was (re)written)
so read / (read + write + uncached) == r.
"""

import math

STEP = 5  # minutes between samples (and rule evaluations): 1m would make promtool 25x slower
H = 60
D = 24 * H

LBL = 'job="prefix-warden",instance="pw-1:9464",prompt="{prompt}",provider="anthropic",source="{source}"'
METRICS = (
    "prefix_warden_cache_read_tokens_total",
    "prefix_warden_cache_write_tokens_total",
    "prefix_warden_uncached_input_tokens_total",
)


def compress(incs):
    """Counter samples 0, inc0, inc0+inc1, ... as promtool expanding notation."""
    s = [0]
    for i in incs:
        s.append(s[-1] + i)
    out, i = [], 0
    while i < len(s):
        if i + 1 >= len(s):
            out.append(f"{s[i]}")
            break
        d = s[i + 1] - s[i]
        j = i + 1
        while j + 1 < len(s) and s[j + 1] - s[j] == d:
            j += 1
        out.append(f"{s[i]}+{d}x{j - i}")
        i = j + 1
    return " ".join(out)


def series(prompt, source, ratios, volumes, write_series=True):
    """Input series for one prompt/source from per-minute ratio and token-volume lists,
    sampled every STEP minutes (volume per sample = STEP x the per-minute volume)."""
    read, write, unc = [], [], []
    for r, t in list(zip(ratios, volumes))[::STEP]:
        t = t * STEP
        rd = round(r * t)
        un = round(0.05 * t)
        read.append(rd)
        unc.append(un)
        write.append(t - rd - un)
    lines = []
    for name, incs in zip(METRICS, (read, write, unc)):
        if name.endswith("write_tokens_total") and not write_series:
            continue
        lbl = LBL.format(prompt=prompt, source=source)
        lines.append(f"      - series: '{name}{{{lbl}}}'\n        values: '{compress(incs)}'")
    return "\n".join(lines)


def fmt_dur(m):
    h, mm = divmod(m, 60)
    if h and mm:
        return f"{h}h{mm}m"
    if h:
        return f"{h}h"
    return f"{mm}m"


def alert_none(t):
    return f"      - eval_time: {fmt_dur(t)}\n        alertname: PromptCacheHitRatioDecay\n        exp_alerts: []"


DESCRIPTION = (
    "Token-weighted cache hit ratio of live traffic for prompt {p} is {v} over the last hour "
    "(1d baseline {b}). Either it fell below half of its 1d baseline, or it is >5% below it and "
    "still falling by more than 1 point per hour, or it is under the 20% floor. Check that "
    "warm-ups target the live color and that the prompt's fingerprint did not change."
)


def alert_fires(t, *alerts):
    """alerts: (prompt, 1h ratio, 1d baseline) as the description prints them."""
    lines = [f"      - eval_time: {fmt_dur(t)}\n        alertname: PromptCacheHitRatioDecay\n        exp_alerts:"]
    for p, v, b in alerts:
        lines.append(
            f"          - exp_labels:\n              severity: warning\n              prompt: {p}\n"
            f"              source: traffic\n"
            f"            exp_annotations:\n"
            f"              summary: \"Prompt-cache hit ratio of prompt {p} is decaying\"\n"
            f"              description: \"{DESCRIPTION.format(p=p, v=v, b=b)}\"\n"
            f"              runbook_url: \"docs/runbook.md#promptcachehitratiodecay\""
        )
    return "\n".join(lines)


def stepped(f, n, step=5):
    """Sample f(minute) at the start of each `step`-minute block: a staircase of n minutes."""
    return [f((m // step) * step) for m in range(n)]


def jitter(n, amp, seed=12345, step=5):
    """Deterministic +-amp noise, constant over `step` minutes."""
    x, out = seed, []
    for m in range(n):
        if m % step == 0:
            x = (1103515245 * x + 12345) % (2**31)
            cur = (x / 2**31 * 2 - 1) * amp
        out.append(cur)
    return out


def diurnal(m, day=60000, night=12000):
    """Tokens per minute: day volume from 08:00 to 20:00, 80 % less from 00:00 to 05:00,
    cosine ramps in between (the series starts at 00:00)."""
    hod = (m % D) / H
    if 8 <= hod < 20:
        return day
    if hod < 5:
        return night
    if 5 <= hod < 8:
        x = (hod - 5) / 3
    else:  # 20..24: ramp down
        x = 1 - (hod - 20) / 4
    return round(night + (day - night) * (1 - math.cos(math.pi * x)) / 2)


HEADER = """# GENERATED by gen-hit-ratio-tests.py -- edit the generator, not this file.
# promtool unit tests of PromptCacheHitRatioDecay (run: cd tests/prometheus && promtool test rules *.yml)
rule_files:
  - ../../deploy/prometheus/prefix-warden.rules.yml
evaluation_interval: 5m
# Evaluate the recording rules before the alerts at each step (promtool otherwise picks an
# arbitrary group order, which makes the alert see recorded values one step old at random).
group_eval_order:
  - prefix-warden-cache-hit-ratio
  - prefix-warden-alerts
tests:"""


def test_linear_decay():
    # 26h healthy at 0.91 (a full 1d baseline plus 2h), then the ratio slides linearly to 0
    # over 36h (warm-ups pinned to the color that is no longer live), then stays at 0.005 for
    # 26h more, so the 1d baseline has fully caught up with the outage.
    start = 26 * H
    slide = 36 * H
    total = start + slide + 26 * H

    def r(m):
        if m < start:
            return 0.91
        if m < start + slide:
            return 0.91 * (1 - (m - start) / slide)
        return 0.005

    ratios = stepped(r, total)
    vol = [60000] * total
    # Warm-ups keep hitting the cache of the dead color: a healthy warmup ratio must not
    # mask the traffic decay (the alert only looks at source="traffic").
    warm = series("support", "warmup", [0.93] * total, [4000] * total)
    out = [
        "  - name: 36h linear decay from 0.91 fires within 3h of the start of the slide",
        f"    interval: {STEP}m",
        "    input_series:",
        series("support", "traffic", ratios, vol),
        warm,
        "    alert_rule_test:",
        alert_none(start - STEP),
        alert_none(start + 30),
        alert_none(start + 1 * H),
        alert_none(start + 2 * H),
        alert_fires(start + 3 * H, ("support", "84.79%", "90.54%")),
        alert_fires(start + 6 * H, ("support", "77.2%", "89.13%")),
        alert_fires(start + 20 * H, ("support", "41.81%", "70.02%")),
        alert_fires(start + slide, ("support", "1.369%", "30.44%")),
        # 26h after the slide ended the 1d baseline is ~0 too: only the 0.2 floor still holds.
        alert_fires(total - STEP, ("support", "0.5%", "0.5%")),
        "    promql_expr_test:",
        # At +3h the 1h ratio is still 0.85 vs a 0.91 baseline (ratio 0.94, far from 0.5):
        # the relative-drop branch alone could not fire yet; the slope branch does.
        f"""      - expr: round(prefix_warden:cache_hit_ratio:rate1h{{prompt="support",source="traffic"}}, 0.01)
        eval_time: {fmt_dur(start + 3 * H)}
        exp_samples:
          - labels: '{{prompt="support",source="traffic"}}'
            value: 0.85
      - expr: round(prefix_warden:cache_hit_ratio:rate1d{{prompt="support",source="traffic"}}, 0.01)
        eval_time: {fmt_dur(start + 3 * H)}
        exp_samples:
          - labels: '{{prompt="support",source="traffic"}}'
            value: 0.91
      - expr: round(deriv(prefix_warden:cache_hit_ratio:rate1h{{prompt="support",source="traffic"}}[2h]) * 3600, 0.001)
        eval_time: {fmt_dur(start + 3 * H)}
        exp_samples:
          - labels: '{{prompt="support",source="traffic"}}'
            value: -0.025
      - expr: round(prefix_warden:cache_hit_ratio:rate1h{{prompt="support",source="warmup"}}, 0.01)
        eval_time: {fmt_dur(start + 3 * H)}
        exp_samples:
          - labels: '{{prompt="support",source="warmup"}}'
            value: 0.93""",
    ]
    return "\n".join(out)


def test_daily_dip():
    # Three days of day/night traffic (night volume 80 % below day) with a healthy ratio:
    # 0.91 by day, 0.87 at night (fewer requests per TTL), +-0.01 noise every 5 minutes.
    total = 3 * D
    vol = [diurnal(m) for m in range(total)]
    noise = jitter(total, 0.01)
    ratios = []
    for m in range(total):
        frac = (vol[m] - 12000) / (60000 - 12000)  # 0 at night, 1 by day
        ratios.append(0.87 + 0.04 * frac + noise[m])
    out = [
        "  - name: daily traffic dip (-80 % at night) with a healthy ~0.9 ratio never fires",
        f"    interval: {STEP}m",
        "    input_series:",
        series("support", "traffic", ratios, vol),
        "    alert_rule_test:",
    ]
    # Every 30 minutes from the first full day on, including every night and ramp.
    for t in range(D, total, 30):
        out.append(alert_none(t))
    out.append(alert_none(total - STEP))
    return "\n".join(out)


def test_decay_at_night():
    # The same 36h slide, starting at 20:00 just as traffic ramps down for the night.
    start = 2 * D + 20 * H
    slide = 36 * H
    total = start + 6 * H
    vol = [diurnal(m) for m in range(total)]

    def r(m):
        if m < start:
            return 0.91
        return 0.91 * (1 - (m - start) / slide)

    ratios = stepped(r, total)
    out = [
        "  - name: 36h linear decay starting at 20:00 (traffic ramping down) still fires within 3h",
        f"    interval: {STEP}m",
        "    input_series:",
        series("support", "traffic", ratios, vol),
        "    alert_rule_test:",
        alert_none(start - STEP),
        alert_none(start + 1 * H),
        alert_fires(start + 3 * H, ("support", "84.92%", "90.61%")),
        alert_fires(total - STEP, ("support", "77.41%", "90.21%")),
    ]
    return "\n".join(out)


def test_collapse_and_guards():
    # checkout: sudden collapse 0.91 -> 0.03 at 26h (flip to a cold color) -> fires within 30m.
    # idle: a prompt at ratio 0 but with only 100 tokens/min (6,000/h < 20,000/h guard).
    # tiny: a prompt that never hits (below the provider's minimum cacheable length) with
    #       real traffic: the 0.2 floor fires; this is intended, see the runbook.
    # nowrite: no cache-write counter at all (read 0.9, uncached 0.05 of the volume): the ratio
    #          must still be computed, as 0.9 / 0.95.
    total = 28 * H
    flip = 26 * H
    coll = [0.91 if m < flip else 0.03 for m in range(total)]
    out = [
        "  - name: sudden collapse fires fast; idle prompts never fire; floor; missing write counter",
        f"    interval: {STEP}m",
        "    input_series:",
        series("checkout", "traffic", coll, [30000] * total),
        series("idle", "traffic", [0.0] * total, [100] * total),
        series("tiny", "traffic", [0.0] * total, [20000] * total),
        series("nowrite", "traffic", [0.9] * total, [10000] * total, write_series=False),
        "    alert_rule_test:",
        alert_fires(flip - STEP, ("tiny", "0%", "0%")),
        alert_fires(flip + 30, ("checkout", "47%", "89.17%"), ("tiny", "0%", "0%")),
        "    promql_expr_test:",
        f"""      - expr: round(prefix_warden:cache_hit_ratio:rate1h{{prompt=~"idle|nowrite"}}, 0.01)
        eval_time: {fmt_dur(flip)}
        exp_samples:
          - labels: '{{prompt="idle",source="traffic"}}'
            value: 0
          - labels: '{{prompt="nowrite",source="traffic"}}'
            value: 0.95""",
    ]
    return "\n".join(out)


def main():
    parts = [HEADER, test_linear_decay(), test_daily_dip(), test_decay_at_night(), test_collapse_and_guards()]
    print("\n".join(parts))


if __name__ == "__main__":
    main()
