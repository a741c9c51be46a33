-- unkd.evaluate in parallel workers (max_parallel_maintenance_workers): the
-- same rows, bit for bit, as the serial loop, and a timeout still cancels it.
CREATE SCHEMA evp;
SET search_path = evp, public;
SET max_parallel_workers = 8;

CREATE FUNCTION evp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- 1,030 test users (17 chunks of 64), a fifth of them unknown to the model
-- but in the seen relation, so fold-in and the popularity list both run
CREATE TABLE evp.all_rows AS SELECT * FROM unkd.synthetic_interactions(1000, 400, 20, 1.0, 5);
CREATE TABLE evp.split AS SELECT * FROM unkd.split('evp.all_rows', 0.2, 3);
CREATE TABLE evp.train AS SELECT user_id, item_id FROM evp.split WHERE NOT is_test;
CREATE INDEX ON evp.train (user_id);
CREATE VIEW evp.known AS SELECT * FROM evp.train WHERE user_id % 5 <> 0;
CREATE TABLE evp.test AS SELECT user_id, item_id FROM evp.split WHERE is_test
	UNION ALL SELECT 100000 + g, g FROM generate_series(1, 30) g;	-- users with no vector
SELECT name FROM unkd.train('par', 'evp.known', seen => 'evp.train', dim => 16, epochs => 5, seed => 1, notice_every => 0);

-- every (k, fold_in) at 0 workers (the serial loop) and at 1 and 2 workers
CREATE TABLE evp.result (workers int, k int, fold boolean, group_id int, users bigint,
						 recall float8, "precision" float8, ndcg float8, share float8);
SET max_parallel_maintenance_workers = 0;
INSERT INTO evp.result SELECT 0, k, f, e.* FROM unnest('{10,20}'::int[]) k, unnest('{true,false}'::bool[]) f,
	LATERAL unkd.evaluate('par', 'evp.test', k, 4, fold_in => f) e;
SET max_parallel_maintenance_workers = 1;
INSERT INTO evp.result SELECT 1, k, f, e.* FROM unnest('{10,20}'::int[]) k, unnest('{true,false}'::bool[]) f,
	LATERAL unkd.evaluate('par', 'evp.test', k, 4, fold_in => f) e;
SET max_parallel_maintenance_workers = 2;
INSERT INTO evp.result SELECT 2, k, f, e.* FROM unnest('{10,20}'::int[]) k, unnest('{true,false}'::bool[]) f,
	LATERAL unkd.evaluate('par', 'evp.test', k, 4, fold_in => f) e;
SELECT workers, count(*) AS rows, max(users) FILTER (WHERE group_id IS NULL) AS test_users
FROM evp.result GROUP BY workers ORDER BY workers;
-- rows of one run missing from another, in either direction: none
SELECT w.workers, (SELECT count(*) FROM (
	SELECT k, fold, group_id, users, recall, "precision", ndcg, share FROM evp.result WHERE workers = 0
	EXCEPT SELECT k, fold, group_id, users, recall, "precision", ndcg, share FROM evp.result WHERE workers = w.workers) d) AS only_serial,
	(SELECT count(*) FROM (
	SELECT k, fold, group_id, users, recall, "precision", ndcg, share FROM evp.result WHERE workers = w.workers
	EXCEPT SELECT k, fold, group_id, users, recall, "precision", ndcg, share FROM evp.result WHERE workers = 0) d) AS only_parallel
FROM (VALUES (1), (2)) w(workers) ORDER BY 1;
-- fold-in changes the figures (the check has something to compare)
SELECT count(DISTINCT recall) AS distinct_recalls FROM evp.result WHERE group_id IS NULL AND k = 20;

-- a parallel evaluate is cancelled by statement_timeout (57014): 30,000
-- random users scored against 40,000 items take seconds
CREATE TABLE evp.big_test AS SELECT u AS user_id, (u * 7919 + j * 104729) % 40000 + 1 AS item_id
	FROM generate_series(1, 30000) u, generate_series(1, 3) j;
CREATE TABLE evp.big_train AS SELECT u AS user_id, 40001 AS item_id FROM generate_series(1, 30000) u;
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('par_big', 'teacher', 'bpr', 64, 30000, 40000, 30000, '{}', 'evp.big_train', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings
SELECT 'par_big', i, 1, (SELECT array_agg(sin(i * 0.37 + j)::real) FROM generate_series(1, 64) j)
FROM generate_series(1, 40000) i;
INSERT INTO unkd.user_embeddings
SELECT 'par_big', u, (SELECT array_agg(cos(u * 0.11 + j)::real) FROM generate_series(1, 64) j)
FROM generate_series(1, 30000) u;
SET max_parallel_maintenance_workers = 2;
SET statement_timeout = '500ms';
SELECT evp.err($$SELECT count(*) FROM unkd.evaluate('par_big', 'evp.big_test', 20)$$);
RESET statement_timeout;
SELECT 1 AS alive;

RESET max_parallel_maintenance_workers;
RESET max_parallel_workers;
SELECT unkd.drop_model('par');
DELETE FROM unkd.models WHERE name = 'par_big';
DROP SCHEMA evp CASCADE;
RESET search_path;
