#!/usr/bin/env bash
# Shared helpers of the Citus suite (test/citus/run.sh) and benchmark
# (bench/citus.sh): build and install Citus from ../shared/citus when this
# server has none, and run a throw-away Citus cluster on this machine, a
# coordinator and two workers on private ports, reachable through one unix
# socket directory only (which is also each node's name). Sourced.

# ok_if, is, q, new_extra_dir, ops_cleanup, as_postgres, PG_BIN
source "$(dirname "${BASH_SOURCE[0]}")/../ops/lib.sh"

CITUS_VERSION=12.1.12
CITUS_PORT_BASE=${CITUS_PORT_BASE:-$((UNKD_PORT + 20))}
CITUS_SHARDS=${CITUS_SHARDS:-8}
CITUS_DB=unkd_citus
CITUS_DIR=""

# The Citus source tarball: $UNKD_CITUS_SRC, or ../shared/citus beside the repository
citus_tarball() {
	local d
	for d in "${UNKD_CITUS_SRC:-}" "$UNKD_ROOT/../shared/citus" /work/shared/citus; do
		[ -n "$d" ] && [ -f "$d/citus-$CITUS_VERSION.tar.gz" ] && { echo "$d/citus-$CITUS_VERSION.tar.gz"; return 0; }
	done
	return 1
}

# Make sure citus.so is installed for this server, building it once if not;
# prints why and returns 1 where it cannot be built
citus_ensure_installed() {
	local libdir tarball build
	libdir=$("$PG_BIN/pg_config" --pkglibdir)
	[ -f "$libdir/citus.so" ] && return 0
	if ! tarball=$(citus_tarball); then
		echo "Citus is not installed and its source (../shared/citus/citus-$CITUS_VERSION.tar.gz) is not here"
		return 1
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "Citus is not installed, and building it needs root (packages, install into $libdir)"
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	local deps="liblz4-dev libzstd-dev libkrb5-dev libssl-dev libicu-dev flex bison"
	if ! apt-get install -y -q --no-install-recommends $deps >/dev/null 2>&1 &&
		! { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $deps >/dev/null 2>&1; }; then
		echo "cannot install Citus's build dependencies ($deps)"
		return 1
	fi
	build=$(mktemp -d /tmp/unkd-citus-build.XXXXXX)
	if ! (tar xzf "$tarball" -C "$build" &&
		cd "$build/citus-$CITUS_VERSION" &&
		./configure --without-libcurl with_llvm=no PG_CONFIG="$PG_BIN/pg_config" &&
		make -j2 with_llvm=no &&
		make install with_llvm=no) > "$build.log" 2>&1; then
		echo "building Citus $CITUS_VERSION failed; last lines of its log:"
		tail -n 15 "$build.log"
		rm -rf "$build" "$build.log"
		return 1
	fi
	rm -rf "$build" "$build.log"
	return 0
}

# psql on one node (0 = coordinator, 1 and 2 = workers): cq <node> <sql>
cq() {
	PGHOST=$CITUS_DIR PGPORT=$((CITUS_PORT_BASE + $1)) PGUSER=postgres \
		PGOPTIONS="-c client_min_messages=warning ${CQ_OPTIONS:-}" \
		psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$CITUS_DB" -c "$2"
}

# Stop the three nodes (ops_cleanup then removes their directory); an EXIT trap
citus_cluster_stop() {
	local i
	[ -n "$CITUS_DIR" ] || return 0
	for i in 0 1 2; do
		if [ -f "$CITUS_DIR/node$i/postmaster.pid" ]; then
			as_postgres "$PG_BIN/pg_ctl" -D "$CITUS_DIR/node$i" -m immediate stop >/dev/null 2>&1 || true
		fi
	done
}

# Start the coordinator and two workers, with citus and unkd, workers added
citus_cluster_start() {
	local i port
	new_extra_dir CITUS_DIR
	for i in 0 1 2; do
		port=$((CITUS_PORT_BASE + i))
		as_postgres "$PG_BIN/initdb" -D "$CITUS_DIR/node$i" -A trust -U postgres >/dev/null
		cat >> "$CITUS_DIR/node$i/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$CITUS_DIR'
shared_preload_libraries = 'citus'
citus.local_hostname = '$CITUS_DIR'
citus.shard_count = $CITUS_SHARDS
max_connections = 60
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
		as_postgres "$PG_BIN/pg_ctl" -D "$CITUS_DIR/node$i" -l "$CITUS_DIR/node$i.log" -w start >/dev/null 9>&-
		PGHOST=$CITUS_DIR PGPORT=$port PGUSER=postgres psql -X -q -d postgres -c "CREATE DATABASE $CITUS_DB" >/dev/null
		cq "$i" "CREATE EXTENSION citus" >/dev/null
	done
	cq 0 "SELECT citus_set_coordinator_host('$CITUS_DIR', $CITUS_PORT_BASE)" >/dev/null
	for i in 1 2; do
		cq 0 "SELECT citus_add_node('$CITUS_DIR', $((CITUS_PORT_BASE + i)))" >/dev/null
	done
	cq 0 "CREATE EXTENSION unkd" >/dev/null
}
