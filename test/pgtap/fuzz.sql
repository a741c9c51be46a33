-- Fuzz: every public function with NULLs, zeros, negatives, huge values,
-- NaN and infinities, int8-limit ids, empty and one-row tables. Each call
-- must succeed or fail with a clear SQLSTATE (never XX000, never a hang),
-- and the backend must survive every batch.
--
-- Data-driven: fuzz_arg lists every argument of every function with a valid
-- value; the NULL and extreme-value calls are generated from it, one
-- argument changed at a time. fuzz_case adds hand-written calls with their
-- exact SQLSTATE. To cover a new argument, add a fuzz_arg row.
BEGIN;
SET LOCAL statement_timeout = '20s';	-- a hang fails as 57014 instead
SET LOCAL client_min_messages = warning;

-- data: normal, empty, one row, only NULL ids, ids at the int8 limits
CREATE TABLE fuzz_data AS SELECT * FROM unkd.synthetic_interactions(40, 30, 6, 1.0, 1);
CREATE TABLE fuzz_split AS SELECT * FROM unkd.split('fuzz_data', 0.2, 1);
CREATE TABLE fuzz_train AS SELECT user_id, item_id FROM fuzz_split WHERE NOT is_test;
CREATE TABLE fuzz_test AS SELECT user_id, item_id FROM fuzz_split WHERE is_test;
CREATE TABLE fuzz_timed AS
	SELECT user_id, item_id, '2024-01-01'::timestamptz + (user_id * 7 + item_id) % 5 * interval '1 day' AS ts
	FROM fuzz_data;
CREATE TABLE fuzz_empty (user_id bigint, item_id bigint);
CREATE TABLE fuzz_one (user_id bigint, item_id bigint);
INSERT INTO fuzz_one VALUES (1, 1);
CREATE TABLE fuzz_nulls (user_id bigint, item_id bigint);
INSERT INTO fuzz_nulls VALUES (NULL, 1), (1, NULL), (NULL, NULL);
CREATE TABLE fuzz_limits (user_id bigint, item_id bigint);
INSERT INTO fuzz_limits VALUES
	(-9223372036854775808, -9223372036854775808), (-9223372036854775808, 9223372036854775807),
	(9223372036854775807, -9223372036854775808), (9223372036854775807, 0), (0, 9223372036854775807),
	(0, 0), (-1, -1);
CREATE TABLE fuzz_small (user_id smallint, item_id smallint);
INSERT INTO fuzz_small VALUES (-32768, 32767), (32767, -32768), (1, 1), (1, 32767);
CREATE TABLE fuzz_text (user_id text, item_id text);
CREATE TABLE fuzz_keys AS	-- text users, uuid items
	SELECT 'u' || user_id AS user_id, md5('i' || item_id)::uuid AS item_id FROM fuzz_data;
CREATE TABLE fuzz_mixed AS SELECT user_id, 'i' || item_id AS item_id FROM fuzz_data;
CREATE TABLE fuzz_scores AS
	SELECT u.user_id, i.item_id, ((u.user_id * 7 + i.item_id * 3) % 11)::real AS score
	FROM (SELECT DISTINCT user_id FROM fuzz_data) u, (SELECT DISTINCT item_id FROM fuzz_data) i;
CREATE TABLE fuzz_nan_scores AS SELECT * FROM fuzz_scores;
INSERT INTO fuzz_nan_scores VALUES (1, 1, 'NaN');
CREATE TABLE fuzz_limit_scores AS
	SELECT u.user_id, i.item_id, 1.0::float8 AS score
	FROM (SELECT DISTINCT user_id FROM fuzz_limits) u, (SELECT DISTINCT item_id FROM fuzz_limits) i;
CREATE TABLE fuzz_full (user_id int, item_id int);	-- every user has every item
INSERT INTO fuzz_full VALUES (1, 1), (1, 2), (2, 1), (2, 2), (2, 2);
CREATE TABLE "fuzz ""odd"" name" ("User Id" bigint, "it""em" bigint);
INSERT INTO "fuzz ""odd"" name" SELECT * FROM fuzz_data;
CREATE TABLE fuzz_gone AS SELECT * FROM fuzz_data;
CREATE INDEX fuzz_index ON fuzz_data (user_id, item_id);
CREATE VIEW fuzz_view AS SELECT * FROM fuzz_data;
DO $$
BEGIN
	PERFORM unkd.train('fuzz_t', 'fuzz_data', dim => 4, epochs => 1, notice_every => 0);
	PERFORM unkd.deploy('fuzz_t');
	-- a model whose training table is dropped afterwards
	PERFORM unkd.train('fuzz_gone', 'fuzz_gone', dim => 4, epochs => 1, notice_every => 0);
	DROP TABLE fuzz_gone;
	-- quoted names; every user has every item
	PERFORM unkd.train('fuzz_odd', '"fuzz ""odd"" name"', dim => 2, epochs => 1, notice_every => 0,
					   user_column => 'User Id', item_column => 'it"em');
	PERFORM unkd.train('fuzz_fullm', 'fuzz_full', dim => 2, epochs => 1, notice_every => 0);
	PERFORM unkd.train('fuzz_ren', 'fuzz_data', dim => 2, epochs => 1, notice_every => 0);
	PERFORM unkd.train('fuzz_keym', 'fuzz_keys', dim => 2, epochs => 1, notice_every => 0);
	PERFORM unkd.train('fuzz_mixm', 'fuzz_mixed', dim => 2, epochs => 1, notice_every => 0);
END $$;

-- sqlstate_of(q): '00000' or the error's SQLSTATE, then its message
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN '00000';
EXCEPTION WHEN OTHERS OR query_canceled THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- expect: 'ok' (no error), a SQLSTATE, a class ('22'), or '*': ok or a
-- clear user error (classes 22, 42, 54)
CREATE FUNCTION pg_temp.fuzz_ok(got text, expect text) RETURNS boolean LANGUAGE sql AS $$
	SELECT CASE
		WHEN left(got, 5) = 'XX000' THEN false
		WHEN expect = 'ok' THEN left(got, 5) = '00000'
		WHEN expect = '*' THEN left(got, 5) = '00000' OR left(got, 2) IN ('22', '42', '54')
		WHEN length(expect) = 2 THEN left(got, 2) = expect
		ELSE left(got, 5) = expect
	END
$$;

-- every argument of every function: a valid value, its kind, and whether
-- NULL is allowed there
CREATE TABLE fuzz_arg (fn text, pos int, name text, valid text, kind text,
							nullable boolean DEFAULT false);
INSERT INTO fuzz_arg (fn, pos, name, valid, kind, nullable) VALUES
	('popularity_groups', 1, 'interactions', '''fuzz_data''', 'regclass', false),
	('popularity_groups', 2, 'n_groups', '4', 'int', false),
	('popularity_groups', 3, 'item_column', '''item_id''', 'text', false),
	('popularity_groups', 4, 'user_column', '''user_id''', 'text', false),
	('synthetic_interactions', 1, 'n_users', '10', 'int', false),
	('synthetic_interactions', 2, 'n_items', '20', 'int', false),
	('synthetic_interactions', 3, 'per_user', '5', 'int', false),
	('synthetic_interactions', 4, 'skew', '1.0', 'float', false),
	('synthetic_interactions', 5, 'seed', '0', 'bigint', false),
	('split', 1, 'interactions', '''fuzz_data''', 'regclass', false),
	('split', 2, 'test_fraction', '0.2', 'float', false),
	('split', 3, 'seed', '0', 'bigint', false),
	('split', 4, 'user_column', '''user_id''', 'text', false),
	('split', 5, 'item_column', '''item_id''', 'text', false),
	('split', 6, 'order_column', 'NULL', 'text', true),
	('split_at', 1, 'interactions', '''fuzz_timed''', 'regclass', false),
	('split_at', 2, 'order_column', '''ts''', 'text', false),
	('split_at', 3, 'cut', '''2024-01-03''::date', 'cut', false),
	('split_at', 4, 'user_column', '''user_id''', 'text', false),
	('split_at', 5, 'item_column', '''item_id''', 'text', false),
	('train', 1, 'name', '''fuzz_x''', 'name', false),
	('train', 2, 'interactions', '''fuzz_train''', 'regclass', false),
	('train', 3, 'dim', '4', 'int', false),
	('train', 4, 'epochs', '1', 'int', false),
	('train', 5, 'seed', '0', 'bigint', false),
	('train', 6, 'lr', '0.05', 'float', false),
	('train', 7, 'decay', '0.01', 'float', false),
	('train', 8, 'init_std', '0.1', 'float', false),
	('train', 9, 'validation', '''fuzz_test''', 'regclass', true),
	('train', 10, 'eval_every', '1', 'int', false),
	('train', 11, 'patience', '1', 'int', false),
	('train', 12, 'notice_every', '0', 'int', false),
	('train', 13, 'user_column', '''user_id''', 'text', false),
	('train', 14, 'item_column', '''item_id''', 'text', false),
	('train', 15, 'seen', '''fuzz_data''', 'regclass', true),
	('train', 16, 'replace', 'false', 'bool', false),
	('train', 17, 'time_limit', '''1 hour''', 'interval', true),
	('train', 18, 'optimizer', '''sgd''', 'text', false),
	('train', 19, 'validation_fraction', '0', 'float', false),
	('distill', 1, 'name', '''fuzz_xs''', 'name', false),
	('distill', 2, 'interactions', '''fuzz_data''', 'regclass', false),
	('distill', 3, 'teacher', '''fuzz_t''', 'model', true),
	('distill', 4, 'teacher_scores', 'NULL', 'regclass', true),
	('distill', 5, 'dim', '4', 'int', false),
	('distill', 6, 'n_groups', '2', 'int', false),
	('distill', 7, 'samples', '5', 'int', false),
	('distill', 8, 'kd_weight', '1.0', 'float', false),
	('distill', 9, 'epochs', '1', 'int', false),
	('distill', 10, 'seed', '0', 'bigint', false),
	('distill', 11, 'lr', '0.05', 'float', true),
	('distill', 12, 'decay', '0.01', 'float', true),
	('distill', 13, 'init_std', '0.1', 'float', false),
	('distill', 14, 'validation', 'NULL', 'regclass', true),
	('distill', 15, 'eval_every', '1', 'int', false),
	('distill', 16, 'patience', '1', 'int', false),
	('distill', 17, 'notice_every', '0', 'int', false),
	('distill', 18, 'user_column', '''user_id''', 'text', false),
	('distill', 19, 'item_column', '''item_id''', 'text', false),
	('distill', 20, 'candidates', '20', 'int', false),
	('distill', 21, 'mu', '20', 'float', false),
	('distill', 22, 'score_column', '''score''', 'text', false),
	('distill', 23, 'kd_decay', '0', 'float', false),
	('distill', 24, 'group_weight_exponent', '0', 'float', false),
	('distill', 25, 'seen', 'NULL', 'regclass', true),
	('distill', 26, 'replace', 'false', 'bool', false),
	('distill', 27, 'time_limit', 'NULL', 'interval', true),
	('distill', 28, 'optimizer', '''sgd''', 'text', false),
	('distill', 29, 'validation_fraction', '0', 'float', false),
	('retrain', 1, 'name', '''fuzz_t''', 'model', false),
	('retrain', 2, 'time_limit', 'NULL', 'interval', true),
	('rename_model', 1, 'name', '''fuzz_ren''', 'model', false),
	('rename_model', 2, 'new_name', '''fuzz_renamed''', 'name', false),
	('grant_model', 1, 'name', '''fuzz_t''', 'model', false),
	('grant_model', 2, 'grantee', '''public''', 'role', false),
	('alter_model_owner', 1, 'name', '''fuzz_t''', 'model', false),
	('alter_model_owner', 2, 'new_owner', 'current_user', 'role', false),
	('revoke_model', 1, 'name', '''fuzz_t''', 'model', false),
	('revoke_model', 2, 'grantee', '''public''', 'role', false),
	('deploy', 1, 'name', '''fuzz_t''', 'model', false),
	('drop_model', 1, 'name', '''fuzz_none''', 'model', false),
	('recommend', 1, 'user_id', '1', 'bigint', false),
	('recommend', 2, 'k', '5', 'int', false),
	('recommend', 3, 'model', '''fuzz_t''', 'model', true),
	('recommend', 4, 'items', 'NULL', 'bigint[]', true),
	('recommend', 5, 'exclude', 'NULL', 'bigint[]', true),
	('recommend', 6, 'fold_in', 'NULL', 'bool', true),
	('similar_items', 1, 'item_id', '1', 'bigint', false),
	('similar_items', 2, 'k', '5', 'int', false),
	('similar_items', 3, 'model', '''fuzz_t''', 'model', true),
	('similar_items', 4, 'items', 'NULL', 'bigint[]', true),
	('evaluate', 1, 'model', '''fuzz_t''', 'model', false),
	('evaluate', 2, 'test', '''fuzz_test''', 'regclass', false),
	('evaluate', 3, 'k', '5', 'int', false),
	('evaluate', 4, 'n_groups', '2', 'int', false),
	('evaluate', 5, 'user_column', '''user_id''', 'text', false),
	('evaluate', 6, 'item_column', '''item_id''', 'text', false),
	('evaluate', 7, 'fold_in', 'NULL', 'bool', true),
	('check_target', 1, 'name', '''fuzz_ct''', 'name', false),
	('check_target', 2, 'command', '''unkd.train()''', 'text', false),
	('check_target', 3, 'kind', '''teacher''', 'text', false),
	('check_target', 4, 'method', '''bpr''', 'text', false),
	('check_target', 5, 'replace', 'false', 'bool', false),
	('tune', 1, 'name', '''fuzz_tn''', 'name', false),
	('tune', 2, 'interactions', '''fuzz_train''', 'regclass', false),
	('tune', 3, 'method', '''bpr''', 'text', false),
	('tune', 4, 'grid', '''{"dim": [2]}''', 'jsonb', false),
	('tune', 5, 'validation', '''fuzz_test''', 'regclass', true),
	('tune', 6, 'rule', '''ndcg''', 'text', false),
	('tune', 7, 'tolerance', '0.03', 'float', false),
	('tune', 8, 'params', '''{"epochs": 1}''', 'jsonb', false),
	('tune', 9, 'n_groups', '2', 'int', false),
	('tune', 10, 'replace', 'false', 'bool', false),
	('sample_ranks', 1, 'n_candidates', '10', 'int', false),
	('sample_ranks', 2, 'n', '10', 'int', false),
	('sample_ranks', 3, 'mu', '20', 'float', false),
	('sample_ranks', 4, 'seed', '0', 'bigint', false),
	('distill_pairs', 1, 'interactions', '''fuzz_data''', 'regclass', false),
	('distill_pairs', 2, 'teacher', '''fuzz_t''', 'model', true),
	('distill_pairs', 3, 'teacher_scores', 'NULL', 'regclass', true),
	('distill_pairs', 4, 'n_groups', '2', 'int', false),
	('distill_pairs', 5, 'samples', '5', 'int', false),
	('distill_pairs', 6, 'candidates', '20', 'int', false),
	('distill_pairs', 7, 'mu', '20', 'float', false),
	('distill_pairs', 8, 'seed', '0', 'bigint', false),
	('distill_pairs', 9, 'user_column', '''user_id''', 'text', false),
	('distill_pairs', 10, 'item_column', '''item_id''', 'text', false),
	('distill_pairs', 11, 'score_column', '''score''', 'text', false),
	('distill_pairs', 12, 'group_weight_exponent', '0', 'float', false);

-- the values tried for each kind of argument
CREATE TABLE fuzz_value (kind text, value text);
INSERT INTO fuzz_value VALUES
	('int', '0'), ('int', '-1'), ('int', '2147483647'), ('int', '-2147483648'),
	('bigint', '-9223372036854775808'), ('bigint', '9223372036854775807'), ('bigint', '-1'),
	('float', '0'), ('float', '-1'), ('float', '''NaN'''), ('float', '''Infinity'''),
	('float', '''-Infinity'''), ('float', '1e308'), ('float', '1e-308'), ('float', '-0.0'),
	('text', ''''''), ('text', '''no_such_column'''), ('text', '''user_id"; DROP TABLE fuzz_data; --'''),
	('text', 'repeat(''x'', 10000)'),
	('name', ''''''), ('name', 'repeat(''x'', 10000)'), ('name', '''fuzz''''); DROP TABLE fuzz_data; --'''),
	('bool', 'true'),
	('jsonb', '''{}'''), ('jsonb', '''[]'''), ('jsonb', '''null'''), ('jsonb', '''{"dim": []}'''),
	('jsonb', '''{"name": "x"}'''), ('jsonb', '''{"dim": "x"}'''), ('jsonb', '''{"dim": [null]}'''),
	('jsonb', '''{"lr": [-1]}'''), ('jsonb', '''{"x\"); DROP TABLE fuzz_data; --": [1]}'''),
	('cut', '''-infinity''::timestamptz'), ('cut', '''infinity''::date'), ('cut', '0'),
	('cut', '''NaN''::float8'), ('cut', ''''''), ('cut', '''2024-01-01 25:00'''),
	('interval', '''0'''), ('interval', '''-1 s'''), ('interval', '''1 microsecond'''),
	('interval', '''178000000 years'''), ('interval', '''-178000000 years'''),
	('role', ''''''), ('role', '''no_such_role'''), ('role', '''PUBLIC'''), ('role', '''"public"'''),
	('role', 'repeat(''x'', 10000)'),
	('model', ''''''), ('model', '''fuzz_none'''), ('model', 'repeat(''x'', 10000)'),
	('model', '''fuzz''''; DROP TABLE fuzz_data; --'''),
	('regclass', '''fuzz_empty'''), ('regclass', '''fuzz_one'''), ('regclass', '''fuzz_nulls'''),
	('regclass', '''fuzz_limits'''), ('regclass', '''fuzz_small'''), ('regclass', '''fuzz_text'''),
	('regclass', '''fuzz_index'''), ('regclass', '''fuzz_view'''), ('regclass', '''pg_class'''),
	('regclass', '''unkd.model_version_seq'''), ('regclass', '0'),
	('bigint[]', '''{}'''), ('bigint[]', '''{NULL}'''), ('bigint[]', '''{{1,2},{3,4}}'''),
	('bigint[]', '''{-9223372036854775808,9223372036854775807,1,1}'''),
	('bigint[]', '(SELECT array_agg(g) FROM generate_series(1::bigint, 1000000) g)');

-- the call of fn with argument `changed` set to `value` (named notation)
CREATE FUNCTION pg_temp.fuzz_call(f text, changed int, value text) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT count(*) FROM unkd.%s(%s)', f,
				  string_agg(name || ' => ' || CASE WHEN pos = changed THEN value ELSE valid END, ', '
							 ORDER BY pos))
	FROM fuzz_arg WHERE fn = f
$$;

CREATE TABLE fuzz_case (id serial, fn text, call text, expect text);
-- every function with valid arguments works
INSERT INTO fuzz_case (fn, call, expect)
SELECT DISTINCT fn, pg_temp.fuzz_call(fn, 0, NULL), 'ok' FROM fuzz_arg
WHERE fn NOT IN ('drop_model');
-- NULL in each argument: 22004 unless NULL is allowed there
INSERT INTO fuzz_case (fn, call, expect)
SELECT fn, pg_temp.fuzz_call(fn, pos, 'NULL'), CASE WHEN nullable THEN '*' ELSE '22004' END
FROM fuzz_arg ORDER BY fn, pos;
-- extreme values in each argument: ok or a clear error
INSERT INTO fuzz_case (fn, call, expect)
SELECT a.fn, pg_temp.fuzz_call(a.fn, a.pos, v.value), '*'
FROM fuzz_arg a JOIN fuzz_value v USING (kind) ORDER BY a.fn, a.pos, v.value;

-- hand-written calls with their exact SQLSTATE
INSERT INTO fuzz_case (fn, call, expect) VALUES
	-- the aggregate (no named notation for aggregates)
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 4) FROM fuzz_data', 'ok'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, NULL) FROM fuzz_data', '22004'),
	('popularity_strata', 'SELECT unkd.popularity_strata(NULL, 4) FROM fuzz_data', 'ok'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 0) FROM fuzz_data', '22023'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, -1) FROM fuzz_data', '22023'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 1001) FROM fuzz_data', '22023'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 2147483647) FROM fuzz_data', '22023'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, -2147483648) FROM fuzz_data', '22023'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 1000) FROM fuzz_data', 'ok'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 4) FROM fuzz_empty', 'ok'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 4) FROM fuzz_one', 'ok'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 4) FROM fuzz_nulls', 'ok'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 4) FROM fuzz_limits', 'ok'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, user_id::int) FROM fuzz_data', '22023'),
	('popularity_strata', 'SELECT unkd.popularity_strata(item_id, 4) FROM fuzz_data GROUP BY user_id', 'ok'),
	-- tables that cannot be used
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_empty')$$, '22000'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_nulls')$$, '22000'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_one')$$, 'ok'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_limits', 1000)$$, 'ok'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_text')$$, '42804'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_data', 4, 'nope')$$, '42703'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups(0)$$, '42P01'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_index')$$, '42809'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_data', 0)$$, '22023'),
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('fuzz_data', 1001)$$, '22023'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(0, 10, 1)', '22023'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(10000001, 10, 1)', '22023'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(10, -1, 1)', '22023'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(10, 10, 11)', '22023'),
	('synthetic_interactions', $$SELECT count(*) FROM unkd.synthetic_interactions(10, 10, 1, 'NaN')$$, '22023'),
	('synthetic_interactions', $$SELECT count(*) FROM unkd.synthetic_interactions(10, 10, 1, 'Infinity')$$, '22023'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(10, 10, 1, 10.0001)', '22023'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(10, 10, 1, 10)', 'ok'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(10, 10, 10, 0)', 'ok'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(1, 1, 1, 1, -9223372036854775808)', 'ok'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(100000, 10000, 10000)', '54000'),
	('synthetic_interactions', 'SELECT count(*) FROM unkd.synthetic_interactions(1, 10000000, 1)', '54000'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_data', 0)$$, '22023'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_data', 1)$$, '22023'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_data', 'NaN')$$, '22023'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_data', 1e-300)$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_data', 0.999999999)$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_empty')$$, '22000'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_nulls')$$, '22000'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_one')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_limits')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_small')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_text')$$, '42804'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_timed', order_column => 'ts')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_timed', 1e-300, order_column => 'ts')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_timed', 0.999999999, order_column => 'ts')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_timed', 0, order_column => 'ts')$$, '22023'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_data', order_column => 'user_id')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_limits', order_column => 'item_id')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_one', order_column => 'item_id')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_empty', order_column => 'item_id')$$, '22000'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_nulls', order_column => 'item_id')$$, '22000'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_data', order_column => 'nope')$$, '42703'),
	('split', $$SELECT count(*) FROM unkd.split('fuzz_text', order_column => 'user_id')$$, '42804'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_timed', 'ts', NULL::timestamptz)$$, '22004'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_timed', 'ts', NULL)$$, '22004'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_timed', 'ts', '2024-01-03')$$, 'ok'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_timed', 'ts', 'infinity'::timestamptz)$$, 'ok'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_timed', 'ts', 5)$$, '42804'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_timed', 'ts', 'garbage')$$, '22007'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_timed', 'nope', 1)$$, '42703'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_limits', 'user_id', -9223372036854775808)$$, 'ok'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_limits', 'item_id', 9223372036854775807)$$, 'ok'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_one', 'item_id', 1)$$, 'ok'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_empty', 'item_id', 1)$$, '22000'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_nulls', 'item_id', 1)$$, '22000'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('fuzz_text', 'user_id', 1)$$, '42804'),
	('train', $$SELECT count(*) FROM unkd.train('', 'fuzz_data', epochs => 1)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_empty', epochs => 1)$$, '22000'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_nulls', epochs => 1)$$, '22000'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_one', epochs => 1)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_limits', dim => 2, epochs => 1, notice_every => 0)$$, 'ok'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_small', dim => 2, epochs => 1, notice_every => 0)$$, 'ok'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', dim => 0)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', dim => 1025)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', epochs => 100001)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', lr => 'NaN')$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', lr => 1e300, epochs => 1, notice_every => 0)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', init_std => 1e300, epochs => 1, notice_every => 0)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', lr => 1e-308, epochs => 1, notice_every => 0)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', validation => 'fuzz_limits', epochs => 1, notice_every => 0)$$, '22023'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', validation => 'fuzz_empty', epochs => 1, notice_every => 0)$$, '22000'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_data', validation => 'fuzz_text', epochs => 1, notice_every => 0)$$, '42804'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', epochs => 1)$$, '22023'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', teacher_scores => 'fuzz_scores', epochs => 1)$$, '22023'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_none', epochs => 1)$$, '42704'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher_scores => 'fuzz_nan_scores', epochs => 1, notice_every => 0)$$, '22000'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher_scores => 'fuzz_empty', epochs => 1, notice_every => 0)$$, '42703'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher_scores => 'fuzz_scores', epochs => 1, notice_every => 0)$$, 'ok'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_limits', teacher_scores => 'fuzz_limit_scores', dim => 2, epochs => 1, notice_every => 0)$$, 'ok'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xb', 'fuzz_one', kd_weight => 0, epochs => 1)$$, '22023'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', mu => 0.01, epochs => 1)$$, '22023'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', mu => 1e17, epochs => 1)$$, '22023'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', mu => 0.5, epochs => 1, notice_every => 0)$$, 'ok'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', mu => 1000000, epochs => 1, notice_every => 0)$$, 'ok'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', candidates => 100001)$$, '22023'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', samples => 10001)$$, '22023'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', n_groups => 1000, samples => 10000, candidates => 100000, epochs => 1, notice_every => 0)$$, '54000'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', n_groups => 1000, samples => 10000, candidates => 100, epochs => 1, notice_every => 0)$$, 'ok'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', group_weight_exponent => 10, n_groups => 4, epochs => 1, notice_every => 0)$$, 'ok'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_t', group_weight_exponent => -10, n_groups => 4, epochs => 1, notice_every => 0)$$, 'ok'),
	('deploy', $$SELECT unkd.deploy('fuzz_none')$$, '42704'),
	('drop_model', $$SELECT unkd.drop_model('fuzz_none')$$, '42704'),
	('recommend', 'SELECT count(*) FROM unkd.recommend(-9223372036854775808, 10)', 'ok'),
	('recommend', 'SELECT count(*) FROM unkd.recommend(9223372036854775807, 100000)', 'ok'),
	('recommend', 'SELECT count(*) FROM unkd.recommend(1, 0)', '22023'),
	('recommend', 'SELECT count(*) FROM unkd.recommend(1, 2147483647)', 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend(1, 10, 'fuzz_none')$$, '42704'),
	-- the text forms (issue 11): hostile keys are data, never SQL
	('recommend', $$SELECT count(*) FROM unkd.recommend('u1', 5, 'fuzz_keym')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('', 5, 'fuzz_keym')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend(repeat('x', 100000), 5, 'fuzz_keym')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('u1''); DROP TABLE fuzz_data; --', 5, 'fuzz_keym')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend(E'u1\\x', 5, 'fuzz_keym', items => '{"",NULL,x}', exclude => '{NULL}')$$, '22P02'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('1', 5, 'fuzz_mixm', items => '{"",NULL,x}', exclude => '{NULL}')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('u1', 5, 'fuzz_keym', items => '{not-a-uuid}')$$, '22P02'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('u1', 5, 'fuzz_keym', items => (SELECT array_agg(md5(g::text)::uuid::text) FROM generate_series(1, 100000) g))$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('u1', 5, 'fuzz_keym', exclude => '{{a},{b}}')$$, '2202E'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('u1', 2147483647, 'fuzz_keym', fold_in => true)$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('1', 5, 'fuzz_mixm')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('99999999999999999999', 5, 'fuzz_mixm')$$, '22003'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('-9223372036854775808', 5, 'fuzz_mixm')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend(' 1x', 5, 'fuzz_mixm')$$, '22P02'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('1', 5, 'fuzz_t')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend(1, 5, 'fuzz_keym')$$, '42883'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('u1', 5, 'fuzz_none')$$, '42704'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('x1', 5, 'fuzz_t')$$, '22P02'),
	('recommend', $$SELECT count(*) FROM unkd.recommend('u1', -1, 'fuzz_keym')$$, '22023'),
	('similar_items', $$SELECT count(*) FROM unkd.similar_items(md5('i1')::uuid::text, 5, 'fuzz_keym')$$, 'ok'),
	('similar_items', $$SELECT count(*) FROM unkd.similar_items(upper(md5('i1')), 5, 'fuzz_keym', items => '{}')$$, 'ok'),
	('similar_items', $$SELECT count(*) FROM unkd.similar_items('', 5, 'fuzz_keym')$$, '22P02'),
	('similar_items', $$SELECT count(*) FROM unkd.similar_items('i1', 5, 'fuzz_mixm', items => '{i2,NULL,"",i1}')$$, 'ok'),
	('similar_items', $$SELECT count(*) FROM unkd.similar_items('1', 5, 'fuzz_t')$$, 'ok'),
	('similar_items', $$SELECT count(*) FROM unkd.similar_items(1, 5, 'fuzz_mixm')$$, '42883'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_keym', 'fuzz_keys')$$, 'ok'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_keym', 'fuzz_text')$$, '22000'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_t', 'fuzz_keys')$$, '42804'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_keys', validation => 'fuzz_test', epochs => 1)$$, '42804'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_keys', teacher => 'fuzz_t', epochs => 1)$$, '42804'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_keys', teacher => 'fuzz_keym', epochs => 1, notice_every => 0)$$, 'ok'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_keys', teacher => 'fuzz_keym')$$, '42804'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_t', 'fuzz_empty')$$, '22000'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_t', 'fuzz_one')$$, 'ok'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_t', 'fuzz_limits')$$, 'ok'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_t', 'fuzz_data', 100000, 1000)$$, 'ok'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_t', 'fuzz_test', 0)$$, '22023'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_none', 'fuzz_test')$$, '42704'),
	('sample_ranks', 'SELECT count(*) FROM unkd.sample_ranks(1, 10)', '22023'),
	('sample_ranks', 'SELECT count(*) FROM unkd.sample_ranks(1000001, 10)', '22023'),
	('sample_ranks', 'SELECT count(*) FROM unkd.sample_ranks(10, 100000001)', '22023'),
	('sample_ranks', 'SELECT count(*) FROM unkd.sample_ranks(10, 0)', 'ok'),
	('sample_ranks', 'SELECT count(*) FROM unkd.sample_ranks(10, 10, 0.01)', '22023'),
	('sample_ranks', 'SELECT count(*) FROM unkd.sample_ranks(10, 10, 1e17)', '22023'),
	('sample_ranks', 'SELECT count(*) FROM unkd.sample_ranks(2, 10000, 0.5)', 'ok'),
	('sample_ranks', 'SELECT count(*) FROM unkd.sample_ranks(1000000, 1000, 1000000, 9223372036854775807)', 'ok'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_data')$$, '22023'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_empty', teacher => 'fuzz_t')$$, '22000'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_one', teacher => 'fuzz_t')$$, '22023'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_limits', teacher_scores => 'fuzz_limit_scores')$$, 'ok'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_data', teacher_scores => 'fuzz_nan_scores')$$, '22000'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_data', teacher => 'fuzz_t', mu => 0.01)$$, '22023'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_data', teacher => 'fuzz_t', mu => 1e17)$$, '22023'),
	('distill_pairs', $$SELECT count(*) FROM unkd.distill_pairs('fuzz_full', teacher => 'fuzz_t')$$, '22023'),
	-- odd names are quoted, never run as SQL
	('popularity_groups', $$SELECT count(*) FROM unkd.popularity_groups('"fuzz ""odd"" name"', 4, 'it"em', 'User Id')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('"fuzz ""odd"" name"', 0.2, 0, 'User Id', 'it"em')$$, 'ok'),
	('split', $$SELECT count(*) FROM unkd.split('"fuzz ""odd"" name"', 0.2, 0, 'User Id', 'it"em', 'it"em')$$, 'ok'),
	('split_at', $$SELECT count(*) FROM unkd.split_at('"fuzz ""odd"" name"', 'it"em', 3, 'User Id', 'it"em')$$, 'ok'),
	('train', $$SELECT count(*) FROM unkd.train('fuzz_odd', '"fuzz ""odd"" name"', dim => 2, epochs => 1, notice_every => 0, user_column => 'User Id', item_column => 'it"em')$$, 'ok'),
	('recommend', $$SELECT count(*) FROM unkd.recommend(1, 5, 'fuzz_odd')$$, 'ok'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_odd', 'fuzz_test')$$, 'ok'),
	-- every user has every item: no BPR negative, no distillation candidate
	('train', $$SELECT count(*) FROM unkd.train('fuzz_x', 'fuzz_full', dim => 2, epochs => 1, notice_every => 0)$$, 'ok'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_full', teacher => 'fuzz_t', epochs => 1, notice_every => 0)$$, '22023'),
	('recommend', $$SELECT count(*) FROM unkd.recommend(1, 5, 'fuzz_fullm')$$, 'ok'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_fullm', 'fuzz_full')$$, 'ok'),
	-- a model whose training table was dropped
	('recommend', $$SELECT count(*) FROM unkd.recommend(1, 5, 'fuzz_gone')$$, '42'),
	('evaluate', $$SELECT count(*) FROM unkd.evaluate('fuzz_gone', 'fuzz_test')$$, '42P01'),
	('distill', $$SELECT count(*) FROM unkd.distill('fuzz_xs', 'fuzz_data', teacher => 'fuzz_gone', epochs => 1, notice_every => 0)$$, 'ok'),
	-- the aggregate's support functions cannot be called from SQL (no internal value)
	('popularity_strata', 'SELECT unkd.popularity_strata_transfn(NULL::internal, 1, 4)', '42846'),
	('popularity_strata', 'SELECT unkd.popularity_strata_finalfn(NULL::internal, 1, 4)', '42846'),
	('popularity_strata', 'SELECT unkd.popularity_strata_combinefn(NULL::internal, NULL::internal)', '42846'),
	('popularity_strata', $$SELECT unkd.popularity_strata_deserialfn('\x00', NULL::internal)$$, '42846');

SELECT plan((SELECT count(*)::int FROM fuzz_case) + (SELECT count(DISTINCT fn)::int FROM fuzz_case) + 1);

-- run one function's calls, then check the backend still answers
CREATE FUNCTION pg_temp.fuzz_batch(f text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	c record;
	got text;
BEGIN
	FOR c IN SELECT * FROM fuzz_case WHERE fn = f ORDER BY id LOOP
		got := pg_temp.sqlstate_of(c.call);
		RETURN NEXT ok(pg_temp.fuzz_ok(got, c.expect),
					   format('%s (expect %s) -> %s', c.call, c.expect, left(got, 200)));
	END LOOP;
	RETURN NEXT is((SELECT 1), 1, format('backend alive after the %s batch', f));
END $$;

SELECT pg_temp.fuzz_batch(fn) FROM (SELECT fn, min(id) AS first FROM fuzz_case GROUP BY fn) f
ORDER BY first;
SELECT ok(to_regclass('fuzz_data') IS NOT NULL, 'no argument was run as SQL');

SELECT * FROM finish();
ROLLBACK;
