#!/usr/bin/env python3
"""Parsing and report of scripts/colocate.sh: online latency and offline
throughput per run mode, measured against the user's targets (online p99
< 50 ms, ideal < 10 ms; offline throughput loss < 20 %).

The workloads speak a line protocol on stdout (anything else is ignored):

  GP-ONLINE t=<s> latency_ms=<ms>    one per online request; t is CLOCK_MONOTONIC
                                     seconds (Python: time.monotonic()) at its end
  GP-OFFLINE t=<s> steps=<n>         cumulative training steps at time t, printed
                                     periodically (at least every second)

Usage: colocate_report.py DIR [--warmup S]
  DIR holds one sub-directory per mode (online-alone, offline-alone, shared,
  serve, auto) with online.log and/or offline.log, or a file `unavailable`
  (the reason) or `failed` (what went wrong). Writes DIR/report.txt and
  DIR/report.json and prints the text report.
"""
import json
import math
import os
import re
import sys

ONLINE_TARGET_MS = 50.0
ONLINE_IDEAL_MS = 10.0
OFFLINE_MAX_LOSS = 0.20

MODES = [
    ("online-alone", "online alone"),
    ("offline-alone", "offline alone"),
    ("shared", "shared, no controller"),
    ("serve", "shared, preempt --serve"),
    ("auto", "shared, preempt --online-pid"),
]
SHARED_MODES = ("shared", "serve", "auto")

_FIELD = re.compile(r"(\w+)=(\S+)")


def _fields(line, tag):
    if not line.startswith(tag + " "):
        return None
    return dict(_FIELD.findall(line[len(tag) + 1:]))


def parse_online(text):
    """[(t or None, latency_ms)] from GP-ONLINE lines; malformed lines are skipped."""
    out = []
    for line in text.splitlines():
        f = _fields(line.strip(), "GP-ONLINE")
        if f is None or "latency_ms" not in f:
            continue
        try:
            lat = float(f["latency_ms"])
            t = float(f["t"]) if "t" in f else None
        except ValueError:
            continue
        if lat >= 0 and math.isfinite(lat):
            out.append((t, lat))
    return out


def parse_offline(text):
    """[(t, cumulative steps)] from GP-OFFLINE lines, in file order."""
    out = []
    for line in text.splitlines():
        f = _fields(line.strip(), "GP-OFFLINE")
        if f is None or "t" not in f or "steps" not in f:
            continue
        try:
            out.append((float(f["t"]), int(f["steps"])))
        except ValueError:
            continue
    return out


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, math.ceil(q / 100.0 * len(s)) - 1)
    return s[k]


def online_stats(samples, warmup_s=0.0, start=None):
    """p50/p99/max of the requests that ended warmup_s seconds or more after
    start (default: the first request)."""
    if not samples:
        return None
    t0 = start if start is not None else next((t for t, _ in samples if t is not None), None)
    kept = [lat for t, lat in samples if t is None or t0 is None or t - t0 >= warmup_s]
    if not kept:
        return None
    return {
        "requests": len(kept),
        "p50_ms": percentile(kept, 50),
        "p99_ms": percentile(kept, 99),
        "max_ms": max(kept),
        "mean_ms": sum(kept) / len(kept),
    }


def offline_throughput(samples, start=None, end=None):
    """Steps per second between the first and last sample inside [start, end]."""
    pts = [(t, n) for t, n in samples if (start is None or t >= start) and (end is None or t <= end)]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return None
    return {
        "steps_per_s": (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]),
        "window_s": pts[-1][0] - pts[0][0],
    }


def analyse_mode(online_text, offline_text, warmup_s, start=None):
    """One mode's numbers. start: when every part of the mode was running (the
    controller attached), CLOCK_MONOTONIC seconds; the window opens warmup_s
    after it (or after each workload's first line). In a shared mode the
    offline window is the time the online loop was running, so the loss is
    measured while both competed for the GPU."""
    res = {}
    on = parse_online(online_text) if online_text is not None else []
    off = parse_offline(offline_text) if offline_text is not None else []
    if online_text is not None:
        res["online"] = online_stats(on, warmup_s, start)
    if offline_text is not None:
        opens = [start + warmup_s] if start is not None else []
        end = None
        if off:
            opens.append(off[0][0] + warmup_s)
        times = [t for t, _ in on if t is not None]
        if times:
            opens.append(times[0] + warmup_s)
            end = times[-1]
        res["offline"] = offline_throughput(off, max(opens) if opens else None, end)
    return res


def online_verdict(p99):
    if p99 < ONLINE_IDEAL_MS:
        return "ideal"
    if p99 < ONLINE_TARGET_MS:
        return "ok"
    return "miss"


def build_report(modes):
    """modes: {mode: {"online":..., "offline":...} or {"unavailable": why} or
    {"failed": why}} -> the JSON report (also the input of format_text)."""
    base = (modes.get("offline-alone") or {}).get("offline")
    base_tp = base["steps_per_s"] if base else None
    rows = []
    for key, label in MODES:
        m = modes.get(key)
        if m is None:
            continue
        row = {"mode": key, "label": label}
        if "unavailable" in m or "failed" in m:
            row["status"] = "unavailable" if "unavailable" in m else "failed"
            row["why"] = m.get("unavailable") or m.get("failed")
            rows.append(row)
            continue
        row["status"] = "ran"
        on, off = m.get("online"), m.get("offline")
        if on:
            row["online"] = on
        if off:
            row["offline"] = off
        if key in SHARED_MODES:
            checks = {}
            if on:
                checks["online"] = online_verdict(on["p99_ms"])
            elif "online" in m:
                checks["online"] = "no data"
            if off and base_tp:
                loss = 1.0 - off["steps_per_s"] / base_tp
                row["offline_loss"] = loss
                checks["offline"] = "ok" if loss < OFFLINE_MAX_LOSS else "miss"
            elif "offline" in m:
                checks["offline"] = "no data"
            row["checks"] = checks
            row["meets_targets"] = checks.get("online") in ("ideal", "ok") and checks.get("offline") == "ok"
        rows.append(row)
    return {
        "targets": {"online_p99_ms": ONLINE_TARGET_MS, "online_p99_ideal_ms": ONLINE_IDEAL_MS,
                    "offline_max_loss": OFFLINE_MAX_LOSS},
        "baseline_offline_steps_per_s": base_tp,
        "modes": rows,
    }


def _ms(v):
    return f"{v:.1f} ms"


def format_text(report):
    t = report["targets"]
    lines = [
        "Online/offline colocation on one GPU",
        f"targets: online p99 < {t['online_p99_ms']:.0f} ms (ideal < {t['online_p99_ideal_ms']:.0f} ms), "
        f"offline throughput loss < {t['offline_max_loss'] * 100:.0f} % (against offline alone)",
        "",
        f"{'mode':<30} {'online p50':>11} {'online p99':>11} {'requests':>9} {'offline steps/s':>16} "
        f"{'loss':>8}  verdict",
    ]
    for r in report["modes"]:
        if r["status"] != "ran":
            lines.append(f"{r['label']:<30} {r['status']}: {r['why']}")
            continue
        on, off = r.get("online"), r.get("offline")
        loss = r.get("offline_loss")
        verdict = ""
        if "checks" in r:
            c = r["checks"]
            parts = []
            if "online" in c:
                parts.append({"ideal": "online ideal (<10 ms)", "ok": "online ok (<50 ms)",
                              "miss": "online MISSES 50 ms"}.get(c["online"], "online: no data"))
            if "offline" in c:
                parts.append({"ok": "offline ok (<20 %)", "miss": "offline loss MISSES 20 %"}
                             .get(c["offline"], "offline: no data"))
            verdict = ("PASS: " if r["meets_targets"] else "FAIL: ") + ", ".join(parts)
        lines.append(
            f"{r['label']:<30} {_ms(on['p50_ms']) if on else '-':>11} {_ms(on['p99_ms']) if on else '-':>11} "
            f"{on['requests'] if on else '-':>9} {format(off['steps_per_s'], '.1f') if off else '-':>16} "
            f"{format(loss * 100, '.1f') + ' %' if loss is not None else '-':>8}  {verdict}".rstrip())
    if report["baseline_offline_steps_per_s"] is None:
        lines.append("")
        lines.append("no offline-alone throughput: the loss cannot be computed")
    return "\n".join(lines) + "\n"


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def load_dir(d, warmup_s):
    modes = {}
    for key, _ in MODES:
        md = os.path.join(d, key)
        if not os.path.isdir(md):
            continue
        why = _read(os.path.join(md, "unavailable"))
        if why is not None:
            modes[key] = {"unavailable": why.strip() or "unavailable"}
            continue
        why = _read(os.path.join(md, "failed"))
        if why is not None:
            modes[key] = {"failed": why.strip() or "failed"}
            continue
        start = _read(os.path.join(md, "start"))
        try:
            start = float(start) if start is not None else None
        except ValueError:
            start = None
        modes[key] = analyse_mode(_read(os.path.join(md, "online.log")),
                                  _read(os.path.join(md, "offline.log")), warmup_s, start)
    return modes


def main(argv):
    args = list(argv)
    warmup = 0.0
    if "--warmup" in args:
        i = args.index("--warmup")
        try:
            warmup = float(args[i + 1])
        except (IndexError, ValueError):
            print("colocate_report: --warmup needs seconds", file=sys.stderr)
            return 64
        del args[i:i + 2]
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 64
    d = args[0]
    if not os.path.isdir(d):
        print(f"colocate_report: {d} is not a directory", file=sys.stderr)
        return 64
    report = build_report(load_dir(d, warmup))
    text = format_text(report)
    with open(os.path.join(d, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "report.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
