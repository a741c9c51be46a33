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

\ir grid_split.sql

SELECT count(*) FROM unkd.train('distill_grid_teacher', 'grid.train', validation => 'grid.valid',
								seed => 1, notice_every => 0, replace => true);

CREATE TABLE grid.runs AS
SELECT 'kd' AS method, *
FROM unkd.tune('distill_grid_kd', 'grid.train', 'kd', :'kd_grid', 'grid.valid',
			   params => '{"teacher": "distill_grid_teacher", "seed": 1}', replace => true)
UNION ALL
SELECT 'unkd', *
FROM unkd.tune('distill_grid_unkd', 'grid.train', 'unkd', :'unkd_grid', 'grid.valid',
			   params => '{"teacher": "distill_grid_teacher", "seed": 1}', replace => true);

-- UnKD against KD at the same settings
SELECT u.config,
	   round(u.head_share::numeric, 3) AS unkd_head, round(k.head_share::numeric, 3) AS kd_head,
	   round((u.head_share / k.head_share)::numeric, 3) AS head_ratio,
	   round(u.tail_recall::numeric, 4) AS unkd_tail, round(k.tail_recall::numeric, 4) AS kd_tail,
	   round(u.validation_ndcg::numeric, 4) AS unkd_ndcg, round(k.validation_ndcg::numeric, 4) AS kd_ndcg,
	   round((u.validation_ndcg / k.validation_ndcg)::numeric, 3) AS ndcg_ratio,
	   round(u.seconds) AS unkd_s, round(k.seconds) AS kd_s
FROM grid.runs u
JOIN grid.runs k ON k.method = 'kd' AND k.config = u.config OPERATOR(pg_catalog.-) 'group_weight_exponent'
WHERE u.method = 'unkd'
ORDER BY u.run;

SELECT count(unkd.drop_model(name)) AS models_dropped FROM unkd.models WHERE name LIKE 'distill\_grid\_%';
DROP SCHEMA grid CASCADE;
