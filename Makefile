# The README's test command is `make test`; .ci/run calls exactly that.
GO ?= go

.PHONY: test vet unit e2e build install run-dev clean bench bench-upstream-fix bench-compare bench-fleet release image

test: vet unit e2e

vet:
	@test -z "$$(gofmt -l cmd server handlers middleware tools upstream web deploy internal 2>/dev/null)" || { echo "gofmt needed:"; gofmt -l cmd server handlers middleware tools upstream web deploy internal; exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

e2e:
	cd e2e && npm ci --no-audit --no-fund && npm test

build:
	$(GO) build -o sentinelx-mcp ./cmd/sentinelx-mcp

# Production install on this host (root): binary, user, unit, env file.
# See docs/deploy.md; `deploy/install.sh --help` for the options.
install: build
	deploy/install.sh --binary sentinelx-mcp

# Benchmarks (BENCHMARKS.md); not part of `make test`. Go micro-benchmarks,
# then the load generator against the built binary: loopback only, every
# step bounded in requests and time. It starts with the bridge and a bare
# go-sdk+JWT server (e2e/yardstick) side by side and prints the ratio.
# BENCH_FLAGS passes options to it, e.g.
# BENCH_FLAGS='-delays 0 -conc 16 -env GOGC=100', or '-side-by-side-only'.
BENCH_FLAGS ?=
# The micro-benchmarks run on one P with GOGC=1200: what the binary's GC
# floor (internal/gcfloor, unless GOGC is set) comes to for its 2-3 MB heap.
bench: build
	GOGC=1200 $(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./middleware ./handlers ./tools ./server
	$(GO) build -o e2e/.bin/bench ./e2e/bench
	$(GO) build -o e2e/.bin/yardstick ./e2e/yardstick
	e2e/.bin/bench -bin ./sentinelx-mcp -ref e2e/.bin/yardstick $(BENCH_FLAGS)

# The bridge against go-sdk with docs/upstream/go-sdk-unmarshal.patch
# applied, side by side with the stock build and the bare reference. The
# patched go-sdk lives in a temporary directory (from the module cache),
# the build uses a temporary -modfile; the repository is not modified.
bench-upstream-fix:
	GO=$(GO) BENCH_FLAGS='$(BENCH_FLAGS)' e2e/bench/upstream-fix.sh

# The bridge built from the working tree and from REF (one commit, or a
# space-separated list), side by side in one run with the bare reference:
# CPU µs per call and calls/s, and the ratio bridge / REF. Each REF is
# exported with git archive into a temporary directory and built there.
# e.g. make bench-compare REF=f208923^1 (before the fleet tools were merged)
REF ?=
bench-compare:
	GO=$(GO) REF='$(REF)' BENCH_FLAGS='$(BENCH_FLAGS)' e2e/bench/compare.sh

# Issue 17's fan-out figures: the bridge with an AGENTS_FILE of 200
# in-process agents (0 ms and 5 ms), FANOUT_CONCURRENCY 8 and 32, then 150
# of them with 50 dead hosts marked down. Bounded by -fleet-timeout (8 min);
# BENCH_FLAGS passes options, e.g. BENCH_FLAGS='-fleet-rounds 7'.
bench-fleet: build
	$(GO) build -o e2e/.bin/bench ./e2e/bench
	e2e/.bin/bench -bin ./sentinelx-mcp -fleet $(BENCH_FLAGS)

# Release artifacts in dist/: static binaries (linux/amd64, linux/arm64,
# darwin/amd64, darwin/arm64) stamped with `git describe`, reproducible
# tarballs, a CycloneDX SBOM each, SHA256SUMS. docs/shipping.md.
release:
	GO=$(GO) deploy/release.sh

# Container image (Containerfile) with podman, offline: the build stage runs
# on this machine's Go toolchain and module cache, nothing is pulled.
# IMAGE=name:tag to name it; GO_IMAGE=<registry Go image> to use that instead.
image:
	GO=$(GO) deploy/image.sh

clean:
	rm -rf sentinelx-mcp dist e2e/.bin e2e/node_modules e2e/test-output
