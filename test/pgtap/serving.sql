-- The serving and evaluation contract of API.md: signatures, argument and
-- result column names, markings, and SQLSTATEs.
BEGIN;
SELECT plan(37);

SELECT has_function('unkd', 'recommend', ARRAY['bigint', 'integer', 'text', 'bigint[]', 'bigint[]', 'boolean'],
					'recommend(bigint, int, text, bigint[], bigint[], boolean)');
SELECT hasnt_function('unkd', 'recommend', ARRAY['bigint', 'integer', 'text'],
					  'the 0.1.0 recommend(bigint, int, text) is replaced, so short calls are not ambiguous');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)'::regprocedure),
		  '{user_id,k,model,items,exclude,fold_in,item_id,score,rank}'::text[], 'recommend argument and result names');
SELECT is((SELECT pg_get_function_arguments('unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)'::regprocedure)),
		  'user_id bigint, k integer DEFAULT 10, model text DEFAULT NULL::text, items bigint[] DEFAULT NULL::bigint[], exclude bigint[] DEFAULT NULL::bigint[], fold_in boolean DEFAULT NULL::boolean',
		  'recommend arguments and defaults');
SELECT is((SELECT pg_get_function_result('unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)'::regprocedure)),
		  'TABLE(item_id bigint, score real, rank integer)', 'recommend result types');
SELECT volatility_is('unkd', 'recommend', ARRAY['bigint', 'integer', 'text', 'bigint[]', 'bigint[]', 'boolean'], 'stable', 'recommend is STABLE');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)'::regprocedure),
		  's'::"char", 'recommend is PARALLEL SAFE');
SELECT ok((SELECT NOT proisstrict AND prorows = 10 FROM pg_proc
		   WHERE oid = 'unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)'::regprocedure),
		  'recommend is CALLED ON NULL INPUT, ROWS 10');

SELECT has_function('unkd', 'similar_items', ARRAY['bigint', 'integer', 'text', 'bigint[]'],
					'similar_items(bigint, int, text, bigint[])');
SELECT is((SELECT pg_get_function_arguments('unkd.similar_items(bigint, integer, text, bigint[])'::regprocedure)),
		  'item_id bigint, k integer DEFAULT 10, model text DEFAULT NULL::text, items bigint[] DEFAULT NULL::bigint[]',
		  'similar_items arguments and defaults');
SELECT is((SELECT pg_get_function_result('unkd.similar_items(bigint, integer, text, bigint[])'::regprocedure)),
		  'TABLE(item_id bigint, score real, rank integer)', 'similar_items result types');
SELECT volatility_is('unkd', 'similar_items', ARRAY['bigint', 'integer', 'text', 'bigint[]'], 'stable', 'similar_items is STABLE');
SELECT ok((SELECT proparallel = 's' AND NOT proisstrict FROM pg_proc
		   WHERE oid = 'unkd.similar_items(bigint, integer, text, bigint[])'::regprocedure),
		  'similar_items is PARALLEL SAFE and CALLED ON NULL INPUT');

SELECT has_function('unkd', 'evaluate', ARRAY['text', 'regclass', 'integer', 'integer', 'text', 'text', 'boolean'],
					'evaluate(text, regclass, int, int, text, text, boolean)');
SELECT is((SELECT proargnames[1:4] FROM pg_proc
		   WHERE oid = 'unkd.evaluate(text, regclass, integer, integer, text, text, boolean)'::regprocedure),
		  '{model,test,k,n_groups}'::text[], 'evaluate leading argument names as in API.md');
SELECT is((SELECT pg_get_function_result('unkd.evaluate(text, regclass, integer, integer, text, text, boolean)'::regprocedure)),
		  'TABLE(group_id integer, users bigint, recall double precision, "precision" double precision, ndcg double precision, share double precision)',
		  'evaluate result columns');
SELECT isnt(obj_description('unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)'::regprocedure, 'pg_proc'), NULL, 'recommend has a comment');
SELECT isnt(obj_description('unkd.similar_items(bigint, integer, text, bigint[])'::regprocedure, 'pg_proc'), NULL, 'similar_items has a comment');
SELECT isnt(obj_description('unkd.evaluate(text, regclass, integer, integer, text, text, boolean)'::regprocedure, 'pg_proc'), NULL, 'evaluate has a comment');

-- a one-item model to call
CREATE TABLE tap_events (user_id int, item_id int);
INSERT INTO tap_events VALUES (1, 1);
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('tap_m', 'teacher', 'bpr', 2, 1, 2, 1, '{1}', 'public.tap_events', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings VALUES ('tap_m', 1, 1, '{1,0}'), ('tap_m', 2, 0, '{0,1}');
INSERT INTO unkd.user_embeddings VALUES ('tap_m', 1, '{1,1}');
UPDATE unkd.models SET deployed = false WHERE deployed;

SELECT results_eq($$SELECT item_id, rank FROM unkd.recommend(1, 5, 'tap_m')$$,
				  $$VALUES (2::bigint, 1)$$, 'the seen item is excluded');
SELECT results_eq($$SELECT item_id, rank FROM unkd.recommend(1, 5, 'tap_m', items => '{1,2,3}')$$,
				  $$VALUES (2::bigint, 1)$$, 'items: unknown ids ignored, the seen item still excluded');
SELECT is_empty($$SELECT * FROM unkd.recommend(1, 5, 'tap_m', exclude => '{2}')$$, 'exclude leaves nothing');
SELECT is_empty($$SELECT * FROM unkd.recommend(1, 5, 'tap_m', items => '{}')$$, 'an empty items array allows no item');
SELECT results_eq($$SELECT item_id, score, rank FROM unkd.similar_items(1, 5, 'tap_m')$$,
				  $$VALUES (2::bigint, 0::real, 1)$$, 'similar_items: orthogonal vectors have cosine 0');
SELECT is_empty($$SELECT * FROM unkd.similar_items(3, 5, 'tap_m')$$, 'similar_items of an unknown item is empty');
SELECT throws_ok($$SELECT * FROM unkd.recommend(1, 5, 'tap_m', items => '{{1},{2}}')$$, '2202E', NULL, 'recommend 2-D items');
SELECT throws_ok($$SELECT * FROM unkd.similar_items(1, 0, 'tap_m')$$, '22023', NULL, 'similar_items k = 0');
SELECT throws_ok($$SELECT * FROM unkd.similar_items(NULL, 3, 'tap_m')$$, '22004', NULL, 'similar_items item NULL');
SELECT throws_ok($$SELECT * FROM unkd.similar_items(1, 3, 'no_such_model')$$, '42704', NULL, 'similar_items unknown model');
SELECT throws_ok($$SELECT * FROM unkd.recommend(1, 0, 'tap_m')$$, '22023', NULL, 'recommend k = 0');
SELECT throws_ok($$SELECT * FROM unkd.recommend(1, NULL, 'tap_m')$$, '22004', NULL, 'recommend k NULL');
SELECT throws_ok($$SELECT * FROM unkd.recommend(NULL, 3, 'tap_m')$$, '22004', NULL, 'recommend user NULL');
SELECT throws_ok($$SELECT * FROM unkd.recommend(1, 3, 'no_such_model')$$, '42704', NULL, 'recommend unknown model');
SELECT throws_ok($$SELECT * FROM unkd.recommend(1, 3)$$, '55000', NULL, 'recommend with nothing deployed');
SELECT throws_ok($$SELECT * FROM unkd.evaluate('tap_m', 'tap_events', 0)$$, '22023', NULL, 'evaluate k = 0');
SELECT throws_ok($$SELECT * FROM unkd.evaluate('no_such_model', 'tap_events')$$, '42704', NULL, 'evaluate unknown model');
SELECT throws_ok($$SELECT * FROM unkd.evaluate('tap_m', 'no_such_table')$$, '42P01', NULL, 'evaluate missing table');

SELECT * FROM finish();
ROLLBACK;
