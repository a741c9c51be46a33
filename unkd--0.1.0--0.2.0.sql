/* unkd--0.1.0--0.2.0.sql: upgrade of the unkd extension from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION unkd UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Argument checks: NULL arguments raise 22004 instead of returning no rows
------------------------------------------------------------------------------

-- The data helpers and the sampler were STRICT, so a NULL argument silently
-- gave no rows; they now check every argument in C like the other functions.
ALTER FUNCTION unkd.popularity_groups(regclass, integer, text, text) CALLED ON NULL INPUT;
ALTER FUNCTION unkd.synthetic_interactions(integer, integer, integer, double precision, bigint) CALLED ON NULL INPUT;
ALTER FUNCTION unkd.split(regclass, double precision, bigint, text, text) CALLED ON NULL INPUT;
ALTER FUNCTION unkd.sample_ranks(integer, integer, double precision, bigint) CALLED ON NULL INPUT;

------------------------------------------------------------------------------
-- Security model (docs/security.md)
--
-- Models have an owner; only the owner (a role with the owner's privileges,
-- or a superuser) retrains, deploys, renames, grants or drops a model.
-- Reading a model (serving, evaluation, distilling from it, selecting its
-- rows) needs the owner's privileges or a grant from unkd.grant_model.
-- The registry is written only by unkd's functions, which check these rules
-- and then act as the registry's owner; no other role may change the tables.
------------------------------------------------------------------------------

-- the install script must not run in a schema an untrusted role controls
DO $$
DECLARE
	schema_owner oid;
BEGIN
	SELECT n.nspowner INTO schema_owner FROM pg_catalog.pg_namespace n
	WHERE n.nspname OPERATOR(pg_catalog.=) 'unkd';
	IF schema_owner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
	   AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) schema_owner) THEN
		RAISE EXCEPTION 'schema unkd is owned by role %, not by the installing role or a superuser',
			schema_owner::pg_catalog.regrole
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Drop or rename that schema (its owner could replace unkd''s objects), then create the extension again.';
	END IF;
END $$;

ALTER TABLE unkd.models
	ADD COLUMN owner pg_catalog.regrole,
	ADD COLUMN readers pg_catalog.regrole[] NOT NULL DEFAULT '{}',
	ADD COLUMN seen text;

-- A 0.1.0 model is owned by the owner of its training relation: serving
-- reads that relation as the model's owner, so its owner's code runs with
-- its owner's rights, never with a caller's.
UPDATE unkd.models m SET
	owner = COALESCE(
		(SELECT c.relowner FROM pg_catalog.pg_class c
		 WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(m.interactions)),
		(SELECT e.extowner FROM pg_catalog.pg_extension e
		 WHERE e.extname OPERATOR(pg_catalog.=) 'unkd'))::pg_catalog.regrole,
	seen = m.interactions;

ALTER TABLE unkd.models
	ALTER COLUMN owner SET NOT NULL,
	ALTER COLUMN owner SET DEFAULT CURRENT_USER::pg_catalog.regrole;

COMMENT ON COLUMN unkd.models.owner IS 'the role that owns the model: it alone (or a role with its privileges) changes it, and serving reads the seen relation as this role';
COMMENT ON COLUMN unkd.models.readers IS 'roles that may serve and read the model besides its owner (unkd.grant_model; - means PUBLIC)';
COMMENT ON COLUMN unkd.models.interactions IS 'the training interactions relation, as a qualified name';
COMMENT ON COLUMN unkd.models.seen IS 'the relation whose (user, item) rows recommend() and evaluate() exclude, as a qualified name (NULL: the training relation)';

-- whether the current role may read a model: the row-level security rule
CREATE FUNCTION unkd.can_read(owner pg_catalog.regrole, readers pg_catalog.regrole[])
RETURNS boolean
AS 'MODULE_PATHNAME', 'unkd_can_read' LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION unkd.can_read(pg_catalog.regrole, pg_catalog.regrole[]) IS
'true when the current role has the privileges of the owner or of one of the readers (0 = PUBLIC)';

REVOKE ALL ON unkd.models, unkd.user_embeddings, unkd.item_embeddings FROM PUBLIC;
REVOKE ALL ON SEQUENCE unkd.model_version_seq FROM PUBLIC;

GRANT SELECT ON unkd.models, unkd.user_embeddings, unkd.item_embeddings TO PUBLIC;
ALTER TABLE unkd.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE unkd.user_embeddings ENABLE ROW LEVEL SECURITY;
ALTER TABLE unkd.item_embeddings ENABLE ROW LEVEL SECURITY;

CREATE POLICY models_readable ON unkd.models FOR SELECT
	USING (unkd.can_read(owner, readers));
CREATE POLICY user_embeddings_readable ON unkd.user_embeddings FOR SELECT
	USING (EXISTS (SELECT FROM unkd.models m WHERE m.name OPERATOR(pg_catalog.=) model));
CREATE POLICY item_embeddings_readable ON unkd.item_embeddings FOR SELECT
	USING (EXISTS (SELECT FROM unkd.models m WHERE m.name OPERATOR(pg_catalog.=) model));

------------------------------------------------------------------------------
-- Training: seen relation, replace, time limit; retrain; model management
------------------------------------------------------------------------------

DROP FUNCTION unkd.train(text, regclass, integer, integer, bigint, double precision, double precision, double precision, regclass, integer, integer, integer, text, text);

-- Not STRICT: validation, seen, time_limit and the teacher arguments may be
-- NULL; the C code rejects NULL in every other argument with a clear error.
CREATE FUNCTION unkd.train(
	name text,
	interactions regclass,
	dim integer DEFAULT 100,
	epochs integer DEFAULT 1000,
	seed bigint DEFAULT 0,
	lr double precision DEFAULT 0.05,
	decay double precision DEFAULT 0.01,
	init_std double precision DEFAULT 0.1,
	validation regclass DEFAULT NULL,
	eval_every integer DEFAULT 5,
	patience integer DEFAULT 10,
	notice_every integer DEFAULT 10,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id',
	seen regclass DEFAULT NULL,
	replace boolean DEFAULT false,
	time_limit interval DEFAULT NULL,
	optimizer text DEFAULT 'adagrad',
	validation_fraction double precision DEFAULT 0.1,
	workers integer DEFAULT NULL)
RETURNS unkd.models
AS 'MODULE_PATHNAME', 'unkd_train' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.train(text, regclass, integer, integer, bigint, double precision, double precision, double precision, regclass, integer, integer, integer, text, text, regclass, boolean, interval, text, double precision, integer) IS
'train a BPR matrix factorisation model (a teacher) and store it as the new version of name';

DROP FUNCTION unkd.distill(text, regclass, text, regclass, integer, integer, integer, double precision, integer, bigint, double precision, double precision, double precision, regclass, integer, integer, integer, text, text, integer, double precision, text, double precision, double precision);

CREATE FUNCTION unkd.distill(
	name text,
	interactions regclass,
	teacher text DEFAULT NULL,
	teacher_scores regclass DEFAULT NULL,
	dim integer DEFAULT 10,
	n_groups integer DEFAULT 4,
	samples integer DEFAULT 30,
	kd_weight double precision DEFAULT 1.0,
	epochs integer DEFAULT 1000,
	seed bigint DEFAULT 0,
	lr double precision DEFAULT NULL,
	decay double precision DEFAULT NULL,
	init_std double precision DEFAULT 0.1,
	validation regclass DEFAULT NULL,
	eval_every integer DEFAULT 5,
	patience integer DEFAULT 10,
	notice_every integer DEFAULT 10,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id',
	candidates integer DEFAULT 200,
	mu double precision DEFAULT 30,
	score_column text DEFAULT 'score',
	kd_decay double precision DEFAULT 0,
	group_weight_exponent double precision DEFAULT 0.1,
	seen regclass DEFAULT NULL,
	replace boolean DEFAULT false,
	time_limit interval DEFAULT NULL,
	optimizer text DEFAULT 'adagrad',
	validation_fraction double precision DEFAULT 0.1,
	workers integer DEFAULT NULL)
RETURNS unkd.models
AS 'MODULE_PATHNAME', 'unkd_distill' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.distill(text, regclass, text, regclass, integer, integer, integer, double precision, integer, bigint, double precision, double precision, double precision, regclass, integer, integer, integer, text, text, integer, double precision, text, double precision, double precision, regclass, boolean, interval, text, double precision, integer) IS
'train a compact student with popularity-stratified (n_groups >= 2), standard (n_groups = 1) or no (kd_weight = 0) rank-aware distillation from a teacher model or score table';

CREATE FUNCTION unkd.retrain(name text, time_limit interval DEFAULT NULL)
RETURNS unkd.models
AS 'MODULE_PATHNAME', 'unkd_retrain' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.retrain(text, interval) IS
'train a new version of a model from its stored parameters on the current contents of its tables, reading them as the model''s owner';

CREATE FUNCTION unkd.rename_model(name text, new_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'unkd_rename_model' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.rename_model(text, text) IS
'give a model a new name; its versions, grants and deployment stay';

CREATE FUNCTION unkd.grant_model(name text, grantee text)
RETURNS void
AS 'MODULE_PATHNAME', 'unkd_grant_model' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.grant_model(text, text) IS
'let a role (or PUBLIC) serve, evaluate, distil from and read a model';

CREATE FUNCTION unkd.revoke_model(name text, grantee text)
RETURNS void
AS 'MODULE_PATHNAME', 'unkd_revoke_model' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.revoke_model(text, text) IS
'take back a grant_model';

CREATE FUNCTION unkd.alter_model_owner(name text, new_owner text)
RETURNS void
AS 'MODULE_PATHNAME', 'unkd_alter_model_owner' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.alter_model_owner(text, text) IS
'give a model to another role (the caller must manage the model and be a member of the new owner)';

-- creating models is a privilege, as CREATE on a schema is: grant it with
-- GRANT EXECUTE ON FUNCTION unkd.train, unkd.distill, unkd.retrain TO role
REVOKE EXECUTE ON FUNCTION unkd.train, unkd.distill, unkd.retrain FROM PUBLIC;

-- 0.1.0 documented table grants for trainers: turn them into the right to
-- call the training functions, and take back the right to write any model
DO $$
DECLARE
	trainer pg_catalog.regrole;
BEGIN
	FOR trainer IN
		SELECT DISTINCT a.grantee::pg_catalog.regrole
		FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
		WHERE c.oid OPERATOR(pg_catalog.=) 'unkd.models'::pg_catalog.regclass
		  AND a.privilege_type OPERATOR(pg_catalog.=) 'INSERT'
		  AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
		  AND a.grantee OPERATOR(pg_catalog.<>) 0
	LOOP
		EXECUTE pg_catalog.format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON unkd.models, unkd.user_embeddings, unkd.item_embeddings FROM %s', trainer);
		EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE unkd.model_version_seq FROM %s', trainer);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION unkd.train, unkd.distill, unkd.retrain TO %s', trainer);
		RAISE NOTICE 'role % may now train with unkd.train, unkd.distill and unkd.retrain instead of writing the registry tables', trainer;
	END LOOP;
END $$;

------------------------------------------------------------------------------
-- DROP EXTENSION must not silently drop every model
------------------------------------------------------------------------------

CREATE FUNCTION unkd.keep_models_on_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'unkd_keep_models_on_drop' LANGUAGE C;

COMMENT ON FUNCTION unkd.keep_models_on_drop() IS
'event trigger: refuses DROP EXTENSION unkd while models exist, unless unkd.drop_models is on';

CREATE EVENT TRIGGER unkd_keep_models_on_drop ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION')
	EXECUTE FUNCTION unkd.keep_models_on_drop();

------------------------------------------------------------------------------
-- Registry dump
------------------------------------------------------------------------------

-- pg_dump leaves out the contents of an extension's objects unless they are
-- marked as configuration: without this, dump and restore of a database loses
-- every model, and the restored sequence would hand out version ids again.
SELECT pg_catalog.pg_extension_config_dump('unkd.models', '');
SELECT pg_catalog.pg_extension_config_dump('unkd.user_embeddings', '');
SELECT pg_catalog.pg_extension_config_dump('unkd.item_embeddings', '');
SELECT pg_catalog.pg_extension_config_dump('unkd.model_version_seq', '');

------------------------------------------------------------------------------
-- Time-based splits (docs/data.md)
--
-- Honest evaluation on data with timestamps is by time: split gains an
-- order column (each user's latest interactions are the test set), and
-- split_at cuts the whole table at one point in time.
------------------------------------------------------------------------------

-- order_column goes last, so every existing call keeps its meaning; the old
-- function is dropped at the end, once its privileges are copied over

CREATE FUNCTION unkd.split(
	interactions regclass,
	test_fraction double precision DEFAULT 0.2,
	seed bigint DEFAULT 0,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id',
	order_column text DEFAULT NULL)
RETURNS TABLE(user_id bigint, item_id bigint, is_test boolean)
AS 'MODULE_PATHNAME', 'unkd_split' LANGUAGE C STABLE;

COMMENT ON FUNCTION unkd.split(regclass, double precision, bigint, text, text, text) IS
'per-user train/test split of the distinct interactions: random and deterministic for a seed, or with order_column the latest test_fraction of each user';

-- cut is anycompatible rather than anyelement so that a quoted literal
-- ('2024-03-01') arrives as text and is read as the column's type; with
-- anyelement PostgreSQL rejects it as of unknown type
CREATE FUNCTION unkd.split_at(
	interactions regclass,
	order_column text,
	cut anycompatible,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id')
RETURNS TABLE(user_id bigint, item_id bigint, is_test boolean)
AS 'MODULE_PATHNAME', 'unkd_split_at' LANGUAGE C STABLE;

COMMENT ON FUNCTION unkd.split_at(regclass, text, anycompatible, text, text) IS
'global train/test split in time: a distinct interaction is test when its first occurrence is at or after cut';

------------------------------------------------------------------------------
-- Fold-in (docs/evaluate.md, docs/recommend.md)
--
-- A user the model was not trained on, with rows in the seen relation, gets
-- a user vector computed from those items instead of the popularity list.
------------------------------------------------------------------------------

-- fold_in goes last; the old function is dropped at the end, once its
-- privileges are copied over
CREATE FUNCTION unkd.evaluate(
	model text,
	test regclass,
	k integer DEFAULT 20,
	n_groups integer DEFAULT 4,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id',
	fold_in boolean DEFAULT NULL)
RETURNS TABLE(group_id integer, users bigint, recall double precision,
			  "precision" double precision, ndcg double precision, share double precision)
AS 'MODULE_PATHNAME', 'unkd_evaluate' LANGUAGE C STABLE CALLED ON NULL INPUT ROWS 5;

COMMENT ON FUNCTION unkd.evaluate(text, regclass, integer, integer, text, text, boolean) IS
'full-ranking recall, precision and NDCG at k of a model on a test table, with recall and top-k share per training popularity group (group_id NULL = overall); fold_in NULL folds in test users the model was not trained on from their seen rows, true every user, false none';

------------------------------------------------------------------------------
-- Filtered and similar-item recommendations (docs/recommend.md)
------------------------------------------------------------------------------

-- recommend gains an allow-list (items), a deny-list (exclude) and fold_in
-- (see Fold-in above), appended so that positional calls keep working. The
-- old function is dropped at the end, once its EXECUTE privileges (by
-- default PUBLIC's) are copied onto the new one.
CREATE FUNCTION unkd.recommend(
	user_id bigint,
	k integer DEFAULT 10,
	model text DEFAULT NULL,
	items bigint[] DEFAULT NULL,
	exclude bigint[] DEFAULT NULL,
	fold_in boolean DEFAULT NULL)
RETURNS TABLE(item_id bigint, score real, rank integer)
AS 'MODULE_PATHNAME', 'unkd_recommend' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 10;


COMMENT ON FUNCTION unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean) IS
'exact top-k unseen items of a user by inner product, best first, only among items when given and never any of exclude (model NULL = the deployed model; a user the model has not seen is folded in from the seen relation, or without seen rows gets the most popular unseen items, score = popularity; fold_in true folds in known users too, false never)';

CREATE FUNCTION unkd.similar_items(
	item_id bigint,
	k integer DEFAULT 10,
	model text DEFAULT NULL,
	items bigint[] DEFAULT NULL)
RETURNS TABLE(item_id bigint, score real, rank integer)
AS 'MODULE_PATHNAME', 'unkd_similar_items' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION unkd.similar_items(bigint, integer, text, bigint[]) IS
'exact top-k items most similar to an item by cosine similarity of the item embeddings, best first, only among items when given (model NULL = the deployed model; the item itself and zero vectors are left out; an unknown item gets no rows)';

------------------------------------------------------------------------------
-- Functions replaced by a longer signature keep the EXECUTE privileges the
-- old one had: an administrator's REVOKE from PUBLIC must survive the upgrade
------------------------------------------------------------------------------

-- copy_execute_privileges(source, target), used by the blocks below and
-- dropped at the end of this script: target gets exactly the EXECUTE
-- grants of source (nothing when source has the default, PUBLIC's)
CREATE FUNCTION unkd.copy_execute_privileges(source pg_catalog.regprocedure,
											 target pg_catalog.regprocedure)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $copy$
DECLARE
	source_acl aclitem[];
	source_owner oid;
	grant_row record;
BEGIN
	SELECT p.proacl, p.proowner INTO source_acl, source_owner FROM pg_proc p WHERE p.oid = source;
	IF source_acl IS NULL THEN
		RETURN;					-- the default: PUBLIC may execute, as it may the target
	END IF;
	EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', target);
	FOR grant_row IN
		SELECT a.grantee, a.is_grantable FROM aclexplode(source_acl) a
		WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> source_owner
	LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s%s', target,
			CASE WHEN grant_row.grantee = 0 THEN 'PUBLIC' ELSE grant_row.grantee::regrole::text END,
			CASE WHEN grant_row.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$copy$;

SELECT unkd.copy_execute_privileges(old_sig::pg_catalog.regprocedure, new_sig::pg_catalog.regprocedure)
FROM (VALUES
	('unkd.evaluate(text, regclass, integer, integer, text, text)',
	 'unkd.evaluate(text, regclass, integer, integer, text, text, boolean)'),
	('unkd.split(regclass, double precision, bigint, text, text)',
	 'unkd.split(regclass, double precision, bigint, text, text, text)'),
	('unkd.recommend(bigint, integer, text)',
	 'unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)')) AS v(old_sig, new_sig);

DROP FUNCTION unkd.evaluate(text, regclass, integer, integer, text, text);
DROP FUNCTION unkd.split(regclass, double precision, bigint, text, text);
DROP FUNCTION unkd.recommend(bigint, integer, text);

------------------------------------------------------------------------------
-- Tuning (docs/tune.md)
--
-- A small grid search that knows about popularity bias: each configuration
-- is trained, scored on a validation relation for accuracy, head share and
-- tail recall, and the best under the caller's rule is stored under name.
------------------------------------------------------------------------------

-- the checks train and distill make on a name, for tune to make before any run
CREATE FUNCTION unkd.check_target(name text, command text, kind text, method text, replace boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'unkd_check_target' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.check_target(text, text, text, text, boolean) IS
'raise the error train or distill would raise for writing a model of this kind and method under name (read-only transaction, name length, ownership, kind or method change without replace)';

CREATE FUNCTION unkd.tune(
	name text,
	interactions regclass,
	method text,
	grid jsonb,
	validation regclass DEFAULT NULL,
	rule text DEFAULT 'ndcg',
	tolerance double precision DEFAULT 0.03,
	params jsonb DEFAULT '{}',
	n_groups integer DEFAULT 4,
	replace boolean DEFAULT false)
RETURNS TABLE(run integer, config jsonb, validation_ndcg double precision,
			  head_share double precision, tail_recall double precision,
			  seconds double precision, chosen boolean)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $tune$
DECLARE
	target regprocedure;
	allowed text[];
	configs jsonb[] := ARRAY['{}'::jsonb];
	expanded jsonb[];
	grid_key text;
	grid_values jsonb;
	cfg jsonb;
	val jsonb;
	call_args text;
	arg_key text;
	run_name text;
	runs jsonb[] := '{}';
	started timestamptz;
	best_ndcg double precision;
	best_run integer;
	was_deployed boolean;
	old_owner oid;
	old_readers oid[];
	reader oid;
	v_ndcg double precision;
	v_head double precision;
	v_tail double precision;
	i integer;
BEGIN
	-- the cheap checks come first
	IF name IS NULL OR interactions IS NULL OR method IS NULL OR grid IS NULL
	   OR rule IS NULL OR tolerance IS NULL OR params IS NULL OR n_groups IS NULL OR replace IS NULL THEN
		RAISE EXCEPTION 'unkd.tune arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF method NOT IN ('bpr', 'kd', 'unkd') THEN
		RAISE EXCEPTION 'method must be bpr, kd or unkd, not %', method
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF rule NOT IN ('ndcg', 'fair') THEN
		RAISE EXCEPTION 'rule must be ndcg or fair, not %', rule
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'ndcg keeps the best validation NDCG@20; fair the lowest head share within tolerance of it.';
	END IF;
	IF NOT (tolerance >= 0 AND tolerance < 1) THEN
		RAISE EXCEPTION 'tolerance must be at least 0 and below 1, not %', tolerance
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(grid) <> 'object' OR jsonb_typeof(params) <> 'object' THEN
		RAISE EXCEPTION 'grid and params must be JSON objects of argument names'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example grid => ''{"dim": [32, 64], "lr": [0.05, 0.1]}''.';
	END IF;
	IF octet_length(name) > 55 THEN
		RAISE EXCEPTION 'model name is % bytes long, the limit for tune is 55 (its runs append a suffix)',
			octet_length(name) USING ERRCODE = 'name_too_long';
	END IF;

	-- name may take the kept run: the caller manages an existing model of
	-- that name, which is of the same kind and method unless replace
	PERFORM unkd.check_target(tune.name, 'unkd.tune()', CASE WHEN method = 'bpr' THEN 'teacher' ELSE 'student' END,
							  method, tune.replace);

	-- the arguments a configuration may set: the target function's own
	target := CASE WHEN method = 'bpr'
		THEN 'unkd.train(text, regclass, integer, integer, bigint, double precision, double precision, double precision, regclass, integer, integer, integer, text, text, regclass, boolean, interval, text, double precision, integer)'::regprocedure
		ELSE 'unkd.distill(text, regclass, text, regclass, integer, integer, integer, double precision, integer, bigint, double precision, double precision, double precision, regclass, integer, integer, integer, text, text, integer, double precision, text, double precision, double precision, regclass, boolean, interval, text, double precision, integer)'::regprocedure END;
	SELECT array_agg(a) INTO allowed
	FROM unnest((SELECT p.proargnames FROM pg_proc p WHERE p.oid = target)) a
	WHERE a NOT IN ('name', 'interactions', 'validation', 'notice_every', 'replace');
	FOR arg_key IN SELECT k FROM jsonb_object_keys(grid || params) k LOOP
		IF NOT arg_key = ANY (allowed) THEN
			RAISE EXCEPTION '% is not an argument tune can set for method %', arg_key, method
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = format('Use one of: %s.', array_to_string(allowed, ', '));
		END IF;
	END LOOP;
	IF method <> 'bpr' AND (grid ? 'n_groups' OR params ? 'n_groups') THEN
		RAISE EXCEPTION 'n_groups is set by method (kd: 1, unkd: tune''s n_groups)'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- the grid's configurations: one value of every key, every combination
	FOR grid_key, grid_values IN SELECT key, value FROM jsonb_each(grid) ORDER BY key LOOP
		IF jsonb_typeof(grid_values) <> 'array' THEN
			grid_values := jsonb_build_array(grid_values);
		END IF;
		IF jsonb_array_length(grid_values) = 0 THEN
			RAISE EXCEPTION 'grid value of % is an empty list', grid_key USING ERRCODE = 'invalid_parameter_value';
		END IF;
		expanded := '{}';
		FOREACH cfg IN ARRAY configs LOOP
			FOR val IN SELECT v FROM jsonb_array_elements(grid_values) v LOOP
				expanded := expanded || (cfg || jsonb_build_object(grid_key, val));
			END LOOP;
		END LOOP;
		configs := expanded;
		IF cardinality(configs) > 64 THEN
			RAISE EXCEPTION 'the grid has more than 64 configurations' USING ERRCODE = 'program_limit_exceeded',
				HINT = 'Tune a few arguments at a time.';
		END IF;
	END LOOP;

	-- the runs' names must be free: tune never replaces a model it did not make
	FOR i IN 1 .. cardinality(configs) LOOP
		IF EXISTS (SELECT FROM unkd.models m WHERE m.name = tune.name || '_tune' || i) THEN
			RAISE EXCEPTION 'model "%" exists, and tune needs that name for run %', tune.name || '_tune' || i, i
				USING ERRCODE = 'duplicate_object',
					  HINT = 'Drop it, or tune under another name.';
		END IF;
	END LOOP;

	-- train and score every configuration
	FOR i IN 1 .. cardinality(configs) LOOP
		cfg := params || configs[i];
		run_name := name || '_tune' || i;
		call_args := format('name => %L, interactions => %L, validation => %L, notice_every => 0',
							run_name, interactions::text, validation::text);
		IF validation IS NULL THEN
			call_args := format('name => %L, interactions => %L, notice_every => 0',
								run_name, interactions::text);
		END IF;
		IF method <> 'bpr' THEN
			call_args := call_args || format(', n_groups => %s', CASE WHEN method = 'kd' THEN 1 ELSE tune.n_groups END);
		END IF;
		FOR arg_key, val IN SELECT key, value FROM jsonb_each(cfg) ORDER BY key LOOP
			call_args := call_args || format(', %I => %L', arg_key, val #>> '{}');
		END LOOP;
		started := clock_timestamp();
		EXECUTE format('SELECT 1 FROM %s(%s)', CASE WHEN method = 'bpr' THEN 'unkd.train' ELSE 'unkd.distill' END,
					   call_args);
		IF validation IS NULL THEN
			-- the run's own held-out slice, scored by the run at its best epoch
			SELECT (m.metrics ->> 'validation_ndcg_at_20')::float8,
				   (m.metrics ->> 'validation_head_share_at_20')::float8,
				   (m.metrics ->> 'validation_tail_recall_at_20')::float8
			INTO v_ndcg, v_head, v_tail
			FROM unkd.models m WHERE m.name = run_name;
			IF v_ndcg IS NULL THEN
				RAISE EXCEPTION 'run % was trained without validation', i
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Without a validation relation tune scores the runs on their internal slice: do not set validation_fraction to 0.';
			END IF;
		ELSE
			SELECT max(e.ndcg) FILTER (WHERE e.group_id IS NULL),
				   max(e.share) FILTER (WHERE e.group_id = 0),
				   (array_agg(e.recall ORDER BY e.group_id DESC) FILTER (WHERE e.group_id IS NOT NULL))[1]
			INTO v_ndcg, v_head, v_tail
			FROM unkd.evaluate(run_name, validation, 20, tune.n_groups) e;
		END IF;
		runs := runs || jsonb_build_object(
			'run', i, 'config', configs[i],
			'seconds', extract(epoch FROM clock_timestamp() - started),
			'ndcg', v_ndcg, 'head', v_head, 'tail', v_tail);
	END LOOP;

	-- the rule picks one run; ties go to the earlier run
	SELECT max((r ->> 'ndcg')::float8) INTO best_ndcg FROM unnest(runs) r;
	IF rule = 'ndcg' THEN
		SELECT (r ->> 'run')::int INTO best_run FROM unnest(runs) r
		ORDER BY (r ->> 'ndcg')::float8 DESC, (r ->> 'run')::int LIMIT 1;
	ELSE
		SELECT (r ->> 'run')::int INTO best_run FROM unnest(runs) r
		WHERE (r ->> 'ndcg')::float8 >= (1 - tolerance) * best_ndcg
		ORDER BY (r ->> 'head')::float8, (r ->> 'ndcg')::float8 DESC, (r ->> 'run')::int LIMIT 1;
	END IF;

	-- the chosen run becomes name, keeping the replaced model's owner, grants
	-- and deployment, as retraining does; the other runs go
	SELECT m.deployed, m.owner::oid, m.readers::oid[] INTO was_deployed, old_owner, old_readers
	FROM unkd.models m WHERE m.name = tune.name;
	IF FOUND THEN
		PERFORM unkd.drop_model(tune.name);
	END IF;
	FOR i IN 1 .. cardinality(configs) LOOP
		IF i = best_run THEN
			PERFORM unkd.rename_model(name || '_tune' || i, tune.name);
		ELSE
			PERFORM unkd.drop_model(name || '_tune' || i);
		END IF;
	END LOOP;
	IF old_owner IS NOT NULL THEN
		FOREACH reader IN ARRAY old_readers LOOP
			PERFORM unkd.grant_model(tune.name, CASE WHEN reader = 0 THEN 'public'
				ELSE (SELECT r.rolname FROM pg_roles r WHERE r.oid = reader) END);
		END LOOP;
		IF old_owner IS DISTINCT FROM (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
			PERFORM unkd.alter_model_owner(tune.name, (SELECT r.rolname FROM pg_roles r WHERE r.oid = old_owner));
		END IF;
	END IF;
	IF was_deployed THEN
		PERFORM unkd.deploy(tune.name);
	END IF;

	RETURN QUERY
	SELECT (r ->> 'run')::int, r -> 'config', (r ->> 'ndcg')::float8, (r ->> 'head')::float8,
		   (r ->> 'tail')::float8, (r ->> 'seconds')::float8, (r ->> 'run')::int = best_run
	FROM unnest(runs) r ORDER BY 1;
END
$tune$;

COMMENT ON FUNCTION unkd.tune(text, regclass, text, jsonb, regclass, text, double precision, jsonb, integer, boolean) IS
'train every configuration of a small grid, score each on its internal validation slice or on a validation relation (NDCG@20, head share, tail recall), and keep the best under rule (ndcg, or fair: lowest head share within tolerance of the best NDCG) under name';

REVOKE EXECUTE ON FUNCTION unkd.tune FROM PUBLIC;

------------------------------------------------------------------------------
-- Citus (issue 10, docs/citus.md)
--
-- The registry becomes Citus-safe: no foreign keys (Citus refuses to make
-- tables with them reference tables; unkd.drop_model and unkd.rename_model
-- keep the embeddings in step instead), row-level security without
-- subqueries (refused on distributed tables), and a popularity_strata state
-- Citus can ship, so the partial aggregate runs on the shards.
-- unkd.citus_setup does the rest once citus is installed.
------------------------------------------------------------------------------

ALTER TABLE unkd.user_embeddings DROP CONSTRAINT user_embeddings_model_fkey;
ALTER TABLE unkd.item_embeddings DROP CONSTRAINT item_embeddings_model_fkey;

-- Until unkd.citus_setup (which drops it: Citus refuses tables with
-- triggers too), a trigger keeps the foreign keys' cascades for statements
-- written by hand on unkd.models
CREATE FUNCTION unkd.models_cascade()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $cascade$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		DELETE FROM unkd.user_embeddings WHERE model OPERATOR(pg_catalog.=) OLD.name;
		DELETE FROM unkd.item_embeddings WHERE model OPERATOR(pg_catalog.=) OLD.name;
	ELSIF NEW.name OPERATOR(pg_catalog.<>) OLD.name THEN
		UPDATE unkd.user_embeddings SET model = NEW.name WHERE model OPERATOR(pg_catalog.=) OLD.name;
		UPDATE unkd.item_embeddings SET model = NEW.name WHERE model OPERATOR(pg_catalog.=) OLD.name;
	END IF;
	RETURN NULL;
END
$cascade$;

COMMENT ON FUNCTION unkd.models_cascade() IS
'trigger: deleting or renaming a row of unkd.models deletes or renames its embeddings (the former foreign keys'' cascades)';

CREATE TRIGGER models_embeddings_cascade
	AFTER DELETE OR UPDATE OF name ON unkd.models
	FOR EACH ROW EXECUTE FUNCTION unkd.models_cascade();

CREATE FUNCTION unkd.can_read_model(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'unkd_can_read_model' LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION unkd.can_read_model(text) IS
'true when the current role sees the model''s row in unkd.models (the embeddings tables'' row-level security rule)';

DROP POLICY user_embeddings_readable ON unkd.user_embeddings;
DROP POLICY item_embeddings_readable ON unkd.item_embeddings;
CREATE POLICY user_embeddings_readable ON unkd.user_embeddings FOR SELECT
	USING (unkd.can_read_model(model));
CREATE POLICY item_embeddings_readable ON unkd.item_embeddings FOR SELECT
	USING (unkd.can_read_model(model));

-- popularity_strata with a real state type: unkd.strata_state
CREATE TYPE unkd.strata_state;

CREATE FUNCTION unkd.strata_state_in(cstring)
RETURNS unkd.strata_state
AS 'MODULE_PATHNAME', 'unkd_strata_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION unkd.strata_state_out(unkd.strata_state)
RETURNS cstring
AS 'MODULE_PATHNAME', 'unkd_strata_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE unkd.strata_state (
	INPUT = unkd.strata_state_in,
	OUTPUT = unkd.strata_state_out,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = double,
	STORAGE = extended
);

COMMENT ON TYPE unkd.strata_state IS
'partial state of unkd.popularity_strata: the group count and per-item row counts, as text "n_groups:item=count,..."';

CREATE FUNCTION unkd.strata_state_transfn(unkd.strata_state, bigint, integer)
RETURNS unkd.strata_state
AS 'MODULE_PATHNAME', 'unkd_strata_state_transfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION unkd.strata_state_combinefn(unkd.strata_state, unkd.strata_state)
RETURNS unkd.strata_state
AS 'MODULE_PATHNAME', 'unkd_strata_state_combinefn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION unkd.strata_state_finalfn(unkd.strata_state, bigint, integer)
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'unkd_strata_state_finalfn' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

-- a view or function of the user's that uses the aggregate would be dropped
-- with it: stop with a clear message instead
DO $$
DECLARE
	dependents text;
BEGIN
	SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
	INTO dependents
	FROM pg_catalog.pg_depend d
	WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
	  AND d.refobjid OPERATOR(pg_catalog.=) 'unkd.popularity_strata(bigint, integer)'::pg_catalog.regprocedure
	  AND d.deptype OPERATOR(pg_catalog.=) 'n';
	IF dependents IS NOT NULL THEN
		RAISE EXCEPTION 'unkd.popularity_strata is replaced by this update, and % use it', dependents
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Drop them, run ALTER EXTENSION unkd UPDATE, and create them again.';
	END IF;
END $$;

-- built under a temporary name, given the old one's EXECUTE privileges,
-- then renamed over it
CREATE AGGREGATE unkd.popularity_strata_v2(item_id bigint, n_groups integer) (
	SFUNC = unkd.strata_state_transfn,
	STYPE = unkd.strata_state,
	FINALFUNC = unkd.strata_state_finalfn,
	FINALFUNC_EXTRA,
	COMBINEFUNC = unkd.strata_state_combinefn,
	PARALLEL = SAFE
);

SELECT unkd.copy_execute_privileges('unkd.popularity_strata(bigint, integer)',
									'unkd.popularity_strata_v2(bigint, integer)');

DROP AGGREGATE unkd.popularity_strata(bigint, integer);
DROP FUNCTION unkd.popularity_strata_transfn(internal, bigint, integer);
DROP FUNCTION unkd.popularity_strata_combinefn(internal, internal);
DROP FUNCTION unkd.popularity_strata_serialfn(internal);
DROP FUNCTION unkd.popularity_strata_deserialfn(bytea, internal);
DROP FUNCTION unkd.popularity_strata_finalfn(internal, bigint, integer);
ALTER AGGREGATE unkd.popularity_strata_v2(bigint, integer) RENAME TO popularity_strata;

COMMENT ON AGGREGATE unkd.popularity_strata(bigint, integer) IS
'popularity lower bound of each of n_groups equal-mass item groups, most popular first (each row counts once)';

CREATE FUNCTION unkd.citus_setup(interactions regclass)
RETURNS TABLE(object text, action text)
AS 'MODULE_PATHNAME', 'unkd_citus_setup' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.citus_setup(regclass) IS
'on a Citus coordinator: make the registry and item embeddings reference tables, distribute user embeddings colocated with interactions, and delegate recommend to the node holding the user (idempotent)';

REVOKE EXECUTE ON FUNCTION unkd.citus_setup(regclass) FROM PUBLIC;

------------------------------------------------------------------------------
-- Text and uuid ids (issue 11)
--
-- Users and items may be keyed by text, varchar or uuid as well as by an
-- integer type. Such a key is stored as a 63-bit code (a fixed hash of its
-- text, in the bigint id columns, so that every index and plan stays as it
-- is) next to the key itself; unkd.models records the id types the model
-- was trained on. The text overloads serve models with text or uuid ids.
------------------------------------------------------------------------------

ALTER TABLE unkd.models
	ADD COLUMN user_key_type pg_catalog.regtype,
	ADD COLUMN item_key_type pg_catalog.regtype;

COMMENT ON COLUMN unkd.models.user_key_type IS 'type of the user ids the model was trained on (text, varchar and uuid ids are served by the text overloads; NULL: a bigint model from before 0.2.0)';
COMMENT ON COLUMN unkd.models.item_key_type IS 'type of the item ids the model was trained on (see user_key_type)';

ALTER TABLE unkd.user_embeddings ADD COLUMN user_key text;
ALTER TABLE unkd.item_embeddings ADD COLUMN item_key text;

COMMENT ON COLUMN unkd.user_embeddings.user_key IS 'the user''s text or uuid id (as text) when the model has such ids; user_id then holds its code';
COMMENT ON COLUMN unkd.item_embeddings.item_key IS 'the item''s text or uuid id (as text) when the model has such ids; item_id then holds its code';

CREATE FUNCTION unkd.recommend(
	user_id text,
	k integer DEFAULT 10,
	model text DEFAULT NULL,
	items text[] DEFAULT NULL,
	exclude text[] DEFAULT NULL,
	fold_in boolean DEFAULT NULL)
RETURNS TABLE(item_id text, score real, rank integer)
AS 'MODULE_PATHNAME', 'unkd_recommend_text' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION unkd.recommend(text, integer, text, text[], text[], boolean) IS
'unkd.recommend for a model with text or uuid ids (pass a uuid as text): the same exact top k, with the ids as text';

CREATE FUNCTION unkd.similar_items(
	item_id text,
	k integer DEFAULT 10,
	model text DEFAULT NULL,
	items text[] DEFAULT NULL)
RETURNS TABLE(item_id text, score real, rank integer)
AS 'MODULE_PATHNAME', 'unkd_similar_items_text' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION unkd.similar_items(text, integer, text, text[]) IS
'unkd.similar_items for a model with text or uuid ids (pass a uuid as text): the same exact cosine top k, with the ids as text';

-- the text overloads may be called by exactly the roles that may call their
-- bigint twins (an administrator's REVOKE from PUBLIC covers both)
SELECT unkd.copy_execute_privileges(twin::pg_catalog.regprocedure, overload::pg_catalog.regprocedure)
FROM (VALUES
	('unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)',
	 'unkd.recommend(text, integer, text, text[], text[], boolean)'),
	('unkd.similar_items(bigint, integer, text, bigint[])',
	 'unkd.similar_items(text, integer, text, text[])')) AS v(twin, overload);

-- the upgrade's own helper goes: it is no part of the extension's interface
DROP FUNCTION unkd.copy_execute_privileges(pg_catalog.regprocedure, pg_catalog.regprocedure);
