-- Early stopping's validation passes in parallel workers
-- (max_parallel_maintenance_workers): the same stored metrics, best epoch
-- and embeddings, bit for bit, as the serial pass, and a timeout during a
-- parallel validation still cancels the run and keeps the old version.
CREATE SCHEMA vlp;
SET search_path = vlp, public;
SET max_parallel_workers = 8;

CREATE FUNCTION vlp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- validation passes big enough to give 2 workers their share (2 score
-- blocks and 128M multiply-adds each): 4,000 users of the relation against
-- about 4,000 items at dim 64, and the internal slice's 1,000 users at dim
-- 128; popularity is skewed gently (0.2), so the tail is recalled too
CREATE TABLE vlp.all_rows AS SELECT * FROM unkd.synthetic_interactions(4000, 4000, 15, 0.2, 5);
CREATE TABLE vlp.split AS SELECT * FROM unkd.split('vlp.all_rows', 0.2, 3);
CREATE TABLE vlp.train AS SELECT user_id, item_id FROM vlp.split WHERE NOT is_test;
CREATE TABLE vlp.valid AS SELECT user_id, item_id FROM vlp.split WHERE is_test;
CREATE INDEX ON vlp.train (user_id);

-- each run's stored figures and a digest of its vectors
CREATE TABLE vlp.result (workers int, model text, ndcg text, head_share text, tail_recall text,
						 best_epoch text, validation_users text, items_md5 text, users_md5 text);
CREATE FUNCTION vlp.record(w int, m text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO vlp.result
	SELECT w, m, metrics->>'validation_ndcg_at_20', metrics->>'validation_head_share_at_20',
		   metrics->>'validation_tail_recall_at_20', metrics->>'best_epoch',
		   metrics->>'validation_users',
		   (SELECT md5(string_agg(item_id || ':' || embedding::text, ',' ORDER BY item_id))
			FROM unkd.item_embeddings WHERE model = m),
		   (SELECT md5(string_agg(user_id || ':' || embedding::text, ',' ORDER BY user_id))
			FROM unkd.user_embeddings WHERE model = m)
	FROM unkd.models WHERE name = m
$$;

-- a teacher validated on the relation (SGD, validated at epochs 2, 4 and 6,
-- the best epoch's parameters kept) and one validated on the internal
-- slice, at 0 workers (the serial pass) and at 1 and 2
SET max_parallel_maintenance_workers = 0;
SELECT name FROM unkd.train('vp', 'vlp.train', validation => 'vlp.valid', dim => 64, epochs => 6,
							eval_every => 2, patience => 100, optimizer => 'sgd', seed => 1,
							notice_every => 0);
SELECT vlp.record(0, 'vp');
SELECT name FROM unkd.train('vp_slice', 'vlp.all_rows', dim => 128, epochs => 4, eval_every => 2,
							patience => 100, seed => 2, notice_every => 0);
SELECT vlp.record(0, 'vp_slice');
SET max_parallel_maintenance_workers = 1;
SELECT name FROM unkd.train('vp', 'vlp.train', validation => 'vlp.valid', dim => 64, epochs => 6,
							eval_every => 2, patience => 100, optimizer => 'sgd', seed => 1,
							notice_every => 0);
SELECT vlp.record(1, 'vp');
SELECT name FROM unkd.train('vp_slice', 'vlp.all_rows', dim => 128, epochs => 4, eval_every => 2,
							patience => 100, seed => 2, notice_every => 0);
SELECT vlp.record(1, 'vp_slice');
SET max_parallel_maintenance_workers = 2;
SELECT name FROM unkd.train('vp', 'vlp.train', validation => 'vlp.valid', dim => 64, epochs => 6,
							eval_every => 2, patience => 100, optimizer => 'sgd', seed => 1,
							notice_every => 0);
SELECT vlp.record(2, 'vp');
SELECT name FROM unkd.train('vp_slice', 'vlp.all_rows', dim => 128, epochs => 4, eval_every => 2,
							patience => 100, seed => 2, notice_every => 0);
SELECT vlp.record(2, 'vp_slice');

-- the figures are real (one set per model), and every run agrees with the serial one
SELECT model, validation_users::int AS validation_users, ndcg::float8 > 0 AS ndcg_positive,
	   head_share::float8 > 0 AS head_share_positive,
	   tail_recall::float8 > 0 AS tail_recall_positive, best_epoch
FROM vlp.result WHERE workers = 0 ORDER BY model;
SELECT r.workers, r.model,
	   r.ndcg = s.ndcg AS same_ndcg, r.head_share = s.head_share AS same_head_share,
	   r.tail_recall = s.tail_recall AS same_tail_recall, r.best_epoch = s.best_epoch AS same_best_epoch,
	   r.items_md5 = s.items_md5 AS same_items, r.users_md5 = s.users_md5 AS same_users
FROM vlp.result r JOIN vlp.result s ON s.model = r.model AND s.workers = 0
WHERE r.workers > 0 ORDER BY r.model, r.workers;

-- a run whose epoch loop is itself parallel (workers => 1) validates in its
-- own training workers, which wait idle otherwise: the figures are those
-- unkd.evaluate computes from the kept parameters, and they and the vectors
-- are the same when no worker can start and the leader scores every block
SELECT name, metrics->>'workers_launched' AS workers_launched
FROM unkd.train('vp_tw', 'vlp.train', validation => 'vlp.valid', dim => 64, epochs => 6,
				eval_every => 2, patience => 100, optimizer => 'sgd', seed => 1, workers => 1,
				notice_every => 0);
SELECT vlp.record(1, 'vp_tw');
SELECT (m.metrics->>'validation_ndcg_at_20')::float8 = e.ndcg AS ndcg_as_evaluate,
	   (m.metrics->>'validation_head_share_at_20')::float8 = h.share AS head_share_as_evaluate,
	   (m.metrics->>'validation_tail_recall_at_20')::float8 = t.recall AS tail_recall_as_evaluate
FROM unkd.models m,
	 unkd.evaluate('vp_tw', 'vlp.valid', 20, 4) e,
	 unkd.evaluate('vp_tw', 'vlp.valid', 20, 4) h,
	 unkd.evaluate('vp_tw', 'vlp.valid', 20, 4) t
WHERE m.name = 'vp_tw' AND e.group_id IS NULL AND h.group_id = 0 AND t.group_id = 3;
SET max_parallel_workers = 0;
SELECT name, metrics->>'workers_launched' AS workers_launched
FROM unkd.train('vp_tw', 'vlp.train', validation => 'vlp.valid', dim => 64, epochs => 6,
				eval_every => 2, patience => 100, optimizer => 'sgd', seed => 1, workers => 1,
				notice_every => 0);
SET max_parallel_workers = 8;
SELECT vlp.record(0, 'vp_tw');
SELECT r.ndcg = s.ndcg AS same_ndcg, r.head_share = s.head_share AS same_head_share,
	   r.tail_recall = s.tail_recall AS same_tail_recall, r.best_epoch = s.best_epoch AS same_best_epoch,
	   r.items_md5 = s.items_md5 AS same_items, r.users_md5 = s.users_md5 AS same_users
FROM vlp.result r JOIN vlp.result s ON s.model = r.model AND s.workers = 0
WHERE r.model = 'vp_tw' AND r.workers = 1;

-- a timeout during a parallel validation cancels the run (57014) and keeps
-- the old version serving: 30,000 users with a few interactions each train
-- in milliseconds, and validating them against 40,000 items takes seconds
CREATE TABLE vlp.big_train AS SELECT u AS user_id, (u * 7919 + j * 104729) % 40000 + 1 AS item_id
	FROM generate_series(1, 30000) u, generate_series(1, 2) j;
CREATE TABLE vlp.big_valid AS SELECT u AS user_id, (u * 15485 + j * 7907) % 40000 + 1 AS item_id
	FROM generate_series(1, 30000) u, generate_series(1, 3) j;
CREATE TABLE vlp.before AS
	SELECT version, version_id,
		   (SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend(1, 10, model => 'vp')) AS top10
	FROM unkd.models WHERE name = 'vp';
SET maintenance_work_mem = '256MB';
SET statement_timeout = '1s';
SELECT vlp.err($$SELECT unkd.train('vp', 'vlp.big_train', validation => 'vlp.big_valid', dim => 64,
								   epochs => 5, eval_every => 1, patience => 100, notice_every => 0)$$);
RESET statement_timeout;
RESET maintenance_work_mem;
SELECT m.version = b.version AS same_version, m.version_id = b.version_id AS same_version_id,
	   (SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM unkd.recommend(1, 10, model => 'vp')) = b.top10
	   AS same_recommendations
FROM unkd.models m, vlp.before b WHERE m.name = 'vp';

RESET max_parallel_maintenance_workers;
RESET max_parallel_workers;
SELECT unkd.drop_model('vp');
SELECT unkd.drop_model('vp_slice');
SELECT unkd.drop_model('vp_tw');
DROP SCHEMA vlp CASCADE;
RESET search_path;
