-- unkd.tune: a grid of configurations trained and scored on a validation
-- relation; the best under the rule is kept under the name, the other runs
-- are dropped; every error before any training.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE TABLE tune_all AS SELECT * FROM unkd.synthetic_interactions(300, 120, 15, 1.0, 6);
CREATE TABLE tune_split AS SELECT * FROM unkd.split('tune_all', 0.2, 1);
CREATE TABLE tune_train AS SELECT user_id, item_id FROM tune_split WHERE NOT is_test;
CREATE TABLE tune_val AS SELECT user_id, item_id FROM tune_split WHERE is_test;
CREATE INDEX ON tune_train (user_id);

-- a teacher grid: four configurations, the best NDCG kept as tune_t
CREATE TABLE tune_runs AS
SELECT * FROM unkd.tune('tune_t', 'tune_train', 'bpr', '{"dim": [4, 16], "lr": [0.05, 0.1]}',
						'tune_val', params => '{"epochs": 15, "seed": 1}');
SELECT run, config FROM tune_runs ORDER BY run;
SELECT count(*) FILTER (WHERE chosen) AS chosen FROM tune_runs;
-- the chosen run has the best validation NDCG, and it is what tune_t serves
SELECT (SELECT validation_ndcg FROM tune_runs WHERE chosen) = (SELECT max(validation_ndcg) FROM tune_runs) AS best_kept,
	   (SELECT validation_ndcg FROM tune_runs WHERE chosen)
	   = (SELECT ndcg FROM unkd.evaluate('tune_t', 'tune_val', 20, 4) WHERE group_id IS NULL) AS stored_is_chosen,
	   (SELECT params->>'dim' FROM unkd.models WHERE name = 'tune_t') = (SELECT config->>'dim' FROM tune_runs WHERE chosen) AS same_dim,
	   (SELECT count(*) FROM unkd.models WHERE name LIKE 'tune\_t\_tune%') AS runs_left,
	   (SELECT bool_and(head_share BETWEEN 0 AND 1 AND tail_recall BETWEEN 0 AND 1 AND seconds >= 0) FROM tune_runs) AS measures_in_range;

-- students: the fair rule keeps the lowest head share within 3% of the best NDCG
CREATE TABLE tune_fair AS
SELECT * FROM unkd.tune('tune_s', 'tune_train', 'unkd', '{"mu": [5, 20, 100], "kd_weight": [0.5, 1]}',
						'tune_val', rule => 'fair', params => '{"teacher": "tune_t", "dim": 4, "epochs": 10, "seed": 2}');
SELECT count(*) AS runs, count(*) FILTER (WHERE chosen) AS chosen FROM tune_fair;
SELECT (SELECT head_share FROM tune_fair WHERE chosen)
	   = (SELECT min(head_share) FROM tune_fair
		  WHERE validation_ndcg >= 0.97 * (SELECT max(validation_ndcg) FROM tune_fair)) AS fairest_within_tolerance,
	   (SELECT method FROM unkd.models WHERE name = 'tune_s') AS method;
-- without a validation relation each run is scored on its own internal
-- slice (the same seed: the same slice for every run), and the figures are
-- the ones the run recorded at its best epoch
CREATE TABLE tune_slice AS
SELECT * FROM unkd.tune('tune_i', 'tune_train', 'bpr', '{"decay": [0.001, 0.01, 0.1]}',
						params => '{"dim": 8, "epochs": 40, "seed": 3}');
SELECT count(*) AS runs, count(*) FILTER (WHERE chosen) AS chosen,
	   bool_and(validation_ndcg > 0 AND head_share BETWEEN 0 AND 1 AND tail_recall BETWEEN 0 AND 1) AS measured
FROM tune_slice;
SELECT (SELECT validation_ndcg FROM tune_slice WHERE chosen) = (SELECT max(validation_ndcg) FROM tune_slice) AS best_kept,
	   (SELECT validation_ndcg FROM tune_slice WHERE chosen)
	   = (SELECT (metrics->>'validation_ndcg_at_20')::float8 FROM unkd.models WHERE name = 'tune_i') AS stored_is_chosen,
	   (SELECT params->>'validation' FROM unkd.models WHERE name = 'tune_i') IS NULL AS no_relation;
-- a grid that turns the slice off has nothing to score on
SELECT pg_temp.err($$SELECT * FROM unkd.tune('tune_j', 'tune_train', 'bpr', '{"dim": 4}',
	params => '{"epochs": 2, "validation_fraction": 0}')$$);
SELECT count(*) AS left_behind FROM unkd.models WHERE name LIKE 'tune\_j%';

-- tuning again under a deployed, granted name keeps its deployment and grants
SELECT unkd.deploy('tune_t');
SELECT unkd.grant_model('tune_t', 'public');
SELECT count(*) AS runs FROM unkd.tune('tune_t', 'tune_train', 'bpr', '{"dim": 8}', 'tune_val', params => '{"epochs": 3}');
SELECT name, deployed, readers, params->>'dim' AS dim FROM unkd.models WHERE name = 'tune_t';

-- errors, all before any training
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'als', '{}', 'tune_val')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'bpr', '{}', 'tune_val', rule => 'fast')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'bpr', '{}', 'tune_val', tolerance => 1)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'bpr', '{"colour": [1]}', 'tune_val')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'bpr', '{"name": ["y"]}', 'tune_val')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'bpr', '{"dim": []}', 'tune_val')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'bpr', '[1, 2]', 'tune_val')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'kd', '{"n_groups": [2]}', 'tune_val')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('x', 'tune_train', 'bpr', '{"dim": [1,2,3,4,5,6,7,8], "lr": [0.01,0.02,0.03,0.04,0.05,0.06,0.07,0.08,0.09]}', 'tune_val')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.tune(NULL, 'tune_train', 'bpr', '{}', 'tune_val')$$);
SELECT pg_temp.err(format($$SELECT * FROM unkd.tune(%L, 'tune_train', 'bpr', '{}', 'tune_val')$$, repeat('x', 56)));
SELECT unkd.drop_model(name) FROM unkd.models WHERE name IN ('tune_x_tune1');
SELECT name FROM unkd.train('tune_x_tune1', 'tune_train', dim => 2, epochs => 1, notice_every => 0);
SELECT pg_temp.err($$SELECT * FROM unkd.tune('tune_x', 'tune_train', 'bpr', '{"dim": [2]}', 'tune_val')$$);
-- the kept run may replace a model of the name only as train would: owned
-- by the caller, and of the same kind and method unless replace => true
SELECT pg_temp.err($$SELECT * FROM unkd.tune('tune_s', 'tune_train', 'bpr', '{"dim": [2]}', 'tune_val')$$);
SELECT count(*) AS runs FROM unkd.tune('tune_s', 'tune_train', 'bpr', '{"dim": [2]}', 'tune_val',
									   params => '{"epochs": 1}', replace => true);
SELECT kind, method FROM unkd.models WHERE name = 'tune_s';
CREATE ROLE regress_tune_other;
GRANT EXECUTE ON FUNCTION unkd.tune, unkd.train TO regress_tune_other;
GRANT SELECT ON tune_train, tune_val TO regress_tune_other;
SET ROLE regress_tune_other;
SELECT pg_temp.err($$SELECT * FROM unkd.tune('tune_s', 'tune_train', 'bpr', '{"dim": [2]}', 'tune_val')$$);
RESET ROLE;
REVOKE ALL ON tune_train, tune_val FROM regress_tune_other;
REVOKE EXECUTE ON FUNCTION unkd.tune, unkd.train FROM regress_tune_other;
DROP ROLE regress_tune_other;
BEGIN TRANSACTION READ ONLY;
SELECT pg_temp.err($$SELECT * FROM unkd.tune('tune_z', 'tune_train', 'bpr', '{"dim": [2]}', 'tune_val')$$);
ROLLBACK;

-- a failing run rolls the whole tune back: nothing half-written
SELECT pg_temp.err($$SELECT * FROM unkd.tune('tune_y', 'tune_train', 'bpr', '{"lr": [0.05, -1]}', 'tune_val', params => '{"epochs": 2}')$$);
SELECT count(*) AS tune_y_models FROM unkd.models WHERE name LIKE 'tune\_y%';

SELECT unkd.drop_model(name) FROM unkd.models WHERE name LIKE 'tune\_%' ORDER BY name;
DROP TABLE tune_all, tune_split, tune_train, tune_val, tune_runs, tune_fair, tune_slice;
