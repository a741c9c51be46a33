-- The seed's share of the defaults' figures: how much of UnKD-against-KD is
-- the method and how much the run's own randomness.
--
-- The teacher, KD and UnKD of defaults.sql (every other argument at its
-- default) trained with seeds 0 (the default) to :seeds - 1 on the same
-- 80/20 split (unkd.split seed 1), each evaluated once on test at k = 20.
-- One row per seed with issue 9's rule and target, then the spread.
--
-- Run as a superuser in a database with unkd, e.g.
--   psql -v csv=../shared/data/ml-1m/interactions.csv -v seeds=3 \
--        -f test/quality/seeds.sql
-- (MovieLens 1M: about 75 s per seed on 2 cores; CiteULike-a 25 s.)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '2GB';

-- the quality suite's split (grid_split.sql): grid.train_full and its test part
\ir grid_split.sql
CREATE TABLE grid.test AS SELECT user_id, item_id FROM grid.split WHERE is_test;
CREATE INDEX ON grid.train_full (user_id);
ANALYZE grid.train_full, grid.test;

CREATE TABLE grid.results (seed int, role text, group_id int, share float8, recall float8,
							ndcg float8);

-- one seed's three models, evaluated on test
CREATE PROCEDURE grid.run(s int) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM unkd.train('seeds_teacher', 'grid.train_full', seed => s, notice_every => 0, replace => true);
	PERFORM unkd.distill('seeds_kd', 'grid.train_full', teacher => 'seeds_teacher', n_groups => 1,
						 seed => s, notice_every => 0, replace => true);
	PERFORM unkd.distill('seeds_unkd', 'grid.train_full', teacher => 'seeds_teacher', seed => s,
						 notice_every => 0, replace => true);
	INSERT INTO grid.results
	SELECT s, r.role, e.group_id, e.share, e.recall, e.ndcg
	FROM unnest(ARRAY['teacher', 'kd', 'unkd']) r(role),
		 LATERAL unkd.evaluate('seeds_' || r.role, 'grid.test', 20, 4) e;
END $$;

SELECT format('CALL grid.run(%s)', s) FROM generate_series(0, :seeds - 1) s \gexec

-- UnKD against KD per seed
CREATE VIEW grid.ratios AS
SELECT seed,
	   max(ndcg) FILTER (WHERE role = 'teacher' AND group_id IS NULL) AS teacher_ndcg,
	   max(share) FILTER (WHERE role = 'unkd' AND group_id = 0) /
	   max(share) FILTER (WHERE role = 'kd' AND group_id = 0) AS head_ratio,
	   max(recall) FILTER (WHERE role = 'unkd' AND group_id = 3) /
	   max(recall) FILTER (WHERE role = 'kd' AND group_id = 3) AS tail_ratio,
	   max(ndcg) FILTER (WHERE role = 'unkd' AND group_id IS NULL) /
	   max(ndcg) FILTER (WHERE role = 'kd' AND group_id IS NULL) AS ndcg_ratio
FROM grid.results GROUP BY seed;

SELECT seed, round(teacher_ndcg::numeric, 4) AS teacher_ndcg20,
	   round(head_ratio::numeric, 3) AS head_unkd_over_kd,
	   round(tail_ratio::numeric, 2) AS tail_recall_unkd_over_kd,
	   round(ndcg_ratio::numeric, 3) AS ndcg20_unkd_over_kd,
	   head_ratio < 1 AND tail_ratio > 1 AND ndcg_ratio >= 0.97 AS rule_met,
	   head_ratio <= 0.85 AND tail_ratio > 1 AND ndcg_ratio >= 0.97 AS target_met
FROM grid.ratios ORDER BY seed;

SELECT count(*) AS seeds,
	   round(min(head_ratio)::numeric, 3) || ' .. ' || round(max(head_ratio)::numeric, 3) AS head_ratio_range,
	   round(min(tail_ratio)::numeric, 2) || ' .. ' || round(max(tail_ratio)::numeric, 2) AS tail_ratio_range,
	   round(min(ndcg_ratio)::numeric, 3) || ' .. ' || round(max(ndcg_ratio)::numeric, 3) AS ndcg_ratio_range,
	   round(min(teacher_ndcg)::numeric, 4) || ' .. ' || round(max(teacher_ndcg)::numeric, 4) AS teacher_ndcg_range
FROM grid.ratios;

SELECT count(unkd.drop_model(name)) AS models_dropped FROM unkd.models WHERE name LIKE 'seeds\_%';
DROP SCHEMA grid CASCADE;
