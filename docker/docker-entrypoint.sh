#!/bin/sh
# Entrypoint of the sentinel-proxy image (POSIX sh; busybox ash in the image).
#
# The image must be a drop-in for the HAProxy image used by the redis-ha Helm chart and also run the proxy natively:
#
#   no arguments (or an empty first one), haproxy.cfg present   -> haproxy -W -db -f <haproxy.cfg>   (the chart's main container: no command)
#   no arguments, no haproxy.cfg        -> sentinel-proxy                     (native mode, configured by env)
#   --long-option ...                   -> sentinel-proxy "$@"                (native: --config FILE, --help, --version)
#   -short option ... (haproxy style)   -> haproxy -W -db [-f <haproxy.cfg>] "$@"
#                                          -f <haproxy.cfg> is added when the file exists and no -f was given;
#                                          without -f and without the file this is native: sentinel-proxy "$@"
#   bench ...                           -> sentinel-bench ...                 (the operator tools' own binary)
#   an executable (sh, haproxy, sentinel-proxy, sentinel-bench, /path/to/prog, ...) -> exec "$@" unchanged
#   anything else (run, check-config, ... subcommands) -> sentinel-proxy "$@"
#
# The chart's init container sets `command: [sh]` + `args: [/readonly/haproxy_init.sh]`; a Kubernetes `command`
# replaces the image ENTRYPOINT, so this script is not involved there. If someone passes `sh /readonly/...` as
# `args` only, it arrives here and `sh` is exec'd as a command (rule "an executable").
#
# ENTRYPOINT_HAPROXY_CFG overrides the haproxy.cfg path (tests). It deliberately does not start with
# SENTINEL_PROXY_: the proxy reads SENTINEL_PROXY_* variables as configuration (in both modes) and warns about
# every one it does not know.
set -eu

HAPROXY_CFG="${ENTRYPOINT_HAPROXY_CFG:-/usr/local/etc/haproxy/haproxy.cfg}"

# Is "$1" something to exec as is? Only real executables count (a path from `command -v`), not shell builtins
# such as `help`, which would shadow a sentinel-proxy subcommand of the same name.
is_command() {
    case "$1" in
        */*) return 0 ;;
    esac
    found=$(command -v "$1" 2>/dev/null) || return 1
    case "$found" in
        /*) return 0 ;;
        *) return 1 ;;
    esac
}

# Does the argument list contain an haproxy config option (-f FILE or -fFILE)?
has_config_option() {
    for arg in "$@"; do
        case "$arg" in
            -f | -f?*) return 0 ;;
        esac
    done
    return 1
}

# An empty first argument (e.g. `args: [""]`) counts as no argument.
if [ "$#" -gt 0 ] && [ -z "$1" ]; then
    shift
fi

if [ "$#" -eq 0 ]; then
    if [ -f "$HAPROXY_CFG" ]; then
        exec haproxy -W -db -f "$HAPROXY_CFG"
    fi
    exec sentinel-proxy
fi

case "$1" in
    --*)
        exec sentinel-proxy "$@"
        ;;
    -*)
        if has_config_option "$@"; then
            exec haproxy -W -db "$@"
        fi
        if [ -f "$HAPROXY_CFG" ]; then
            exec haproxy -W -db -f "$HAPROXY_CFG" "$@"
        fi
        exec sentinel-proxy "$@"
        ;;
esac

# `bench ...` was a subcommand of sentinel-proxy; the tools are their own binary now.
if [ "$1" = bench ]; then
    shift
    exec sentinel-bench "$@"
fi

if is_command "$1"; then
    exec "$@"
fi

exec sentinel-proxy "$@"
