-- Train/test split: deterministic, per-user fraction, training always kept

CREATE TABLE inter AS SELECT * FROM unkd.synthetic_interactions(300, 400, 12, 1.0, 5);
INSERT INTO inter VALUES (1000, 1), (1001, 1), (1001, 2);	-- users with 1 and 2 items
INSERT INTO inter SELECT * FROM inter WHERE user_id = 1;	-- duplicates count once

CREATE TABLE sp1 AS SELECT * FROM unkd.split('inter', 0.2, 1);
CREATE TABLE sp2 AS SELECT * FROM unkd.split('inter', 0.2, 1);
CREATE TABLE sp3 AS SELECT * FROM unkd.split('inter', 0.2, 2);

-- deterministic per seed; another seed picks other test items
SELECT (SELECT count(*) FROM (SELECT * FROM sp1 EXCEPT SELECT * FROM sp2) d) AS differ_same_seed,
	   (SELECT count(*) FROM (SELECT * FROM sp1 EXCEPT SELECT * FROM sp3) d) > 0 AS differ_other_seed;

-- every distinct interaction appears once
SELECT (SELECT count(*) FROM sp1) = (SELECT count(*) FROM (SELECT DISTINCT * FROM inter) d) AS complete,
	   (SELECT count(*) FROM (SELECT DISTINCT user_id, item_id FROM sp1) d) = (SELECT count(*) FROM sp1) AS no_duplicates;

-- per user: round(0.2 * n) test items (12 -> 2), at least one from 2 items, none from 1
SELECT n, n_test, count(*) AS users
FROM (SELECT user_id, count(*) AS n, count(*) FILTER (WHERE is_test) AS n_test FROM sp1 GROUP BY user_id) u
GROUP BY n, n_test ORDER BY n, n_test;

-- every test user keeps training data
SELECT count(*) AS test_users_without_training
FROM (SELECT user_id FROM sp1 GROUP BY user_id HAVING bool_and(is_test)) u;

-- a user's split does not depend on the other users
CREATE TABLE inter_small AS SELECT * FROM inter WHERE user_id <= 10;
SELECT count(*) AS changed
FROM (SELECT * FROM unkd.split('inter_small', 0.2, 1)
	  EXCEPT SELECT * FROM sp1 WHERE user_id <= 10) d;

-- a larger fraction, custom column names
CREATE TABLE renamed AS SELECT user_id AS u, item_id AS i FROM inter;
SELECT round(avg(is_test::int), 1) AS test_share FROM unkd.split('renamed', 0.5, 1, user_column => 'u', item_column => 'i');

-- bad fractions
SELECT * FROM unkd.split('inter', 0);
SELECT * FROM unkd.split('inter', 1);
SELECT * FROM unkd.split('inter', 'NaN');
