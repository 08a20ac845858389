#!/usr/bin/env bash
# Install, upgrade or remove sentinelx-mcp on a systemd host (Debian, Ubuntu…).
#
#   sudo deploy/install.sh                     build with Go, install, enable, (re)start
#   sudo deploy/install.sh --binary ./sentinelx-mcp   install a prebuilt binary
#   sudo deploy/install.sh --tarball sentinelx-mcp_V_linux_amd64.tar.gz   install a release
#   sudo ./deploy/install.sh                   (inside an unpacked release: its binary)
#   deploy/install.sh --dry-run                print what would be done, change nothing
#   sudo deploy/install.sh --uninstall [--purge]      remove (--purge: config and user too)
#   DESTDIR=/tmp/root deploy/install.sh --binary B    stage into a root (no systemctl, no useradd)
#
# Idempotent: running it again upgrades the binary and the unit and restarts
# the service; /etc/sentinelx-mcp/sentinelx-mcp.env is never overwritten. On
# first install an existing /etc/sentinelx-core-mcp/sentinelx-core-mcp.env
# (the archived Python bridge) is migrated into it.
set -euo pipefail

NAME=sentinelx-mcp
OLD_NAME=sentinelx-core-mcp
SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$SELF_DIR")

DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
BIN_PATH=/usr/local/bin/$NAME
CONF_DIR=/etc/$NAME
ENV_FILE=$CONF_DIR/$NAME.env
UNIT_PATH=/etc/systemd/system/$NAME.service
OLD_ENV_FILE=/etc/$OLD_NAME/$OLD_NAME.env
SERVICE_USER=$NAME

binary=""
tarball=""
dry_run=0
uninstall=0
purge=0
start=1

usage() {
	sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	cat <<'EOF'

Options:
  --binary PATH   install this binary instead of building ./cmd/sentinelx-mcp with Go
  --tarball PATH  install a release tarball (make release): its binary, unit and env
                  example; checked against SHA256SUMS when that file is beside it
  --dry-run       print the actions, change nothing
  --uninstall     stop, disable and remove the service and the binary (config is kept)
  --purge         with --uninstall: also remove /etc/sentinelx-mcp and the system user
  --no-start      install and enable, but do not (re)start the service
  -h, --help      this text
Environment:
  DESTDIR         install below this directory (packaging, tests); skips systemctl and useradd
  GO              Go command used to build (default: go)
EOF
}

while (($#)); do
	case $1 in
	--binary)
		[[ $# -ge 2 ]] || { echo "install.sh: --binary needs a path" >&2; exit 2; }
		binary=$2
		shift
		;;
	--binary=*) binary=${1#*=} ;;
	--tarball)
		[[ $# -ge 2 ]] || { echo "install.sh: --tarball needs a path" >&2; exit 2; }
		tarball=$2
		shift
		;;
	--tarball=*) tarball=${1#*=} ;;
	--dry-run | -n) dry_run=1 ;;
	--uninstall) uninstall=1 ;;
	--purge) purge=1 ;;
	--no-start) start=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

say() { printf '%s\n' "$*"; }
# run executes a command, or prints it under --dry-run.
run() {
	if ((dry_run)); then
		say "would run: $*"
	else
		"$@"
	fi
}
# live is true when acting on the running system (not a staging root, not a dry run).
live() { [[ -z $DESTDIR ]] && ((!dry_run)); }
have_systemd() { [[ -z $DESTDIR ]] && [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

if [[ -z $DESTDIR ]] && ((!dry_run)) && [[ $(id -u) -ne 0 ]]; then
	echo "install.sh: run as root (sudo), or use --dry-run or DESTDIR=…" >&2
	exit 1
fi

# ---------------------------------------------------------------- uninstall --
if ((uninstall)); then
	if have_systemd; then
		run systemctl disable --now "$NAME.service" || true
	fi
	run rm -f "$DESTDIR$UNIT_PATH" "$DESTDIR$BIN_PATH" "$DESTDIR/etc/logrotate.d/$NAME"
	if have_systemd; then
		run systemctl daemon-reload
	fi
	if ((purge)); then
		run rm -rf "$DESTDIR$CONF_DIR" "$DESTDIR/var/log/$NAME"
		if [[ -z $DESTDIR ]] && getent passwd "$SERVICE_USER" >/dev/null; then
			run userdel "$SERVICE_USER"
		fi
	else
		say "kept $DESTDIR$CONF_DIR (use --purge to remove it)"
	fi
	say "$NAME uninstalled"
	exit 0
fi

# ------------------------------------------------------------------- binary --
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ -n $tarball && -n $binary ]]; then
	echo "install.sh: give --binary or --tarball, not both" >&2
	exit 2
fi
if [[ -n $tarball ]]; then
	[[ -f $tarball ]] || { echo "install.sh: --tarball $tarball: no such file" >&2; exit 1; }
	tb_name=$(basename "$tarball" .tar.gz)
	sums=$(dirname "$tarball")/SHA256SUMS
	if [[ -f $sums ]]; then
		line=$(grep -F "  $tb_name.tar.gz" "$sums" || true)
		[[ -n $line ]] || {
			echo "install.sh: $tb_name.tar.gz is not listed in $sums" >&2
			exit 1
		}
		(cd "$(dirname "$tarball")" && sha256sum -c --quiet - <<<"$line") || {
			echo "install.sh: $tarball does not match $sums" >&2
			exit 1
		}
		say "checked $tb_name.tar.gz against SHA256SUMS"
	fi
	# sentinelx-mcp_VERSION_OS_ARCH: refuse another platform's binary
	# unless staging into DESTDIR for another machine.
	if [[ $tb_name =~ _([a-z]+)_([a-z0-9]+)$ && -z $DESTDIR ]]; then
		case $(uname -m) in x86_64) host_arch=amd64 ;; aarch64 | arm64) host_arch=arm64 ;; *) host_arch=$(uname -m) ;; esac
		host_os=$(uname -s | tr '[:upper:]' '[:lower:]')
		if [[ ${BASH_REMATCH[1]} != "$host_os" || ${BASH_REMATCH[2]} != "$host_arch" ]]; then
			echo "install.sh: $tb_name is for ${BASH_REMATCH[1]}/${BASH_REMATCH[2]}, this host is $host_os/$host_arch" >&2
			exit 1
		fi
	fi
	tar -xzf "$tarball" -C "$tmp"
	dirs=("$tmp"/*/)
	if [[ ${#dirs[@]} -ne 1 || ! -f ${dirs[0]}$NAME || ! -f ${dirs[0]}deploy/$NAME.service ]]; then
		echo "install.sh: $tarball is not a sentinelx-mcp release (want one directory with $NAME and deploy/)" >&2
		exit 1
	fi
	binary=${dirs[0]}$NAME
	# The unit and env example that came with this binary.
	SELF_DIR=${dirs[0]}deploy
	say "installing $("$binary" version 2>/dev/null || echo "$tb_name") from $tarball"
elif [[ -z $binary && ! -f $REPO_DIR/go.mod && -x $REPO_DIR/$NAME ]]; then
	# Run from an unpacked release: install the binary it ships.
	binary=$REPO_DIR/$NAME
	say "installing $("$binary" version 2>/dev/null || echo "$binary") from this release"
fi

if [[ -z $binary ]]; then
	go=${GO:-go}
	if ! command -v "$go" >/dev/null; then
		echo "install.sh: Go is not installed; build elsewhere and pass --binary PATH" >&2
		exit 1
	fi
	version=$(git -C "$REPO_DIR" describe --tags --always --dirty 2>/dev/null || echo dev)
	say "building $NAME $version"
	if ((dry_run)); then
		say "would run: (cd $REPO_DIR && $go build -trimpath -ldflags '-s -w -X main.version=$version' -o $tmp/$NAME ./cmd/$NAME)"
		binary=$tmp/$NAME
	else
		(cd "$REPO_DIR" && CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w -X main.version=$version" -o "$tmp/$NAME" "./cmd/$NAME")
		binary=$tmp/$NAME
	fi
elif [[ ! -f $binary ]]; then
	echo "install.sh: --binary $binary: no such file" >&2
	exit 1
fi

# --------------------------------------------------------------------- user --
if [[ -z $DESTDIR ]]; then
	if getent passwd "$SERVICE_USER" >/dev/null; then
		say "user $SERVICE_USER exists"
	else
		run useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin --comment "sentinelx-mcp service" "$SERVICE_USER"
	fi
fi

# ------------------------------------------------------------------- files --
run install -d -m 0755 "$DESTDIR/usr/local/bin" "$DESTDIR/etc/systemd/system"
# Replace the binary atomically so a running service never sees half a file.
run install -m 0755 "$binary" "$DESTDIR$BIN_PATH.new"
run mv -f "$DESTDIR$BIN_PATH.new" "$DESTDIR$BIN_PATH"
run install -m 0644 "$SELF_DIR/$NAME.service" "$DESTDIR$UNIT_PATH"
run install -d -m 0750 "$DESTDIR$CONF_DIR"
run install -m 0644 "$SELF_DIR/$NAME.env.example" "$DESTDIR$CONF_DIR/$NAME.env.example"
run install -d -m 0755 "$DESTDIR/etc/logrotate.d"
run install -m 0644 "$SELF_DIR/$NAME.logrotate" "$DESTDIR/etc/logrotate.d/$NAME"

# migrate_env OLD: the old bridge's env file rewritten for sentinelx-mcp on
# stdout. Names the new server reads under another name are renamed, names
# it does not know are kept as comments, later duplicates are commented out.
migrate_env() {
	local known line key value target
	known=" $(sed -n 's/^#\{0,1\}\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$SELF_DIR/$NAME.env.example" | tr '\n' ' ') "
	declare -A seen=()
	printf '# Migrated by install.sh on %s from %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1"
	printf '# (the archived %s). Every variable is explained in %s.\n\n' "$OLD_NAME" "$CONF_DIR/$NAME.env.example"
	while IFS= read -r line || [[ -n $line ]]; do
		if [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
			key=${BASH_REMATCH[2]}
			value=${BASH_REMATCH[3]}
			case $key in
			SENTINEL_TOKEN) target=SENTINELX_TOKEN ;;
			SENTINEL_URL | SENTINELX_CORE_URL) target=SENTINELX_URL ;;
			MCP_BIND | MCP_BIND_HOST) target=MCP_HOST ;;
			OIDC_AUDIENCE) target=OIDC_EXPECTED_AUDIENCE ;;
			*) target=$key ;;
			esac
			if [[ $known != *" $target "* ]]; then
				printf '# not used by %s: %s=%s\n' "$NAME" "$key" "$value"
			elif [[ -n ${seen[$target]:-} ]]; then
				printf '# duplicate of %s above: %s=%s\n' "$target" "$key" "$value"
			else
				seen[$target]=1
				[[ $target != "$key" ]] && printf '# was %s in %s\n' "$key" "$OLD_NAME"
				printf '%s=%s\n' "$target" "$value"
			fi
		else
			printf '%s\n' "$line"
		fi
	done <"$1"
}

env_state=kept
if [[ -e $DESTDIR$ENV_FILE ]]; then
	say "kept $DESTDIR$ENV_FILE (never overwritten)"
elif [[ -f $DESTDIR$OLD_ENV_FILE ]]; then
	migrate_env "$DESTDIR$OLD_ENV_FILE" >"$tmp/$NAME.env"
	say "migrating $DESTDIR$OLD_ENV_FILE -> $DESTDIR$ENV_FILE"
	if ((dry_run)); then
		# Names only: the values include the agent token.
		say "  would set: $(sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$tmp/$NAME.env" | tr '\n' ' ')"
	fi
	run install -m 0640 "$tmp/$NAME.env" "$DESTDIR$ENV_FILE"
	env_state=migrated
else
	run install -m 0640 "$SELF_DIR/$NAME.env.example" "$DESTDIR$ENV_FILE"
	env_state=new
fi
if [[ -z $DESTDIR ]]; then
	# root writes, the service group reads; systemd itself reads it as root.
	run chown root:"$SERVICE_USER" "$CONF_DIR" "$ENV_FILE"
	run chmod 0640 "$ENV_FILE"
fi

# ------------------------------------------------------------------ systemd --
if ! have_systemd; then
	[[ -n $DESTDIR ]] && say "DESTDIR set: not calling systemctl"
	[[ -z $DESTDIR ]] && say "systemd is not running here: enable the unit yourself"
else
	run systemctl daemon-reload
	# The old bridge listens on the same port and its config was migrated.
	if systemctl is-enabled --quiet "$OLD_NAME.service" 2>/dev/null; then
		say "disabling the old $OLD_NAME.service (same port; its config was migrated)"
		run systemctl disable --now "$OLD_NAME.service"
	fi
	run systemctl enable "$NAME.service"
	if ((start)) && [[ $env_state != new ]]; then
		run systemctl restart "$NAME.service"
	fi
fi

say ""
say "$NAME installed: $BIN_PATH, $UNIT_PATH, $ENV_FILE ($env_state)"
if [[ $env_state == new ]]; then
	say "next: edit $ENV_FILE (SENTINELX_TOKEN, OIDC_ISSUER, RESOURCE_URL, OIDC_EXPECTED_AUDIENCE),"
	say "      check it: $BIN_PATH doctor --env-file $ENV_FILE"
	say "      then: systemctl start $NAME && journalctl -u $NAME -n 20 --no-pager"
fi
if live && have_systemd && ((start)) && [[ $env_state != new ]]; then
	systemctl --no-pager --lines=5 status "$NAME.service" || true
fi
