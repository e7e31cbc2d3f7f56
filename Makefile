# The two commands of the README, and the targets behind them.
#   make run   install dependencies, build (Release), serve the built-in site on 127.0.0.1:8080
#   make test  install dependencies, build, run every test (unit, integration, fuzz smoke, ASan+UBSan)
#   make deb   the Debian package (build/release/deb/nuri_VERSION-1_ARCH.deb), from the Release build
#   make valgrind  memcheck on part of the integration tests (scripts/valgrind.sh; not in make test)

BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
ARGS ?=

.PHONY: all deps build run test deb valgrind unit integration asan fuzz-smoke fuzz bench bench-forward bench-proxy bench-parser soak clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DNURI_WERROR=ON >/dev/null
	@ninja -C build/release -j $(JOBS)

run: build
	./build/release/nuri serve $(ARGS)

test: deps
	@bash scripts/run-tests.sh

# CPack on the Release build (always Release, whatever BUILD_TYPE says); docs/packaging.md.
deb:
	@$(MAKE) --no-print-directory build BUILD_TYPE=Release
	@cd build/release && rm -f deb/nuri_*.deb && cpack -G DEB >/dev/null
	@ls build/release/deb/nuri_*.deb

# valgrind memcheck on a representative part of the integration tests (minutes; not in make test).
valgrind: deps
	@bash scripts/valgrind.sh

# Long fuzzing (not part of make test): FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 600
fuzz: deps
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

# nuri against nginx, h2o and lighttpd (bench/run.sh, docs/benchmarks.md).
bench: build
	@bash scripts/install-deps.sh bench
	@bash bench/run.sh

# nuri forward against socat, rinetd and nginx's stream module, in front of one nginx.
bench-forward: build
	@NURI_BIN=build/release/nuri bash bench/forward.sh

# nuri serve's reverse proxy against nginx proxy_pass, in front of one nginx.
bench-proxy: build
	@NURI_BIN=build/release/nuri bash bench/proxy.sh

# 10,000 idle keep-alive connections under load for SOAK_MINUTES (10): RSS must stay flat.
SOAK_MINUTES ?= 10
soak: build
	@SOAK_MINUTES=$(SOAK_MINUTES) /usr/bin/python3 scripts/soak.py --nuri build/release/nuri

# The request parser on real request heads (Google Benchmark), bench/parser/README.md.
bench-parser: build
	@./build/release/nuri_parser_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

clean:
	rm -rf build
