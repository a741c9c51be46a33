-- The parallel epoch loop (workers => n, or max_parallel_maintenance_workers):
-- a model depends on (seed, workers) only, not on how many workers start;
-- workers => 0 is the serial loop; small inputs stay serial by default;
-- cancellation keeps the old version; the memory budget refuses a parallel
-- run that does not fit before it starts.
CREATE SCHEMA trp;
SET search_path = trp, public;
SET max_parallel_workers = 8;
SET extra_float_digits = 0;

CREATE FUNCTION trp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- one digest of a model's parameters
CREATE FUNCTION trp.digest(m text) RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(x, ';' ORDER BY x)) FROM (
		SELECT 'u' || user_id || ':' || embedding::text AS x FROM unkd.user_embeddings WHERE model = m
		UNION ALL
		SELECT 'i' || item_id || ':' || embedding::text FROM unkd.item_embeddings WHERE model = m) d
$$;

CREATE TABLE trp.rows AS SELECT * FROM unkd.synthetic_interactions(600, 300, 25, 1.0, 7);
SELECT count(*) AS interactions FROM trp.rows;

-- 0, 1 and 2 workers, each twice: a second run of the same (seed, workers)
-- is bit-identical, and so is a run where no worker can start
CREATE TABLE trp.runs (workers int, launchable boolean, digest text, slices text, loss float8,
					   launched int);
CREATE PROCEDURE trp.run(w int, launchable boolean) LANGUAGE plpgsql AS $$
DECLARE
	r unkd.models;
BEGIN
	r := unkd.train('par_' || w, 'trp.rows', dim => 8, epochs => 6, seed => 3, validation_fraction => 0,
					workers => w, notice_every => 0, replace => true);
	INSERT INTO trp.runs VALUES (w, launchable, trp.digest('par_' || w), r.params->>'workers',
								 round((r.metrics->>'loss')::numeric, 6),
								 (r.metrics->>'workers_launched')::int);
END $$;
CALL trp.run(0, true);
CALL trp.run(0, true);
CALL trp.run(1, true);
CALL trp.run(1, true);
CALL trp.run(2, true);
SET max_parallel_workers = 0;
CALL trp.run(1, false);
CALL trp.run(2, false);
SET max_parallel_workers = 8;
SELECT workers, params_workers, runs, digests, losses FROM (
	SELECT workers, min(slices) AS params_workers, count(*) AS runs,
		   count(DISTINCT digest) AS digests, count(DISTINCT loss) AS losses
	FROM trp.runs GROUP BY workers) s ORDER BY workers;
-- workers started when they could, and not when they could not
SELECT workers, launchable, bool_and(launched > 0) AS launched FROM trp.runs
WHERE workers > 0 GROUP BY workers, launchable ORDER BY workers, launchable;
-- the parallel loop is a different (deterministic) schedule, not a copy
SELECT count(DISTINCT digest) AS distinct_models FROM trp.runs;
-- and it trains as well: the losses of 1 and 2 workers are close to serial
SELECT workers, abs(loss - (SELECT min(loss) FROM trp.runs WHERE workers = 0)) < 0.02 AS close
FROM trp.runs GROUP BY workers, loss ORDER BY workers;

-- workers => NULL takes max_parallel_maintenance_workers, but an input of
-- 15,000 interactions is too small to cut: the model is the serial one
SET max_parallel_maintenance_workers = 2;
SELECT params->>'workers' AS workers, trp.digest('par_null') = (SELECT min(digest) FROM trp.runs WHERE workers = 0) AS serial
FROM unkd.train('par_null', 'trp.rows', dim => 8, epochs => 6, seed => 3, validation_fraction => 0,
				notice_every => 0);

-- distillation with workers: deterministic too, with KD pairs
SELECT name FROM unkd.train('par_teacher', 'trp.rows', dim => 16, epochs => 5, seed => 1,
							validation_fraction => 0, notice_every => 0, workers => 0);
SELECT name FROM unkd.distill('par_s1', 'trp.rows', 'par_teacher', dim => 4, epochs => 4, seed => 2,
							  validation_fraction => 0.2, notice_every => 0, workers => 2);
SELECT name FROM unkd.distill('par_s2', 'trp.rows', 'par_teacher', dim => 4, epochs => 4, seed => 2,
							  validation_fraction => 0.2, notice_every => 0, workers => 2);
SELECT (metrics->>'pair_updates') = (SELECT metrics->>'pair_updates' FROM unkd.models WHERE name = 'par_s1') AS same_updates,
	   trp.digest('par_s1') = trp.digest('par_s2') AS same_parameters
FROM unkd.models WHERE name = 'par_s2';

-- retrain reproduces a parallel model: params record the workers
SELECT trp.digest('par_2') AS before \gset
SELECT (unkd.retrain('par_2')).params->>'workers' AS workers;
SELECT trp.digest('par_2') = :'before' AS retrain_reproduces;

-- bad workers arguments
SELECT trp.err($$SELECT unkd.train('par_bad', 'trp.rows', workers => -1, notice_every => 0)$$);
SELECT trp.err($$SELECT unkd.train('par_bad', 'trp.rows', workers => 64)$$);

-- the memory budget counts the shared copy and each slice's item matrix:
-- a run that fits alone is refused with 2 workers, before any work
SET maintenance_work_mem = '1MB';
CREATE TABLE trp.wide AS SELECT u AS user_id, (u * 37 + j) % 3000 AS item_id
	FROM generate_series(1, 3000) u, generate_series(1, 3) j;
SELECT trp.err($$SELECT unkd.train('par_mem', 'trp.wide', dim => 16, epochs => 1, validation_fraction => 0, workers => 0, notice_every => 0)$$);
SELECT trp.err($$SELECT unkd.train('par_mem', 'trp.wide', dim => 16, epochs => 1, validation_fraction => 0, workers => 2, notice_every => 0)$$);
RESET maintenance_work_mem;

-- a parallel run cancelled by statement_timeout (57014) leaves the
-- previous version serving
CREATE TABLE trp.big AS SELECT * FROM unkd.synthetic_interactions(20000, 2000, 30, 1.0, 9);
CREATE INDEX ON trp.big (user_id);
SELECT version AS v1 FROM unkd.train('par_big', 'trp.big', dim => 8, epochs => 1, validation_fraction => 0,
									 workers => 0, notice_every => 0) \gset
SET statement_timeout = '1s';
SELECT trp.err($$SELECT unkd.train('par_big', 'trp.big', dim => 64, epochs => 100000, validation_fraction => 0, workers => 1, notice_every => 0)$$);
RESET statement_timeout;
SELECT version = :v1 AS old_version_serves FROM unkd.models WHERE name = 'par_big';
SELECT count(*) AS recommended FROM unkd.recommend(1, 5, 'par_big');
