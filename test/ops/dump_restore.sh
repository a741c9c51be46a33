#!/usr/bin/env bash
# pg_dump -Fc / pg_restore of a database with 20 models restores every model,
# the deployed flag and the version sequence: the registry tables and
# unkd.model_version_seq are extension configuration (pg_extension_config_dump).
source "$(dirname "$0")/lib.sh"

SRC=unkd_ops_dump_src
DST=unkd_ops_dump_dst
N_MODELS=20
DUMP_DIR=""

# Drop the databases and the dump file
cleanup() {
	drop_dbs "$SRC" "$DST"
	[ -n "$DUMP_DIR" ] && rm -rf "$DUMP_DIR"
	ops_cleanup
}
trap cleanup EXIT

# Two interaction tables and N_MODELS small models on them, one deployed
make_source() {
	fresh_db "$SRC"
	q "$SRC" "CREATE TABLE public.clicks AS SELECT * FROM unkd.synthetic_interactions(120, 60, 8, 1.0, 3)" >/dev/null
	q "$SRC" "CREATE TABLE public.views AS SELECT * FROM unkd.synthetic_interactions(90, 70, 6, 0.8, 4)" >/dev/null
	q "$SRC" "CREATE INDEX ON public.clicks (user_id); CREATE INDEX ON public.views (user_id)" >/dev/null
	q "$SRC" "SELECT count(*) FROM pg_catalog.generate_series(1, $N_MODELS) s,
		LATERAL unkd.train('m' || pg_catalog.lpad(s::text, 2, '0'),
			CASE WHEN s % 2 = 0 THEN 'public.clicks' ELSE 'public.views' END::regclass,
			dim => 4, epochs => 3, seed => s, notice_every => 0) t" >/dev/null
	q "$SRC" "SELECT unkd.deploy('m07')" >/dev/null
}

# Recommendations of users 1..4 of every model, and of the deployed one
recommendations() {
	q "$1" "SELECT m.name, u, r.item_id, r.score, r.rank
		FROM unkd.models m, pg_catalog.generate_series(1, 4) u, LATERAL unkd.recommend(u, 5, m.name) r
		ORDER BY m.name, u, r.rank"
	q "$1" "SELECT 'deployed', u, r.item_id, r.score, r.rank
		FROM pg_catalog.generate_series(1, 4) u, LATERAL unkd.recommend(u, 5) r ORDER BY u, r.rank"
}

# Registry rows that must survive the round trip unchanged
registry() {
	q "$1" "SELECT name, version_id, version, kind, method, dim, n_users, n_items, deployed, params, metrics
		FROM unkd.models ORDER BY name"
}

make_source
DUMP_DIR=$(mktemp -d /tmp/unkd-dump.XXXXXX)
pg_dump -Fc -f "$DUMP_DIR/src.dump" "$SRC"
q postgres "DROP DATABASE IF EXISTS $DST" >/dev/null
q postgres "CREATE DATABASE $DST" >/dev/null
restore_err=$(pg_restore --exit-on-error -d "$DST" "$DUMP_DIR/src.dump" 2>&1) && restore_rc=0 || restore_rc=$?
is "$restore_rc" 0 "pg_restore succeeds"
[ "$restore_rc" = 0 ] || printf '%s\n' "$restore_err" | head -20 | sed 's/^/# /'

is "$(q "$DST" "SELECT count(*) FROM unkd.models")" "$N_MODELS" "all $N_MODELS models restored"
is "$(q "$DST" "SELECT count(*) FROM unkd.user_embeddings")" "$(q "$SRC" "SELECT count(*) FROM unkd.user_embeddings")" \
	"every user embedding restored"
is "$(q "$DST" "SELECT count(*) FROM unkd.item_embeddings")" "$(q "$SRC" "SELECT count(*) FROM unkd.item_embeddings")" \
	"every item embedding restored"
same_text "$(registry "$DST" 2>&1)" "$(registry "$SRC")" "registry rows identical (version ids, params, metrics)"
is "$(q "$DST" "SELECT name FROM unkd.models WHERE deployed")" "m07" "the same model is deployed"
same_text "$(recommendations "$DST" 2>&1)" "$(recommendations "$SRC")" \
	"recommend: identical rows for users 1-4 of every model and of the deployed model"
is "$(q "$DST" "SELECT last_value FROM unkd.model_version_seq")" "$(q "$SRC" "SELECT last_value FROM unkd.model_version_seq")" \
	"model_version_seq restored at its position"

# a new training after the restore takes a fresh version id, in both kinds of row
max_before=$(q "$DST" "SELECT max(version_id) FROM unkd.models")
new_vid=$(q "$DST" "SELECT version_id FROM unkd.train('m03', 'public.views', dim => 4, epochs => 3, seed => 99, notice_every => 0)" 2>&1) || true
gt "$new_vid" "$max_before" "retraining after restore gets a fresh version_id"
new_vid=$(q "$DST" "SELECT version_id FROM unkd.train('m21', 'public.clicks', dim => 4, epochs => 3, notice_every => 0)" 2>&1) || true
gt "$new_vid" "$max_before" "a new model after restore gets a fresh version_id"
ops_done
