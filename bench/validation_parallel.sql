-- Parallel validation (issue 12): a validated teacher on the 2M synthetic
-- set at 0 and 1 parallel workers. Run with psql against a throw-away
-- cluster with unkd installed (max_worker_processes >= 8); prints
-- validation, loop and end-to-end seconds and the figures that must agree.
\set ON_ERROR_STOP on
SET maintenance_work_mem = '2GB';
SET max_parallel_workers = 8;
DROP TABLE IF EXISTS vb_all, vb_split, vb_train, vb_valid;
CREATE TABLE vb_all AS SELECT * FROM unkd.synthetic_interactions(100000, 50000, 20);
CREATE TABLE vb_split AS SELECT * FROM unkd.split('vb_all', 0.1, 1);
CREATE TABLE vb_train AS SELECT user_id, item_id FROM vb_split WHERE NOT is_test;
CREATE TABLE vb_valid AS SELECT user_id, item_id FROM vb_split WHERE is_test;
CREATE INDEX ON vb_train (user_id);
VACUUM ANALYZE vb_train, vb_valid;
-- end_to_end_s: the statement's wall time, the model's save included
CREATE TEMP TABLE vb_runs (workers int, validation_s float8, loop_s float8, train_s float8,
						   end_to_end_s float8, ndcg text, head_share text, tail_recall text,
						   best_epoch text);
\o /dev/null
SET max_parallel_maintenance_workers = 0;
SELECT clock_timestamp() AS t0 \gset
INSERT INTO vb_runs SELECT 0, (metrics->>'validation_seconds')::float8, (metrics->>'loop_seconds')::float8,
	train_seconds, NULL, metrics->>'validation_ndcg_at_20', metrics->>'validation_head_share_at_20',
	metrics->>'validation_tail_recall_at_20', metrics->>'best_epoch'
FROM unkd.train('vb', 'vb_train', validation => 'vb_valid', dim => 100, epochs => 10, eval_every => 5,
				patience => 100, optimizer => 'sgd', seed => 1, notice_every => 0);
UPDATE vb_runs SET end_to_end_s = extract(epoch FROM clock_timestamp() - :'t0') WHERE end_to_end_s IS NULL;
SET max_parallel_maintenance_workers = 1;
SET client_min_messages = debug1;	-- each pass's set-up and waits ("unkd validation: ...")
SELECT clock_timestamp() AS t0 \gset
INSERT INTO vb_runs SELECT 1, (metrics->>'validation_seconds')::float8, (metrics->>'loop_seconds')::float8,
	train_seconds, NULL, metrics->>'validation_ndcg_at_20', metrics->>'validation_head_share_at_20',
	metrics->>'validation_tail_recall_at_20', metrics->>'best_epoch'
FROM unkd.train('vb', 'vb_train', validation => 'vb_valid', dim => 100, epochs => 10, eval_every => 5,
				patience => 100, optimizer => 'sgd', seed => 1, notice_every => 0);
UPDATE vb_runs SET end_to_end_s = extract(epoch FROM clock_timestamp() - :'t0') WHERE end_to_end_s IS NULL;
RESET client_min_messages;
\o
SELECT workers, round(validation_s::numeric, 1) AS validation_s, round(loop_s::numeric, 1) AS loop_s,
	   round(train_s::numeric, 1) AS train_s, round(end_to_end_s::numeric, 1) AS end_to_end_s,
	   round((validation_s / loop_s * 100)::numeric, 1) AS validation_pct, ndcg, head_share, tail_recall, best_epoch
FROM vb_runs ORDER BY workers;
