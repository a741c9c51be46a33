-- Training and distillation: SQLSTATEs of bad input, and atomic versions
BEGIN;
SELECT plan(22);

CREATE TABLE t_tr AS SELECT * FROM unkd.synthetic_interactions(60, 40, 8, 1.0, 2);
CREATE TABLE t_empty (user_id int, item_id int);
CREATE TABLE t_nan AS SELECT user_id, item_id, 0.5::float8 AS score FROM t_tr;
INSERT INTO t_nan VALUES (1, 1, 'NaN');
CREATE TEMP TABLE t_scores AS SELECT user_id, item_id, (item_id % 7)::real AS score FROM t_tr;

SELECT lives_ok($$SELECT unkd.train('tap_t', 't_tr', dim => 4, epochs => 2, notice_every => 0)$$, 'train');
SELECT throws_ok($$SELECT unkd.train('tap_x', 't_tr', dim => 0)$$, '22023', NULL, 'dim 0');
SELECT throws_ok($$SELECT unkd.train('tap_x', 't_tr', epochs => 0)$$, '22023', NULL, 'epochs 0');
SELECT throws_ok($$SELECT unkd.train('tap_x', 't_tr', lr => -1)$$, '22023', NULL, 'negative lr');
SELECT throws_ok($$SELECT unkd.train(NULL, 't_tr')$$, '22004', NULL, 'NULL name');
SELECT throws_ok($$SELECT unkd.train('tap_x', 't_empty')$$, '22000', NULL, 'empty table');
SELECT throws_ok($$SELECT unkd.train('tap_x', 'no_such_table')$$, '42P01', NULL, 'missing table');
SELECT throws_ok($$SELECT unkd.train('tap_x', 't_tr', item_column => 'nope')$$, '42703', NULL, 'missing column');
SELECT throws_ok($$SELECT unkd.train('tap_x', 't_tr', lr => 1e30, notice_every => 0)$$, '22000', NULL, 'diverged');
SELECT throws_ok($$SELECT unkd.distill('tap_x', 't_tr', teacher => 'tap_none')$$, '42704', NULL, 'unknown teacher');
SELECT throws_ok($$SELECT unkd.distill('tap_x', 't_tr')$$, '22023', NULL, 'no teacher');
SELECT throws_ok($$SELECT unkd.distill('tap_x', 't_tr', teacher => 'tap_t', teacher_scores => 't_scores')$$, '22023', NULL, 'two teachers');
SELECT throws_ok($$SELECT unkd.distill('tap_x', 't_tr', teacher => 'tap_t', samples => 0)$$, '22023', NULL, 'samples 0');
SELECT throws_ok($$SELECT unkd.distill('tap_x', 't_tr', teacher => 'tap_t', n_groups => 0)$$, '22023', NULL, 'n_groups 0');
SELECT throws_ok($$SELECT unkd.distill('tap_x', 't_tr', teacher_scores => 't_nan')$$, '22000', NULL, 'NaN score');
SELECT lives_ok($$SELECT unkd.distill('tap_s', 't_tr', teacher_scores => 't_scores', epochs => 2, notice_every => 0)$$, 'score table');
SELECT lives_ok($$SELECT unkd.distill('tap_b', 't_tr', kd_weight => 0, epochs => 2, notice_every => 0)$$, 'no teacher needed for kd_weight 0');
SELECT throws_ok($$SELECT unkd.deploy('tap_none')$$, '42704', NULL, 'deploy unknown');
SELECT throws_ok($$SELECT unkd.drop_model('tap_none')$$, '42704', NULL, 'drop unknown');

-- a failed retraining inside a savepoint leaves the version as it was
CREATE TEMP TABLE t_v AS SELECT version_id FROM unkd.models WHERE name = 'tap_t';
SELECT throws_ok($$SELECT unkd.train('tap_t', 't_tr', lr => 1e30, notice_every => 0)$$, '22000', NULL, 'failed retrain');
SELECT is((SELECT version_id FROM unkd.models WHERE name = 'tap_t'), (SELECT version_id FROM t_v),
		  'failed retrain keeps the version');
SELECT cmp_ok((SELECT version FROM unkd.train('tap_t', 't_tr', dim => 4, epochs => 1, notice_every => 0)),
			  '=', 2, 'retrain makes version 2');

SELECT * FROM finish();
ROLLBACK;
