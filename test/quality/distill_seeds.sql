-- Distillation defaults on validation, run the way the test protocol runs
-- them, over several seeds.
--
-- distill_grid.sql lets every student stop early on the validation relation
-- it is then scored on; this script trains as an analyst's call does: every
-- model (a default teacher, then KD and UnKD students) stops early on its
-- own internal validation slice of grid.train, and is then scored once on
-- grid.valid (the quality suite's 80/20 split, a further 10% of the
-- training data as grid.valid, grid_split.sql). Test data is never read.
-- Each setting is a fragment of unkd.distill's arguments, the settings
-- separated by '|'; put the seed in each, e.g.
--   psql -v csv=../shared/data/ml-1m/interactions.csv \
--        -v settings='seed => 0|seed => 1|seed => 2|seed => 0, group_weight_exponent => 0' \
--        -f test/quality/distill_seeds.sql
-- One row per setting: UnKD against KD (trained with the same arguments
-- but n_groups 1) at k = 20 on grid.valid, and the epochs each kept.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '2GB';

\ir grid_split.sql

SELECT count(*) AS teachers FROM unkd.train('distill_seeds_teacher', 'grid.train', notice_every => 0,
											replace => true);

CREATE TABLE grid.scores (setting text, ord int, role text, group_id int, share float8,
						  recall float8, ndcg float8, best_epoch int);

-- KD and UnKD of each setting, scored on grid.valid
SELECT format($run$
	SELECT count(*) AS kd FROM unkd.distill('distill_seeds_kd', 'grid.train', teacher => 'distill_seeds_teacher',
		n_groups => 1, notice_every => 0, replace => true, %1$s);
	SELECT count(*) AS unkd FROM unkd.distill('distill_seeds_unkd', 'grid.train', teacher => 'distill_seeds_teacher',
		notice_every => 0, replace => true, %1$s);
	INSERT INTO grid.scores
	SELECT %2$L, %3$s, r.role, e.group_id, e.share, e.recall, e.ndcg,
		   (SELECT (metrics->>'best_epoch')::int FROM unkd.models WHERE name = 'distill_seeds_' || r.role)
	FROM unnest(ARRAY['kd', 'unkd']) r(role),
		 LATERAL unkd.evaluate('distill_seeds_' || r.role, 'grid.valid', 20, 4) e;
	$run$, s.setting, btrim(s.setting), s.ord)
FROM unnest(string_to_array(:'settings', '|')) WITH ORDINALITY s(setting, ord) \gexec

SELECT setting,
	   round((max(share) FILTER (WHERE role = 'unkd' AND group_id = 0) /
			  max(share) FILTER (WHERE role = 'kd' AND group_id = 0))::numeric, 3) AS head_ratio,
	   round((max(recall) FILTER (WHERE role = 'unkd' AND group_id = 3) /
			  max(recall) FILTER (WHERE role = 'kd' AND group_id = 3))::numeric, 2) AS tail_ratio,
	   round(max(ndcg) FILTER (WHERE role = 'unkd' AND group_id IS NULL)::numeric, 4) AS unkd_ndcg,
	   round(max(ndcg) FILTER (WHERE role = 'kd' AND group_id IS NULL)::numeric, 4) AS kd_ndcg,
	   round((max(ndcg) FILTER (WHERE role = 'unkd' AND group_id IS NULL) /
			  max(ndcg) FILTER (WHERE role = 'kd' AND group_id IS NULL))::numeric, 3) AS ndcg_ratio,
	   max(best_epoch) FILTER (WHERE role = 'kd') AS kd_best_epoch,
	   max(best_epoch) FILTER (WHERE role = 'unkd') AS unkd_best_epoch
FROM grid.scores GROUP BY setting, ord ORDER BY ord;

SELECT count(unkd.drop_model(name)) AS models_dropped FROM unkd.models WHERE name LIKE 'distill\_seeds\_%';
DROP SCHEMA grid CASCADE;
