-- Bad input gets the right SQLSTATE (pg_regress output does not show codes)
BEGIN;
SELECT plan(14);

CREATE TABLE t_ok (user_id int, item_id int, label text, score real);
INSERT INTO t_ok VALUES (1, 1, 'a', 0.5), (1, 2, 'b', 0.5), (2, 1, 'c', 0.5);
CREATE TABLE t_empty (user_id bigint, item_id bigint);

SELECT throws_ok($$SELECT unkd.popularity_strata(item_id, 0) FROM t_ok$$, '22023', NULL, 'n_groups 0');
SELECT throws_ok($$SELECT unkd.popularity_strata(item_id, NULL) FROM t_ok$$, '22004', NULL, 'n_groups NULL');
SELECT throws_ok($$SELECT unkd.popularity_strata(item_id, item_id) FROM t_ok$$, '22023', NULL, 'n_groups varies');
SELECT throws_ok($$SELECT * FROM unkd.popularity_groups('t_ok', 2, 'nope')$$, '42703', NULL, 'missing column');
SELECT throws_ok($$SELECT * FROM unkd.popularity_groups('t_ok', 2, 'label')$$, '42804', NULL, 'text id column');
SELECT throws_ok($$SELECT * FROM unkd.popularity_groups('t_ok', 2, 'score')$$, '42804', NULL, 'real id column');
SELECT throws_ok($$SELECT * FROM unkd.popularity_groups('t_empty')$$, '22000', NULL, 'empty input');
SELECT throws_ok($$SELECT * FROM unkd.popularity_groups('no_such_table')$$, '42P01', NULL, 'missing table');
SELECT throws_ok($$SELECT * FROM unkd.split('t_ok', 1.5)$$, '22023', NULL, 'test_fraction out of range');
SELECT throws_ok($$SELECT * FROM unkd.synthetic_interactions(0, 10, 1)$$, '22023', NULL, 'n_users 0');
SELECT throws_ok($$SELECT * FROM unkd.synthetic_interactions(10, 10, 20)$$, '22023', NULL, 'per_user above n_items');
SELECT throws_ok($$SELECT * FROM unkd.synthetic_interactions(100000, 10000, 10000)$$, '54000', NULL, 'too many rows');

SET LOCAL maintenance_work_mem = '1MB';
CREATE TABLE t_big AS SELECT g AS user_id, g AS item_id FROM generate_series(1, 100000) g;
SELECT throws_ok($$SELECT * FROM unkd.popularity_groups('t_big')$$, '54000', NULL, 'memory budget exceeded');
RESET maintenance_work_mem;
SELECT lives_ok($$SELECT * FROM unkd.popularity_groups('t_big')$$, 'fits the default budget');

SELECT * FROM finish();
ROLLBACK;
