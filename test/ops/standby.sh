#!/usr/bin/env bash
# A streaming hot standby of the throw-away primary serves unkd.recommend and
# unkd.evaluate, follows retraining on the primary (also in a session whose
# model cache was warm), and refuses to train.
source "$(dirname "$0")/lib.sh"

DB=unkd_ops_standby
SB_PORT=$((${UNKD_PORT:-54329} + 11))
SB=""
SESSION_PID=""
PRIMARY_HOST=$PGHOST
PRIMARY_PORT=$PGPORT

# Close the standby session, show the standby's log after a failure, stop
# and remove the standby, drop the database
cleanup() {
	if [ "$OPS_FAILED" != 0 ] && [ -n "$SB" ] && [ -f "$SB/server.log" ]; then
		echo "# standby server log (last 15 lines):"
		tail -n 15 "$SB/server.log" | cut -c1-200 | sed 's/^/#   /'
	fi
	if [ -n "$SESSION_PID" ]; then
		exec 7>&- || true
		kill "$SESSION_PID" 2>/dev/null || true
		wait "$SESSION_PID" 2>/dev/null || true
	fi
	ops_cleanup
	PGHOST=$PRIMARY_HOST PGPORT=$PRIMARY_PORT drop_dbs "$DB"
}
trap cleanup EXIT

# psql on the standby: sq <sql>
sq() {
	PGHOST=$SB PGPORT=$SB_PORT q "$DB" "$1"
}

# A primary database with interactions, a train/test split and a deployed model
make_primary() {
	fresh_db "$DB"
	q "$DB" "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(300, 120, 10, 1.0, 11)" >/dev/null
	q "$DB" "CREATE TABLE public.events_split AS SELECT * FROM unkd.split('public.events', 0.2, seed => 1)" >/dev/null
	q "$DB" "CREATE TABLE public.events_train AS SELECT user_id, item_id FROM public.events_split WHERE NOT is_test" >/dev/null
	q "$DB" "CREATE TABLE public.events_test AS SELECT user_id, item_id FROM public.events_split WHERE is_test" >/dev/null
	q "$DB" "CREATE INDEX ON public.events_train (user_id)" >/dev/null
	q "$DB" "SELECT unkd.train('hs', 'public.events_train', dim => 8, epochs => 5, seed => 1, notice_every => 0)" >/dev/null
	q "$DB" "SELECT unkd.deploy('hs')" >/dev/null
}

# Base backup with -R over the primary's unix socket, then start it as a hot standby
start_standby() {
	new_extra_dir SB
	as_postgres "$PG_BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres \
		-D "$SB/pgdata" -R -X stream -c fast
	cat >> "$SB/pgdata/postgresql.conf" <<CONF
port = $SB_PORT
unix_socket_directories = '$SB'
hot_standby = on
CONF
	as_postgres "$PG_BIN/pg_ctl" -D "$SB/pgdata" -l "$SB/server.log" -w start >/dev/null 9>&-
}

# Wait (at most 30 s) until the standby has replayed the primary's current WAL
wait_replay() {
	local lsn i
	lsn=$(q "$DB" "SELECT pg_catalog.pg_current_wal_lsn()")
	for i in $(seq 1 300); do
		[ "$(sq "SELECT pg_catalog.pg_last_wal_replay_lsn() >= '$lsn'::pg_catalog.pg_lsn")" = t ] && return 0
		sleep 0.1
	done
	return 1
}

# Recommendations of users 1..6 by the deployed model
RECS="SELECT u, r.item_id, r.score, r.rank
	FROM pg_catalog.generate_series(1, 6) u, LATERAL unkd.recommend(u, 5) r ORDER BY u, r.rank"
EVAL="SELECT * FROM unkd.evaluate('hs', 'public.events_test', k => 10) ORDER BY group_id NULLS FIRST"

# Open one long-lived psql session on the standby, fed through a fifo
open_session() {
	mkfifo "$SB/session.in"
	touch "$SB/session.out"
	PGHOST=$SB PGPORT=$SB_PORT psql -X -q -A -t -d "$DB" < "$SB/session.in" > "$SB/session.out" 2>&1 9>&- &
	SESSION_PID=$!
	exec 7> "$SB/session.in"
	SESSION_N=0
}

# Run SQL in that session and print its output: in_session <sql>
in_session() {
	local mark i seen
	SESSION_N=$((SESSION_N + 1))
	mark="__done_$SESSION_N"
	seen=$(wc -l < "$SB/session.out")
	printf '%s;\n\\echo %s\n' "$1" "$mark" >&7
	for i in $(seq 1 300); do
		grep -qx "$mark" "$SB/session.out" && break
		sleep 0.1
	done
	tail -n +"$((seen + 1))" "$SB/session.out" | grep -vx "$mark"
}

make_primary
start_standby
is "$(sq "SELECT pg_catalog.pg_is_in_recovery()")" t "the standby is in recovery"
conninfo=$(sq "SHOW primary_conninfo")
ok_if "$([[ " $conninfo " =~ \ host=\'?$PRIMARY_HOST\'?\  && " $conninfo " =~ \ port=\'?$PRIMARY_PORT\'?\  ]]; echo $?)" \
	"primary_conninfo uses the primary's unix socket" "primary_conninfo = $conninfo"
wait_replay && rc=0 || rc=$?
is "$rc" 0 "the standby replays the primary's WAL"
is "$(q "$DB" "SELECT state FROM pg_catalog.pg_stat_replication")" streaming "the primary streams to the standby"

# serving and evaluation on the standby
before=$(q "$DB" "$RECS")
same_text "$(sq "$RECS" 2>&1)" "$before" "recommend on the standby: the primary's rows"
same_text "$(sq "$EVAL" 2>&1)" "$(q "$DB" "$EVAL")" "evaluate on the standby: the primary's figures"
open_session
same_text "$(in_session "$RECS")" "$before" "a standby session serves the model (its cache now warm)"

# retraining on the primary reaches the standby
vid_before=$(sq "SELECT version_id FROM unkd.models WHERE name = 'hs'")
q "$DB" "SELECT unkd.train('hs', 'public.events_train', dim => 8, epochs => 5, seed => 2, notice_every => 0)" >/dev/null
wait_replay && rc=0 || rc=$?
is "$rc" 0 "the standby replays the retraining"
vid_after=$(q "$DB" "SELECT version_id FROM unkd.models WHERE name = 'hs'")
gt "$vid_after" "$vid_before" "the retraining made a new version on the primary"
is "$(sq "SELECT version_id FROM unkd.models WHERE name = 'hs'")" "$vid_after" "the standby has the new version_id"
after=$(q "$DB" "$RECS")
ok_if "$([ "$after" != "$before" ]; echo $?)" "the new version recommends differently (so the next checks mean something)"
same_text "$(sq "$RECS" 2>&1)" "$after" "recommend on the standby: the new version's rows"
same_text "$(in_session "$RECS")" "$after" "the standby session with a warm cache serves the new version"
same_text "$(sq "$EVAL" 2>&1)" "$(q "$DB" "$EVAL")" "evaluate on the standby: the new version's figures"

# training on the standby: a read-only transaction, refused before any work
# (epochs => 400 at dim 64 trains for seconds; notice_every => 1 shows an
# epoch NOTICE if training started)
start=$(date +%s%N)
notices=$(PGHOST=$SB PGPORT=$SB_PORT PGOPTIONS="-c client_min_messages=notice" psql -X -q -A -t -v VERBOSITY=verbose \
	-d "$DB" -c "SELECT unkd.train('hs', 'public.events_train', dim => 64, epochs => 400, notice_every => 1)" 2>&1 >/dev/null || true)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' <<<"$notices" | head -1)
is "$code" 25006 "unkd.train on the standby fails with SQLSTATE 25006 (read_only_sql_transaction)"
ok_if "$(! grep -q ': epoch ' <<<"$notices"; echo $?)" \
	"unkd.train on the standby fails at once, before training" \
	"$(grep -c ': epoch ' <<<"$notices") epoch NOTICEs and $ms ms before the error:" "$(grep '^ERROR' <<<"$notices")"
is "$(sq "SELECT version_id FROM unkd.models WHERE name = 'hs'")" "$vid_after" "the standby still serves the replicated version"
ops_done
