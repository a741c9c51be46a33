-- Popularity strata (METHOD.md section 3) on hand-made counts

-- helper: a table where item i appears count_i times
CREATE TABLE counts_rows (item_id bigint);
CREATE FUNCTION set_counts(VARIADIC c int[]) RETURNS void LANGUAGE sql AS $$
	TRUNCATE counts_rows;
	INSERT INTO counts_rows
	SELECT i FROM generate_subscripts(c, 1) AS i, generate_series(1, c[i]);
$$;

-- exact cut: levels 5 (x2, mass 10), 3 (mass 3), 1 (x7, mass 7); half of 20 is 10
SELECT set_counts(5, 5, 3, 1, 1, 1, 1, 1, 1, 1);
SELECT unkd.popularity_strata(item_id, 2) FROM counts_rows;

-- a tie straddling the cut stays in one group: three items of 4, two of 2
SELECT set_counts(4, 4, 4, 2, 2);
SELECT unkd.popularity_strata(item_id, 2) FROM counts_rows;

-- equal distance to the target (C=4 and C=6 around M/2=5): the smaller level wins
SELECT set_counts(4, 2, 1, 1, 1, 1);
SELECT unkd.popularity_strata(item_id, 2) FROM counts_rows;

-- one dominant item: only two popularity levels, so two groups
SELECT set_counts(100, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
SELECT unkd.popularity_strata(item_id, 4) FROM counts_rows;

-- fewer popularity levels than groups: one group per level
SELECT set_counts(3, 3, 2, 1);
SELECT unkd.popularity_strata(item_id, 5) FROM counts_rows;

-- every remaining group keeps at least one level
SELECT set_counts(100, 2, 1);
SELECT unkd.popularity_strata(item_id, 3) FROM counts_rows;

-- G = 1: one group holding everything, bounded by the least popular item
SELECT set_counts(9, 4, 4, 1);
SELECT unkd.popularity_strata(item_id, 1) FROM counts_rows;

-- G larger than the number of items
SELECT set_counts(2, 1);
SELECT unkd.popularity_strata(item_id, 10) FROM counts_rows;

-- NULL items are not counted; no rows at all give NULL
SELECT unkd.popularity_strata(x, 2) FROM (VALUES (1::bigint), (1), (NULL), (2)) v(x);
SELECT unkd.popularity_strata(item_id, 2) FROM counts_rows WHERE false;

-- group count out of range or inconsistent
SELECT unkd.popularity_strata(item_id, 0) FROM counts_rows;
SELECT unkd.popularity_strata(item_id, 1001) FROM counts_rows;
SELECT unkd.popularity_strata(item_id, NULL) FROM counts_rows;
SELECT unkd.popularity_strata(item_id, (item_id % 2)::int + 1) FROM counts_rows;

-- popularity_groups agrees with the strata, and ties share a group
SELECT set_counts(4, 4, 4, 2, 2);
CREATE TABLE tie_interactions AS
	SELECT row_number() OVER () AS user_id, item_id FROM counts_rows;
SELECT * FROM unkd.popularity_groups('tie_interactions', 2) ORDER BY item_id;

-- duplicates count once in popularity_groups (distinct users per item)
INSERT INTO tie_interactions SELECT user_id, item_id FROM tie_interactions;
SELECT * FROM unkd.popularity_groups('tie_interactions', 2) ORDER BY item_id;

-- on long-tailed synthetic data each group carries about M/G of the mass
CREATE TABLE synth AS SELECT * FROM unkd.synthetic_interactions(2000, 3000, 20, 1.0, 7);
SELECT group_id, count(*) > 0 AS has_items,
	   round(sum(popularity)::numeric / (SELECT count(*) FROM synth), 2) BETWEEN 0.15 AND 0.35 AS mass_near_quarter,
	   min(popularity) = (SELECT (unkd.popularity_strata(item_id, 4))[group_id + 1] FROM synth) AS bound_matches
FROM unkd.popularity_groups('synth', 4)
GROUP BY group_id ORDER BY group_id;
-- groups are ordered: every item of group g is more popular than any of group g+1
SELECT bool_and(a.popularity > b.popularity) AS ordered
FROM unkd.popularity_groups('synth', 4) a
JOIN unkd.popularity_groups('synth', 4) b ON b.group_id = a.group_id + 1;

SELECT * FROM unkd.popularity_groups('synth', 0);

-- the aggregate gives the same strata in a forced parallel plan as serially
SET max_parallel_workers_per_gather = 0;
CREATE TABLE serial_result AS SELECT unkd.popularity_strata(item_id, 4) AS s FROM synth;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT unkd.popularity_strata(item_id, 4) FROM synth;
SELECT unkd.popularity_strata(item_id, 4) = (SELECT s FROM serial_result) AS parallel_equals_serial
FROM synth;
RESET ALL;
