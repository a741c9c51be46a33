-- Safety of arguments: no hang, no silent empty result, cancellation honoured.
-- err(q) runs q and returns its SQLSTATE and message; unlike WHEN OTHERS
-- alone it also traps query_canceled, so a timeout shows as 57014.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE safety_data AS SELECT * FROM unkd.synthetic_interactions(30, 40, 8, 1.0, 7);
CREATE TABLE safety_scores AS
	SELECT u AS user_id, i AS item_id, ((u * 7 + i * 13) % 17)::real AS score
	FROM generate_series(1, 30) u, generate_series(1, 40) i;

-- mu out of range used to loop forever (every rank 0, so no distinct pair);
-- the timeout turns a regression into a failure instead of a hang
SET statement_timeout = '2s';
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, 0.01)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, 1e17)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, 0.49)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, 1000001)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, -1)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, 'NaN')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, 'Infinity')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.distill_pairs('safety_data', teacher_scores => 'safety_scores', mu => 0.01)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.distill_pairs('safety_data', teacher_scores => 'safety_scores', mu => 1e17)$$);
SELECT pg_temp.err($$SELECT unkd.distill('safety_x', 'safety_data', teacher_scores => 'safety_scores', mu => 0.01, epochs => 1, notice_every => 0)$$);
SELECT pg_temp.err($$SELECT unkd.distill('safety_x', 'safety_data', teacher_scores => 'safety_scores', mu => 1e17, epochs => 1, notice_every => 0)$$);
SELECT pg_temp.err($$SELECT unkd.distill('safety_x', 'safety_data', kd_weight => 0, mu => 'NaN', epochs => 1, notice_every => 0)$$);
-- the ends of the range draw quickly, distinct ranks in order
SELECT count(*) AS pairs, bool_and(better < worse) AS ordered, max(worse) < 2 AS in_range
FROM unkd.sample_ranks(2, 10000, 0.5, 1);
SELECT count(*) AS pairs, bool_and(better < worse) AS ordered, max(worse) < 1000000 AS in_range
FROM unkd.sample_ranks(1000000, 10000, 1000000, 1);
SELECT count(*) > 0 AS pairs, bool_and(better_rank < worse_rank) AS ordered
FROM unkd.distill_pairs('safety_data', teacher_scores => 'safety_scores', mu => 0.5, candidates => 2);
SELECT count(*) > 0 AS pairs, bool_and(better_rank < worse_rank) AS ordered
FROM unkd.distill_pairs('safety_data', teacher_scores => 'safety_scores', mu => 1000000);
RESET statement_timeout;

-- NULL arguments of the helpers that were STRICT raise 22004 naming the argument
SELECT proname, proisstrict FROM pg_proc
WHERE pronamespace = 'unkd'::regnamespace
  AND proname IN ('popularity_groups', 'synthetic_interactions', 'split', 'sample_ranks')
ORDER BY proname;
SELECT pg_temp.err($$SELECT * FROM unkd.synthetic_interactions(NULL, 10, 1)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.synthetic_interactions(10, NULL, 1)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.synthetic_interactions(10, 10, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.synthetic_interactions(10, 10, 1, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.synthetic_interactions(10, 10, 1, 1.0, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('safety_data', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('safety_data', 0.2, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('safety_data', 0.2, 0, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('safety_data', 0.2, 0, 'user_id', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.popularity_groups(NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.popularity_groups('safety_data', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.popularity_groups('safety_data', 4, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.popularity_groups('safety_data', 4, 'item_id', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(NULL, 10)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, 20, NULL)$$);
-- a NULL argument is an error, a NULL id in the table is still skipped
INSERT INTO safety_data VALUES (NULL, 1);
SELECT count(*) AS rows FROM unkd.split('safety_data', 0.2, 0);

-- cancellation: one user of a million items takes many seconds to draw,
-- and must stop at the timeout instead of finishing its row first
SET statement_timeout = '100ms';
SELECT pg_temp.err($$SELECT count(*) FROM unkd.synthetic_interactions(1, 1000000, 1000000)$$);
SELECT pg_temp.err($$SELECT count(*) FROM unkd.synthetic_interactions(200000, 1000, 1000)$$);
RESET statement_timeout;
SELECT 1 AS alive;

DROP TABLE safety_data, safety_scores;
