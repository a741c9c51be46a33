-- Blocked scoring (scoring.c: users by blocks of 64 through BLAS sgemm) and
-- the buffered top-k selection (topk.c UnkdSelect) give the single-user
-- ranking path's results: evaluate against recommend, validation against
-- evaluate, candidates from a model against the same scores from a table.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SET client_min_messages = warning;

-- 300 users (five blocks, the last partial), a trained model, held-out items
CREATE TABLE sc_all AS SELECT * FROM unkd.synthetic_interactions(300, 400, 15, 1.0, 3);
CREATE TABLE sc_split AS SELECT * FROM unkd.split('sc_all', 0.3, 2);
CREATE TABLE sc_train AS SELECT user_id, item_id FROM sc_split WHERE NOT is_test;
CREATE TABLE sc_val AS SELECT user_id, item_id FROM sc_split WHERE is_test AND user_id % 2 = 1;
CREATE TABLE sc_test AS SELECT user_id, item_id FROM sc_split WHERE is_test AND user_id % 2 = 0;
SELECT name, metrics->>'stop_reason' AS stop_reason,
	   (metrics->>'validation_seconds')::float8 >= 0 AS validation_timed
FROM unkd.train('sc_model', 'sc_train', dim => 24, epochs => 30, validation => 'sc_val',
				eval_every => 3, patience => 10, notice_every => 0);

-- evaluate's NDCG@20 and recall@20 equal those of recommend's lists (one
-- user at a time, the hand loop of topk.c), computed here in SQL
CREATE TABLE sc_rec AS
	SELECT t.user_id, r.item_id, r.rank
	FROM (SELECT DISTINCT user_id FROM sc_test) t,
		 LATERAL unkd.recommend(t.user_id, 20, 'sc_model') r;
CREATE FUNCTION pg_temp.sql_metrics(rec regclass, test regclass, OUT ndcg float8, OUT recall float8)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($q$
		WITH per_user AS (
			SELECT t.user_id, t.n_test,
				   coalesce((SELECT sum(1 / log(2, r.rank + 1)) FROM %1$s r JOIN %2$s h
							 ON h.user_id = r.user_id AND h.item_id = r.item_id
							 WHERE r.user_id = t.user_id), 0) AS dcg,
				   (SELECT count(*) FROM %1$s r JOIN %2$s h
					ON h.user_id = r.user_id AND h.item_id = r.item_id
					WHERE r.user_id = t.user_id) AS hits,
				   (SELECT sum(1 / log(2, j + 2)) FROM generate_series(0, least(20, t.n_test) - 1) j) AS idcg
			FROM (SELECT user_id, count(*) AS n_test FROM %2$s GROUP BY user_id) t)
		SELECT avg(dcg / idcg)::float8, avg(hits::float8 / n_test) FROM per_user $q$, rec, test)
	INTO ndcg, recall;
END $$;
SELECT min(rank) = 1 AND max(rank) = 20 AS full_lists FROM sc_rec;
SELECT abs(e.ndcg - s.ndcg) < 1e-12 AS same_ndcg, abs(e.recall - s.recall) < 1e-12 AS same_recall
FROM unkd.evaluate('sc_model', 'sc_test', 20, 1) e, pg_temp.sql_metrics('sc_rec', 'sc_test') s
WHERE e.group_id IS NULL;

-- validation's NDCG (blocked, during training) is evaluate's on the
-- validation set for the kept parameters
SELECT abs((m.metrics->>'validation_ndcg_at_20')::float8 - e.ndcg) < 1e-12 AS same_validation_ndcg
FROM unkd.models m, unkd.evaluate('sc_model', 'sc_val', 20, 1) e
WHERE m.name = 'sc_model' AND e.group_id IS NULL;

-- a k above the catalogue and k = 1 go through the same selection
SELECT k, abs(e.recall - s.recall) < 1e-12 AS same_recall
FROM unnest('{1,500}'::int[]) k,
	 LATERAL (SELECT recall FROM unkd.evaluate('sc_model', 'sc_test', k, 1) WHERE group_id IS NULL) e,
	 LATERAL (SELECT avg(hits::float8 / n_test) AS recall FROM (
		 SELECT t.user_id, count(*) AS n_test,
				(SELECT count(*) FROM unkd.recommend(t.user_id, k, 'sc_model') r
				 JOIN sc_test h ON h.user_id = t.user_id AND h.item_id = r.item_id) AS hits
		 FROM sc_test t GROUP BY t.user_id) u) s
ORDER BY k;

-- candidates from a teacher model equal candidates from a table of the
-- same scores; embeddings on a 1/4 grid make every score exact and give
-- many ties (settled by item id on both paths). 2000 items and 64
-- candidates: the selection starts from a sampled threshold.
CREATE FUNCTION pg_temp.vec(seed int, dim int) RETURNS real[] LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(((((seed * 7919 + j * 104729) % 9) + 9) % 9 - 4)::real / 4 ORDER BY j)
	FROM generate_series(1, dim) AS j $$;
CREATE TABLE sc_grid_data AS SELECT * FROM unkd.synthetic_interactions(100, 2000, 30, 1.0, 4);
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('sc_grid', 'teacher', 'bpr', 5, 100, 2000, 0, '{}', 'sc_grid_data', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings SELECT 'sc_grid', i, 1, pg_temp.vec(i, 5) FROM generate_series(1, 2000) i;
INSERT INTO unkd.user_embeddings SELECT 'sc_grid', u, pg_temp.vec(u * 3 + 1, 5) FROM generate_series(1, 100) u;
CREATE TABLE sc_grid_scores AS
	SELECT u.user_id, i.item_id,
		   (SELECT sum(x * y) FROM unnest(u.embedding, i.embedding) AS t(x, y))::float8 AS score
	FROM unkd.user_embeddings u JOIN unkd.item_embeddings i ON i.model = u.model
	WHERE u.model = 'sc_grid';
CREATE TABLE sc_pairs AS
	SELECT p.n_groups, p.candidates, 'model' AS source, d.*
	FROM (VALUES (1, 64), (3, 100), (2, 2)) AS p(n_groups, candidates),
		 LATERAL unkd.distill_pairs('sc_grid_data', teacher => 'sc_grid', n_groups => p.n_groups,
									candidates => p.candidates, seed => 5) d
	UNION ALL
	SELECT p.n_groups, p.candidates, 'table', d.*
	FROM (VALUES (1, 64), (3, 100), (2, 2)) AS p(n_groups, candidates),
		 LATERAL unkd.distill_pairs('sc_grid_data', teacher_scores => 'sc_grid_scores',
									n_groups => p.n_groups, candidates => p.candidates, seed => 5) d;
SELECT n_groups, candidates, count(*) FILTER (WHERE source = 'model') AS pairs,
	   (SELECT count(*) FROM (
		   SELECT user_id, group_id, better_item, worse_item, better_rank, worse_rank
		   FROM sc_pairs q WHERE q.n_groups = p.n_groups AND q.candidates = p.candidates AND source = 'model'
		   EXCEPT ALL
		   SELECT user_id, group_id, better_item, worse_item, better_rank, worse_rank
		   FROM sc_pairs q WHERE q.n_groups = p.n_groups AND q.candidates = p.candidates AND source = 'table') d)
		   AS differing
FROM sc_pairs p GROUP BY n_groups, candidates ORDER BY n_groups, candidates;

-- cancellation while a teacher scores many users (statement_timeout) is
-- 57014, and the student's old version stays
SELECT name FROM unkd.distill('sc_student', 'sc_grid_data', teacher => 'sc_grid', epochs => 1,
							  notice_every => 0);
CREATE TABLE sc_before AS SELECT version_id FROM unkd.models WHERE name = 'sc_student';
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('sc_wide', 'teacher', 'bpr', 1024, 2000, 4000, 0, '{}', 'sc_wide_data', 'user_id', 'item_id');
CREATE TABLE sc_wide_data AS SELECT * FROM unkd.synthetic_interactions(2000, 4000, 3, 1.0, 6);
INSERT INTO unkd.item_embeddings SELECT 'sc_wide', i, 1, array_fill(0.01::real, ARRAY[1024]) FROM generate_series(1, 4000) i;
INSERT INTO unkd.user_embeddings SELECT 'sc_wide', u, array_fill(0.01::real, ARRAY[1024]) FROM generate_series(1, 2000) u;
SET client_min_messages = error;
SET statement_timeout = '150ms';
SELECT pg_temp.err($$SELECT unkd.distill('sc_student', 'sc_wide_data', teacher => 'sc_wide', epochs => 1, notice_every => 0)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.evaluate('sc_wide', 'sc_wide_data', 10, 1)$$);
RESET statement_timeout;
SET client_min_messages = warning;
SELECT m.version_id = b.version_id AS old_student_kept
FROM unkd.models m, sc_before b WHERE m.name = 'sc_student';

-- the memory budget counts the score blocks: a dim-1 model of 5000 items
-- loads in 1 MB, but a block of 64 rows of 5000 scores takes 1.2 MB
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('sc_long', 'teacher', 'bpr', 1, 10, 5000, 0, '{}', 'sc_long_data', 'user_id', 'item_id');
CREATE TABLE sc_long_data AS SELECT u AS user_id, u AS item_id FROM generate_series(1, 10) u;
CREATE TABLE sc_long_test AS SELECT u AS user_id, u + 100 AS item_id FROM generate_series(1, 10) u;
INSERT INTO unkd.item_embeddings SELECT 'sc_long', i, 1, ARRAY[i::real] FROM generate_series(1, 5000) i;
INSERT INTO unkd.user_embeddings SELECT 'sc_long', u, ARRAY[1::real] FROM generate_series(1, 10) u;
SET maintenance_work_mem = '1MB';
SELECT pg_temp.err($$SELECT * FROM unkd.evaluate('sc_long', 'sc_long_test', 10, 1)$$);
SET maintenance_work_mem = '2MB';
SELECT pg_temp.err($$SELECT * FROM unkd.evaluate('sc_long', 'sc_long_test', 10, 1)$$);
RESET maintenance_work_mem;

RESET client_min_messages;
SELECT unkd.drop_model(name) FROM unkd.models WHERE name LIKE 'sc\_%' ORDER BY name;
DROP TABLE sc_all, sc_split, sc_train, sc_val, sc_test, sc_rec, sc_grid_data, sc_grid_scores,
	sc_pairs, sc_before, sc_wide_data, sc_long_data, sc_long_test;
