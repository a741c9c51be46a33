#!/usr/bin/env bash
# Citus suite (issue 10, docs/citus.md): on a throw-away coordinator and two
# workers, a distributed copy of a synthetic data set gives the same strata,
# groups, split, models, recommendations and evaluation as a single node
# (the cluster scripts/test.sh runs); popularity_strata's partial step runs
# on the workers; unkd.citus_setup is idempotent; a recommend call is served
# on the worker that holds the user; the registry is written only on the
# coordinator; and model privileges still hold. Builds Citus from
# ../shared/citus once if it is not installed; skips, saying why, only where
# it cannot be built.
source "$(dirname "$0")/lib.sh"

SINGLE=unkd_citus_single
DATA="unkd.synthetic_interactions(600, 200, 12, 1.0, 7)"

cleanup() {
	drop_dbs "$SINGLE"
	citus_cluster_stop
	ops_cleanup
}
trap cleanup EXIT

if ! why=$(citus_ensure_installed); then
	echo "# skip: $why"
	exit 0
fi

# The same data, split and models on a database: setup <runner> <db-or-node>
# (the interactions are distributed by user_id on Citus)
setup() {
	local run=$1 on=$2 distribute=$3
	$run "$on" "CREATE TABLE public.clicks AS SELECT * FROM $DATA" >/dev/null
	$run "$on" "CREATE INDEX ON public.clicks (user_id)" >/dev/null
	[ "$distribute" = 1 ] && $run "$on" "SELECT create_distributed_table('public.clicks', 'user_id')" >/dev/null
	$run "$on" "CREATE TABLE public.parts AS SELECT * FROM unkd.split('public.clicks', 0.2, 1)" >/dev/null
	$run "$on" "CREATE TABLE public.train AS SELECT user_id, item_id FROM public.parts WHERE NOT is_test" >/dev/null
	$run "$on" "CREATE TABLE public.test AS SELECT user_id, item_id FROM public.parts WHERE is_test" >/dev/null
	$run "$on" "CREATE INDEX ON public.train (user_id)" >/dev/null
	if [ "$distribute" = 1 ]; then
		local t
		for t in parts train test; do
			$run "$on" "SELECT create_distributed_table('public.$t', 'user_id', colocate_with => 'public.clicks')" >/dev/null
			$run "$on" "SELECT truncate_local_data_after_distributing_table('public.$t')" >/dev/null
		done
		$run "$on" "SELECT truncate_local_data_after_distributing_table('public.clicks')" >/dev/null
	fi
}

# Train, distill and deploy on a database: models <runner> <db-or-node>
models() {
	$1 "$2" "SELECT 1 FROM unkd.train('teacher', 'public.train', dim => 16, epochs => 15, seed => 3, notice_every => 0)" >/dev/null
	$1 "$2" "SELECT 1 FROM unkd.distill('student', 'public.train', teacher => 'teacher', dim => 8, epochs => 10, seed => 4, notice_every => 0)" >/dev/null
}

# Every figure compared between the single node and the cluster: results <runner> <db-or-node>
results() {
	$1 "$2" "SELECT 'strata', unkd.popularity_strata(item_id, 4) FROM public.clicks"
	$1 "$2" "SELECT 'strata-10', unkd.popularity_strata(item_id, 10) FROM public.train"
	$1 "$2" "SELECT 'groups', md5(string_agg(g::text, ',' ORDER BY g.item_id)) FROM unkd.popularity_groups('public.clicks', 4) g"
	$1 "$2" "SELECT 'split', md5(string_agg(s::text, ',' ORDER BY s.user_id, s.item_id)) FROM unkd.split('public.clicks', 0.2, 1) s"
	$1 "$2" "SELECT 'models', name, version, n_users, n_items, n_interactions, strata FROM unkd.models ORDER BY name"
	$1 "$2" "SELECT 'users', model, md5(string_agg(embedding::text, ',' ORDER BY user_id)) FROM unkd.user_embeddings GROUP BY model ORDER BY model"
	$1 "$2" "SELECT 'items', model, md5(string_agg(item_id || ':' || popularity || ':' || embedding::text, ',' ORDER BY item_id)) FROM unkd.item_embeddings GROUP BY model ORDER BY model"
	$1 "$2" "SELECT 'recommend', m, u, r.* FROM (VALUES ('teacher'), ('student')) v(m), generate_series(1, 40) u, LATERAL unkd.recommend(u, 5, m) r ORDER BY m, u, r.rank"
	$1 "$2" "SELECT 'evaluate', m, e.* FROM (VALUES ('teacher'), ('student')) v(m), LATERAL unkd.evaluate(m, 'public.test', 10) e ORDER BY m, e.group_id NULLS LAST"
}

single() { q "$@"; }

# as a role without the model owner's rights: as_reader <command>...
as_reader() { CQ_OPTIONS="-c role=unkd_citus_reader" "$@"; }

# "SQLSTATE message" of a statement's error on a node, or ok: sqlstate_citus <node> <sql>
sqlstate_citus() {
	local out
	if out=$(PGHOST=$CITUS_DIR PGPORT=$((CITUS_PORT_BASE + $1)) PGUSER=postgres PGOPTIONS="-c client_min_messages=error ${CQ_OPTIONS:-}" \
		psql -X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$CITUS_DB" -c "$2" 2>&1 >/dev/null); then
		echo ok
	else
		printf '%s\n' "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\): *\(.*\)$/\1 \2/p' | head -1
	fi
}

# the single node: the cluster scripts/test.sh runs, without Citus
fresh_db "$SINGLE"
setup single "$SINGLE" 0
models single "$SINGLE"
expected=$(results single "$SINGLE")

# PostgreSQL's own parallel aggregation pushes the partial step to workers too
parallel="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;"
plan=$(q "$SINGLE" "$parallel EXPLAIN SELECT unkd.popularity_strata(item_id, 4) FROM public.clicks")
ok_if "$(grep -q 'Partial Aggregate' <<<"$plan"; echo $?)" "PostgreSQL runs popularity_strata's partial step in parallel workers" "$plan"
is "$(q "$SINGLE" "$parallel SELECT unkd.popularity_strata(item_id, 4) FROM public.clicks")" \
	"$(q "$SINGLE" "SET max_parallel_workers_per_gather = 0; SELECT unkd.popularity_strata(item_id, 4) FROM public.clicks")" \
	"parallel popularity_strata equals the serial one"
is "$(sqlstate_of "$SINGLE" "SELECT * FROM unkd.citus_setup('public.clicks')")" \
	"55000 unkd.citus_setup needs the citus extension in this database" "citus_setup without citus: a clear error"

# the Citus cluster
citus_cluster_start
W1=$((CITUS_PORT_BASE + 1))
W2=$((CITUS_PORT_BASE + 2))
is "$(cq 0 "SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND isactive")" 2 "a coordinator and two active workers"
setup cq 0 1
setup_out=$(cq 0 "SELECT object || ': ' || action FROM unkd.citus_setup('public.clicks')")
same_text "$setup_out" "unkd.models: cascade trigger dropped (unkd's functions keep the embeddings in step)
unkd.models: reference table
unkd.item_embeddings: reference table
unkd.user_embeddings: distributed by user_id, colocated with public.clicks
unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean): delegated by user_id, colocated with public.clicks" \
	"citus_setup makes the registry reference tables, distributes user vectors, delegates recommend"
same_text "$(cq 0 "SELECT object || ': ' || action FROM unkd.citus_setup('public.clicks') LIMIT 3")" "unkd.models: already a reference table
unkd.item_embeddings: already a reference table
unkd.user_embeddings: already colocated with public.clicks" "citus_setup is idempotent"
is "$(cq 0 "SELECT string_agg(logicalrelid::text || '=' || partmethod::text, ' ' ORDER BY logicalrelid::text) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'unkd.%'")" \
	"unkd.item_embeddings=n unkd.models=n unkd.user_embeddings=h" "registry placement as pg_dist_partition records it"
is "$(cq 0 "SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE logicalrelid IN ('unkd.user_embeddings'::regclass, 'public.clicks'::regclass)")" 1 \
	"user embeddings are colocated with the interactions"

models cq 0
got=$(results cq 0)
same_text "$got" "$expected" "strata, groups, split, train, distill, recommend and evaluate on Citus equal a single node"

plan=$(cq 0 "EXPLAIN (VERBOSE) SELECT unkd.popularity_strata(item_id, 4) FROM public.clicks")
ok_if "$(grep -q 'worker_partial_agg' <<<"$plan" && grep -q 'coord_combine_agg' <<<"$plan"; echo $?)" \
	"EXPLAIN shows popularity_strata's partial step on the workers, combined on the coordinator" "$plan"
plan=$(cq 0 "EXPLAIN (VERBOSE) SELECT item_id % 4, unkd.popularity_strata(user_id, 2) FROM public.clicks GROUP BY 1")
ok_if "$(grep -q 'worker_partial_agg' <<<"$plan"; echo $?)" "grouped by a non-distribution column, the partial step still runs on the workers" "$plan"

# a plain call is delegated to the worker holding the user's shard
user=17
holder=$(cq 0 "SELECT n.nodeport FROM pg_dist_shard_placement n WHERE n.shardid = get_shard_id_for_distribution_column('unkd.user_embeddings', $user)")
log=$(CQ_OPTIONS="-c citus.log_remote_commands=on -c client_min_messages=notice" cq 0 "SELECT * FROM unkd.recommend($user, 5, 'student')" 2>&1 >/dev/null)
ok_if "$(grep -q "issuing SELECT item_id, score, rank FROM unkd.recommend('$user'::bigint" <<<"$log" && grep -q ":$holder connectionId" <<<"$log"; echo $?)" \
	"recommend($user) is delegated to the worker holding the user (port $holder)" "$log"
is "$(cq 0 "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend($user, 5, 'student')")" \
	"$(q "$SINGLE" "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend($user, 5, 'student')")" \
	"the delegated call returns the single node's items"
is "$(cq 1 "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend($user, 5, 'student')") $(cq 2 "SELECT count(*) FROM unkd.recommend($user, 5, 'student')")" \
	"$(q "$SINGLE" "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend($user, 5, 'student')") 5" \
	"recommend also serves on either worker directly"

# the registry is written on the coordinator only, with an early error elsewhere
for w in 1 2; do
	is "$(sqlstate_citus "$w" "SELECT 1 FROM unkd.train('w', 'public.train', dim => 4, epochs => 1)")" \
		"0A000 unkd.train() must run on the Citus coordinator" "train on worker $w: a clear error before training"
done
is "$(sqlstate_citus 1 "SELECT unkd.drop_model('teacher')")" "0A000 unkd.drop_model() must run on the Citus coordinator" \
	"drop_model on a worker: a clear error"
is "$(sqlstate_citus 1 "SELECT * FROM unkd.citus_setup('public.clicks')")" "0A000 unkd.citus_setup() must run on the Citus coordinator" \
	"citus_setup on a worker: a clear error"

# model privileges hold on delegated calls: RLS of the replicated registry
cq 0 "CREATE ROLE unkd_citus_reader LOGIN" >/dev/null
is "$(as_reader sqlstate_citus 0 "SELECT * FROM unkd.recommend($user, 5, 'student')" | cut -c1-5)" 42501 \
	"a role without a grant cannot serve the model through the delegated call"
is "$(as_reader cq 0 "SELECT count(*) FROM unkd.user_embeddings") $(as_reader cq 0 "SELECT count(*) FROM unkd.item_embeddings")" "0 0" \
	"nor read its vectors from the shards"
cq 0 "SELECT unkd.grant_model('student', 'unkd_citus_reader')" >/dev/null
is "$(as_reader cq 0 "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend($user, 5, 'student')")" \
	"$(q "$SINGLE" "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend($user, 5, 'student')")" \
	"after unkd.grant_model it can, on the worker"
is "$(as_reader cq 0 "SELECT count(DISTINCT model) FROM unkd.user_embeddings")" 1 "and reads that model's vectors only"
cq 0 "CREATE ROLE unkd_citus_owner; GRANT unkd_citus_owner TO unkd_citus_reader; GRANT SELECT ON public.train TO unkd_citus_owner" >/dev/null
cq 0 "SELECT unkd.alter_model_owner('teacher', 'unkd_citus_owner')" >/dev/null
registry="SELECT name, owner::text, readers::text FROM unkd.models ORDER BY name"
same_text "$(cq 1 "$registry")$(cq 2 "$registry")" "$(cq 0 "$registry")$(cq 0 "$registry")" \
	"owners and readers mean the same roles on every node (role OIDs differ)"
is "$(as_reader cq 0 "SELECT count(*) FROM unkd.recommend($user, 5, 'teacher')")" 5 "a member of the new owner serves the model on the worker"

# a seen relation not colocated with the user vectors is reported
cq 0 "CREATE TABLE public.seen_apart AS SELECT * FROM public.train" >/dev/null
cq 0 "SELECT create_distributed_table('public.seen_apart', 'user_id', colocate_with => 'none')" >/dev/null
cq 0 "SELECT 1 FROM unkd.train('local_seen', 'public.train', dim => 4, epochs => 2, seen => 'public.seen_apart', notice_every => 0)" >/dev/null
warn=$(CQ_OPTIONS="-c client_min_messages=warning" cq 0 "SELECT count(*) FROM unkd.recommend(1, 5, 'local_seen')" 2>&1 >/dev/null || true)
ok_if "$(grep -q 'seen relation public.seen_apart of model "local_seen" is not colocated' <<<"$warn"; echo $?)" \
	"serving warns when the seen relation is not colocated" "$warn"

# a batch over a distributed users table runs recommend on the shards
cq 0 "CREATE TABLE public.users AS SELECT DISTINCT user_id FROM public.clicks" >/dev/null
cq 0 "SELECT create_distributed_table('public.users', 'user_id', colocate_with => 'public.clicks')" >/dev/null
q "$SINGLE" "CREATE TABLE public.users AS SELECT DISTINCT user_id FROM public.clicks" >/dev/null
batch="SELECT count(*), md5(string_agg(u.user_id || ':' || r.item_id || ':' || r.rank, ',' ORDER BY u.user_id, r.rank)) FROM public.users u, LATERAL unkd.recommend(u.user_id, 5, 'student') r"
is "$(cq 0 "$batch")" "$(q "$SINGLE" "$batch")" "a batch over a distributed users table equals the single node (no nested-execution setting needed)"
plan=$(cq 0 "EXPLAIN $batch")
ok_if "$(grep -q "Task Count: $CITUS_SHARDS" <<<"$plan" && grep -q 'Function Scan on recommend' <<<"$plan"; echo $?)" \
	"and runs recommend on every shard" "$plan"

# drop and rename keep the distributed embeddings in step (no foreign keys)
cq 0 "SELECT unkd.rename_model('local_seen', 'renamed')" >/dev/null
is "$(cq 0 "SELECT count(*) FILTER (WHERE model = 'renamed') > 0, count(*) FILTER (WHERE model = 'local_seen') FROM unkd.user_embeddings")" "t|0" \
	"rename_model moves the user vectors on the shards"
cq 0 "SELECT unkd.drop_model('renamed')" >/dev/null
is "$(cq 0 "SELECT (SELECT count(*) FROM unkd.user_embeddings WHERE model = 'renamed') + (SELECT count(*) FROM unkd.item_embeddings WHERE model = 'renamed')")" 0 \
	"drop_model removes its vectors from every node"
is "$(cq 1 "SELECT count(*) FROM unkd.models WHERE name = 'renamed'")" 0 "and its registry row from the workers' replicas"

# undo (docs/citus.md): copy the models out, recreate the extension, copy them in
cq 0 "CREATE TABLE public.models_bak AS SELECT * FROM unkd.models;
	CREATE TABLE public.user_embeddings_bak AS SELECT * FROM unkd.user_embeddings;
	CREATE TABLE public.item_embeddings_bak AS SELECT * FROM unkd.item_embeddings" >/dev/null
cq 0 "SET unkd.drop_models = on; DROP EXTENSION unkd CASCADE" >/dev/null 2>&1
cq 0 "CREATE EXTENSION unkd" >/dev/null
cq 0 "INSERT INTO unkd.models SELECT * FROM public.models_bak;
	INSERT INTO unkd.user_embeddings SELECT * FROM public.user_embeddings_bak;
	INSERT INTO unkd.item_embeddings SELECT * FROM public.item_embeddings_bak;
	SELECT setval('unkd.model_version_seq', (SELECT max(version_id) FROM unkd.models))" >/dev/null
is "$(cq 0 "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'unkd.%'")" 0 "undo: the registry is local again"
is "$(cq 0 "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend($user, 5, 'student')")" \
	"$(q "$SINGLE" "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend($user, 5, 'student')")" \
	"undo: the coordinator serves the models as before"
log=$(CQ_OPTIONS="-c citus.log_remote_commands=on -c client_min_messages=notice" cq 0 "SELECT * FROM unkd.recommend($user, 5, 'student')" 2>&1 >/dev/null)
ok_if "$(grep -q "FROM unkd.recommend(" <<<"$log"; [ $? = 1 ]; echo $?)" "undo: recommend is no longer delegated" "$log"
cq 0 "SELECT unkd.drop_model('teacher')" >/dev/null
cq 0 "DELETE FROM unkd.models WHERE name = 'student'" >/dev/null
is "$(cq 0 "SELECT count(*) FROM unkd.user_embeddings")" 0 "undo: drop_model, and the cascade trigger for a hand-written delete"

ops_done
