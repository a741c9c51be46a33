#!/usr/bin/env bash
# Shared set-up for scripts/test.sh and scripts/demo.sh: install build and test
# dependencies, build with warnings as errors, install, and run a throw-away
# PostgreSQL cluster owned by the postgres user on a private port and socket
# directory. Sourced, not run.

set -euo pipefail

UNKD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PATH="$PG_BIN:$PATH"
UNKD_PORT=${UNKD_PORT:-54329}
UNKD_LOCK=${UNKD_LOCK:-/tmp/unkd-cluster.lock}

# Install missing Debian packages (root only; others must have them already)
unkd_install_deps() {
	local pkgs="make gcc postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap pgtap postgresql-15-cron libtap-parser-sourcehandler-pgtap-perl libopenblas-serial-dev"
	local missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages:$missing (run as root, or install them)" >&2
		return 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q $missing >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
}

# Build with warnings as errors and install into the server's directories
unkd_build_install() {
	make -C "$UNKD_ROOT" -s clean >/dev/null
	make -C "$UNKD_ROOT" -s COPT=-Werror PG_CONFIG="$PG_BIN/pg_config"
	make -C "$UNKD_ROOT" -s install PG_CONFIG="$PG_BIN/pg_config" >/dev/null
}

# Run a command as the postgres user from a directory it can read
as_postgres() {
	(cd / && runuser -u postgres -- "$@")
}

# Stop and remove the throw-away cluster
unkd_cluster_stop() {
	if [ -n "${UNKD_DATA:-}" ] && [ -d "$UNKD_DATA" ]; then
		as_postgres "$PG_BIN/pg_ctl" -D "$UNKD_DATA/pgdata" -m immediate stop >/dev/null 2>&1 || true
		rm -rf "$UNKD_DATA"
	fi
}

# Create and start a cluster in a directory the postgres user owns; the
# server must not inherit the install lock (fd 9), or it would hold it
unkd_cluster_start() {
	UNKD_DATA=$(mktemp -d /tmp/unkd-cluster.XXXXXX)
	chown postgres: "$UNKD_DATA"
	chmod 700 "$UNKD_DATA"
	trap unkd_cluster_stop EXIT
	as_postgres "$PG_BIN/initdb" -D "$UNKD_DATA/pgdata" -A trust -U postgres >/dev/null
	cat >> "$UNKD_DATA/pgdata/postgresql.conf" <<CONF
port = $UNKD_PORT
listen_addresses = ''
unix_socket_directories = '$UNKD_DATA'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
fsync = off
CONF
	as_postgres "$PG_BIN/pg_ctl" -D "$UNKD_DATA/pgdata" -l "$UNKD_DATA/server.log" -w start >/dev/null 9>&-
	export PGHOST="$UNKD_DATA" PGPORT="$UNKD_PORT" PGUSER=postgres
}

# Everything up to a running server with unkd installed, under one lock so
# that concurrent runs on one machine do not install over each other
unkd_setup() {
	if [ "$(id -u)" != 0 ]; then
		echo "run as root: the script installs packages and the extension, and runs the server as postgres" >&2
		exit 1
	fi
	unkd_install_deps
	exec 9>"$UNKD_LOCK"
	flock 9
	unkd_build_install
	unkd_cluster_start
	# long jobs (benchmarks, quality) let other runs proceed once started
	if [ "${UNKD_RELEASE_LOCK:-0}" = 1 ]; then
		flock -u 9
	fi
}
