#!/usr/bin/env bash
# A running training shows its progress to other sessions: while one session
# trains (bounded by time_limit), another sees the epoch in
# pg_stat_activity.query; afterwards the model records that the time limit
# stopped it. Needs PGHOST/PGPORT/PGUSER of a running server with unkd
# installable; prints TAP lines and exits non-zero on a failure.
set -euo pipefail

db=unkd_progress
export PGOPTIONS="-c client_min_messages=warning"
failed=0

# Print a TAP line for a check
check() {
	if [ "$1" = "$2" ]; then echo "ok - $3"; else echo "not ok - $3 (got '$1', expected '$2')"; failed=1; fi
}

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
psql -X -q -d "$db" -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION unkd;
CREATE TABLE events AS SELECT * FROM unkd.synthetic_interactions(2000, 1000, 30, 1.0, 1);
SQL

# the training: many epochs, stopped by its time limit after about 3 s
psql -X -q -d "$db" -v ON_ERROR_STOP=1 -At -c \
	"SELECT metrics->>'stop_reason' FROM unkd.train('progress', 'events', dim => 32, epochs => 100000, notice_every => 0, time_limit => '3 s')" \
	> "${TMPDIR:-/tmp}/unkd_progress.$$" 2>&1 &
trainer=$!

# another session polls pg_stat_activity for the epoch counter
seen=""
for _ in $(seq 1 100); do
	seen=$(psql -X -At -d postgres -c \
		"SELECT query FROM pg_stat_activity WHERE datname = '$db' AND query LIKE 'unkd: training model \"progress\", epoch %' LIMIT 1")
	[ -n "$seen" ] && break
	sleep 0.1
done
wait "$trainer" || true
check "$([ -n "$seen" ] && echo visible || echo absent)" visible "another session sees the training's epoch in pg_stat_activity ($seen)"
check "$(cat "${TMPDIR:-/tmp}/unkd_progress.$$")" time_limit "the time limit stopped the run and the model says so"
rm -f "${TMPDIR:-/tmp}/unkd_progress.$$"
exit $failed
