-- The serving and evaluation contract of API.md: signatures, argument and
-- result column names, markings, and SQLSTATEs.
BEGIN;
SELECT plan(20);

SELECT has_function('unkd', 'recommend', ARRAY['bigint', 'integer', 'text'], 'recommend(bigint, int, text)');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = 'unkd.recommend(bigint, integer, text)'::regprocedure),
		  '{user_id,k,model,item_id,score,rank}'::text[], 'recommend argument and result names');
SELECT is((SELECT pg_get_function_result('unkd.recommend(bigint, integer, text)'::regprocedure)),
		  'TABLE(item_id bigint, score real, rank integer)', 'recommend result types');
SELECT is((SELECT pronargdefaults FROM pg_proc WHERE oid = 'unkd.recommend(bigint, integer, text)'::regprocedure),
		  2::int2, 'recommend: k and model have defaults');
SELECT volatility_is('unkd', 'recommend', ARRAY['bigint', 'integer', 'text'], 'stable', 'recommend is STABLE');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'unkd.recommend(bigint, integer, text)'::regprocedure),
		  's'::"char", 'recommend is PARALLEL SAFE');

SELECT has_function('unkd', 'evaluate', ARRAY['text', 'regclass', 'integer', 'integer', 'text', 'text', 'boolean'],
					'evaluate(text, regclass, int, int, text, text, boolean)');
SELECT is((SELECT proargnames[1:4] FROM pg_proc
		   WHERE oid = 'unkd.evaluate(text, regclass, integer, integer, text, text, boolean)'::regprocedure),
		  '{model,test,k,n_groups}'::text[], 'evaluate leading argument names as in API.md');
SELECT is((SELECT pg_get_function_result('unkd.evaluate(text, regclass, integer, integer, text, text, boolean)'::regprocedure)),
		  'TABLE(group_id integer, users bigint, recall double precision, "precision" double precision, ndcg double precision, share double precision)',
		  'evaluate result columns');
SELECT isnt(obj_description('unkd.recommend(bigint, integer, text)'::regprocedure, 'pg_proc'), NULL, 'recommend has a comment');
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
