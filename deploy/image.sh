#!/usr/bin/env bash
# Build the container image (Containerfile) with podman, offline:
#
#   deploy/image.sh                  -> localhost/sentinelx-mcp:VERSION
#   IMAGE=name:tag deploy/image.sh
#   GO_IMAGE=docker.io/library/golang:1.26.8-bookworm deploy/image.sh
#                                     use a registry's Go image instead (pulled if missing)
#
# Without GO_IMAGE nothing comes from a container registry: the build stage
# runs on a local image made of this machine's Go toolchain ($(go env
# GOROOT)), Debian's static busybox for RUN's /bin/sh, and the CA bundle;
# modules come from this machine's module cache through a file:// GOPROXY,
# and the build runs with --pull=never (chroot isolation: podman run is
# refused on machines that forbid setrlimit, RUN steps are not). VERSION and
# SOURCE_DATE_EPOCH as in release.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
GO=${GO:-go}
PODMAN=${PODMAN:-podman}
BUSYBOX=${BUSYBOX:-/bin/busybox}
if [[ -z ${VERSION:-} ]]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
fi
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
IMAGE=${IMAGE:-localhost/sentinelx-mcp:$VERSION}

command -v "$PODMAN" >/dev/null || { echo "image.sh: needs podman (apt-get install podman)" >&2; exit 2; }

build_args=(--build-arg "VERSION=$VERSION" --timestamp "$SOURCE_DATE_EPOCH" -t "$IMAGE" -f Containerfile)
if [[ -n ${GO_IMAGE:-} ]]; then
	exec "$PODMAN" build --build-arg "GO_IMAGE=$GO_IMAGE" "${build_args[@]}" .
fi

[[ -x $BUSYBOX ]] || {
	echo "image.sh: needs a static busybox at $BUSYBOX (apt-get install busybox-static)" >&2
	exit 2
}
goroot=$("$GO" env GOROOT)
gover=$("$GO" env GOVERSION)
modcache=$("$GO" env GOMODCACHE)
GO_IMAGE=${BUILDER_IMAGE:-localhost/sentinelx-mcp-gobuilder:$gover}
# The module cache must hold every module of the graph (go mod download).
"$GO" mod download

if ! "$PODMAN" image exists "$GO_IMAGE"; then
	echo "image.sh: making $GO_IMAGE from $goroot" >&2
	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' EXIT
	mkdir -p "$stage/bin" "$stage/tmp" "$stage/root" "$stage/etc/ssl/certs" "$stage/usr/local" "$stage/gomodcache"
	chmod 1777 "$stage/tmp"
	cp "$BUSYBOX" "$stage/bin/busybox"
	for cmd in sh mkdir cp chmod ls cat; do ln -s busybox "$stage/bin/$cmd"; done
	cp /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/"
	# The toolchain without its tests and docs.
	g=$(basename "$goroot")
	tar -C "$(dirname "$goroot")" --anchored --exclude="$g/test" --exclude="$g/doc" --exclude="$g/api" \
		--no-anchored --exclude=testdata \
		-cf - "$g" | tar -C "$stage/usr/local" -xf -
	[[ $g == go ]] || mv "$stage/usr/local/$g" "$stage/usr/local/go"
	tar -C "$stage" -cf - . | "$PODMAN" import \
		--change 'ENV PATH=/usr/local/go/bin:/bin' \
		--change 'ENV HOME=/root' \
		--change 'ENV GOPROXY=file:///gomodcache/cache/download' \
		--change 'ENV GOFLAGS=-modcacherw' \
		- "$GO_IMAGE" >/dev/null
fi

# The host's build cache is lent to the build stage (IMAGE_GOCACHE=off to
# build cold): what it holds is keyed by content, so it changes no output.
cache=()
if [[ ${IMAGE_GOCACHE:-on} != off ]]; then
	cache=(-v "$("$GO" env GOCACHE):/root/.cache/go-build")
fi
"$PODMAN" build --pull=never --isolation=chroot --layers=false \
	-v "$modcache/cache/download:/gomodcache/cache/download:ro" "${cache[@]}" \
	--build-arg "GO_IMAGE=$GO_IMAGE" "${build_args[@]}" .
echo "image.sh: built $IMAGE" >&2
