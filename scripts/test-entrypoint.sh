#!/usr/bin/env bash
# Tests docker/docker-entrypoint.sh as a script, without Docker: every branch is run with a stub PATH whose fake
# `sentinel-proxy` and `haproxy` print their argv, in temporary directories, under each POSIX shell found here
# (dash, busybox sh as in the Alpine image, bash in POSIX mode). Prints `N passed, M failed`; exits 1 on failure.
#
# Usage: scripts/test-entrypoint.sh            (from anywhere)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENTRYPOINT="$ROOT/docker/docker-entrypoint.sh"
DEFAULT_CFG=/usr/local/etc/haproxy/haproxy.cfg

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Stubs: print "<name>" then each argument as "[arg]" on one line; exit with $STUB_EXIT (default 0).
mkdir -p "$work/bin"
for name in sentinel-proxy sentinel-bench haproxy; do
    cat >"$work/bin/$name" <<EOF
#!/bin/sh
out="$name"
for a in "\$@"; do out="\$out [\$a]"; done
printf '%s\n' "\$out"
exit "\${STUB_EXIT:-0}"
EOF
    chmod +x "$work/bin/$name"
done

# A config file that exists, and a path that does not.
mkdir -p "$work/etc/haproxy" "$work/readonly" "$work/data"
CFG="$work/etc/haproxy/haproxy.cfg"
printf 'global\n' >"$CFG"
NOCFG="$work/etc/haproxy/absent.cfg"

# What the chart's init container runs (as `sh /readonly/haproxy_init.sh`): not executable, like a ConfigMap file.
cat >"$work/readonly/haproxy_init.sh" <<'EOF'
cp "$(dirname "$0")/../etc/haproxy/haproxy.cfg" "$(dirname "$0")/../data/haproxy.cfg" && echo "init copied"
EOF
# An executable given by path.
cat >"$work/bin-tool" <<'EOF'
#!/bin/sh
echo "tool [$1]"
EOF
chmod +x "$work/bin-tool"

shells=()
command -v dash >/dev/null 2>&1 && shells+=("dash")
command -v busybox >/dev/null 2>&1 && busybox sh -c 'true' 2>/dev/null && shells+=("busybox sh")
shells+=("bash --posix")

passed=0
failed=0

# expect NAME CFGPATH EXPECTED_OUTPUT EXPECTED_RC -- ARGS...
expect() {
    local name="$1" cfg="$2" want="$3" want_rc="$4"
    shift 5
    local got rc=0
    # shellcheck disable=SC2086 # $shell is "prog [flag]" on purpose
    got="$(cd "$work" && env -i PATH="$work/bin:/usr/bin:/bin" ENTRYPOINT_HAPROXY_CFG="$cfg" STUB_EXIT="${STUB_EXIT:-0}" \
        $shell "$ENTRYPOINT" "$@" 2>&1)" || rc=$?
    if [[ "$got" == "$want" && "$rc" == "$want_rc" ]]; then
        passed=$((passed + 1))
        printf 'ok   - [%s] %s\n' "$shell" "$name"
    else
        failed=$((failed + 1))
        printf 'FAIL - [%s] %s\n       want (rc %s): %s\n       got  (rc %s): %s\n' \
            "$shell" "$name" "$want_rc" "$want" "$rc" "$got"
    fi
}

for shell in "${shells[@]}"; do
    # The chart's main container: no command, no args, haproxy.cfg written by the init container.
    expect "no args + haproxy.cfg -> haproxy -W -db -f cfg" "$CFG" \
        "haproxy [-W] [-db] [-f] [$CFG]" 0 --
    expect "no args, no haproxy.cfg -> native sentinel-proxy" "$NOCFG" \
        "sentinel-proxy" 0 --
    expect "long option -> native even with haproxy.cfg" "$CFG" \
        "sentinel-proxy [--config] [/etc/sp/config file.toml]" 0 -- --config "/etc/sp/config file.toml"
    expect "--help -> native" "$NOCFG" \
        "sentinel-proxy [--help]" 0 -- --help
    expect "short option + haproxy.cfg -> haproxy with default -f" "$CFG" \
        "haproxy [-W] [-db] [-f] [$CFG] [-c]" 0 -- -c
    expect "short options with -f -> haproxy, no default -f added" "$CFG" \
        "haproxy [-W] [-db] [-c] [-f] [/other.cfg]" 0 -- -c -f /other.cfg
    expect "-fFILE counts as -f" "$NOCFG" \
        "haproxy [-W] [-db] [-f/x.cfg]" 0 -- -f/x.cfg
    expect "short option, no haproxy.cfg, no -f -> native" "$NOCFG" \
        "sentinel-proxy [-V]" 0 -- -V
    expect "haproxy command is exec'd unchanged" "$CFG" \
        "haproxy [-c] [-f] [/a.cfg]" 0 -- haproxy -c -f /a.cfg
    expect "sentinel-proxy command is exec'd unchanged" "$CFG" \
        "sentinel-proxy [haproxy] [-W] [-db] [-f] [/a.cfg]" 0 -- sentinel-proxy haproxy -W -db -f /a.cfg
    expect "init container given as args: sh /readonly/haproxy_init.sh" "$CFG" \
        "init copied" 0 -- sh "$work/readonly/haproxy_init.sh"
    expect "executable given by path is exec'd" "$NOCFG" \
        "tool [x y]" 0 -- "$work/bin-tool" "x y"
    expect "subcommand run -> sentinel-proxy run" "$CFG" \
        "sentinel-proxy [run] [--config] [/c.toml]" 0 -- run --config /c.toml
    expect "subcommand bench -> sentinel-bench (the tools' own binary)" "$NOCFG" \
        "sentinel-bench [failover] [--target] [x:1]" 0 -- bench failover --target x:1
    expect "sentinel-bench command is exec'd unchanged" "$CFG" \
        "sentinel-bench [soak] [--rounds] [3]" 0 -- sentinel-bench soak --rounds 3
    expect "shell builtin name (help) is not exec'd -> sentinel-proxy help" "$NOCFG" \
        "sentinel-proxy [help]" 0 -- help
    expect "empty argument alone counts as no args -> haproxy" "$CFG" \
        "haproxy [-W] [-db] [-f] [$CFG]" 0 -- ""
    expect "empty first argument is dropped" "$CFG" \
        "sentinel-proxy [x]" 0 -- "" x
    STUB_EXIT=3 expect "exit status of the proxy is the container's" "$CFG" \
        "haproxy [-W] [-db] [-f] [$CFG]" 3 --
    # Default path (no override): only meaningful where the host has no such file.
    if [[ ! -e "$DEFAULT_CFG" ]]; then
        expect "default haproxy.cfg path absent -> native" "" \
            "sentinel-proxy" 0 --
    fi
done

# Without the override variable the default path is the chart's mount point.
if grep -q 'ENTRYPOINT_HAPROXY_CFG:-/usr/local/etc/haproxy/haproxy.cfg' "$ENTRYPOINT"; then
    passed=$((passed + 1)); echo "ok   - default haproxy.cfg path is /usr/local/etc/haproxy/haproxy.cfg"
else
    failed=$((failed + 1)); echo "FAIL - default haproxy.cfg path is not /usr/local/etc/haproxy/haproxy.cfg"
fi

echo "shells: ${shells[*]}"
echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
