-- The parallel epoch loop against the serial one on MovieLens 1M (docs/train.md,
-- "Parallel workers"): loop seconds and test NDCG@20 at workers 0 and 1, for
-- fixed epochs and for the defaults. About 6 minutes on 2 cores.
--   psql -v csv=/work/shared/data/ml-1m/interactions.csv -f bench/parallel_ml1m.sql
-- (in a scratch database with unkd installed; max_worker_processes >= 2)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
SET max_parallel_workers = 8;
CREATE TEMP TABLE ml1m_all (user_id int, item_id int);
-- \copy takes its line literally: build it with the path first
\set copy_ml1m '\\copy ml1m_all FROM ' :'csv' ' WITH (FORMAT csv, HEADER)'
:copy_ml1m
CREATE TABLE pml1m_split AS SELECT * FROM unkd.split('ml1m_all', 0.2, 1);
CREATE TABLE pml1m_train AS SELECT user_id, item_id FROM pml1m_split WHERE NOT is_test;
CREATE TABLE pml1m_test AS SELECT user_id, item_id FROM pml1m_split WHERE is_test;
CREATE TEMP TABLE runs (run text, workers int, model text);
INSERT INTO runs
SELECT 'sgd, 10 epochs', w, (unkd.train('pml1m_sgd_' || w, 'pml1m_train', epochs => 10, optimizer => 'sgd',
	validation_fraction => 0, workers => w, notice_every => 0, replace => true)).name
FROM unnest('{0,1}'::int[]) w;
INSERT INTO runs
SELECT 'adagrad, 150 epochs', w, (unkd.train('pml1m_fixed_' || w, 'pml1m_train', epochs => 150,
	validation_fraction => 0, workers => w, notice_every => 0, replace => true)).name
FROM unnest('{0,1}'::int[]) w;
INSERT INTO runs
SELECT 'defaults', w, (unkd.train('pml1m_default_' || w, 'pml1m_train', workers => w,
	notice_every => 0, replace => true)).name
FROM unnest('{0,1}'::int[]) w;
SELECT r.run, r.workers, (m.metrics->>'workers_launched')::int AS launched,
	   round((m.metrics->>'loop_seconds')::numeric, 1) AS loop_s,
	   (m.metrics->>'best_epoch')::int AS best_epoch,
	   round(e.ndcg::numeric, 4) AS test_ndcg_at_20
FROM runs r JOIN unkd.models m ON m.name = r.model,
	 LATERAL unkd.evaluate(r.model, 'pml1m_test', 20, 4) e
WHERE e.group_id IS NULL ORDER BY r.run, r.workers;
SELECT unkd.drop_model(model) FROM runs \g /dev/null
DROP TABLE pml1m_split, pml1m_train, pml1m_test;
