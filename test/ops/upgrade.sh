#!/usr/bin/env bash
# ALTER EXTENSION unkd UPDATE from the released 0.1.0 keeps trained models
# serving the same rows, and leaves the same objects as a fresh 0.2.0 install.
source "$(dirname "$0")/lib.sh"

OLD=unkd_ops_upgraded
NEW=unkd_ops_fresh

# Drop both databases (EXIT trap)
cleanup() {
	drop_dbs "$OLD" "$NEW"
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

# the released version, with a trained model serving
fresh_db "$OLD" 0.1.0
is "$(q "$OLD" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'unkd'")" 0.1.0 "CREATE EXTENSION unkd VERSION '0.1.0'"
q "$OLD" "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(150, 80, 8, 1.0, 7)" >/dev/null
q "$OLD" "CREATE INDEX events_user ON public.events (user_id)" >/dev/null
q "$OLD" "SELECT unkd.train('up', 'public.events', dim => 8, epochs => 5, seed => 3, notice_every => 0)" >/dev/null
q "$OLD" "SELECT unkd.deploy('up')" >/dev/null
before=$(recommendations "$OLD")
vid_before=$(q "$OLD" "SELECT version_id FROM unkd.models WHERE name = 'up'")

# the upgrade
upd_err=$(q "$OLD" "ALTER EXTENSION unkd UPDATE" 2>&1) && upd_rc=0 || upd_rc=$?
is "$upd_rc" 0 "ALTER EXTENSION unkd UPDATE succeeds"
[ "$upd_rc" = 0 ] || printf '%s\n' "$upd_err" | head -10 | sed 's/^/# /'
is "$(q "$OLD" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'unkd'")" 0.2.0 "the extension is now 0.2.0"
is "$(q "$OLD" "SELECT version_id FROM unkd.models WHERE name = 'up'")" "$vid_before" "the model keeps its version"
same_text "$(recommendations "$OLD" 2>&1)" "$before" "the upgraded extension serves the same rows"
is "$(q "$OLD" "SELECT count(*) FROM unkd.recommend(1, 5)")" 5 "the deployed model still serves"
gt "$(q "$OLD" "SELECT version FROM unkd.train('up', 'public.events', dim => 8, epochs => 5, seed => 3, notice_every => 0)" 2>&1)" 1 \
	"the upgraded extension retrains the model"

# a fresh install of 0.2.0 has the same objects as the upgraded one
fresh_db "$NEW"
is "$(q "$NEW" "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'unkd'")" 0.2.0 "CREATE EXTENSION unkd installs 0.2.0"
q "$NEW" "CREATE TABLE public.events AS SELECT * FROM unkd.synthetic_interactions(150, 80, 8, 1.0, 7)" >/dev/null
q "$NEW" "CREATE INDEX events_user ON public.events (user_id)" >/dev/null
upgraded=$(extension_objects "$OLD")
fresh=$(extension_objects "$NEW")
gt "$(printf '%s\n' "$fresh" | wc -l)" 100 "the catalog comparison sees the extension's objects"
same_text "$upgraded" "$fresh" "fresh 0.2.0 and upgraded 0.1.0 -> 0.2.0 have identical functions, tables, columns, constraints, indexes, policies, grants, comments, config dumps"
same_text "$(pg_dump --schema-only "$OLD" | grep -vE '^--|^$|^\\(un)?restrict ')" "$(pg_dump --schema-only "$NEW" | grep -vE '^--|^$|^\\(un)?restrict ')" \
	"pg_dump --schema-only of both databases is identical"
ops_done
