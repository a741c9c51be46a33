#!/usr/bin/env bash
# Scheduled retraining with pg_cron 1.4.2 (background workers, minute
# granularity): a job retrains a model in another database; and what bounds
# a job's run time there. Five jobs fire at the same minute boundary:
#   retrain      the documented retraining command: succeeds, new version
#   set_timeout  "SET statement_timeout = '1s'; SELECT unkd.train(...)" for a
#                training of several seconds: pg_cron's worker never arms the
#                timer for it, so the run commits (documents pg_cron's behaviour)
#   role_timeout the same training run by a role with ALTER ROLE ... IN
#                DATABASE ... SET statement_timeout = '1s': cancelled, nothing
#                written
#   set_memory   "SET maintenance_work_mem = '1MB'; SELECT unkd.train(...)":
#                a setting read when the call runs does apply (budget error)
#   unschedule   a longer training, unscheduled while it runs (once the other
#                jobs are done and the launcher waits on this one): pg_cron
#                1.4.2 lets it commit, then records the run as failed
# plus, through psql (the simple-query protocol), the set_timeout command
# string is cancelled after 1 s. Waits at most WAIT_SECONDS for the runs.
source "$(dirname "$0")/lib.sh"

DB=unkd_ops_cron
ROLE=unkd_ops_cron_limited
WAIT_SECONDS=${UNKD_CRON_WAIT:-130}
SLOW="'public.slow', dim => 128, epochs => 1500, validation_fraction => 0, notice_every => 0"    # about 6 s alone
SLOWER="'public.slow', dim => 128, epochs => 3600, validation_fraction => 0, notice_every => 0"  # about 14 s alone

# The documented retraining command (docs/scheduling.md)
RETRAIN_SQL="SELECT name, version, metrics->>'stopped_early' FROM unkd.retrain('cron_m', time_limit => '10 min')"

# Unschedule our jobs, drop the database and the role (EXIT trap)
cleanup() {
	psql -X -q -d postgres -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'unkd-ops-%'" \
		>/dev/null 2>&1 || true
	drop_dbs "$DB"
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true
	ops_cleanup
}
trap cleanup EXIT

# pg_cron in the postgres database; a database with unkd, a trained model,
# data for a slow training, and a role whose statement_timeout is 1 s there
setup() {
	q postgres "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null
	fresh_db "$DB"
	q "$DB" "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(200, 80, 8, 1.0, 21)" >/dev/null
	q "$DB" "CREATE INDEX ON public.events (user_id)" >/dev/null
	q "$DB" "CREATE TABLE public.slow AS SELECT * FROM unkd.synthetic_interactions(2000, 1000, 20, 1.0, 5)" >/dev/null
	q "$DB" "SELECT unkd.train('cron_m', 'public.events', dim => 4, epochs => 3, seed => 1, notice_every => 0)" >/dev/null
	q postgres "DROP ROLE IF EXISTS $ROLE; CREATE ROLE $ROLE LOGIN" >/dev/null
	q postgres "ALTER ROLE $ROLE IN DATABASE $DB SET statement_timeout = '1s'" >/dev/null
	q "$DB" "GRANT SELECT ON public.slow TO $ROLE;
		GRANT EXECUTE ON FUNCTION unkd.train TO $ROLE" >/dev/null
}

# Schedule a job every minute in $DB: schedule <name> <command> [username]
schedule() {
	q postgres "SELECT cron.schedule_in_database('unkd-ops-$1', '* * * * *', \$cmd\$$2\$cmd\$, '$DB'${3:+, '$3'})"
}

# Final status of a job's first run, or empty while none: run_status <jobid>
run_status() {
	q postgres "SELECT status FROM cron.job_run_details WHERE jobid = $1
		AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1"
}

# True when the unschedule job, running for 2 s or more (so every worker
# started with it is visible), is the only job still running and the pg_cron
# launcher waits on a message queue, hence on its queue (so it cannot notice
# the unscheduling before the job ends)
launcher_waits_on_last_job() {
	[ "$(q postgres "SELECT
		(SELECT wait_event FROM pg_catalog.pg_stat_activity WHERE backend_type = 'pg_cron launcher')
			IS NOT DISTINCT FROM 'MessageQueueReceive'
		AND (SELECT pg_catalog.array_agg(query ~ 'cron_slow_unsched'
				AND query_start < pg_catalog.now() - interval '2 s')
			FROM pg_catalog.pg_stat_activity WHERE backend_type = 'pg_cron') = ARRAY[true]")" = t ]
}

# A column of a job's first run: run_field <jobid> <column>
run_field() {
	q postgres "SELECT $2 FROM cron.job_run_details WHERE jobid = $1 ORDER BY runid LIMIT 1"
}

setup
vid_before=$(q "$DB" "SELECT version_id FROM unkd.models WHERE name = 'cron_m'")
start=$(date +%s)
job_retrain=$(schedule retrain "$RETRAIN_SQL")
job_set=$(schedule set-timeout "SET statement_timeout = '1s'; SELECT unkd.train('cron_slow_set', $SLOW)")
job_role=$(schedule role-timeout "SELECT unkd.train('cron_slow_role', $SLOW)" "$ROLE")
job_mem=$(schedule set-memory "SET maintenance_work_mem = '1MB'; SELECT unkd.train('cron_mem', 'public.slow', dim => 1024, epochs => 1, notice_every => 0)")
job_unsched=$(schedule unschedule "SELECT unkd.train('cron_slow_unsched', $SLOWER)")

# while waiting for the minute: the same command string through psql, the
# simple-query protocol, where statement_timeout is armed per statement
psql_code=$(sqlstate_of "$DB" "SET statement_timeout = '1s'; SELECT unkd.train('cron_slow_psql', $SLOW)")
is "${psql_code:0:5}" 57014 "through psql, SET statement_timeout = '1s'; SELECT unkd.train(...) is cancelled (57014)"

# wait for the four runs (pg_cron 1.4 starts jobs at minute boundaries),
# unscheduling the last one while it runs
vid_after=$vid_before
unscheduled_mid_run=no
while [ $(($(date +%s) - start)) -lt "$WAIT_SECONDS" ]; do
	if [ "$unscheduled_mid_run" = no ] && launcher_waits_on_last_job; then
		q postgres "SELECT cron.unschedule($job_unsched)" >/dev/null
		unscheduled_mid_run=yes
	fi
	vid_after=$(q "$DB" "SELECT version_id FROM unkd.models WHERE name = 'cron_m'")
	if [ "$(run_status "$job_retrain")" = succeeded ] && [ "$vid_after" != "$vid_before" ] &&
		[ -n "$(run_status "$job_set")" ] && [ -n "$(run_status "$job_role")" ] &&
		[ -n "$(run_status "$job_mem")" ] && [ -n "$(run_status "$job_unsched")" ]; then
		break
	fi
	sleep 0.2
done
waited=$(($(date +%s) - start))
q postgres "SELECT jobid, runid, status, start_time, end_time, left(return_message, 60)
	FROM cron.job_run_details ORDER BY runid" | sed 's/^/# run: /'
echo "# scheduled at $(date -u -d @"$start" +%T), waited ${waited} s"
q postgres "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'unkd-ops-%'" >/dev/null

is "$(run_status "$job_retrain")" succeeded "the retraining job ran and succeeded (after ${waited} s)"
gt "$vid_after" "$vid_before" "the scheduled retraining made a new version"
is "$(q "$DB" "SELECT count(*) FROM unkd.recommend(1, 5, 'cron_m')")" 5 "the retrained model serves"
is "$(q postgres "SELECT count(*) FROM cron.job WHERE jobname LIKE 'unkd-ops-%'")" 0 "the jobs are unscheduled"

# per-job SET statement_timeout: no effect under background workers
is "$(run_status "$job_set")" succeeded "[pg_cron 1.4.2] a job's own SET statement_timeout = '1s' does not stop it"
run_s=$(q "$DB" "SELECT ceil(train_seconds)::int FROM unkd.models WHERE name = 'cron_slow_set'")
gt "${run_s:-0}" 1 "[pg_cron 1.4.2] ... its training ran ${run_s:-?} s, past the 1 s limit, and committed"

# the role's statement_timeout is armed when the worker connects
is "$(run_status "$job_role")" failed "ALTER ROLE ... IN DATABASE ... SET statement_timeout = '1s' cancels the job"
msg=$(run_field "$job_role" return_message)
ok_if "$([[ "$msg" == *"canceling statement due to statement timeout"* ]]; echo $?)" \
	"... with the statement timeout error in cron.job_run_details" "return_message: $msg"
is "$(q "$DB" "SELECT count(*) FROM unkd.models WHERE name = 'cron_slow_role'")" 0 "... and writes no model"

# other settings made with SET in the job do apply to the calls after them
msg=$(run_field "$job_mem" "status || ': ' || return_message")
ok_if "$([[ "$msg" == "failed: "*maintenance_work_mem* ]]; echo $?)" \
	"a job's own SET maintenance_work_mem = '1MB' applies: the training fails its memory budget" "run: $msg"

# unscheduled mid-run: committed, whatever pg_cron reports
is "$unscheduled_mid_run" yes "the unschedule job was unscheduled while it ran, the launcher waiting on it"
is "$(q "$DB" "SELECT version FROM unkd.models WHERE name = 'cron_slow_unsched'")" 1 \
	"[pg_cron 1.4.2] the job unscheduled mid-run still committed its model"
# pg_cron reports such a run either way (it depends on which queue its
# launcher is blocked on when the job ends); the model is what tells
unsched_msg=$(run_field "$job_unsched" "status || ': ' || return_message")
ok_if "$([[ "$unsched_msg" == "failed: job canceled" || "$unsched_msg" == "succeeded: SELECT 1" ]]; echo $?)" \
	"[pg_cron 1.4.2] ... and cron.job_run_details reports that run as failed (job canceled) or succeeded" "run: $unsched_msg"
ops_done
