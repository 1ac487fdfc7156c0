#!/usr/bin/env python3
"""Top allocation sites of a DHAT profile (valgrind --tool=dhat), per request.

  dhat_top.py dhat.json REQUESTS [N]

For the N (default 12) program points with the most allocated blocks: blocks and bytes per
request and the innermost frames of this crate (or, failing that, the first frames)."""
import json
import sys

path, requests = sys.argv[1], int(sys.argv[2])
top = int(sys.argv[3]) if len(sys.argv) > 3 else 12
d = json.load(open(path))
ftbl = d["ftbl"]
pps = sorted(d["pps"], key=lambda p: -p["tbk"])
total_blocks = sum(p["tbk"] for p in d["pps"])  # DHAT: tbk = blocks, tb = bytes
total_bytes = sum(p["tb"] for p in d["pps"])
print(f"all sites: {total_blocks / requests:.2f} blocks, {total_bytes / requests:.0f} bytes per request")
for p in pps[:top]:
    frames = [ftbl[i] for i in p["fs"]]
    ours = [f for f in frames if " (src/" in f]
    libs = [f for f in frames if "library/" not in f and "malloc" not in f and "alloc.rs" not in f]
    shown = ours[:2] + [f for f in libs if f not in ours][:2]
    print(f"{p['tbk'] / requests:8.3f} blocks/request {p['tb'] / max(p['tbk'], 1):8.0f} B avg")
    for f in shown:
        print("           " + f[:200])
