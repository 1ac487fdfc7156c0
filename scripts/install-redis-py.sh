#!/usr/bin/env bash
# Installs redis-py 8.2 (PyPI `redis`, the client whose client-side cache tests/client_caching.rs
# drives) into target/redis-py, without touching the system Python, and prints the directory
# to put on PYTHONPATH. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${REDIS_PY_DIR:-$ROOT/target/redis-py}"
VERSION="${REDIS_PY_VERSION:-8.2.0}"
if ! PYTHONPATH="$DIR" python3 -c "import redis, redis.cache; assert redis.__version__ == '$VERSION'" 2>/dev/null; then
    echo "install-redis-py: redis==$VERSION into $DIR" >&2
    pip=(python3 -m pip install --quiet --disable-pip-version-check --no-compile --upgrade --target "$DIR")
    "${pip[@]}" "redis==$VERSION" >&2 || "${pip[@]}" --break-system-packages "redis==$VERSION" >&2
fi
echo "$DIR"
