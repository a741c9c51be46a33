#!/usr/bin/env bash
# make bench-train: training throughput and end-to-end time of a teacher,
# a standard-KD and an UnKD student on MovieLens 1M (when present) and on a
# 2M-interaction synthetic set, next to the tight standalone loop
# (bench/sgd_loop.c) doing the same SGD step on data of the same shape.
# Needs root, like scripts/test.sh: it runs its own throw-away cluster.
# Prints figures only; nothing here asserts a timing.
#
# Environment: BENCH_EPOCHS (synthetic set, default 5), BENCH_ML1M (csv path),
# BENCH_SYNTHETIC (n_users,n_items,per_user; default 100000,50000,20),
# BENCH_SERVER=existing to use the server of PGHOST/PGPORT (unkd installed)
# in a scratch database unkd_bench instead of a throw-away cluster.
set -euo pipefail
UNKD_PORT=${UNKD_PORT:-54339}
source "$(dirname "$0")/../scripts/lib.sh"
BENCH_EPOCHS=${BENCH_EPOCHS:-5}
BENCH_SYNTHETIC=${BENCH_SYNTHETIC:-100000,50000,20}
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

cat > "$SQL" <<'SQL'
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '2GB';
CREATE EXTENSION unkd;
CREATE TABLE bench_results (dataset text, model text, method text, dim int, epochs int,
	pair_updates bigint, loop_seconds float8, wall_seconds float8);
-- one training call, timed end to end (reading, training, saving)
CREATE FUNCTION bench_run(dataset text, q text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	m unkd.models;
BEGIN
	EXECUTE q INTO m;
	INSERT INTO bench_results VALUES (dataset, m.name, m.method, m.dim, (m.params->>'epochs')::int,
		(m.metrics->>'pair_updates')::bigint, (m.metrics->>'loop_seconds')::float8,
		extract(epoch FROM clock_timestamp() - t0));
END $$;
-- the runs print nothing; the report at the end does
\o /dev/null
SQL

if [ -f "$BENCH_ML1M" ]; then
	cat >> "$SQL" <<SQL
CREATE TABLE ml1m (user_id int, item_id int);
\copy ml1m FROM '$BENCH_ML1M' WITH (FORMAT csv, HEADER)
CREATE TABLE ml1m_train AS SELECT user_id, item_id FROM unkd.split('ml1m', 0.2, 1) WHERE NOT is_test;
SELECT bench_run('ml-1m', \$\$SELECT * FROM unkd.train('ml1m_teacher', 'ml1m_train', notice_every => 0)\$\$);
SELECT bench_run('ml-1m', \$\$SELECT * FROM unkd.distill('ml1m_kd', 'ml1m_train', teacher => 'ml1m_teacher', n_groups => 1, notice_every => 0)\$\$);
SELECT bench_run('ml-1m', \$\$SELECT * FROM unkd.distill('ml1m_unkd', 'ml1m_train', teacher => 'ml1m_teacher', notice_every => 0)\$\$);
SQL
else
	echo "MovieLens 1M not found at $BENCH_ML1M: skipping it"
fi

cat >> "$SQL" <<SQL
CREATE TABLE synth AS SELECT * FROM unkd.synthetic_interactions($BENCH_SYNTHETIC);
SELECT bench_run('synthetic', \$\$SELECT * FROM unkd.train('synth_teacher', 'synth', epochs => $BENCH_EPOCHS, notice_every => 0)\$\$);
SELECT bench_run('synthetic', \$\$SELECT * FROM unkd.distill('synth_kd', 'synth', teacher => 'synth_teacher', n_groups => 1, epochs => $BENCH_EPOCHS, notice_every => 0)\$\$);
SELECT bench_run('synthetic', \$\$SELECT * FROM unkd.distill('synth_unkd', 'synth', teacher => 'synth_teacher', epochs => $BENCH_EPOCHS, notice_every => 0)\$\$);
\o
\pset footer off
SELECT dataset, model, method, dim, epochs, pair_updates,
	   round(pair_updates / loop_seconds) AS updates_per_s,
	   round(loop_seconds::numeric, 1) AS loop_s, round(wall_seconds::numeric, 1) AS end_to_end_s
FROM bench_results ORDER BY dataset, model;
\pset tuples_only on
\pset format unaligned
\o $SQL.shapes
SELECT dataset, n_users, n_items, greatest(1, round(n_interactions::numeric / n_users))
FROM (SELECT DISTINCT ON (dataset) dataset, model FROM bench_results) b
JOIN unkd.models m ON m.name = b.model ORDER BY dataset;
\o $SQL.rates
SELECT dataset, dim, round(pair_updates / loop_seconds) FROM bench_results ORDER BY dataset, model;
\o
SQL

echo "== in-database training (updates_per_s: SGD pair updates per second of the epoch loop)"
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
