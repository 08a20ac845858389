#!/bin/sh
# make bench-compare REF=<commit> [REF='<commit> <commit>']: the bridge built
# from the working tree and from each REF, measured in one side-by-side step
# (e2e/bench -compare), interleaved, with the bare go-sdk reference; it
# prints the ratio bridge / each REF in CPU µs per call and calls/s.
#
# Each REF is exported with `git archive` into a temporary directory and
# built there with the same Go toolchain and module cache; the directory
# is removed at the end. Nothing in the repository is modified.
# BENCH_FLAGS passes options to e2e/bench (default here: -rounds 5).
set -eu

GO=${GO:-go}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [ -z "${REF:-}" ]; then
	echo "bench-compare: REF=<commit> is required, e.g. make bench-compare REF=f208923^1" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sentinelx-compare.XXXXXX")
cleanup() {
	chmod -R u+w "$tmp" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

here=$(git describe --always --dirty 2>/dev/null || echo "working tree")
echo "== bridge: the working tree ($here)" >&2
$GO build -o "$tmp/sentinelx-mcp" ./cmd/sentinelx-mcp
$GO build -o "$tmp/yardstick" ./e2e/yardstick
$GO build -o "$tmp/bench" ./e2e/bench

set --
for ref in $REF; do
	sha=$(git rev-parse --short "$ref^{commit}")
	echo "== bridge @$sha: $ref ($(git log -1 --format=%s "$sha" | cut -c1-72))" >&2
	mkdir "$tmp/src-$sha"
	git archive "$sha" | tar -x -C "$tmp/src-$sha"
	(cd "$tmp/src-$sha" && $GO build -o "$tmp/sentinelx-mcp-$sha" ./cmd/sentinelx-mcp)
	set -- "$@" -compare "bridge @$sha=$tmp/sentinelx-mcp-$sha"
done

# BENCH_FLAGS is split into words on purpose; later flags win.
# shellcheck disable=SC2086
"$tmp/bench" -bin "$tmp/sentinelx-mcp" -ref "$tmp/yardstick" -side-by-side-only -rounds 5 "$@" ${BENCH_FLAGS:-}
