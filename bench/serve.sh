#!/usr/bin/env bash
# Serving and evaluation benchmarks (make bench-serve). Prints figures only;
# nothing here asserts on time. Builds and installs like scripts/test.sh, in a
# throw-away cluster, then measures:
#   - unkd.recommend latency (p50, p99) and throughput (1 and 2 clients) with
#     pgbench for 100,000 items at dim 32 and 64,
#   - the same call on a 10-item model (the fixed cost: function call, catalog
#     and seen-items lookups, result tuples),
#   - in the same run, side by side: recommend with a 1,000-item allow-list
#     (items), with a 1,000-item deny-list (exclude), similar_items, and a
#     call that folds the user in from its 20 seen items (fold_in => true),
#   - a tight C loop over the same shape of matrix (bench/tight_loop.c, built
#     with the extension's flags),
#   - the plain-SQL ranking an analyst would write without unkd,
#   - recommend over a 1,000,000-item catalogue at dim 32 (BENCH_BIG_ITEMS)
#     against the tight loop's floor on the same shape, in the same run,
#   - unkd.evaluate on MovieLens 1M, when /work/shared/data is there, serial
#     and with one parallel worker (max_parallel_maintenance_workers 0 and 1).
# BENCH_SECONDS (default 8) sets the length of each pgbench run.
source "$(dirname "$0")/../scripts/lib.sh"
unkd_setup
cd "$UNKD_ROOT"

N_ITEMS=${BENCH_ITEMS:-100000}
N_USERS=${BENCH_USERS:-10000}
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
BIG_ITEMS=${BENCH_BIG_ITEMS:-1000000}
ML1M=${ML1M_CSV:-$UNKD_ROOT/../shared/data/ml-1m/interactions.csv}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"; unkd_cluster_stop' EXIT

make -s bench/out/tight_loop
psql -X -q -d postgres -c "CREATE EXTENSION unkd"

# pgbench one script; prints p50, p99 (microseconds, first 5 calls of each
# client skipped: they load the model into the backend's cache) and tps, and
# leaves the p50 in LAST_P50
run_pgbench() {
	local name=$1 script=$2 clients=$3 dir="$OUT/$(basename "$2").$3"
	mkdir -p "$dir"
	chmod 777 "$dir"
	pgbench -n -M prepared -f "$script" -c "$clients" -j "$clients" -T "$SECONDS_PER_RUN" \
		-l --log-prefix="$dir/log" postgres > "$dir/out" 2>&1
	awk '$2 >= 5 { print $3 }' "$dir"/log* | sort -n > "$dir/lat"
	local n p50 p99 tps
	n=$(wc -l < "$dir/lat")
	p50=$(sed -n "$((n / 2 + 1))p" "$dir/lat")
	p99=$(sed -n "$((n * 99 / 100 + 1))p" "$dir/lat")
	tps=$(grep -Eo 'tps = [0-9.]+' "$dir/out" | head -1 | cut -d' ' -f3)
	printf '%-34s clients=%d: p50 %6d us, p99 %6d us, %8.0f calls/s (%d calls)\n' \
		"$name" "$clients" "$p50" "$p99" "$tps" "$n"
	LAST_P50=$p50
}

# a / b with two decimals
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# 1,000 distinct random item ids as an array literal (fixed seed per name)
random_items() {
	psql -X -A -t -q -d postgres -c "SELECT setseed($1)" \
		-c "SELECT array_agg(i ORDER BY i) FROM (SELECT i FROM generate_series(1, $N_ITEMS) i ORDER BY random() LIMIT 1000) s" | tail -1
}

echo "== unkd.recommend: $N_ITEMS items, $N_USERS users with 20 seen items each, k = 10"
# pgbench sends :uid as an untyped parameter, which resolves to the text
# overload (issue 11): the casts measure the bigint form, as before 0.2.0
for dim in 32 64; do
	psql -X -q -o /dev/null -d postgres -v dim=$dim -v n_items=$N_ITEMS -v n_users=$N_USERS -f bench/serve_setup.sql
	cat > "$OUT/rec$dim.sql" <<SQL
\set uid random(1, $N_USERS)
SELECT * FROM unkd.recommend(:uid::bigint, 10, 'bench$dim');
SQL
	cat > "$OUT/items$dim.sql" <<SQL
\set uid random(1, $N_USERS)
SELECT * FROM unkd.recommend(:uid::bigint, 10, 'bench$dim', items => '$(random_items 0.11)');
SQL
	cat > "$OUT/exclude$dim.sql" <<SQL
\set uid random(1, $N_USERS)
SELECT * FROM unkd.recommend(:uid::bigint, 10, 'bench$dim', exclude => '$(random_items 0.22)');
SQL
	cat > "$OUT/similar$dim.sql" <<SQL
\set iid random(1, $N_ITEMS)
SELECT * FROM unkd.similar_items(:iid::bigint, 10, 'bench$dim');
SQL
	cat > "$OUT/fold$dim.sql" <<SQL
\set uid random(1, $N_USERS)
SELECT * FROM unkd.recommend(:uid::bigint, 10, 'bench$dim', fold_in => true);
SQL
	cat > "$OUT/tiny$dim.sql" <<SQL
\set uid random(1, $N_USERS)
SELECT * FROM unkd.recommend(:uid::bigint, 10, 'bench_tiny');
SQL
	cat > "$OUT/plain$dim.sql" <<SQL
\set uid random(1, $N_USERS)
SELECT i.item_id, (SELECT sum(a * b) FROM unnest(i.embedding, u.embedding) AS t(a, b)) AS score
FROM unkd.item_embeddings i, unkd.user_embeddings u
WHERE i.model = 'bench$dim' AND u.model = 'bench$dim' AND u.user_id = :uid
  AND i.item_id NOT IN (SELECT item_id FROM bench_events WHERE user_id = :uid)
ORDER BY score DESC LIMIT 10;
SQL
	./bench/out/tight_loop "$N_ITEMS" "$dim" 10 1000
	for model in "bench$dim" bench_tiny; do
		psql -X -q -d postgres -v model="$model" -v n_users="$N_USERS" -f bench/in_server.sql 2>&1 | sed 's/^.*WARNING:  //'
	done
	run_pgbench "recommend dim=$dim" "$OUT/rec$dim.sql" 1
	p50_rec=$LAST_P50
	run_pgbench "recommend items=1000 dim=$dim" "$OUT/items$dim.sql" 1
	p50_items=$LAST_P50
	run_pgbench "recommend exclude=1000 dim=$dim" "$OUT/exclude$dim.sql" 1
	p50_exclude=$LAST_P50
	run_pgbench "similar_items dim=$dim" "$OUT/similar$dim.sql" 1
	p50_similar=$LAST_P50
	run_pgbench "recommend fold_in (20 items) dim=$dim" "$OUT/fold$dim.sql" 1
	p50_fold=$LAST_P50
	run_pgbench "recommend dim=$dim" "$OUT/rec$dim.sql" 2
	run_pgbench "recommend 10 items dim=$dim (fixed)" "$OUT/tiny$dim.sql" 1
	printf 'side by side, pgbench p50, 1 client: recommend %d us | items=1000 %d us (%sx) | exclude=1000 %d us (%sx) | similar_items %d us (%sx) | fold_in %d us (%sx)\n' \
		"$p50_rec" "$p50_items" "$(ratio "$p50_items" "$p50_rec")" \
		"$p50_exclude" "$(ratio "$p50_exclude" "$p50_rec")" \
		"$p50_similar" "$(ratio "$p50_similar" "$p50_rec")" \
		"$p50_fold" "$(ratio "$p50_fold" "$p50_rec")"
	# the plain SQL ranking is slow: a few calls are enough
	dir="$OUT/plain$dim"; mkdir -p "$dir"; chmod 777 "$dir"
	pgbench -n -M prepared -f "$OUT/plain$dim.sql" -c 1 -t 3 -l --log-prefix="$dir/log" postgres > "$dir/out" 2>&1
	printf '%-34s clients=1: p50 %6d us (3 calls)\n' "plain SQL dim=$dim" \
		"$(awk '{ print $3 }' "$dir"/log* | sort -n | sed -n 2p)"
	echo
done

# a million-item catalogue (issue 12): recommend's p50 against the floor of
# the same scan in memory, measured in this run
echo "== unkd.recommend over $BIG_ITEMS items, dim 32, k = 10"
# the model's 128 MB of vectors are loaded within maintenance_work_mem
export PGOPTIONS="${PGOPTIONS:-} -c maintenance_work_mem=1GB"
psql -X -q -o /dev/null -d postgres -v dim=32 -v n_items="$BIG_ITEMS" -v n_users="$N_USERS" -f bench/serve_setup.sql
floor_line=$(./bench/out/tight_loop "$BIG_ITEMS" 32 10 200)
echo "$floor_line"
floor_p50=$(echo "$floor_line" | sed -E 's/.*p50 ([0-9]+) us.*/\1/')
psql -X -q -d postgres -v model=bench32 -v n_users="$N_USERS" -f bench/in_server.sql 2>&1 | sed 's/^.*WARNING:  //'
cp "$OUT/rec32.sql" "$OUT/rec_big.sql"	# its own log directory, apart from the 100,000-item run's
run_pgbench "recommend $BIG_ITEMS items dim=32" "$OUT/rec_big.sql" 1
echo "recommend over $BIG_ITEMS items: pgbench p50 $LAST_P50 us against the in-memory floor $floor_p50 us: $(ratio "$LAST_P50" "$floor_p50")x (target <= 1.5x)"
echo

echo "== unkd.evaluate on MovieLens 1M"
if [ -r "$ML1M" ]; then
	psql -X -q -d postgres -c "DROP TABLE IF EXISTS ml1m" -c "CREATE TABLE ml1m (user_id bigint, item_id bigint)" \
		-c "\\copy ml1m FROM '$ML1M' WITH (FORMAT csv, HEADER true)"
	psql -X -q -d postgres -f bench/ml1m_evaluate.sql
else
	echo "skipped: $ML1M is not there (the data set is never part of the repository)"
fi
