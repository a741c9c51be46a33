#!/usr/bin/env bash
# ALTER EXTENSION unkd UPDATE from the released 0.1.0 keeps trained models
# serving the same rows, and leaves the same objects as a fresh 0.2.0 install.
source "$(dirname "$0")/lib.sh"

OLD=unkd_ops_upgraded
NEW=unkd_ops_fresh
SRC=unkd_ops_source
TRAINER=unkd_ops_old_trainer
OWNER=unkd_ops_data_owner
MODEL_COLUMNS="name, version_id, version, kind, method, dim, n_users, n_items, n_interactions, strata,
	interactions, user_column, item_column, params, metrics, deployed, trained_at, train_seconds"

# Drop the databases and roles (EXIT trap)
cleanup() {
	drop_dbs "$OLD" "$NEW" "$SRC"
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $TRAINER" -c "DROP ROLE IF EXISTS $OWNER" >/dev/null 2>&1 || true
	ops_cleanup
}
trap cleanup EXIT

# Recommendations of users 1..5 of model "up"
recommendations() {
	q "$1" "SELECT u, r.item_id, r.score, r.rank
		FROM pg_catalog.generate_series(1, 5) u, LATERAL unkd.recommend(u, 5, 'up') r ORDER BY u, r.rank"
}

# Every object of the extension and its definition, free of OIDs and of the
# order in which the objects were created (pg_dump prints only CREATE
# EXTENSION for them, so the catalogs are read directly)
extension_objects() {
	q "$1" "
	WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_catalog.pg_extension WHERE extname = 'unkd'),
	members AS (
		SELECT d.classid, d.objid, d.objsubid FROM pg_catalog.pg_depend d, ext
		WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
	SELECT * FROM (
		SELECT 'member ' || pg_catalog.pg_describe_object(classid, objid, objsubid) FROM members
		UNION ALL
		SELECT 'function ' || p.oid::pg_catalog.regprocedure::text || ' ' || p.prokind::text || ' '
			|| CASE WHEN p.prokind = 'a' THEN '' ELSE pg_catalog.pg_get_functiondef(p.oid) END
			|| ' acl=' || coalesce(p.proacl::text, '-')
			|| ' comment=' || coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '-')
		FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'unkd'::pg_catalog.regnamespace
		UNION ALL
		SELECT 'aggregate ' || a.aggfnoid::pg_catalog.regprocedure::text || ' ' || pg_catalog.concat_ws(' ',
			a.aggkind, a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn,
			a.aggfinalextra, a.aggtranstype::pg_catalog.regtype, a.agginitval)
		FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
		WHERE p.pronamespace = 'unkd'::pg_catalog.regnamespace
		UNION ALL
		SELECT 'relation ' || pg_catalog.concat_ws(' ', c.relname, c.relkind, c.relpersistence,
			c.relrowsecurity, c.relforcerowsecurity, c.reloptions::text, coalesce(c.relacl::text, '-'),
			coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '-'))
		FROM pg_catalog.pg_class c WHERE c.relnamespace = 'unkd'::pg_catalog.regnamespace
		UNION ALL
		SELECT 'column ' || pg_catalog.concat_ws(' ', c.relname, a.attnum, a.attname,
			pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated,
			pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), coalesce(a.attacl::text, '-'),
			coalesce(pg_catalog.col_description(c.oid, a.attnum), '-'))
		FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
		LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
		WHERE c.relnamespace = 'unkd'::pg_catalog.regnamespace AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL
		SELECT 'constraint ' || con.conrelid::pg_catalog.regclass::text || ' ' || con.conname || ' '
			|| pg_catalog.pg_get_constraintdef(con.oid)
		FROM pg_catalog.pg_constraint con WHERE con.connamespace = 'unkd'::pg_catalog.regnamespace
		UNION ALL
		SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
		FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
		WHERE c.relnamespace = 'unkd'::pg_catalog.regnamespace
		UNION ALL
		SELECT 'policy ' || pg_catalog.concat_ws(' ', pol.polrelid::pg_catalog.regclass, pol.polname, pol.polcmd,
			pol.polpermissive, pol.polroles::pg_catalog.regrole[]::text,
			pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid))
		FROM pg_catalog.pg_policy pol JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid
		WHERE c.relnamespace = 'unkd'::pg_catalog.regnamespace
		UNION ALL
		SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid)
		FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
		WHERE c.relnamespace = 'unkd'::pg_catalog.regnamespace AND NOT t.tgisinternal
		UNION ALL
		SELECT 'type ' || t.oid::pg_catalog.regtype::text || ' ' || t.typtype::text
		FROM pg_catalog.pg_type t WHERE t.typnamespace = 'unkd'::pg_catalog.regnamespace
		UNION ALL
		SELECT 'sequence ' || pg_catalog.concat_ws(' ', s.seqrelid::pg_catalog.regclass, s.seqtypid::pg_catalog.regtype,
			s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
		FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
		WHERE c.relnamespace = 'unkd'::pg_catalog.regnamespace
		UNION ALL
		SELECT 'schema ' || n.nspname || ' ' || coalesce(n.nspacl::text, '-')
		FROM pg_catalog.pg_namespace n WHERE n.nspname = 'unkd'
		UNION ALL
		SELECT 'config dump ' || cfg::pg_catalog.regclass::text || ' ' || coalesce(cond, '-')
		FROM ext, LATERAL ROWS FROM (pg_catalog.unnest(ext.extconfig), pg_catalog.unnest(ext.extcondition)) AS x(cfg, cond)
	) objects(o) ORDER BY 1"
}

# A model trained by unkd, in 0.1.0's registry format. Only the current
# library is installed, and it refuses 0.1.0's SQL objects (next check), so
# the model is trained in a 0.2.0 database and its rows copied, column for
# column, into the 0.1.0 tables, as 0.1.0's unkd.train would have written them.
fresh_db "$SRC"
q "$SRC" "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(150, 80, 8, 1.0, 7)" >/dev/null
q "$SRC" "SELECT unkd.train('up', 'public.events', dim => 8, epochs => 5, seed => 3, notice_every => 0)" >/dev/null

# the released version, with that model deployed, and a trainer with the
# table grants 0.1.0's docs told admins to give
fresh_db "$OLD" 0.1.0
is "$(q "$OLD" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'unkd'")" 0.1.0 "CREATE EXTENSION unkd VERSION '0.1.0'"
q postgres "DROP ROLE IF EXISTS $TRAINER; CREATE ROLE $TRAINER; DROP ROLE IF EXISTS $OWNER; CREATE ROLE $OWNER" >/dev/null
q "$OLD" "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(150, 80, 8, 1.0, 7)" >/dev/null
q "$OLD" "ALTER TABLE public.events OWNER TO $OWNER" >/dev/null
q "$OLD" "CREATE INDEX events_user ON public.events (user_id)" >/dev/null
q "$OLD" "GRANT INSERT, UPDATE, DELETE ON unkd.models, unkd.user_embeddings, unkd.item_embeddings TO $TRAINER;
	GRANT USAGE ON SEQUENCE unkd.model_version_seq TO $TRAINER" >/dev/null
psql -X -q -d "$SRC" -c "COPY (SELECT $MODEL_COLUMNS FROM unkd.models) TO STDOUT" |
	psql -X -q -d "$OLD" -c "COPY unkd.models ($MODEL_COLUMNS) FROM STDIN"
# (0.1.0's columns only: 0.2.0 added the key columns of text and uuid ids)
for t in "user_embeddings (model, user_id, embedding)" "item_embeddings (model, item_id, popularity, embedding)"; do
	psql -X -q -d "$SRC" -c "COPY unkd.$t TO STDOUT" | psql -X -q -d "$OLD" -c "COPY unkd.$t FROM STDIN"
done
q "$OLD" "SELECT pg_catalog.setval('unkd.model_version_seq', (SELECT max(version_id) FROM unkd.models))" >/dev/null
q "$OLD" "UPDATE unkd.models SET deployed = true WHERE name = 'up'" >/dev/null
is "$(sqlstate_of "$OLD" "SELECT * FROM unkd.recommend(1, 5, 'up')" | cut -c1-5)" 55000 \
	"the new library on 0.1.0's objects: a clear error naming ALTER EXTENSION, not wrong results"
before=$(recommendations "$SRC")
vid_before=$(q "$OLD" "SELECT version_id FROM unkd.models WHERE name = 'up'")

# the upgrade
upd_err=$(q "$OLD" "ALTER EXTENSION unkd UPDATE" 2>&1) && upd_rc=0 || upd_rc=$?
is "$upd_rc" 0 "ALTER EXTENSION unkd UPDATE succeeds"
[ "$upd_rc" = 0 ] || printf '%s\n' "$upd_err" | head -10 | sed 's/^/# /'
is "$(q "$OLD" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'unkd'")" 0.2.0 "the extension is now 0.2.0"
is "$(q "$OLD" "SELECT version_id FROM unkd.models WHERE name = 'up'")" "$vid_before" "the model keeps its version"
same_text "$(recommendations "$OLD" 2>&1)" "$before" "the upgraded extension serves the same rows as the model's training"
is "$(q "$OLD" "SELECT owner FROM unkd.models WHERE name = 'up'")" "$OWNER" \
	"a 0.1.0 model is owned by the owner of its training relation (whose code serving runs)"
is "$(q "$OLD" "SELECT pg_catalog.has_table_privilege('$TRAINER', 'unkd.models', 'INSERT')")" f \
	"a 0.1.0 trainer loses its write grant on the registry"
is "$(q "$OLD" "SELECT pg_catalog.has_function_privilege('$TRAINER', 'unkd.train(text,regclass,integer,integer,bigint,double precision,double precision,double precision,regclass,integer,integer,integer,text,text,regclass,boolean,interval,text,double precision,integer)', 'EXECUTE')")" t \
	"... and may call unkd.train instead"
is "$(q "$OLD" "SELECT count(*) FROM unkd.recommend(1, 5)")" 5 "the deployed model still serves"
gt "$(q "$OLD" "SELECT version FROM unkd.train('up', 'public.events', dim => 8, epochs => 5, seed => 3, notice_every => 0)" 2>&1)" 1 \
	"the upgraded extension retrains the model"

# a fresh install of 0.2.0 has the same objects as the upgraded one
fresh_db "$NEW"
is "$(q "$NEW" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'unkd'")" 0.2.0 "CREATE EXTENSION unkd installs 0.2.0"
q "$NEW" "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(150, 80, 8, 1.0, 7)" >/dev/null
q "$NEW" "CREATE INDEX events_user ON public.events (user_id)" >/dev/null
q "$NEW" "ALTER TABLE public.events OWNER TO $OWNER" >/dev/null
# the converted trainer grant is the one intended difference
q "$OLD" "REVOKE EXECUTE ON FUNCTION unkd.train, unkd.distill, unkd.retrain FROM $TRAINER" >/dev/null
upgraded=$(extension_objects "$OLD")
fresh=$(extension_objects "$NEW")
gt "$(printf '%s\n' "$fresh" | wc -l)" 100 "the catalog comparison sees the extension's objects"
same_text "$upgraded" "$fresh" "fresh 0.2.0 and upgraded 0.1.0 -> 0.2.0 have identical functions, tables, columns, constraints, indexes, policies, grants, comments, config dumps"
same_text "$(pg_dump --schema-only "$OLD" | grep -vE "^--|^\$|^\\\\(un)?restrict |$TRAINER")" "$(pg_dump --schema-only "$NEW" | grep -vE '^--|^$|^\\(un)?restrict ')" \
	"pg_dump --schema-only of both databases is identical"
ops_done
