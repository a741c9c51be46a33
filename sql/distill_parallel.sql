-- Candidate lists from a teacher model built in parallel workers
-- (max_parallel_maintenance_workers): the same lists, so the same pairs and
-- the same student, bit for bit, as the serial build; a timeout still
-- cancels it, and a worker's error is the serial error.
CREATE SCHEMA dpar;
SET search_path = dpar, public;
SET max_parallel_workers = 8;

CREATE FUNCTION dpar.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- 1,000 users (13 chunks of 64 known users): the teacher never saw a fifth
-- of the users and a ninth of the items, so chunks are cut from the known
-- users and lists end with unscored items
CREATE TABLE dpar.all_rows AS SELECT * FROM unkd.synthetic_interactions(1000, 400, 20, 1.0, 5);
CREATE INDEX ON dpar.all_rows (user_id);
CREATE VIEW dpar.known AS SELECT * FROM dpar.all_rows WHERE user_id % 5 <> 0 AND item_id % 9 <> 0;
SELECT name FROM unkd.train('dpt', 'dpar.known', dim => 16, epochs => 5, seed => 1, notice_every => 0);

-- one epoch of pairs at 0 workers (the serial build) and at 1 and 2 workers
CREATE TABLE dpar.pairs (workers int, user_id bigint, group_id int, better bigint, worse bigint);
SET max_parallel_maintenance_workers = 0;
INSERT INTO dpar.pairs SELECT 0, user_id, group_id, better_item, worse_item
	FROM unkd.distill_pairs('dpar.all_rows', teacher => 'dpt', seed => 3);
SET max_parallel_maintenance_workers = 1;
INSERT INTO dpar.pairs SELECT 1, user_id, group_id, better_item, worse_item
	FROM unkd.distill_pairs('dpar.all_rows', teacher => 'dpt', seed => 3);
SET max_parallel_maintenance_workers = 2;
INSERT INTO dpar.pairs SELECT 2, user_id, group_id, better_item, worse_item
	FROM unkd.distill_pairs('dpar.all_rows', teacher => 'dpt', seed => 3);
-- every run's pairs, sorted and hashed
SELECT workers, count(*) AS pairs, count(DISTINCT user_id) AS users,
	   md5(string_agg(concat_ws(',', user_id, group_id, better, worse), ';'
					  ORDER BY user_id, group_id, better, worse)) =
	   (SELECT md5(string_agg(concat_ws(',', user_id, group_id, better, worse), ';'
							  ORDER BY user_id, group_id, better, worse))
		FROM dpar.pairs WHERE workers = 0) AS same_as_serial
FROM dpar.pairs GROUP BY workers ORDER BY workers;

-- students distilled at 0, 1 and 2 workers store identical vectors
SET max_parallel_maintenance_workers = 0;
SELECT name, version FROM unkd.distill('dps0', 'dpar.all_rows', teacher => 'dpt', dim => 8, epochs => 3,
	seed => 2, notice_every => 0, optimizer => 'sgd', validation_fraction => 0);
SET max_parallel_maintenance_workers = 1;
SELECT name, version FROM unkd.distill('dps1', 'dpar.all_rows', teacher => 'dpt', dim => 8, epochs => 3,
	seed => 2, notice_every => 0, optimizer => 'sgd', validation_fraction => 0);
SET max_parallel_maintenance_workers = 2;
SELECT name, version FROM unkd.distill('dps2', 'dpar.all_rows', teacher => 'dpt', dim => 8, epochs => 3,
	seed => 2, notice_every => 0, optimizer => 'sgd', validation_fraction => 0);
SELECT m.model,
	   (SELECT md5(string_agg(item_id || ':' || embedding::text, ';' ORDER BY item_id))
		FROM unkd.item_embeddings WHERE model = m.model) =
	   (SELECT md5(string_agg(item_id || ':' || embedding::text, ';' ORDER BY item_id))
		FROM unkd.item_embeddings WHERE model = 'dps0') AS same_items,
	   (SELECT md5(string_agg(user_id || ':' || embedding::text, ';' ORDER BY user_id))
		FROM unkd.user_embeddings WHERE model = m.model) =
	   (SELECT md5(string_agg(user_id || ':' || embedding::text, ';' ORDER BY user_id))
		FROM unkd.user_embeddings WHERE model = 'dps0') AS same_users,
	   (SELECT count(*) FROM unkd.user_embeddings WHERE model = m.model) AS users
FROM (VALUES ('dps1'), ('dps2')) m(model) ORDER BY 1;

-- a teacher with a NaN in one item vector: the serial build and the
-- parallel one (where a worker may meet it first) raise the same error
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
SELECT 'dpt_nan', kind, method, dim, n_users, n_items, n_interactions, strata,
	   interactions, user_column, item_column FROM unkd.models WHERE name = 'dpt';
INSERT INTO unkd.user_embeddings (model, user_id, embedding)
SELECT 'dpt_nan', user_id, embedding FROM unkd.user_embeddings WHERE model = 'dpt';
INSERT INTO unkd.item_embeddings (model, item_id, popularity, embedding)
SELECT 'dpt_nan', item_id, popularity,
	   CASE WHEN item_id = 7 THEN array_prepend('NaN'::real, embedding[2:]) ELSE embedding END
FROM unkd.item_embeddings WHERE model = 'dpt';
SET max_parallel_maintenance_workers = 0;
SELECT 0 AS workers, dpar.err($$SELECT unkd.distill('dps_nan', 'dpar.all_rows', teacher => 'dpt_nan',
	epochs => 1, notice_every => 0, validation_fraction => 0)$$);
SET max_parallel_maintenance_workers = 2;
SELECT 2 AS workers, dpar.err($$SELECT unkd.distill('dps_nan', 'dpar.all_rows', teacher => 'dpt_nan',
	epochs => 1, notice_every => 0, validation_fraction => 0)$$);
SELECT 2 AS workers, dpar.err($$SELECT count(*) FROM unkd.distill_pairs('dpar.all_rows', teacher => 'dpt_nan')$$);
SELECT count(*) AS nan_students FROM unkd.models WHERE name = 'dps_nan';

-- a parallel candidate build is cancelled by statement_timeout (57014) and
-- the student's previous version keeps serving: 20,000 users scored
-- against 30,000 items at dim 64 take seconds
CREATE TABLE dpar.big AS SELECT u AS user_id, (u * 7919 + j * 104729) % 30000 + 1 AS item_id
	FROM generate_series(1, 20000) u, generate_series(1, 3) j;
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('dpt_big', 'teacher', 'bpr', 64, 20000, 30000, 60000, '{}', 'dpar.big', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings
SELECT 'dpt_big', i, 1, (SELECT array_agg(sin(i * 0.37 + j)::real) FROM generate_series(1, 64) j)
FROM generate_series(1, 30000) i;
INSERT INTO unkd.user_embeddings
SELECT 'dpt_big', u, (SELECT array_agg(cos(u * 0.11 + j)::real) FROM generate_series(1, 64) j)
FROM generate_series(1, 20000) u;
CREATE TEMP TABLE before AS SELECT version_id, version FROM unkd.models WHERE name = 'dps2';
SET max_parallel_maintenance_workers = 2;
SET statement_timeout = '500ms';
SELECT dpar.err($$SELECT unkd.distill('dps2', 'dpar.big', teacher => 'dpt_big', dim => 8, epochs => 1,
	candidates => 20, notice_every => 0, validation_fraction => 0)$$);
RESET statement_timeout;
SELECT m.version_id = b.version_id AS same_version, m.version, m.n_users,
	   (SELECT count(*) FROM unkd.recommend(1, 5, 'dps2')) AS recommended
FROM unkd.models m, before b WHERE m.name = 'dps2';

RESET max_parallel_maintenance_workers;
RESET max_parallel_workers;
SELECT unkd.drop_model(m) FROM unnest('{dps0,dps1,dps2,dpt}'::text[]) m;
DELETE FROM unkd.models WHERE name IN ('dpt_nan', 'dpt_big');
DROP SCHEMA dpar CASCADE;
RESET search_path;
