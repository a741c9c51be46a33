-- bench/ml1m_evaluate.sql: time unkd.evaluate on MovieLens 1M (6,040 users x
-- 3,706 items) with a random dim-64 model; evaluation cost does not depend
-- on what the embeddings have learnt. bench/serve.sh loads table ml1m first.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS ml1m_split, ml1m_train, ml1m_test;
CREATE TABLE ml1m_split AS SELECT * FROM unkd.split('ml1m', 0.2, seed => 1);
CREATE TABLE ml1m_train AS SELECT user_id, item_id FROM ml1m_split WHERE NOT is_test;
CREATE TABLE ml1m_test AS SELECT user_id, item_id FROM ml1m_split WHERE is_test;
CREATE INDEX ON ml1m_train (user_id);
SELECT setseed(0.7);
DELETE FROM unkd.models WHERE name = 'ml1m_random';
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
SELECT 'ml1m_random', 'teacher', 'bpr', 64, count(DISTINCT user_id), count(DISTINCT item_id), count(*), '{}',
	   'public.ml1m_train', 'user_id', 'item_id'
FROM ml1m_train;
INSERT INTO unkd.item_embeddings
SELECT 'ml1m_random', item_id, count(*),
	   (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 64) WHERE item_id IS NOT NULL)
FROM ml1m_train GROUP BY item_id;
INSERT INTO unkd.user_embeddings
SELECT 'ml1m_random', user_id,
	   (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 64) WHERE user_id IS NOT NULL)
FROM ml1m_train GROUP BY user_id;

SELECT count(*) AS train_rows, (SELECT count(*) FROM ml1m_test) AS test_rows,
	   count(DISTINCT user_id) AS users, count(DISTINCT item_id) AS items
FROM ml1m_train;
-- serial (max_parallel_maintenance_workers = 0) and with one parallel
-- worker beside the leader (parallel_eval.c), side by side
DO $$
DECLARE
	t0 timestamptz;
	ms double precision[];
	line text := '';
BEGIN
	FOR w IN 0..1 LOOP
		PERFORM set_config('max_parallel_maintenance_workers', w::text, true);
		ms := '{}';
		FOR r IN 1..3 LOOP
			t0 := clock_timestamp();
			PERFORM * FROM unkd.evaluate('ml1m_random', 'ml1m_test', 20, 4);
			ms := ms || extract(epoch FROM clock_timestamp() - t0) * 1000;
		END LOOP;
		line := line || format('%s worker%s: %s ms; ', w, CASE WHEN w = 1 THEN '' ELSE 's' END,
							   array_to_string(ARRAY(SELECT round(x::numeric) FROM unnest(ms) x), ', '));
	END LOOP;
	RAISE WARNING 'unkd.evaluate on ML-1M (k 20, 4 groups, dim 64), per run (3 runs): %', rtrim(line, '; ');
END $$;
SELECT group_id, users, round(recall::numeric, 4) AS recall, round(precision::numeric, 4) AS precision,
	   round(ndcg::numeric, 4) AS ndcg, round(share::numeric, 4) AS share
FROM unkd.evaluate('ml1m_random', 'ml1m_test', 20, 4);
