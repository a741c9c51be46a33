-- The SQL contract of API.md: objects, signatures, volatility, privileges
BEGIN;
SELECT plan(41);

SELECT has_schema('unkd');
SELECT is_aggregate('unkd', 'popularity_strata', ARRAY['bigint', 'integer']);
SELECT function_returns('unkd', 'popularity_strata', ARRAY['bigint', 'integer'], 'bigint[]');
SELECT ok((SELECT aggcombinefn <> 0 AND aggtranstype = 'unkd.strata_state'::regtype
		   FROM pg_aggregate WHERE aggfnoid = 'unkd.popularity_strata(bigint,integer)'::regprocedure),
		  'popularity_strata has a combine function and a real state type (Citus pushes its partial step down)');
SELECT is((SELECT pg_get_function_arguments('unkd.popularity_strata(bigint,integer)'::regprocedure)),
		  'item_id bigint, n_groups integer', 'popularity_strata arguments');
SELECT ok((SELECT proparallel = 's' FROM pg_proc
		   WHERE oid = 'unkd.popularity_strata(bigint,integer)'::regprocedure),
		  'popularity_strata is parallel safe');
SELECT has_function('unkd', 'popularity_groups', ARRAY['regclass', 'integer', 'text', 'text']);
SELECT function_returns('unkd', 'popularity_groups', ARRAY['regclass', 'integer', 'text', 'text'], 'setof record');
SELECT has_function('unkd', 'synthetic_interactions', ARRAY['integer', 'integer', 'integer', 'double precision', 'bigint']);
SELECT volatility_is('unkd', 'synthetic_interactions', ARRAY['integer', 'integer', 'integer', 'double precision', 'bigint'], 'immutable');
SELECT has_function('unkd', 'split', ARRAY['regclass', 'double precision', 'bigint', 'text', 'text', 'text']);
SELECT has_function('unkd', 'split_at', ARRAY['regclass', 'text', 'anycompatible', 'text', 'text']);

-- argument names and result columns are part of the contract
SELECT is((SELECT pg_get_function_arguments('unkd.popularity_groups(regclass,integer,text,text)'::regprocedure)),
		  'interactions regclass, n_groups integer DEFAULT 4, item_column text DEFAULT ''item_id''::text, user_column text DEFAULT ''user_id''::text',
		  'popularity_groups arguments');
SELECT is((SELECT pg_get_function_result('unkd.popularity_groups(regclass,integer,text,text)'::regprocedure)),
		  'TABLE(item_id bigint, popularity bigint, group_id integer)', 'popularity_groups result');
SELECT is((SELECT pg_get_function_result('unkd.synthetic_interactions(integer,integer,integer,double precision,bigint)'::regprocedure)),
		  'TABLE(user_id bigint, item_id bigint)', 'synthetic_interactions result');
SELECT is((SELECT pg_get_function_arguments('unkd.split(regclass,double precision,bigint,text,text,text)'::regprocedure)),
		  'interactions regclass, test_fraction double precision DEFAULT 0.2, seed bigint DEFAULT 0, user_column text DEFAULT ''user_id''::text, item_column text DEFAULT ''item_id''::text, order_column text DEFAULT NULL::text',
		  'split arguments');
SELECT is((SELECT pg_get_function_result('unkd.split(regclass,double precision,bigint,text,text,text)'::regprocedure)),
		  'TABLE(user_id bigint, item_id bigint, is_test boolean)', 'split result');
SELECT is((SELECT pg_get_function_arguments('unkd.split_at(regclass,text,anycompatible,text,text)'::regprocedure)),
		  'interactions regclass, order_column text, cut anycompatible, user_column text DEFAULT ''user_id''::text, item_column text DEFAULT ''item_id''::text',
		  'split_at arguments');
SELECT is((SELECT pg_get_function_result('unkd.split_at(regclass,text,anycompatible,text,text)'::regprocedure)),
		  'TABLE(user_id bigint, item_id bigint, is_test boolean)', 'split_at result');

-- serving: the signatures of API.md with the filter arguments appended, and
-- who may call them (everyone: reading a model is checked per model)
SELECT is((SELECT pg_get_function_arguments('unkd.recommend(bigint,integer,text,bigint[],bigint[],boolean)'::regprocedure)),
		  'user_id bigint, k integer DEFAULT 10, model text DEFAULT NULL::text, items bigint[] DEFAULT NULL::bigint[], exclude bigint[] DEFAULT NULL::bigint[], fold_in boolean DEFAULT NULL::boolean',
		  'recommend arguments');
SELECT is((SELECT pg_get_function_arguments('unkd.similar_items(bigint,integer,text,bigint[])'::regprocedure)),
		  'item_id bigint, k integer DEFAULT 10, model text DEFAULT NULL::text, items bigint[] DEFAULT NULL::bigint[]',
		  'similar_items arguments');
SELECT function_privs_are('unkd', 'recommend', ARRAY['bigint', 'integer', 'text', 'bigint[]', 'bigint[]', 'boolean'],
						  'public', ARRAY['EXECUTE'], 'everyone may call recommend');
SELECT function_privs_are('unkd', 'similar_items', ARRAY['bigint', 'integer', 'text', 'bigint[]'],
						  'public', ARRAY['EXECUTE'], 'everyone may call similar_items');

-- the text overloads for models with text or uuid ids (issue 11): the same
-- arguments with text ids, the same callers as their bigint twins
SELECT is((SELECT pg_get_function_arguments('unkd.recommend(text,integer,text,text[],text[],boolean)'::regprocedure)),
		  'user_id text, k integer DEFAULT 10, model text DEFAULT NULL::text, items text[] DEFAULT NULL::text[], exclude text[] DEFAULT NULL::text[], fold_in boolean DEFAULT NULL::boolean',
		  'recommend text arguments');
SELECT is((SELECT pg_get_function_result('unkd.recommend(text,integer,text,text[],text[],boolean)'::regprocedure)),
		  'TABLE(item_id text, score real, rank integer)', 'recommend text result');
SELECT is((SELECT pg_get_function_arguments('unkd.similar_items(text,integer,text,text[])'::regprocedure)),
		  'item_id text, k integer DEFAULT 10, model text DEFAULT NULL::text, items text[] DEFAULT NULL::text[]',
		  'similar_items text arguments');
SELECT function_privs_are('unkd', 'recommend', ARRAY['text', 'integer', 'text', 'text[]', 'text[]', 'boolean'],
						  'public', ARRAY['EXECUTE'], 'everyone may call recommend with a text id');
SELECT function_privs_are('unkd', 'similar_items', ARRAY['text', 'integer', 'text', 'text[]'],
						  'public', ARRAY['EXECUTE'], 'everyone may call similar_items with a text id');

-- the registry
SELECT has_table('unkd', 'models', 'registry table');
SELECT has_table('unkd', 'user_embeddings', 'user embeddings table');
SELECT has_table('unkd', 'item_embeddings', 'item embeddings table');
SELECT col_type_is('unkd', 'models', 'strata', 'bigint[]', 'models.strata is bigint[]');
SELECT col_type_is('unkd', 'models', 'params', 'jsonb', 'models.params is jsonb');
SELECT col_type_is('unkd', 'models', 'user_key_type', 'regtype', 'models.user_key_type is regtype');
SELECT col_type_is('unkd', 'item_embeddings', 'item_key', 'text', 'item_embeddings.item_key is text');
SELECT table_privs_are('unkd', 'models', 'public', ARRAY['SELECT'], 'everyone can read the registry');

-- Citus: set-up is for the registry's owner; no foreign key blocks
-- reference tables (docs/citus.md)
SELECT function_privs_are('unkd', 'citus_setup', ARRAY['regclass'], 'public', ARRAY[]::text[],
						  'citus_setup is not for everyone');
SELECT is((SELECT pg_get_function_result('unkd.citus_setup(regclass)'::regprocedure)),
		  'TABLE(object text, action text)', 'citus_setup result');
SELECT is((SELECT count(*)::int FROM pg_constraint
		   WHERE contype = 'f' AND conrelid IN ('unkd.models'::regclass, 'unkd.user_embeddings'::regclass,
												'unkd.item_embeddings'::regclass)),
		  0, 'the registry tables have no foreign keys');
SELECT has_trigger('unkd', 'models', 'models_embeddings_cascade',
				   'a trigger cascades hand-written deletes and renames to the embeddings instead');

-- the extension is not relocatable and lives in schema unkd
SELECT ok((SELECT NOT extrelocatable AND extnamespace = 'unkd'::regnamespace
		   FROM pg_extension WHERE extname = 'unkd'), 'unkd is a fixed-schema extension');

SELECT * FROM finish();
ROLLBACK;
