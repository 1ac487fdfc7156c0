#!/usr/bin/env python3
"""The summary of a scripts/bench-vs-haproxy run (standard library only).

  bench_summary.py DIR

DIR is the script's --out directory: runs.tsv (one row per run), meta.tsv (the parameters),
idle-<proxy>.json and hold-<proxy>.json. Prints, for every (shape, clients, pipeline):

  - per target (direct, haproxy, proxy-mux, proxy-relay) the median over the rounds and the
    [min-max] spread of rps, proxy CPU seconds per million requests, Redis (master) CPU seconds
    per million requests, p50 and p99 latency in ms;
    and "Redis conns", the most descriptors the master gained during a run (its connections);
  - the ratios of the medians: proxy-mux and proxy-relay to HAProxy and to direct Redis;

then issue 15's targets for proxy-mux (met or not), and the idle and hold phases.
"""

import csv
import json
import os
import statistics
import sys

TARGETS = ("direct", "haproxy", "proxy-mux", "proxy-relay")
PROXIES = ("haproxy", "proxy-mux", "proxy-relay")
# metric key, column title, format of one value
METRICS = (
    ("rps", "rps", "{:,.0f}"),
    ("proxy_cpu", "proxy CPU s/1M", "{:.2f}"),
    ("redis_cpu", "Redis CPU s/1M", "{:.2f}"),
    ("p50", "p50 ms", "{:.3f}"),
    ("p99", "p99 ms", "{:.3f}"),
    ("conns", "Redis conns", "{:,.0f}"),
)


def number(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    return v if v == v else None  # NaN is "no value"


def per_run(row):
    """The metrics of one runs.tsv row (None where not measured)."""
    n = number(row["requests"])
    pc, mc = number(row["proxy_cpu_s"]), number(row["master_cpu_s"])
    ok = number(row["rps"]) is not None
    return {
        "rps": number(row["rps"]),
        "proxy_cpu": pc / n * 1e6 if ok and pc is not None and n else None,
        "redis_cpu": mc / n * 1e6 if ok and mc is not None and n else None,
        "p50": number(row["p50_ms"]),
        "p99": number(row["p99_ms"]),
        "conns": number(row.get("master_conns")),
    }


def table(rows, right_from=1):
    """Rows of strings as aligned columns (the first left-aligned, the rest right-aligned)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            c.ljust(w) if i < right_from else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    meta = {}
    try:
        with open(os.path.join(out, "meta.tsv")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("\t")
                meta[k] = v
    except OSError:
        pass
    with open(os.path.join(out, "runs.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))

    # (shape, clients, pipeline) in the order first measured -> target -> metric -> [values]
    groups = {}
    errors = {}
    for row in rows:
        key = (row["shape"], int(row["clients"]), int(row["pipeline"]))
        g = groups.setdefault(key, {t: {m: [] for m, _, _ in METRICS} for t in TARGETS})
        if row["target"] not in g:
            continue
        for m, v in per_run(row).items():
            if v is not None:
                g[row["target"]][m].append(v)
        e = number(row.get("errors"))
        if e:
            errors[key, row["target"]] = errors.get((key, row["target"]), 0) + int(e)
    med = {
        (key, t, m): statistics.median(vs)
        for key, g in groups.items()
        for t, ms in g.items()
        for m, vs in ms.items()
        if vs
    }

    rounds = meta.get("rounds", "?")
    print(
        f"sentinel-proxy {meta.get('proxy_version', '?')} (proxy-mux: SENTINEL_PROXY_MODE=multiplex, "
        f"proxy-relay: SENTINEL_PROXY_MODE=relay) vs HAProxy {meta.get('haproxy_version', '?')} "
        f"vs direct Redis {meta.get('redis_version', '?')}"
    )
    print(
        f"{rounds} interleaved round(s); a cell is the median over the rounds [min-max]; "
        "ratios are of the medians; CPU is utime+stime per million requests"
    )
    if meta.get("mode_note"):
        print(f"NOTE: {meta['mode_note']}")
    def short_cpu(r):  # a CPU delta under 1 s: 100 ticks or fewer
        cpu = [number(r.get(k)) for k in ("proxy_cpu_s", "master_cpu_s")]
        return any(v is not None and v < 1.0 for v in cpu)

    coarse = sum(1 for r in rows if short_cpu(r))
    if coarse:
        print(
            f"NOTE: CPU time is counted in ticks of 10 ms; {coarse} of {len(rows)} runs used under 1 s "
            "of CPU in a process measured, so their CPU figures are coarse (run more --requests)"
        )
    if meta.get("failed_runs", "0") not in ("", "0"):
        print(f"NOTE: {meta['failed_runs']} run(s) failed (no figures; see raw/*.err)")

    for key, g in groups.items():
        shape, clients, pipeline = key
        if shape == "rb":
            n = meta.get("requests") if pipeline == 1 else meta.get("requests_p16")
            title = f"redis-benchmark -t set,get -c {clients} -P {pipeline}"
            if n:
                title += f", -n {int(n):,} per test"
            title += " (rps: SET and GET combined; p50/p99: the mean of SET's and GET's)"
        else:
            think = meta.get("app_think", "0")
            title = f"application pods (sentinel-bench appload): {clients} connections, one GET/SET at a time"
            title += ", no think time" if think in ("0", "0ms", "") else f", think time {think} (mean)"
            if meta.get("app_requests"):
                title += f", {int(meta['app_requests']):,} requests a run"
        print()
        print(f"== {title}")
        lines = [["target"] + [t for _, t, _ in METRICS]]
        for t in TARGETS:
            cells = [t]
            for m, _, fmt in METRICS:
                vs = g[t][m]
                if not vs:
                    cells.append("-")
                    continue
                cell = fmt.format(statistics.median(vs))
                if len(vs) > 1:
                    cell += f" [{fmt.format(min(vs))}-{fmt.format(max(vs))}]"
                cells.append(cell)
            lines.append(cells)
        lines.append([""] * len(lines[0]))
        lines.append(["ratio"] + [t for _, t, _ in METRICS])
        for p in ("proxy-mux", "proxy-relay"):
            for base in ("haproxy", "direct"):
                cells = [f"{p.removeprefix('proxy-')}/{base}"]
                for m, _, _ in METRICS:
                    a, b = med.get((key, p, m)), med.get((key, base, m))
                    cells.append(f"{a / b:.2f}" if a is not None and b else "-")
                lines.append(cells)
        print(table(lines))
        for t in TARGETS:
            if errors.get((key, t)):
                print(f"  {t}: {errors[key, t]} errors over the rounds (see raw/*-{t}.json)")

    idle = {t: load_json(os.path.join(out, f"idle-{t}.json")) for t in PROXIES}
    hold = {t: load_json(os.path.join(out, f"hold-{t}.json")) for t in PROXIES}

    def kib(t):
        j = idle[t]
        return j.get("kib_per_conn") if j else None

    # Issue 15's targets for the multiplexed proxy, where this run measured them.
    def m(shape, c, p, t, metric):
        return med.get(((shape, c, p), t, metric))

    checks = []

    def check(label, value, ok, note=""):
        checks.append([label, value, "met" if ok else "NOT met", note])

    mux, ha, d = "proxy-mux", "haproxy", "direct"
    for (shape, c, p) in groups:
        if shape != "rb":
            continue
        r_mux, r_ha, r_d = (m(shape, c, p, t, "rps") for t in (mux, ha, d))
        cpu_mux, cpu_ha = m(shape, c, p, mux, "proxy_cpu"), m(shape, c, p, ha, "proxy_cpu")
        if p == 1 and c == 50 and r_mux and r_d:
            check("-c 50 -P 1: rps >= 1.1x direct Redis", f"{r_mux / r_d:.2f}x", r_mux / r_d >= 1.1)
        if p == 1 and c == 50 and cpu_mux is not None and cpu_ha:
            check("-c 50 -P 1: proxy CPU <= 0.6x HAProxy", f"{cpu_mux / cpu_ha:.2f}x",
                  cpu_mux / cpu_ha <= 0.6)
        if p == 16 and r_mux and r_ha:
            check(f"-c {c} -P 16: rps >= 1.0x HAProxy", f"{r_mux / r_ha:.2f}x", r_mux / r_ha >= 1.0)
        if p == 16 and cpu_mux is not None and cpu_ha:
            check(f"-c {c} -P 16: proxy CPU <= 1.0x HAProxy", f"{cpu_mux / cpu_ha:.2f}x",
                  cpu_mux / cpu_ha <= 1.0)
        if p == 1 and c == 500 and r_mux and r_ha:
            check("-c 500 -P 1: rps >= 1.5x HAProxy", f"{r_mux / r_ha:.2f}x", r_mux / r_ha >= 1.5)
    for (shape, c, p) in groups:
        if p != 1:
            continue
        q_mux, q_ha = m(shape, c, p, mux, "p99"), m(shape, c, p, ha, "p99")
        if q_mux is not None and q_ha is not None:
            what = f"-c {c} -P 1" if shape == "rb" else f"appload {c} conns"
            check(f"{what}: p99 <= HAProxy's", f"{q_mux:.3f} vs {q_ha:.3f} ms", q_mux <= q_ha)
    if kib(mux) is not None:
        check(f"idle connections ({meta.get('idle', '?')}): <= 3 KiB each", f"{kib(mux):.2f} KiB",
              kib(mux) <= 3.0)
    if hold[mux]:
        j = hold[mux]
        check(f"{j['clients']} clients held: 0 errors", f"{j['ok']} ok / {j['errors']} errors",
              j["errors"] == 0, "the issue asks for 10,000" if j["clients"] < 10000 else "")
    if checks:
        print()
        print("== issue 15 targets, proxy-mux (medians)")
        print(table([["target", "measured", "", ""]] + checks, right_from=4))

    print()
    print("== idle connections and the hold phase")
    lines = [["", "haproxy", "proxy-mux", "proxy-relay", "mux/haproxy", "relay/haproxy"]]

    def ratio(a, b):
        return f"{a / b:.2f}" if a is not None and b else "-"

    lines.append(
        [f"KiB RSS per idle conn ({meta.get('idle', '?')})"]
        + [f"{kib(t):.2f}" if kib(t) is not None else "-" for t in PROXIES]
        + [ratio(kib(mux), kib(ha)), ratio(kib("proxy-relay"), kib(ha))]
    )
    if meta.get("skip_hold", "0") == "0":
        lines.append(
            [f"{meta.get('hold', '?')} clients: ok/errors"]
            + [f"{hold[t]['ok']}/{hold[t]['errors']}" if hold[t] else "n/a" for t in PROXIES]
            + ["", ""]
        )
    print(table(lines))
    if meta.get("skip_hold", "0") == "0":
        for t in PROXIES:
            j = hold[t]
            if j and j["errors"]:
                print(f"  {t} errors: phase 1 {j['phase1_errors']}, phase 2 {j['phase2_errors']}")
        if meta.get("fd_note"):
            print(f"  note: {meta['fd_note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
