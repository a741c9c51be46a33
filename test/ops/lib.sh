#!/usr/bin/env bash
# Shared helpers of the operational tests (test/ops/*.sh): TAP-style
# assertions, psql shorthands, and extra throw-away servers. Sourced by a test
# that scripts/test.sh runs against its cluster (PGHOST, PGPORT, PGUSER set).
# Each assertion prints "ok - what" or "not ok - what" plus "# " diagnostics;
# a test exits non-zero if any assertion failed.

set -euo pipefail

# PG_BIN, PATH, UNKD_PORT and as_postgres (defines functions only)
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
OPS_FAILED=0
OPS_EXTRA_DIRS=()
# on a signal, exit so that the test's EXIT trap removes what it made
trap 'exit 143' TERM
trap 'exit 130' INT

# Record one assertion: ok_if <status> <description> [diagnostic...]
ok_if() {
	local status=$1 what=$2
	shift 2
	if [ "$status" = 0 ]; then
		echo "ok - $what"
	else
		echo "not ok - $what"
		local d
		for d in "$@"; do printf '%s\n' "$d" | sed 's/^/#   /'; done
		OPS_FAILED=1
	fi
}

# Assert that two strings are equal: is <got> <expected> <description>
is() {
	if [ "$1" = "$2" ]; then ok_if 0 "$3"; else ok_if 1 "$3" "got:      $1" "expected: $2"; fi
}

# Assert that two multi-line texts are equal, showing a diff if not
same_text() {
	local d
	if d=$(diff <(printf '%s\n' "$1") <(printf '%s\n' "$2")); then
		ok_if 0 "$3"
	else
		ok_if 1 "$3" "$(printf "%s\n" "$d" | head -20 | cut -c1-160)"
	fi
}

# Assert that <got> is an integer greater than <bound>: gt <got> <bound> <description>
gt() {
	if [[ "$1" =~ ^-?[0-9]+$ ]] && [[ "$2" =~ ^-?[0-9]+$ ]] && [ "$1" -gt "$2" ]; then
		ok_if 0 "$3"
	else
		ok_if 1 "$3" "got:      $1" "expected: an integer > $2"
	fi
}

# Assert that <got> is an integer less than <bound>: lt <got> <bound> <description>
lt() {
	if [[ "$1" =~ ^-?[0-9]+$ ]] && [[ "$2" =~ ^-?[0-9]+$ ]] && [ "$1" -lt "$2" ]; then
		ok_if 0 "$3"
	else
		ok_if 1 "$3" "got:      $1" "expected: an integer < $2"
	fi
}

# Unaligned, tuples-only psql without NOTICEs that stops on the first error: q <db> <sql>
q() {
	PGOPTIONS="-c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# Run SQL and print "SQLSTATE message" of its error, or "ok": sqlstate_of <db> <sql>
sqlstate_of() {
	local out
	if out=$(PGOPTIONS="-c client_min_messages=error" psql -X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -c "$2" 2>&1 >/dev/null); then
		echo ok
	else
		printf '%s\n' "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\): *\(.*\)$/\1 \2/p' | head -1
	fi
}

# Create a database with unkd installed (dropping any leftover): fresh_db <db> [version]
fresh_db() {
	q postgres "DROP DATABASE IF EXISTS $1" >/dev/null
	q postgres "CREATE DATABASE $1" >/dev/null
	if [ -n "${2:-}" ]; then
		q "$1" "CREATE EXTENSION unkd VERSION '$2'" >/dev/null
	else
		q "$1" "CREATE EXTENSION unkd" >/dev/null
	fi
}

# Drop databases, ignoring ones that are gone: drop_dbs <db>...
drop_dbs() {
	local db
	for db in "$@"; do
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	done
}

# A private directory owned by postgres, removed by ops_cleanup: new_extra_dir <var>
new_extra_dir() {
	local dir
	dir=$(mktemp -d /tmp/unkd-ops.XXXXXX)
	chown postgres: "$dir"
	chmod 700 "$dir"
	OPS_EXTRA_DIRS+=("$dir")
	printf -v "$1" '%s' "$dir"
}

# Stop any server in the extra directories and remove them (EXIT trap)
ops_cleanup() {
	local dir
	for dir in "${OPS_EXTRA_DIRS[@]}"; do
		if [ -f "$dir/pgdata/postmaster.pid" ]; then
			as_postgres "$PG_BIN/pg_ctl" -D "$dir/pgdata" -m immediate stop >/dev/null 2>&1 || true
		fi
		rm -rf "$dir"
	done
	OPS_EXTRA_DIRS=()
}

# End a test: exit status 1 if any assertion failed
ops_done() {
	[ "$OPS_FAILED" = 0 ]
}
