#!/usr/bin/env python3
"""Sum the calls to given functions in a callgrind output file.

  callgrind_calls.py callgrind.out REQUESTS [NAME ...]

Prints, per function name (default: malloc, free, realloc, calloc), the number of calls and
the calls per request. Names match the demangled symbol exactly or as `prefix::name`."""
import re
import sys

path, requests = sys.argv[1], int(sys.argv[2])
names = sys.argv[3:] or ["malloc", "free", "realloc", "calloc"]
fn_names = {}
calls = {}
cfn = None
pending = None
with open(path, errors="replace") as f:
    for line in f:
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            kind, ident, name = m.groups()
            if name:
                fn_names[ident] = name
            if kind == "cfn":
                cfn = fn_names.get(ident)
            continue
        m = re.match(r"^calls=(\d+)", line)
        if m and cfn is not None:
            calls[cfn] = calls.get(cfn, 0) + int(m.group(1))
for n in names:
    total = sum(v for k, v in calls.items() if k == n or k.endswith("::" + n) or k.startswith(n + " "))
    print(f"{n:40} {total:>10} calls  {total / requests:8.2f} per request")
