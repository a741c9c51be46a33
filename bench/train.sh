#!/usr/bin/env bash
# make bench-train: training throughput and end-to-end time of a teacher,
# a standard-KD and an UnKD student on MovieLens 1M (when present) and on a
# 2M-interaction synthetic set, next to the tight standalone loop
# (bench/sgd_loop.c) doing the same SGD step on data of the same shape.
# Needs root, like scripts/test.sh: it runs its own throw-away cluster.
# Prints figures only; nothing here asserts a timing.
#
# Each run is its own session so that the backend's peak resident memory
# (VmHWM of /proc/self/status, shared buffers it touched included) is the
# run's. Per run: seconds per epoch (the loop without validation), candidate
# seconds (distillation), validation seconds, end-to-end seconds, peak MB.
# A validated teacher (validation every BENCH_EVAL_EVERY epochs on a 10%
# held-out slice) shows validation's share of a run.
#
# Environment: BENCH_EPOCHS (synthetic sets, default 5), BENCH_ML1M (csv path),
# BENCH_SYNTHETIC (n_users,n_items,per_user; default 100000,50000,20),
# BENCH_ML20M (the MovieLens-20M shape, 138000,27000,145 = 20M interactions;
# 0 skips it; it takes several minutes), BENCH_EVAL_EVERY (default 5),
# BENCH_ML20M_EPOCHS (default 20: one more teacher on that set, with the last
# of BENCH_WORKERS, for issue 12's 10-minute target),
# BENCH_WORKERS (the workers argument of every run, default "0 1": the
# leader alone, then one parallel worker beside it),
# BENCH_SERVER=existing to use the server of PGHOST/PGPORT (unkd installed)
# in a scratch database unkd_bench instead of a throw-away cluster.
set -euo pipefail
UNKD_PORT=${UNKD_PORT:-54339}
source "$(dirname "$0")/../scripts/lib.sh"
BENCH_EPOCHS=${BENCH_EPOCHS:-5}
BENCH_SYNTHETIC=${BENCH_SYNTHETIC:-100000,50000,20}
BENCH_ML20M=${BENCH_ML20M:-138000,27000,145}
BENCH_EVAL_EVERY=${BENCH_EVAL_EVERY:-5}
BENCH_WORKERS=${BENCH_WORKERS:-0 1}
BENCH_ML20M_EPOCHS=${BENCH_ML20M_EPOCHS:-20}
BENCH_ML1M=${BENCH_ML1M:-/work/shared/data/ml-1m/interactions.csv}
LOOP="$UNKD_ROOT/bench/out/sgd_loop"

SQL=$(mktemp)
if [ "${BENCH_SERVER:-}" = existing ]; then
	DB=unkd_bench
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
	trap 'rm -f "$SQL"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"' EXIT
else
	DB=postgres
	# one long session: a released install lock cannot swap the library under it
	UNKD_RELEASE_LOCK=1 unkd_setup
	trap 'rm -f "$SQL"; unkd_cluster_stop' EXIT
fi
# after set-up, whose clean build removes bench/out
make -C "$UNKD_ROOT" -s bench/out/sgd_loop PG_CONFIG="$PG_BIN/pg_config"

# every session: the big sets need more than the default budget
export PGOPTIONS="${PGOPTIONS:-} -c maintenance_work_mem=8GB"
cat > "$SQL" <<'SQL'
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION unkd;
CREATE TABLE bench_results (dataset text, model text, method text, workers int, dim int, epochs int,
	pair_updates bigint, loop_seconds float8, wall_seconds float8,
	candidate_seconds float8, validation_seconds float8, peak_mb float8);
-- one training call, timed end to end (reading, training, saving), then the
-- session's peak resident memory (a fresh session per call: the peak is the run's)
CREATE FUNCTION bench_run(dataset text, q text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	m unkd.models;
BEGIN
	EXECUTE q INTO m;
	INSERT INTO bench_results VALUES (dataset, m.name, m.method, (m.params->>'workers')::int, m.dim,
		(m.metrics->>'epochs_run')::int,
		(m.metrics->>'pair_updates')::bigint, (m.metrics->>'loop_seconds')::float8,
		extract(epoch FROM clock_timestamp() - t0),
		(m.metrics->>'candidate_seconds')::float8, (m.metrics->>'validation_seconds')::float8,
		(SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*(\d+) kB')::float8 / 1024));
END $$;
SQL
psql -X -q -d "$DB" -f "$SQL"

# one call in its own session: run <dataset> <query>
run() {
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
		-c "SELECT bench_run('$1', \$q\$$2\$q\$)" >/dev/null
}

# a data set in table $1 (and its 90% / 10% training and validation split):
# teacher, validated teacher, KD and UnKD students; $2 = dataset label, $3 = extra options
bench_set() {
	# plain SGD for fixed epochs: the step bench/sgd_loop.c times (the
	# defaults, AdaGrad with early stopping, are test/quality/run.sh --defaults')
	local t=$1 label=$2 opts="$3, optimizer => 'sgd', validation_fraction => 0" w m
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
		-c "CREATE TABLE ${t}_split AS SELECT * FROM unkd.split('$t', 0.1, 1)" \
		-c "CREATE TABLE ${t}_tr AS SELECT user_id, item_id FROM ${t}_split WHERE NOT is_test" \
		-c "CREATE TABLE ${t}_val AS SELECT user_id, item_id FROM ${t}_split WHERE is_test" \
		-c "DROP TABLE ${t}_split" >/dev/null
	for w in $BENCH_WORKERS; do
		m="${t}_w${w}"
		run "$label" "SELECT * FROM unkd.train('${m}_teacher', '$t'$opts, workers => $w, notice_every => 0)"
		run "$label" "SELECT * FROM unkd.train('${m}_validated', '${t}_tr'$opts, workers => $w, validation => '${t}_val', eval_every => $BENCH_EVAL_EVERY, patience => 1000, notice_every => 0)"
		run "$label" "SELECT * FROM unkd.distill('${m}_kd', '$t', teacher => '${m}_teacher', n_groups => 1$opts, workers => $w, notice_every => 0)"
		run "$label" "SELECT * FROM unkd.distill('${m}_unkd', '$t', teacher => '${m}_teacher'$opts, workers => $w, notice_every => 0)"
	done
}

if [ -f "$BENCH_ML1M" ]; then
	psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "CREATE TABLE ml1m_all (user_id int, item_id int)" \
		-c "\\copy ml1m_all FROM '$BENCH_ML1M' WITH (FORMAT csv, HEADER)" \
		-c "CREATE TABLE ml1m AS SELECT user_id, item_id FROM unkd.split('ml1m_all', 0.2, 1) WHERE NOT is_test" >/dev/null
	bench_set ml1m ml-1m ", epochs => 50"
else
	echo "MovieLens 1M not found at $BENCH_ML1M: skipping it"
fi
psql -X -q -d "$DB" -c "CREATE TABLE synth AS SELECT * FROM unkd.synthetic_interactions($BENCH_SYNTHETIC)"
bench_set synth "synthetic $BENCH_SYNTHETIC" ", epochs => $BENCH_EPOCHS"
if [ "$BENCH_ML20M" != 0 ]; then
	psql -X -q -d "$DB" -c "CREATE TABLE ml20m AS SELECT * FROM unkd.synthetic_interactions($BENCH_ML20M)"
	bench_set ml20m "ml-20m shape $BENCH_ML20M" ", epochs => $BENCH_EPOCHS"
	# issue 12's target run: the dim-100 teacher for 20 epochs, with the most workers asked for
	w=${BENCH_WORKERS##* }
	run "ml-20m shape $BENCH_ML20M" "SELECT * FROM unkd.train('ml20m_w${w}_teacher20', 'ml20m', epochs => $BENCH_ML20M_EPOCHS, optimizer => 'sgd', validation_fraction => 0, workers => $w, notice_every => 0)"
fi

cat > "$SQL" <<SQL
\pset footer off
SELECT dataset, regexp_replace(model, '^[a-z0-9]+_w[0-9]+_', '') AS run, workers, dim, epochs, pair_updates,
	   round(pair_updates / (loop_seconds - coalesce(validation_seconds, 0))) AS updates_per_s,
	   round(((loop_seconds - coalesce(validation_seconds, 0)) / epochs)::numeric, 2) AS s_per_epoch,
	   round(candidate_seconds::numeric, 1) AS candidate_s,
	   round(validation_seconds::numeric, 1) AS validation_s,
	   round((100 * validation_seconds / wall_seconds)::numeric, 1) AS validation_pct,
	   round(wall_seconds::numeric, 1) AS end_to_end_s, round(peak_mb) AS peak_mb
FROM bench_results ORDER BY dataset, regexp_replace(model, '^[a-z0-9]+_w[0-9]+_', ''), workers;
-- one worker beside the leader against the leader alone (target: 1.6x)
WITH r AS (
	SELECT dataset, regexp_replace(model, '^[a-z0-9]+_w[0-9]+_', '') AS run, workers,
		   pair_updates / (loop_seconds - coalesce(validation_seconds, 0)) AS rate, wall_seconds
	FROM bench_results)
SELECT a.dataset, a.run, round((b.rate / a.rate)::numeric, 2) AS loop_speedup_1_worker,
	   round((a.wall_seconds / b.wall_seconds)::numeric, 2) AS end_to_end_speedup
FROM r a JOIN r b USING (dataset, run) WHERE a.workers = 0 AND b.workers = 1
ORDER BY a.dataset, a.run;
\pset tuples_only on
\pset format unaligned
\o $SQL.shapes
SELECT dataset, n_users, n_items, greatest(1, round(n_interactions::numeric / n_users))
FROM (SELECT DISTINCT ON (dataset) dataset, model FROM bench_results) b
JOIN unkd.models m ON m.name = b.model ORDER BY dataset;
\o $SQL.rates
SELECT dataset, dim, round(pair_updates / (loop_seconds - coalesce(validation_seconds, 0)))
FROM bench_results WHERE workers = 0 ORDER BY dataset, model;
\o
SQL

echo "== in-database training (updates_per_s: SGD pair updates per second of the epoch loop without validation)"
psql -X -q -d "$DB" -f "$SQL"
echo
echo "== tight standalone loop (same step, same flags, random data of the same shape)"
printf "%-14s %4s %14s %14s %6s\n" dataset dim loop_updates_s in_db_updates_s ratio
while IFS='|' read -r dataset users items per_user; do
	for dim in 100 10; do
		tight=$("$LOOP" "$users" "$items" "$per_user" "$dim" 3 2>/dev/null)
		# the best in-database rate at this dimension (the teacher, or a student)
		indb=$(awk -F'|' -v d="$dataset" -v m="$dim" '$1 == d && $2 == m {print $3}' "$SQL.rates" | sort -n | tail -1)
		[ -n "$indb" ] || continue
		printf "%-14s %4s %14s %14s %6.2f\n" "$dataset" "$dim" "$tight" "$indb" \
			"$(echo "$indb / $tight" | bc -l)"
	done
done < "$SQL.shapes"
rm -f "$SQL.shapes" "$SQL.rates"
