# sentinel-proxy — the two commands that matter: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: all deps build release demo soak test lint fmt packaging bench clean

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

## Everything CI runs: formatting, clippy (warnings denied), all tests, packaging checks.
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) test --locked --workspace --all-targets
	@# Tests that need root (network namespaces, iptables) are #[ignore]d; run them when root.
	@if [ "$$(id -u)" -eq 0 ]; then \
		$(CARGO) test --locked --test partition -- --ignored; \
	else \
		echo "make test: not root, so the ignored network-partition tests (tests/partition.rs) did not run"; \
	fi
	bash scripts/check-packaging.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

packaging:
	bash scripts/check-packaging.sh

bench:
	$(CARGO) bench --bench resp
	$(CARGO) bench --bench relay

clean:
	$(CARGO) clean
