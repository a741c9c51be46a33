#!/usr/bin/env bash
# A running training shows its progress to other sessions: while one session
# trains (bounded by time_limit), another sees the epoch in
# pg_stat_activity.query; afterwards the model records that the time limit
# stopped it.
source "$(dirname "$0")/lib.sh"

DB=unkd_ops_progress
OUT=$(mktemp /tmp/unkd-progress.XXXXXX)
export PGOPTIONS="-c client_min_messages=warning"

# Drop the database and the output file (EXIT trap)
cleanup() {
	drop_dbs "$DB"
	rm -f "$OUT"
	ops_cleanup
}
trap cleanup EXIT

fresh_db "$DB"
q "$DB" "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(2000, 1000, 30, 1.0, 1)" >/dev/null

# the training: many epochs, stopped by its time limit after about 3 s
q "$DB" "SELECT metrics->>'stop_reason' FROM unkd.train('progress', 'public.events', dim => 32,
	epochs => 100000, validation_fraction => 0, notice_every => 0, time_limit => '3 s')" > "$OUT" 2>&1 &
trainer=$!

# another session polls pg_stat_activity for the epoch counter
seen=""
for _ in $(seq 1 100); do
	seen=$(q postgres "SELECT query FROM pg_catalog.pg_stat_activity WHERE datname = '$DB'
		AND query LIKE 'unkd: training model \"progress\", epoch %' LIMIT 1")
	[ -n "$seen" ] && break
	sleep 0.1
done
wait "$trainer" || true
ok_if "$([ -n "$seen" ]; echo $?)" "another session sees the training's epoch in pg_stat_activity ($seen)"
is "$(cat "$OUT")" time_limit "the time limit stopped the run, and the model's metrics say so"
# a parallel run (workers => 1) loses its worker to pg_terminate_backend
q "$DB" "SELECT version FROM unkd.train('par', 'public.events', dim => 8, epochs => 1,
	validation_fraction => 0, workers => 0, notice_every => 0)" > "$OUT" 2>&1
v1=$(cat "$OUT")
q "$DB" "SET max_parallel_workers = 8; SELECT version FROM unkd.train('par', 'public.events', dim => 32,
	epochs => 100000, validation_fraction => 0, workers => 1, notice_every => 0, replace => true,
	time_limit => '60 s')" > "$OUT" 2>&1 &
trainer=$!
killed=""
for _ in $(seq 1 100); do
	killed=$(q postgres "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
		WHERE datname = '$DB' AND backend_type = 'parallel worker' LIMIT 1")
	[ -n "$killed" ] && break
	sleep 0.1
done
rc=0
wait "$trainer" || rc=$?
ok_if "$([ "$killed" = t ]; echo $?)" "a parallel training's worker was found and terminated"
ok_if "$([ "$rc" != 0 ] && grep -q "terminating background worker \"parallel worker\" due to administrator command" "$OUT"; echo $?)" \
	"the leader fails with the worker's error ($(head -1 "$OUT"))"
is "$(q "$DB" "SELECT version FROM unkd.models WHERE name = 'par'")" "$v1" \
	"the previous version of the model stays"
exit $OPS_FAILED
