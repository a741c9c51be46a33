-- Distillation defaults on validation: KD and UnKD side by side over a grid.
--
-- How the defaults of unkd.distill (mu, samples, group_weight_exponent, ...)
-- were chosen (docs/distill.md, "Quality at the defaults"): the 80/20 split
-- of the quality suite (unkd.split seed 1), a further 10% of the training
-- data (seed 2) as the validation relation; a default teacher and every
-- student stop early on it and are scored on it by unkd.tune. Test data is
-- never read.
--
-- Run as a superuser in a database with unkd, e.g.
--   psql -v csv=../shared/data/ml-1m/interactions.csv \
--        -v kd_grid='{"mu": [20, 30]}' \
--        -v unkd_grid='{"mu": [20, 30], "group_weight_exponent": [0.25]}' \
--        -f test/quality/distill_grid.sql
-- kd_grid and unkd_grid name the same settings except group_weight_exponent,
-- which KD (one group) ignores. One row per UnKD setting, beside KD's at the
-- same settings: head share and tail recall at k = 20 (4 groups), NDCG@20.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '2GB';

DROP SCHEMA IF EXISTS distill_grid CASCADE;
CREATE SCHEMA distill_grid;

CREATE TABLE distill_grid.all_interactions (user_id bigint, item_id bigint);
\set copy_cmd '\\copy distill_grid.all_interactions FROM ' :'csv' ' CSV HEADER'
:copy_cmd
CREATE TABLE distill_grid.split AS SELECT * FROM unkd.split('distill_grid.all_interactions', 0.2, 1);
CREATE TABLE distill_grid.train_full AS SELECT user_id, item_id FROM distill_grid.split WHERE NOT is_test;
CREATE TABLE distill_grid.vsplit AS SELECT * FROM unkd.split('distill_grid.train_full', 0.1, 2);
CREATE TABLE distill_grid.train AS SELECT user_id, item_id FROM distill_grid.vsplit WHERE NOT is_test;
CREATE TABLE distill_grid.valid AS SELECT user_id, item_id FROM distill_grid.vsplit WHERE is_test;
CREATE INDEX ON distill_grid.train (user_id);
ANALYZE distill_grid.train, distill_grid.valid;

SELECT count(*) FROM unkd.train('distill_grid_teacher', 'distill_grid.train', validation => 'distill_grid.valid',
								seed => 1, notice_every => 0, replace => true);

CREATE TABLE distill_grid.runs AS
SELECT 'kd' AS method, *
FROM unkd.tune('distill_grid_kd', 'distill_grid.train', 'kd', :'kd_grid', 'distill_grid.valid',
			   params => '{"teacher": "distill_grid_teacher", "seed": 1}', replace => true)
UNION ALL
SELECT 'unkd', *
FROM unkd.tune('distill_grid_unkd', 'distill_grid.train', 'unkd', :'unkd_grid', 'distill_grid.valid',
			   params => '{"teacher": "distill_grid_teacher", "seed": 1}', replace => true);

-- UnKD against KD at the same settings
SELECT u.config,
	   round(u.head_share::numeric, 3) AS unkd_head, round(k.head_share::numeric, 3) AS kd_head,
	   round((u.head_share / k.head_share)::numeric, 3) AS head_ratio,
	   round(u.tail_recall::numeric, 4) AS unkd_tail, round(k.tail_recall::numeric, 4) AS kd_tail,
	   round(u.validation_ndcg::numeric, 4) AS unkd_ndcg, round(k.validation_ndcg::numeric, 4) AS kd_ndcg,
	   round((u.validation_ndcg / k.validation_ndcg)::numeric, 3) AS ndcg_ratio,
	   round(u.seconds) AS unkd_s, round(k.seconds) AS kd_s
FROM distill_grid.runs u
JOIN distill_grid.runs k ON k.method = 'kd' AND k.config = u.config OPERATOR(pg_catalog.-) 'group_weight_exponent'
WHERE u.method = 'unkd'
ORDER BY u.run;

SELECT count(unkd.drop_model(name)) AS models_dropped FROM unkd.models WHERE name LIKE 'distill\_grid\_%';
DROP SCHEMA distill_grid CASCADE;
