#!/bin/sh
# make bench-upstream-fix: the bridge built against go-sdk as it is and
# against go-sdk with docs/upstream/go-sdk-unmarshal.patch applied, measured
# side by side (e2e/bench -patched) with the bare go-sdk reference.
#
# The patched go-sdk is a copy of the module cache's, made in a temporary
# directory and removed at the end; the patched build uses a temporary
# go.mod (-modfile) with a replace directive. Nothing in the repository is
# modified. BENCH_FLAGS passes options to e2e/bench (e.g. -rounds 5).
set -eu

GO=${GO:-go}
root=$(cd "$(dirname "$0")/../.." && pwd)
patchfile=$root/docs/upstream/go-sdk-unmarshal.patch
mod=github.com/modelcontextprotocol/go-sdk
want=v1.8.0

cd "$root"
ver=$($GO list -m -f '{{.Version}}' "$mod")
if [ "$ver" != "$want" ]; then
	echo "bench-upstream-fix: go.mod requires $mod $ver; the patch is against $want" >&2
	exit 1
fi
$GO mod download "$mod@$want"
src=$($GO list -m -f '{{.Dir}}' "$mod")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sentinelx-upstream-fix.XXXXXX")
cleanup() {
	chmod -R u+w "$tmp" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== go-sdk $want from $src, patched in $tmp/go-sdk" >&2
cp -R "$src" "$tmp/go-sdk"
chmod -R u+w "$tmp/go-sdk"
(cd "$tmp/go-sdk" && patch -p1 --forward --quiet <"$patchfile")
echo "== go-sdk's internal/json tests and benchmark, patched" >&2
(cd "$tmp/go-sdk" && $GO test -count=1 ./internal/json/ && $GO test -run '^$' -bench Unmarshal -benchmem ./internal/json/) >&2

cp go.mod "$tmp/go.mod"
cp go.sum "$tmp/go.sum"
$GO mod edit -modfile="$tmp/go.mod" -replace "$mod=$tmp/go-sdk"

echo "== building the bridge twice (stock go-sdk, patched go-sdk), the reference and the load generator" >&2
$GO build -o "$tmp/sentinelx-mcp" ./cmd/sentinelx-mcp
$GO build -modfile="$tmp/go.mod" -o "$tmp/sentinelx-mcp-patched" ./cmd/sentinelx-mcp
$GO build -o "$tmp/yardstick" ./e2e/yardstick
$GO build -o "$tmp/bench" ./e2e/bench

# BENCH_FLAGS is split into words on purpose.
# shellcheck disable=SC2086
"$tmp/bench" -bin "$tmp/sentinelx-mcp" -patched "$tmp/sentinelx-mcp-patched" -ref "$tmp/yardstick" \
	-side-by-side-only ${BENCH_FLAGS:-}
