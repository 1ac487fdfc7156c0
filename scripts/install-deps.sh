#!/usr/bin/env bash
# Installs what the tests and the demo run against: redis-server, redis-sentinel, redis-cli,
# haproxy (tests/haproxy_dropin.rs compares behaviour with the real one), and iptables for
# the partition tests (tests/partition.rs; they also need root and `ip netns`,
# and skip with a message without them, so iptables is only installed when running as root).
# As root it uses apt-get; otherwise it prints the exact command to run.
set -euo pipefail
missing=()
for bin in redis-server redis-sentinel redis-cli; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
pkgs=()
[ ${#missing[@]} -gt 0 ] && pkgs+=(redis-server redis-sentinel redis-tools)
if ! command -v haproxy >/dev/null 2>&1 && ! [ -x /usr/sbin/haproxy ]; then
  missing+=(haproxy)
  pkgs+=(haproxy)
fi
if [ "$(id -u)" -eq 0 ]; then
  PATH="$PATH:/usr/sbin:/sbin"
  for bin in iptables ip; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  command -v iptables >/dev/null 2>&1 || pkgs+=(iptables)
  command -v ip >/dev/null 2>&1 || pkgs+=(iproute2)
fi
[ ${#pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${pkgs[*]}" >&2
  exit 1
fi
echo "installing ${pkgs[*]} (missing: ${missing[*]}) …"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${pkgs[@]}" >/dev/null
# The packages may start system services on 6379/26379; the tests use free ports, so they are
# left alone.
