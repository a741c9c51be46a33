-- Training defaults on validation: teachers over a grid.
--
-- How the defaults of unkd.train (optimizer, lr, ...) are checked
-- (docs/train.md, "Choosing the defaults"): the 80/20 split of the quality
-- suite (unkd.split seed 1), a further 10% of the training data (seed 2) as
-- the validation relation; every run stops early on it and is scored on it
-- by unkd.tune. Test data is never read.
--
-- Run as a superuser in a database with unkd, e.g.
--   psql -v csv=../shared/data/ml-1m/interactions.csv \
--        -v grid='{"optimizer": ["sgd", "adagrad"], "lr": [0.02, 0.05, 0.1]}' \
--        -f test/quality/train_grid.sql
-- One row per setting: validation NDCG@20, head share and tail recall at
-- k = 20 (4 groups), and seconds.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '2GB';

\ir grid_split.sql

SELECT run, config, round(validation_ndcg::numeric, 4) AS ndcg, round(head_share::numeric, 3) AS head,
	   round(tail_recall::numeric, 4) AS tail, round(seconds) AS s
FROM unkd.tune('train_grid_teacher', 'grid.train', 'bpr', :'grid', 'grid.valid',
			   params => '{"seed": 1}', replace => true)
ORDER BY run;

SELECT count(unkd.drop_model(name)) AS models_dropped FROM unkd.models WHERE name LIKE 'train\_grid\_%';
DROP SCHEMA grid CASCADE;
