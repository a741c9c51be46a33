#!/usr/bin/env bash
# Single node against Citus (make bench-citus). Prints figures only; nothing
# here asserts on time. Builds and installs like scripts/test.sh, starts the
# throw-away single node and a coordinator with two workers on this machine
# (test/citus/lib.sh; Citus built from ../shared/citus if it is missing),
# loads the same interactions into both (MovieLens 1M when
# ../shared/data/ml-1m is there, else unkd.synthetic_interactions(6040,
# 3706, 165); the Citus copy distributed by user_id), trains one teacher on
# each, and prints side by side the median time of
#   - popularity_strata over all interactions (partial step on the shards),
#   - popularity_groups (reads every row on the coordinator),
#   - evaluate of the teacher on the 20% test split,
#   - recommend: one call in a new session (so it loads the model; wrapped
#     in count(*), which Citus does not delegate, and as SELECT *, which it
#     does), and pgbench, 1 and 2 clients, warm caches (delegated on Citus).
# Every node shares this machine's cores: the figures show what Citus costs
# and where it pushes work down, not a speed-up from more hardware.
# BENCH_SECONDS (default 5) sets each pgbench run, BENCH_REPS (default 5)
# the repetitions of the other statements.
source "$(dirname "$0")/../scripts/lib.sh"
unkd_setup
cd "$UNKD_ROOT"
source test/citus/lib.sh

SECONDS_PER_RUN=${BENCH_SECONDS:-5}
REPS=${BENCH_REPS:-5}
ML1M=${ML1M_CSV:-$UNKD_ROOT/../shared/data/ml-1m/interactions.csv}
DB=unkd_bench_citus
OUT=$(mktemp -d)
chmod 755 "$OUT"
trap 'rm -rf "$OUT"; citus_cluster_stop; ops_cleanup; unkd_cluster_stop' EXIT

if ! why=$(citus_ensure_installed); then
	echo "skipped: $why"
	exit 0
fi

single() { q "$DB" "$1"; }

# Load, split and train on one side: prepare <runner> <node-or-empty> <distribute>
prepare() {
	local run=$1 distribute=$2 t
	if [ -r "$ML1M" ]; then
		$run "CREATE TABLE public.events (user_id bigint, item_id bigint)"
		cat "$ML1M" | $run "COPY public.events FROM STDIN WITH (FORMAT csv, HEADER true)"
	else
		$run "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(6040, 3706, 165, 1.0, 1)"
	fi
	$run "CREATE INDEX ON public.events (user_id)"
	[ "$distribute" = 1 ] && $run "SELECT create_distributed_table('public.events', 'user_id')" >/dev/null
	$run "CREATE TABLE public.parts AS SELECT * FROM unkd.split('public.events', 0.2, 1)"
	$run "CREATE TABLE public.train AS SELECT user_id, item_id FROM public.parts WHERE NOT is_test"
	$run "CREATE TABLE public.test AS SELECT user_id, item_id FROM public.parts WHERE is_test"
	$run "CREATE INDEX ON public.train (user_id)"
	if [ "$distribute" = 1 ]; then
		for t in train test; do
			$run "SELECT create_distributed_table('public.$t', 'user_id', colocate_with => 'public.events')" >/dev/null
		done
		$run "SELECT 1 FROM unkd.citus_setup('public.events')" >/dev/null
	fi
	$run "SELECT 1 FROM unkd.train('bench', 'public.train', dim => 64, epochs => 5, notice_every => 0)" >/dev/null
	$run "ANALYZE"
}

# Median milliseconds of REPS runs of a statement through psql's \timing:
# median_ms <host> <port> <sql>
median_ms() {
	local i
	for i in $(seq 1 "$REPS"); do
		printf '\\timing on\n%s;\n' "$3" |
			PGHOST=$1 PGPORT=$2 PGUSER=postgres PGOPTIONS="-c client_min_messages=warning" \
				psql -X -q -d "$DB" -o /dev/null 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
	done | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] }'
}

# recommend under pgbench: "tps / mean latency ms" for <host> <port> <clients>
recommend_bench() {
	local users
	users=$(PGHOST=$1 PGPORT=$2 PGUSER=postgres psql -X -q -A -t -d "$DB" -c "SELECT max(user_id) FROM public.train")
	printf '\\set u random(0, %s)\nSELECT * FROM unkd.recommend(:u, 10, '"'bench'"');\n' "$users" > "$OUT/rec.sql"
	PGHOST=$1 PGPORT=$2 PGUSER=postgres pgbench -n -M prepared -f "$OUT/rec.sql" -c "$3" -j "$3" \
		-T "$SECONDS_PER_RUN" "$DB" 2>&1 |
		awk '/latency average/ { lat = $4 } /^tps/ { tps = $3 } END { printf "%.0f tps, %.2f ms", tps, lat }'
}

q postgres "DROP DATABASE IF EXISTS $DB" >/dev/null
q postgres "CREATE DATABASE $DB" >/dev/null
q "$DB" "CREATE EXTENSION unkd" >/dev/null
prepare single 0 >/dev/null

CITUS_DB=$DB
citus_cluster_start
coordinator() { cq 0 "$1"; }
prepare coordinator 1 >/dev/null

rows=$(q "$DB" "SELECT count(*) FROM public.events")
echo "data: $([ -r "$ML1M" ] && echo "MovieLens 1M" || echo "synthetic (6040 users, 3706 items, 165 per user)"), $rows interactions;" \
	"Citus: coordinator + 2 workers, $CITUS_SHARDS shards, all on this machine ($(nproc) cores)"
same=$( [ "$(q "$DB" "SELECT unkd.popularity_strata(item_id, 4) FROM public.events")" = \
	"$(cq 0 "SELECT unkd.popularity_strata(item_id, 4) FROM public.events")" ] && echo same || echo DIFFERENT)
echo "strata on both: $same"
printf '%-44s %18s %18s\n' "median of $REPS (ms)" "single node" "Citus"
for pair in \
	"popularity_strata(item_id, 4)|SELECT unkd.popularity_strata(item_id, 4) FROM public.events" \
	"popularity_groups(events, 4)|SELECT count(*) FROM unkd.popularity_groups('public.events', 4)" \
	"evaluate(bench, test, 20)|SELECT count(*) FROM unkd.evaluate('bench', 'public.test', 20)" \
	"recommend, new session, in count(*)|SELECT count(*) FROM unkd.recommend(42, 10, 'bench')" \
	"recommend, new session, SELECT * (delegated)|SELECT * FROM unkd.recommend(42, 10, 'bench')"; do
	name=${pair%%|*}
	sql=${pair#*|}
	printf '%-44s %18s %18s\n' "$name" "$(median_ms "$PGHOST" "$PGPORT" "$sql")" \
		"$(median_ms "$CITUS_DIR" "$CITUS_PORT_BASE" "$sql")"
done
for clients in 1 2; do
	printf '%-44s %18s %18s\n' "recommend pgbench, $clients client(s)" \
		"$(recommend_bench "$PGHOST" "$PGPORT" "$clients")" \
		"$(recommend_bench "$CITUS_DIR" "$CITUS_PORT_BASE" "$clients")"
done
