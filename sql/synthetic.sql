-- Synthetic data: deterministic per seed, long-tailed, exact per-user counts

CREATE TABLE s1 AS SELECT * FROM unkd.synthetic_interactions(500, 1000, 15, 1.0, 42);
CREATE TABLE s2 AS SELECT * FROM unkd.synthetic_interactions(500, 1000, 15, 1.0, 42);
CREATE TABLE s3 AS SELECT * FROM unkd.synthetic_interactions(500, 1000, 15, 1.0, 43);

-- same seed, same rows; another seed, other rows
SELECT (SELECT count(*) FROM (SELECT * FROM s1 EXCEPT SELECT * FROM s2) d) AS differ_same_seed,
	   (SELECT count(*) FROM (SELECT * FROM s1 EXCEPT SELECT * FROM s3) d) > 0 AS differ_other_seed;

-- every user has exactly per_user distinct items; ids in range
SELECT count(DISTINCT user_id) AS users, min(n) AS min_per_user, max(n) AS max_per_user
FROM (SELECT user_id, count(DISTINCT item_id) AS n FROM s1 GROUP BY user_id) u;
SELECT min(item_id) >= 1 AND max(item_id) <= 1000 AS items_in_range,
	   min(user_id) = 1 AND max(user_id) = 500 AS users_in_range FROM s1;

-- long tail: the top 20% of items hold far more than 20% of the interactions
WITH pop AS (SELECT item_id, count(*) AS c FROM s1 GROUP BY item_id),
	 ranked AS (SELECT c, row_number() OVER (ORDER BY c DESC) AS r, count(*) OVER () AS n FROM pop)
SELECT sum(c) FILTER (WHERE r <= ceil(n * 0.2))::numeric / sum(c) > 0.45 AS long_tailed FROM ranked;

-- skew 0 is close to uniform popularity
WITH pop AS (SELECT item_id, count(*) AS c FROM unkd.synthetic_interactions(500, 200, 10, 0.0, 1) GROUP BY item_id)
SELECT max(c) < 5 * avg(c) AS flat FROM pop;

-- (a tiny catalogue fills rows completely)
SELECT count(*) AS rows FROM unkd.synthetic_interactions(3, 5, 5);

-- bad arguments
SELECT * FROM unkd.synthetic_interactions(0, 10, 1);
SELECT * FROM unkd.synthetic_interactions(10, 0, 1);
SELECT * FROM unkd.synthetic_interactions(10, 10, 11);
SELECT * FROM unkd.synthetic_interactions(10, 10, 0);
SELECT * FROM unkd.synthetic_interactions(10, 10, 2, -1);
SELECT * FROM unkd.synthetic_interactions(10, 10, 2, 'NaN');
