#!/usr/bin/env bash
# Build the release artifacts into dist/ (or $DIST):
#
#   sentinelx-mcp_VERSION_OS_ARCH.tar.gz   static binary + LICENSE, README, deploy/
#   sentinelx-mcp_VERSION_OS_ARCH.cdx.json CycloneDX SBOM of that binary's modules
#   SHA256SUMS                             sha256sum -c format, over all of the above
#
# for linux/amd64, linux/arm64, darwin/amd64 and darwin/arm64 (darwin for
# `dev` mode users; TARGETS="linux/amd64" narrows it).
#
# Reproducible: the same commit gives the same bytes wherever it is built
# (-trimpath, no VCS stamp, no build id, CGO off; tarball entries sorted,
# owned by 0:0 and dated at the commit time; gzip without a name or time).
# VERSION comes from `git describe` unless set; SOURCE_DATE_EPOCH from the
# commit time unless set (0 outside git).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
GO=${GO:-go}
DIST=${DIST:-$ROOT/dist}
TARGETS=${TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}

if [[ -z ${VERSION:-} ]]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
fi
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
[[ $VERSION =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || {
	echo "release.sh: VERSION $VERSION: want letters, digits, . _ + -" >&2
	exit 2
}
export SOURCE_DATE_EPOCH

# Files shipped beside the binary: what deploy/install.sh needs, and the docs.
EXTRA=(LICENSE README.md deploy/install.sh deploy/sentinelx-mcp.service
	deploy/sentinelx-mcp.env.example deploy/sentinelx-mcp.logrotate deploy/nginx.conf)

rm -rf "$DIST"
mkdir -p "$DIST"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for target in $TARGETS; do
	os=${target%/*}
	arch=${target#*/}
	name=sentinelx-mcp_${VERSION}_${os}_${arch}
	stage=$work/$name
	mkdir -p "$stage/deploy"
	echo "release: building $name" >&2
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS='' "$GO" build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X main.version=$VERSION" \
		-o "$stage/sentinelx-mcp" ./cmd/sentinelx-mcp
	for f in "${EXTRA[@]}"; do
		cp "$f" "$stage/$f"
	done
	chmod 0755 "$stage/sentinelx-mcp" "$stage/deploy/install.sh"
	find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime="@$SOURCE_DATE_EPOCH" --format=gnu -cf - "$name" | gzip -n -9 >"$DIST/$name.tar.gz"
	# The SBOM lists the modules compiled into this very binary (its
	# embedded build info), so tool-only dependencies never show up in it.
	"$GO" tool cyclonedx-gomod bin -json -noserial -notimestamp -version "$VERSION" \
		-output "$DIST/$name.cdx.json" "$stage/sentinelx-mcp" 2>"$work/sbom.log" || {
		cat "$work/sbom.log" >&2
		exit 1
	}
done

(cd "$DIST" && sha256sum -- *.tar.gz *.cdx.json >SHA256SUMS)
echo "release: $VERSION in $DIST" >&2
cat "$DIST/SHA256SUMS"
