-- Time-based splits: split with order_column (each user's latest interactions
-- are test) and split_at (a global cut). err(q) returns q's SQLSTATE and message.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE ev (user_id int, item_id int, ts timestamptz);
INSERT INTO ev VALUES
	-- user 1: five items on days 1..5: round(0.2 * 5) = 1 test, the latest (15)
	(1, 13, '2024-01-03'), (1, 11, '2024-01-01'), (1, 15, '2024-01-05'), (1, 12, '2024-01-02'), (1, 14, '2024-01-04'),
	-- user 2: four items, the latest two tie on day 9: round(0.8) = 1 test,
	-- the tie goes to the larger item id (24)
	(2, 21, '2024-01-01'), (2, 24, '2024-01-09'), (2, 22, '2024-01-09'), (2, 23, '2024-01-02'),
	-- user 3: one interaction stays in training
	(3, 31, '2024-01-05'),
	-- user 4: two interactions: at least one test, the later (41)
	(4, 42, '2024-01-01'), (4, 41, '2024-01-03'),
	-- user 5: 51 on day 1 and again on day 9, 52 on day 5: a pair's time is
	-- its first occurrence, so 52 is the latest (test) and 51 appears once
	(5, 51, '2024-01-01'), (5, 52, '2024-01-05'), (5, 51, '2024-01-09'),
	-- user 6: rows with a NULL time are skipped: 62 has only that, so it is
	-- not in the result; 63 keeps its dated row; 3 pairs -> 1 test (64)
	(6, 61, '2024-01-01'), (6, 62, NULL), (6, 63, NULL), (6, 63, '2024-01-02'), (6, 64, '2024-01-03'),
	-- a NULL id is skipped as in every function
	(NULL, 1, '2024-01-01');

-- leave-latest-out: NOTICEs count the skipped rows
SELECT user_id, array_agg(item_id ORDER BY item_id) FILTER (WHERE NOT is_test) AS train,
	   array_agg(item_id ORDER BY item_id) FILTER (WHERE is_test) AS test
FROM unkd.split('ev', order_column => 'ts') GROUP BY user_id ORDER BY user_id;

-- a larger fraction: user 2 gets both tied items, user 1 round(2.5) = 3
-- (the NOTICEs are the same from here on)
SET client_min_messages = warning;
SELECT user_id, array_agg(item_id ORDER BY item_id) FILTER (WHERE is_test) AS test
FROM unkd.split('ev', 0.5, order_column => 'ts') GROUP BY user_id ORDER BY user_id;

-- the seed is ignored when ordering by time
SELECT count(*) AS differ
FROM (SELECT * FROM unkd.split('ev', 0.3, 1, order_column => 'ts')
	  EXCEPT SELECT * FROM unkd.split('ev', 0.3, 2, order_column => 'ts')) d;

-- every order column type gives the same split for the same order
CREATE TABLE ev_types AS
SELECT user_id, item_id, ts, ts::timestamp AS t, ts::date AS d,
	   extract(epoch FROM ts)::bigint AS b, (extract(epoch FROM ts) / 86400)::int AS i,
	   (extract(epoch FROM ts) / 86400)::smallint AS s, extract(epoch FROM ts)::numeric AS n,
	   extract(epoch FROM ts)::float8 AS f, (extract(epoch FROM ts) / 86400)::real AS r
FROM ev;
SELECT c AS order_column,
	   (SELECT count(*) FROM (SELECT * FROM unkd.split('ev_types', 0.3, order_column => c)
							  EXCEPT SELECT * FROM unkd.split('ev_types', 0.3, order_column => 'ts')) d) AS differ
FROM unnest(ARRAY['t', 'd', 'b', 'i', 's', 'n', 'f', 'r']) c;

-- floats as PostgreSQL orders them: NaN above Infinity, -0 equal to 0 (a
-- tie, so the larger item id is later); numeric compared exactly, beyond
-- float8 precision
CREATE TABLE ev_num (user_id int, item_id int, f float8, n numeric);
INSERT INTO ev_num VALUES
	(7, 71, 'NaN', 0), (7, 72, 'Infinity', 0), (7, 73, '-Infinity', 0), (7, 74, -1, 0), (7, 75, 1e300, 0),
	(8, 81, 0.0, 0), (8, 82, '-0', 0),
	(9, 91, 0, 100000000000000000001), (9, 92, 0, 100000000000000000000);
SELECT user_id, array_agg(item_id ORDER BY item_id) FILTER (WHERE is_test) AS test_by_f
FROM unkd.split('ev_num', 0.4, order_column => 'f') GROUP BY user_id ORDER BY user_id;
SELECT user_id, array_agg(item_id ORDER BY item_id) FILTER (WHERE is_test) AS test_by_n
FROM unkd.split('ev_num', 0.4, order_column => 'n') GROUP BY user_id ORDER BY user_id;

-- physical row order does not matter: the same rows (with duplicates and
-- many ties on the day) inserted in two orders give identical splits
CREATE TABLE ev_big AS
SELECT s.user_id, s.item_id,
	   '2024-01-01'::date + ((s.user_id * 7919 + s.item_id * 104729) % 30)::int AS day
FROM unkd.synthetic_interactions(200, 300, 15, 1.0, 3) s;
INSERT INTO ev_big SELECT user_id, item_id, day + 40 FROM ev_big WHERE item_id % 3 = 0;
CREATE TABLE ev_fwd AS SELECT * FROM ev_big ORDER BY md5(user_id::text || item_id::text || day::text);
CREATE TABLE ev_rev AS SELECT * FROM ev_big ORDER BY md5(user_id::text || item_id::text || day::text) DESC;
SELECT (SELECT count(*) FROM (SELECT * FROM unkd.split('ev_fwd', order_column => 'day')
							  EXCEPT SELECT * FROM unkd.split('ev_rev', order_column => 'day')) d) AS differ,
	   (SELECT count(*) FROM unkd.split('ev_fwd', order_column => 'day'))
	   = (SELECT count(DISTINCT (user_id, item_id)) FROM ev_big) AS every_pair_once;
SELECT count(*) AS differ_at
FROM (SELECT * FROM unkd.split_at('ev_fwd', 'day', '2024-01-20'::date)
	  EXCEPT SELECT * FROM unkd.split_at('ev_rev', 'day', '2024-01-20'::date)) d;

-- same count rule as the random split: round(0.2 * 15) = 3 per user
SELECT n_test, count(*) AS users
FROM (SELECT user_id, count(*) FILTER (WHERE is_test) AS n_test
	  FROM unkd.split('ev_big', order_column => 'day') GROUP BY user_id) u
GROUP BY n_test ORDER BY n_test;
-- every test pair is first seen no earlier than every training pair of its user
SELECT count(*) AS violations
FROM (SELECT user_id, item_id, min(day) AS first FROM ev_big GROUP BY 1, 2) p
JOIN unkd.split('ev_big', order_column => 'day') s USING (user_id, item_id)
GROUP BY user_id
HAVING max(first) FILTER (WHERE NOT is_test) > min(first) FILTER (WHERE is_test);

-- a global cut: rows at or after the cut are test; a pair is test only when
-- its first occurrence is at or after it (51 was seen before, so training);
-- users 1, 2 and 5 get both, 4 and 6 only training, and user 3, whose only
-- interaction is at the cut, only test: a cold-start user (NOTICE)
RESET client_min_messages;
SELECT user_id, array_agg(item_id ORDER BY item_id) FILTER (WHERE NOT is_test) AS train,
	   array_agg(item_id ORDER BY item_id) FILTER (WHERE is_test) AS test
FROM unkd.split_at('ev', 'ts', '2024-01-05'::timestamptz) GROUP BY user_id ORDER BY user_id;
-- the cut is inclusive and may be any type comparable with the column: a
-- date, a timestamp, or text in the column type's input format
SET client_min_messages = warning;
SELECT (SELECT count(*) FROM (SELECT * FROM unkd.split_at('ev', 'ts', '2024-01-05'::date)
							  EXCEPT SELECT * FROM unkd.split_at('ev', 'ts', '2024-01-05'::timestamptz)) d) AS date_differs,
	   (SELECT count(*) FROM (SELECT * FROM unkd.split_at('ev', 'ts', '2024-01-05')
							  EXCEPT SELECT * FROM unkd.split_at('ev', 'ts', '2024-01-05'::timestamptz)) d) AS text_differs,
	   (SELECT count(*) FILTER (WHERE is_test) FROM unkd.split_at('ev_types', 'd', '2024-01-05'::timestamp)) AS test_by_date;
-- a number column with a cut of another number type, compared exactly
SELECT item_id, is_test FROM unkd.split_at('ev_num', 'n', 100000000000000000000.5) WHERE user_id = 9 ORDER BY item_id;
SELECT item_id, is_test FROM unkd.split_at('ev_num', 'f', 0) WHERE user_id = 8 ORDER BY item_id;
RESET client_min_messages;
-- a cut after everything: no test rows; before everything: every user is cold-start
SELECT count(*) FILTER (WHERE is_test) AS test FROM unkd.split_at('ev', 'ts', 'infinity'::timestamptz);
SELECT count(*) FILTER (WHERE is_test) AS test FROM unkd.split_at('ev', 'ts', '-infinity'::timestamptz);

-- one row; custom column names with quoting
CREATE TABLE ev_one ("User" bigint, "It""em" bigint, "When" date);
INSERT INTO ev_one VALUES (1, 1, '2024-01-01');
SELECT * FROM unkd.split('ev_one', user_column => 'User', item_column => 'It"em', order_column => 'When');
SELECT * FROM unkd.split_at('ev_one', 'When', '2024-01-01'::date, user_column => 'User', item_column => 'It"em');

-- errors
CREATE TABLE ev_empty (user_id int, item_id int, ts timestamptz);
CREATE TABLE ev_nulls (user_id int, item_id int, ts timestamptz);
INSERT INTO ev_nulls VALUES (1, 1, NULL), (NULL, 2, '2024-01-01');
CREATE TABLE ev_bad (user_id int, item_id int, label text, flag boolean, iv interval);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev', order_column => 'nope')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev_bad', order_column => 'label')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev_bad', order_column => 'flag')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev_bad', order_column => 'iv')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev', 0, order_column => 'ts')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev', 1, order_column => 'ts')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev', NULL, order_column => 'ts')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev_empty', order_column => 'ts')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split('ev_nulls', order_column => 'ts')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at(NULL, 'ts', '2024-01-01'::date)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', NULL, '2024-01-01'::date)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', 'ts', NULL::date)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', 'ts', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', 'ts', '2024-01-01'::date, NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', 'ts', '2024-01-01'::date, 'user_id', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', 'nope', '2024-01-01'::date)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev_bad', 'label', 'x'::text)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', 'ts', 5)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', 'ts', true)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev_types', 'i', '2024-01-01'::date)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev', 'ts', 'not a time')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev_types', 'n', 'abc')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev_empty', 'ts', '2024-01-01'::date)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev_nulls', 'ts', '2024-01-01'::date)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.split_at('ev_bad', 'user_id', 1, item_column => 'label')$$);

DROP TABLE ev, ev_types, ev_num, ev_big, ev_fwd, ev_rev, ev_one, ev_empty, ev_nulls, ev_bad;
