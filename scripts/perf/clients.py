#!/usr/bin/env python3
"""Helpers for scripts/bench-vs-haproxy (standard library only).

  clients.py ports N
      Print N free loopback TCP ports, one per line.

  clients.py hold --port P [--host H] --n N [--pid PID] [--settle S] [--timeout T]
                 [--tls --cacert CA]
      Open N connections to H:P; on each send PING and wait for +PONG (phase 1); keep them all
      open and idle for S seconds, sampling VmRSS of PID before and after; then send a second
      PING on every connection still open (phase 2). Prints one JSON object: counts of ok and
      errors per phase, error kinds, and the RSS samples (KiB). Connections are opened at most
      --concurrency at a time so that the listener's backlog never overflows. With --tls every
      connection does a TLS handshake first (the server's certificate verified against CA, for
      the name or IP H) and its PINGs go over TLS; a failed handshake is an error "tls:REASON".

  clients.py cpu PID [--split]
      Print utime+stime of PID in seconds (from /proc/PID/stat); with --split, "utime stime".

  clients.py rss PID
      Print VmRSS of PID in KiB.

  clients.py stime FILE
      Parse the output of `openssl s_time` (one -new or -reuse pass): print "CONNECTIONS
      REAL_SECONDS USER_RATE" from its lines "N connections in T real seconds, ..." and
      "N connections in Xs; R connections/user sec, ..." ("-" for a figure not found); exit 1
      when there is no connection count.

  clients.py tls-info FILE
      Parse the output of `openssl s_client -brief`: print "PROTOCOL CIPHERSUITE GROUP VERIFY"
      ("-" for a field not found; GROUP is the "Server Temp Key" without its size).
"""

import argparse
import errno
import json
import os
import re
import resource
import selectors
import socket
import ssl
import sys
import time

PING = b"*1\r\n$4\r\nPING\r\n"
PONG = b"+PONG\r\n"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid, split=False):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    tck = os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) / tck, int(fields[12]) / tck
    return (user, system) if split else user + system


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Conn:
    __slots__ = ("sock", "state", "buf")
    # state: new -> connecting -> [handshake ->] wait -> idle (phase 1) -> wait -> idle
    # (phase 2), or failed

    def __init__(self, sock):
        self.sock = sock
        self.state = "new"
        self.buf = b""


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run_phase(sel, conns, pending, errors, concurrency, deadline, start_new, tls=None):
    """Drive connections until every one is idle/failed. `pending` is the list of connections to
    (re)start: new sockets to connect (phase 1) or idle ones to send PING on (phase 2)."""
    ok = 0
    active = 0
    queue = list(pending)
    queue.reverse()
    while (queue or active) and time.monotonic() < deadline:
        while queue and active < concurrency:
            c = queue.pop()
            if start_new(c):
                active += 1
        for key, _mask in sel.select(timeout=0.2):
            c = key.data
            done, good = step(sel, c, errors, tls)
            if done:
                active -= 1
                ok += good
    # Whatever is still running at the deadline timed out.
    for c in conns:
        if c.state in ("new", "connecting", "handshake", "wait"):
            errors["timeout"] = errors.get("timeout", 0) + 1
            if c.sock is not None:
                fail(sel, c)
            c.state = "failed"
    return ok


def fail(sel, c):
    try:
        sel.unregister(c.sock)
    except (KeyError, ValueError):
        pass
    c.sock.close()
    c.state = "failed"


def send_ping(sel, c, errors):
    """Send PING on a connected (and, with TLS, handshaken) socket and wait for the reply."""
    try:
        c.sock.send(PING)
    except (ssl.SSLError, OSError) as e:
        key = "send:" + errno.errorcode.get(e.errno, str(e.errno))
        errors[key] = errors.get(key, 0) + 1
        fail(sel, c)
        return True, 0
    c.state = "wait"
    sel.modify(c.sock, selectors.EVENT_READ, c)
    return False, 0


def tls_reason(e):
    """A short error kind for a failed handshake: OpenSSL's reason, else the exception's kind."""
    reason = getattr(e, "reason", None)
    if reason:
        return "tls:" + str(reason)
    if isinstance(e, ssl.SSLEOFError) or isinstance(e, ssl.SSLZeroReturnError):
        return "tls:closed"
    if isinstance(e, ssl.SSLError):
        return "tls:" + type(e).__name__
    return "tls:" + errno.errorcode.get(e.errno, str(e.errno))


def handshake(sel, c, errors):
    """One step of a non-blocking TLS handshake. Returns (finished, ok) as step() does."""
    try:
        c.sock.do_handshake()
    except ssl.SSLWantReadError:
        sel.modify(c.sock, selectors.EVENT_READ, c)
        return False, 0
    except ssl.SSLWantWriteError:
        sel.modify(c.sock, selectors.EVENT_WRITE, c)
        return False, 0
    except (ssl.SSLError, OSError) as e:
        key = tls_reason(e)
        errors[key] = errors.get(key, 0) + 1
        fail(sel, c)
        return True, 0
    return send_ping(sel, c, errors)


def step(sel, c, errors, tls=None):
    """Advance one connection after a readiness event. Returns (finished, ok). `tls` is
    (SSLContext, server_hostname) for TLS connections."""
    if c.state == "connecting":
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            key = "connect:" + errno.errorcode.get(err, str(err))
            errors[key] = errors.get(key, 0) + 1
            fail(sel, c)
            return True, 0
        if tls is None:
            return send_ping(sel, c, errors)
        # wrap_socket detaches the plain socket object: register the TLS one instead.
        sel.unregister(c.sock)
        ctx, name = tls
        try:
            c.sock = ctx.wrap_socket(c.sock, server_hostname=name, do_handshake_on_connect=False)
        except (ssl.SSLError, OSError) as e:
            key = tls_reason(e)
            errors[key] = errors.get(key, 0) + 1
            c.sock.close()
            c.state = "failed"
            return True, 0
        sel.register(c.sock, selectors.EVENT_WRITE, c)
        c.state = "handshake"
        return handshake(sel, c, errors)
    if c.state == "handshake":
        return handshake(sel, c, errors)
    # state == "wait": a reply (or EOF) arrived.
    try:
        data = c.sock.recv(4096)
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        # TLS: a record without application data (a TLS 1.3 session ticket, say)
        return False, 0
    except OSError as e:
        key = "recv:" + errno.errorcode.get(e.errno, str(e.errno))
        errors[key] = errors.get(key, 0) + 1
        fail(sel, c)
        return True, 0
    if not data:
        errors["closed"] = errors.get("closed", 0) + 1
        fail(sel, c)
        return True, 0
    c.buf += data
    if b"\r\n" not in c.buf:
        return False, 0
    if c.buf == PONG:
        c.buf = b""
        c.state = "idle"
        sel.unregister(c.sock)
        return True, 1
    key = "reply:" + c.buf.split(b"\r\n", 1)[0][:60].decode("latin-1")
    errors[key] = errors.get(key, 0) + 1
    fail(sel, c)
    return True, 0


def hold(args):
    nofile = raise_nofile()
    sel = selectors.DefaultSelector()
    conns = []
    result = {"target": f"{args.host}:{args.port}", "clients": args.n, "client_nofile": nofile,
              "tls": bool(args.tls)}
    tls = None
    if args.tls:
        ctx = ssl.create_default_context(cafile=args.cacert)
        tls = (ctx, args.host)
    if args.pid:
        result["rss_before_kib"] = rss_kib(args.pid)
    errors1, errors2 = {}, {}

    def start_connect(c):
        try:
            c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            key = "socket:" + errno.errorcode.get(e.errno, str(e.errno))
            errors1[key] = errors1.get(key, 0) + 1
            c.state = "failed"
            return False
        c.state = "connecting"
        c.sock.setblocking(False)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rc = c.sock.connect_ex((args.host, args.port))
        if rc not in (0, errno.EINPROGRESS):
            key = "connect:" + errno.errorcode.get(rc, str(rc))
            errors1[key] = errors1.get(key, 0) + 1
            c.sock.close()
            c.state = "failed"
            return False
        sel.register(c.sock, selectors.EVENT_WRITE, c)
        return True

    conns = [Conn(None) for _ in range(args.n)]
    t0 = time.monotonic()
    ok1 = run_phase(sel, conns, conns, errors1, args.concurrency, t0 + args.timeout,
                    start_connect, tls)
    result["phase1_seconds"] = round(time.monotonic() - t0, 2)
    result["phase1_ok"] = ok1
    result["phase1_errors"] = errors1
    time.sleep(args.settle)
    if args.pid:
        result["rss_idle_kib"] = rss_kib(args.pid)
        if ok1:
            result["kib_per_conn"] = round(
                (result["rss_idle_kib"] - result["rss_before_kib"]) / ok1, 3)

    def start_ping(c):
        if c.state != "idle":
            return False
        try:
            c.sock.send(PING)
        except (ssl.SSLError, OSError) as e:
            key = "send:" + errno.errorcode.get(e.errno, str(e.errno))
            errors2[key] = errors2.get(key, 0) + 1
            fail(sel, c)
            return False
        c.state = "wait"
        sel.register(c.sock, selectors.EVENT_READ, c)
        return True

    idle = [c for c in conns if c.state == "idle"]
    t1 = time.monotonic()
    ok2 = run_phase(sel, conns, idle, errors2, args.concurrency, t1 + args.timeout, start_ping,
                    tls)
    result["phase2_seconds"] = round(time.monotonic() - t1, 2)
    result["phase2_ok"] = ok2
    result["phase2_errors"] = errors2
    result["ok"] = ok2
    result["errors"] = args.n - ok2
    if args.pid:
        result["rss_end_kib"] = rss_kib(args.pid)
    for c in conns:
        if c.sock is not None and c.state != "failed":
            c.sock.close()
    print(json.dumps(result))


def parse_stime(text):
    """(connections, real_seconds, user_rate) from s_time's output; None where not found. The
    last pass wins (s_time without -new/-reuse prints a pass of each)."""
    conns = real = rate = None
    for m in re.finditer(r"(\d+)\s+connections\s+in\s+([\d.]+)\s+real\s+seconds", text):
        conns, real = int(m.group(1)), float(m.group(2))
    for m in re.finditer(r"(\d+)\s+connections\s+in\s+[\d.]+s;\s*([\d.]+)\s+connections/user\s+sec",
                         text):
        rate = float(m.group(2))
        if conns is None:
            conns = int(m.group(1))
    return conns, real, rate


def parse_tls_info(text):
    """(protocol, ciphersuite, group, verification) from `s_client -brief`."""
    def field(name):
        m = re.search(r"^" + re.escape(name) + r":\s*(.+?)\s*$", text, re.M)
        return m.group(1) if m else None

    group = field("Server Temp Key") or field("Negotiated TLS1.3 group")
    if group:
        group = group.split(",")[0].strip()
    verify = field("Verification")
    return (field("Protocol version"), field("Ciphersuite"), group,
            verify.replace(" ", "_") if verify else None)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("ports")
    sp.add_argument("n", type=int)
    sh = sub.add_parser("hold")
    sh.add_argument("--host", default="127.0.0.1")
    sh.add_argument("--port", type=int, required=True)
    sh.add_argument("--n", type=int, required=True)
    sh.add_argument("--pid", type=int)
    sh.add_argument("--settle", type=float, default=2.0)
    sh.add_argument("--timeout", type=float, default=60.0)
    sh.add_argument("--concurrency", type=int, default=256)
    sh.add_argument("--tls", action="store_true")
    sh.add_argument("--cacert")
    sc = sub.add_parser("cpu")
    sc.add_argument("pid", type=int)
    sc.add_argument("--split", action="store_true")
    sr = sub.add_parser("rss")
    sr.add_argument("pid", type=int)
    st = sub.add_parser("stime")
    st.add_argument("file")
    si = sub.add_parser("tls-info")
    si.add_argument("file")
    args = p.parse_args()
    if args.cmd == "ports":
        print("\n".join(map(str, free_ports(args.n))))
    elif args.cmd == "hold":
        hold(args)
    elif args.cmd == "cpu":
        if args.split:
            print("%.2f %.2f" % cpu_seconds(args.pid, split=True))
        else:
            print(f"{cpu_seconds(args.pid):.2f}")
    elif args.cmd == "rss":
        print(rss_kib(args.pid))
    elif args.cmd in ("stime", "tls-info"):
        with open(args.file, errors="replace") as f:
            text = f.read()
        if args.cmd == "stime":
            conns, real, rate = parse_stime(text)
            if conns is None:
                return 1
            print(conns, "-" if real is None else f"{real:g}", "-" if rate is None else f"{rate:.2f}")
        else:
            print(" ".join("-" if v is None else v.replace(" ", "_") for v in parse_tls_info(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
