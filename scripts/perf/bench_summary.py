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

A TLS run (meta.tsv "tls" 1: the script's --tls) has the same tables (every target's client
hop TLS), then the TLS handshakes (handshakes.tsv, openssl s_time -new): per target the median
[min-max] of handshakes/s, the CPU microseconds per handshake of the process terminating TLS
(the proxy; the master for direct) and of the master, and s_time's own CPU as a share of the
run's wall time (near 100 %: the one client is the limit); their ratios to HAProxy; then
issue 16's target (>= 1.0x HAProxy's TLS throughput at pipeline 1 and 16) in place of issue
15's, and the proxies' TLS metrics (metrics-<proxy>.txt).
"""

import csv
import json
import os
import re
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


# handshakes.tsv: metric key, column title, format
HS_METRICS = (
    ("hs", "handshakes/s", "{:,.0f}"),
    ("tls_cpu", "TLS-end CPU us/hs", "{:.0f}"),
    ("redis_cpu", "Redis CPU us/hs", "{:.0f}"),
    ("client", "s_time CPU %", "{:.0f}"),
)


def per_hs_run(row):
    """The metrics of one handshakes.tsv row (None where not measured)."""
    n, wall = number(row["connections"]), number(row["wall_s"])
    tc, mc, cc = (number(row[k]) for k in ("tls_cpu_s", "master_cpu_s", "client_cpu_s"))
    ok = bool(n) and bool(wall)
    return {
        "hs": n / wall if ok else None,
        "tls_cpu": tc / n * 1e6 if ok and tc is not None else None,  # microseconds per handshake
        "redis_cpu": mc / n * 1e6 if ok and mc is not None else None,
        "client": cc / wall * 100 if ok and cc is not None else None,
    }


def cell(vs, fmt):
    """The median [min-max] of vs, or "-"."""
    if not vs:
        return "-"
    c = fmt.format(statistics.median(vs))
    if len(vs) > 1:
        c += f" [{fmt.format(min(vs))}-{fmt.format(max(vs))}]"
    return c


def read_metrics(path):
    """{(name, frozenset(labels)): value} from a Prometheus text file, or None."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        v = number(m.group(3))
        if v is not None:
            out[m.group(1), labels] = v
    return out


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
    tls = False
    try:
        with open(os.path.join(out, "meta.tsv")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("\t")
                meta[k] = v
    except OSError:
        pass
    with open(os.path.join(out, "runs.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    tls = meta.get("tls") == "1"
    hs_rows = []
    if tls:
        try:
            with open(os.path.join(out, "handshakes.tsv")) as f:
                hs_rows = list(csv.DictReader(f, delimiter="\t"))
        except OSError:
            pass

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
    if tls:
        print(
            "TLS mode: the client hop of every target is TLS (ECDSA P-256 certificate, SAN "
            "IP:127.0.0.1; HAProxy `bind ... ssl crt`, the proxies SENTINEL_PROXY_LISTEN_TLS, "
            "direct: the master's --tls-port); the hop to Redis is plain"
        )
        infos = {t: meta.get(f"tls_info_{t}", "") for t in TARGETS}
        if len(set(infos.values())) == 1:
            print(f"negotiated by a default OpenSSL client ({meta.get('openssl_version', '?')}) with "
                  f"every target: {infos['direct'] or '?'} (protocol, cipher suite, group, verification)")
        else:
            for t in TARGETS:
                print(f"negotiated with {t}: {infos[t] or '?'} (protocol, cipher suite, group, verification)")
        if meta.get("tls_note"):
            print(f"NOTE: {meta['tls_note']}")
        if meta.get("app_note"):
            print(f"NOTE: {meta['app_note']}")
        for t in ("proxy-mux", "proxy-relay"):
            lines_logged = number(meta.get(f"log_lines_{t}"))
            if lines_logged:
                print(f"NOTE: {t} logged {int(lines_logged)} line(s) at warn level or above (logs/{t}.log)")
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
            title = f"redis-benchmark{' --tls' if tls else ''} -t set,get -c {clients} -P {pipeline}"
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
    if tls:
        checks = tls_section(groups, m, hs_rows, meta, out)
    if checks:
        print()
        print(f"== issue {16 if tls else 15} targets, proxy-mux (medians)")
        print(table([["target", "measured", "", ""]] + checks, right_from=4))

    print()
    print(f"== idle connections and the hold phase{' (TLS: every client handshakes first)' if tls else ''}")
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


def tls_section(groups, m, hs_rows, meta, out):
    """Print the handshake table and the proxies' TLS metrics; return issue 16's checks."""
    hs = {t: {k: [] for k, _, _ in HS_METRICS} for t in TARGETS}
    for row in hs_rows:
        if row["target"] in hs:
            for k, v in per_hs_run(row).items():
                if v is not None:
                    hs[row["target"]][k].append(v)
    print()
    secs = meta.get("handshake_time", "?")
    print(f"== TLS handshakes: openssl s_time -new -tls1_3, one client, {secs} s a run "
          "(a full handshake on a new connection each time; rate = connections / wall time)")
    if meta.get("failed_handshake_runs", "0") not in ("", "0"):
        print(f"NOTE: {meta['failed_handshake_runs']} handshake run(s) failed (see raw/*-hs-*.txt)")
    lines = [["target"] + [t for _, t, _ in HS_METRICS]]
    for t in TARGETS:
        lines.append([t] + [cell(hs[t][k], fmt) for k, _, fmt in HS_METRICS])
    lines.append([""] * len(lines[0]))
    # Ratios of handshakes/s and of the TLS end's CPU only: HAProxy's and the proxies' Redis CPU
    # per handshake is a few ticks, and s_time's share is the client's.
    ratio_of = ("hs", "tls_cpu")
    lines.append(["ratio"] + [t if k in ratio_of else "" for k, t, _ in HS_METRICS])
    med = {(t, k): statistics.median(vs) for t in TARGETS for k, vs in hs[t].items() if vs}
    for t in ("proxy-mux", "proxy-relay", "direct"):
        cells = [f"{t.removeprefix('proxy-')}/haproxy"]
        for k, _, _ in HS_METRICS:
            a, b = med.get((t, k)), med.get(("haproxy", k))
            if k not in ratio_of:
                cells.append("")
            else:
                cells.append(f"{a / b:.2f}" if a is not None and b else "-")
        lines.append(cells)
    print(table(lines))
    print("  TLS-end CPU: the proxy's (for direct the master's, which then equals Redis CPU); "
          "s_time CPU: the client's user+system time over the wall time")
    print("  one client, one handshake at a time: handshakes/s is the inverse of a handshake's "
          "round trip, the client's own CPU included,")
    print("  so it understates what a target can serve; the CPU per handshake compares the "
          "targets' cost")

    # The proxies' own count of client handshakes and failures, at the end of the run.
    mlines = []
    for t in ("proxy-mux", "proxy-relay"):
        mt = read_metrics(os.path.join(out, f"metrics-{t}.txt"))
        if mt is None:
            continue
        ok = sum(v for (n, lb), v in mt.items()
                 if n == "sentinel_proxy_tls_handshakes_total" and ("side", "client") in lb)
        fails = {}
        for (n, lb), v in mt.items():
            if n == "sentinel_proxy_tls_handshake_failures_total" and ("side", "client") in lb and v:
                reason = dict(lb).get("reason", "?")
                fails[reason] = fails.get(reason, 0) + v
        failed = ", ".join(f"{r} {int(v):,}" for r, v in sorted(fails.items())) or "none"
        mlines.append(f"  {t}: {int(ok):,} client handshakes completed, failed: {failed}")
    if mlines:
        print("proxies' metrics at the end (sentinel_proxy_tls_handshakes_total / "
              "_handshake_failures_total, side=client, every phase):")
        print("\n".join(mlines))
        print("  (s_time closes each connection as soon as its side of the TLS 1.3 handshake is "
              "done; the proxy counts a handshake whose")
        print("  connection is reset before the server's side is done as failed, reason closed: "
              "most of s_time's, although s_time completed them)")

    checks = []

    def check(label, value, ok, note=""):
        checks.append([label, value, "met" if ok else "NOT met", note])

    for (shape, c, p) in groups:
        if shape != "rb" or p not in (1, 16):
            continue
        r_mux, r_relay, r_ha = (m(shape, c, p, t, "rps") for t in ("proxy-mux", "proxy-relay", "haproxy"))
        if r_mux and r_ha:
            note = f"relay {r_relay / r_ha:.2f}x" if r_relay else ""
            check(f"TLS -c {c} -P {p}: rps >= 1.0x HAProxy", f"{r_mux / r_ha:.2f}x", r_mux / r_ha >= 1.0,
                  note)
    return checks


if __name__ == "__main__":
    sys.exit(main())
