-- Quality suite for one data set (run by test/quality/run.sh through psql).
--
-- Variables: dataset (a label), csv (path of interactions.csv), max_epochs.
-- Protocol (METHOD.md section 8): 80/20 per-user split with unkd.split seed 1;
-- a further 10% of each user's training data is the validation set. Every
-- hyper-parameter is chosen on validation NDCG@20 (early stopping keeps the
-- best epoch); the chosen configuration is then refitted on the whole
-- training set for the chosen number of epochs and evaluated once on test.
-- Test data never influences a choice.
\set ON_ERROR_STOP 1
\ir cells.sql
SET client_min_messages = warning;
SET maintenance_work_mem = '2GB';

DROP SCHEMA IF EXISTS quality CASCADE;
CREATE SCHEMA quality;
SET search_path = quality, public;

CREATE TABLE quality.all_interactions (user_id bigint, item_id bigint);
-- \copy does not expand variables, so the command is built first
\set copy_cmd '\\copy quality.all_interactions FROM ' :'csv' ' CSV HEADER'
:copy_cmd

CREATE TABLE quality.split AS SELECT * FROM unkd.split('quality.all_interactions', 0.2, 1);
CREATE TABLE quality.train_full AS SELECT user_id, item_id FROM quality.split WHERE NOT is_test;
CREATE TABLE quality.test AS SELECT user_id, item_id FROM quality.split WHERE is_test;
CREATE TABLE quality.vsplit AS SELECT * FROM unkd.split('quality.train_full', 0.1, 2);
CREATE TABLE quality.train AS SELECT user_id, item_id FROM quality.vsplit WHERE NOT is_test;
CREATE TABLE quality.valid AS SELECT user_id, item_id FROM quality.vsplit WHERE is_test;
CREATE INDEX ON quality.train_full (user_id);
CREATE INDEX ON quality.train (user_id);
ANALYZE quality.train_full, quality.train, quality.valid, quality.test;

-- every tuning run and its validation result
CREATE TABLE quality.runs (
	run			serial,
	role		text,			-- teacher, student, kd, unkd
	config		jsonb,
	valid_ndcg	double precision,	-- NDCG@20 on validation
	valid_head	double precision,	-- share of top-20 slots in group 0
	valid_tail	double precision,	-- recall@20 in group 3
	best_epoch	integer,
	seconds		double precision
);

-- Named-argument list from a jsonb object, values passed as quoted literals
CREATE FUNCTION quality.args(config jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(format('%I => %L', key, value #>> '{}'), ', ' ORDER BY key), '')
	FROM jsonb_each(config)
$$;

-- Train one configuration of a role on the tuning split; record its validation metrics
CREATE FUNCTION quality.tune(role text, fn text, config jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	m unkd.models;
	name text := 'tune_' || role;
BEGIN
	EXECUTE format('SELECT * FROM unkd.%I(name => %L, interactions => %L, validation => %L, %s)',
				   fn, name, 'quality.train', 'quality.valid', quality.args(config))
		INTO m;
	INSERT INTO quality.runs (role, config, valid_ndcg, valid_head, valid_tail, best_epoch, seconds)
	SELECT role, config,
		   max(e.ndcg) FILTER (WHERE e.group_id IS NULL),
		   max(e.share) FILTER (WHERE e.group_id = 0),
		   max(e.recall) FILTER (WHERE e.group_id = 3),
		   (m.metrics->>'best_epoch')::int, m.train_seconds
	FROM unkd.evaluate(name, 'quality.valid', 20, 4) e;
END $$;

-- The chosen configuration of a role, from validation results only.
-- Teacher, Student and KD: the best validation NDCG@20. UnKD exists to trade
-- a little accuracy for less popularity bias, so its rule is: the lowest
-- validation head-group share among the runs within 5% of KD's best
-- validation NDCG@20 (the most accurate run when none is).
CREATE FUNCTION quality.best(role text) RETURNS quality.runs LANGUAGE sql AS $$
	SELECT r.* FROM quality.runs r
	WHERE r.role = $1
	ORDER BY CASE WHEN $1 = 'unkd' AND r.valid_ndcg >= 0.95 * (SELECT max(valid_ndcg) FROM quality.runs WHERE role = 'kd')
				  THEN 0 ELSE 1 END,
			 CASE WHEN $1 = 'unkd' AND r.valid_ndcg >= 0.95 * (SELECT max(valid_ndcg) FROM quality.runs WHERE role = 'kd')
				  THEN r.valid_head END,
			 r.valid_ndcg DESC NULLS LAST, r.run
	LIMIT 1
$$;

-- Refit a role's best configuration on all training data for its best epoch count
CREATE FUNCTION quality.refit(role text, fn text, extra jsonb DEFAULT '{}') RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	b quality.runs := quality.best(role);
	-- all training data for the chosen epochs: no internal validation slice
	config jsonb := b.config || extra || jsonb_build_object('epochs', greatest(b.best_epoch, 1),
															 'validation_fraction', 0);
BEGIN
	EXECUTE format('SELECT 1 FROM unkd.%I(name => %L, interactions => %L, %s)',
				   fn, 'final_' || role, 'quality.train_full', quality.args(config));
END $$;

-- Hyper-parameter grids. Every model gets the same learning rate, epoch
-- budget and early stopping (NDCG@20 on validation every 5 epochs, patience
-- 10: UnKD's validation curve is noisy and still rising when a short
-- patience stops it). decay is tuned per model size; KD and UnKD use the
-- student's chosen decay, and their distillation steps are unregularised
-- (kd_decay 0, as the authors' code). kd_weight is tuned for both
-- distillers; KD draws its pairs at the paper's mu 20 (distill's default
-- is 30 since 0.2.0), UnKD also tries mu 50 and head-leaning quotas
-- (group_weight_exponent -0.5).
\set common '"optimizer": "sgd", "lr": 0.02, "epochs": ' :max_epochs ', "seed": 1, "patience": 10, "notice_every": 1000'
SELECT quality.tune('teacher', 'train', format('{"dim": 100, "decay": %s, %s}', d, :'common')::jsonb)
FROM unnest(ARRAY[0.005, 0.01, 0.02, 0.04, 0.08]) d;
SELECT quality.tune('student', 'train', format('{"dim": 10, "decay": %s, %s}', d, :'common')::jsonb)
FROM unnest(ARRAY[0.01, 0.02, 0.04, 0.08]) d;

-- the teacher that tuning runs distil from: the chosen one, on the tuning split
SELECT quality.tune('teacher', 'train', (quality.best('teacher')).config);
SELECT quality.tune('kd', 'distill',
	format('{"dim": 10, "teacher": "tune_teacher", "n_groups": 1, "kd_weight": %s, "mu": 20, "decay": %s, %s}',
		   w, (quality.best('student')).config->>'decay', :'common')::jsonb)
FROM unnest(ARRAY[0.1, 0.25, 0.5, 1.0, 2.0]) w;
SELECT quality.tune('unkd', 'distill',
	format('{"dim": 10, "teacher": "tune_teacher", "n_groups": 4, "kd_weight": %s, "mu": %s, '
		   '"group_weight_exponent": %s, "decay": %s, %s}',
		   w, mu, e, (quality.best('student')).config->>'decay', :'common')::jsonb)
FROM (SELECT w, mu, 0 AS e FROM unnest(ARRAY[20, 50]) mu, unnest(ARRAY[0.25, 0.5, 1.0, 2.0]) w
	  UNION ALL
	  SELECT w, 20, -0.5 FROM unnest(ARRAY[0.5, 1.0]) w) g
ORDER BY e DESC, mu, w;

-- refit the chosen configurations on all training data
SELECT quality.refit('teacher', 'train');
SELECT quality.refit('student', 'train');
SELECT quality.refit('kd', 'distill', '{"teacher": "final_teacher"}');
SELECT quality.refit('unkd', 'distill', '{"teacher": "final_teacher"}');

-- evaluate each final model once on test
CREATE TABLE quality.results AS
SELECT role, k, e.*
FROM unnest(ARRAY['teacher', 'student', 'kd', 'unkd']) WITH ORDINALITY r(role, ord),
	 unnest(ARRAY[10, 20]) k,
	 LATERAL unkd.evaluate('final_' || role, 'quality.test', k, 4) e;

-- the test set's own interactions per training-popularity group (unseen items: last group)
CREATE TABLE quality.test_share AS
SELECT coalesce(g.group_id, 3) AS group_id, count(*)::float8 / sum(count(*)) OVER () AS share
FROM quality.test t LEFT JOIN unkd.popularity_groups('quality.train_full', 4) g USING (item_id)
GROUP BY 1;

-- Markdown section for docs/results.md
\pset format unaligned
\pset tuples_only on
\o :out
SELECT format(E'### %s\n\n%s users, %s items, %s interactions; 80/20 split per user (seed 1), validation = 10%% of training.\n',
			  :'dataset', count(DISTINCT user_id), count(DISTINCT item_id), count(*))
FROM quality.all_interactions;
SELECT E'| model | dim | R@10 | R@20 | N@10 | N@20 | share@20 g0 | g1 | g2 | g3 | recall@20 g0 | g1 | g2 | g3 | train s | chosen on validation |\n'
	   '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';
SELECT format('| %s | %s | %s | %s |',
	pg_temp.role_label(r.role), m.dim, pg_temp.metric_cells('quality.results', r.role),
	to_char(m.train_seconds, 'FM9990.0') || ' | ' ||
	(SELECT string_agg(format('%s=%s', key, value), ', ' ORDER BY key)
	 FROM jsonb_each((quality.best(r.role)).config)
	 WHERE key IN ('decay', 'kd_weight', 'n_groups', 'mu', 'group_weight_exponent', 'lr')) ||
	format(', epochs=%s', (quality.best(r.role)).best_epoch))
FROM unnest(ARRAY['teacher', 'student', 'kd', 'unkd']) WITH ORDINALITY r(role, ord)
JOIN unkd.models m ON m.name = 'final_' || r.role
ORDER BY r.ord;
SELECT format('| test set itself | | | | | | %s | | | | | | |',
			  string_agg(to_char(share, 'FM0.000'), ' | ' ORDER BY group_id))
FROM quality.test_share;

-- the trade-off in numbers, UnKD against KD at k = 20
WITH s AS (SELECT role, group_id, share, recall FROM quality.results WHERE k = 20),
	 kd_head AS (SELECT share FROM s WHERE role = 'kd' AND group_id = 0),
	 un_head AS (SELECT share FROM s WHERE role = 'unkd' AND group_id = 0),
	 t_head AS (SELECT share FROM s WHERE role = 'teacher' AND group_id = 0),
	 kd_tail AS (SELECT recall FROM s WHERE role = 'kd' AND group_id = 3),
	 un_tail AS (SELECT recall FROM s WHERE role = 'unkd' AND group_id = 3),
	 kd_n AS (SELECT ndcg FROM quality.results WHERE role = 'kd' AND k = 20 AND group_id IS NULL),
	 un_n AS (SELECT ndcg FROM quality.results WHERE role = 'unkd' AND k = 20 AND group_id IS NULL)
SELECT format(E'\nUnKD vs KD at k = 20: head-group share %s vs %s (ratio %s; teacher %s), '
			  'tail-group recall %s vs %s, NDCG@20 %s vs %s (ratio %s).\n'
			  'Against the anchor targets (head share <= 0.75x KD, tail recall > KD, NDCG@20 >= 0.95x KD): %s, %s, %s.\n',
	to_char(un_head.share, 'FM0.000'), to_char(kd_head.share, 'FM0.000'),
	to_char(un_head.share / nullif(kd_head.share, 0), 'FM0.00'), to_char(t_head.share, 'FM0.000'),
	to_char(un_tail.recall, 'FM0.0000'), to_char(kd_tail.recall, 'FM0.0000'),
	to_char(un_n.ndcg, 'FM0.0000'), to_char(kd_n.ndcg, 'FM0.0000'),
	to_char(un_n.ndcg / nullif(kd_n.ndcg, 0), 'FM0.000'),
	CASE WHEN un_head.share <= 0.75 * kd_head.share THEN 'head met' ELSE 'head NOT met' END,
	CASE WHEN un_tail.recall > kd_tail.recall THEN 'tail met' ELSE 'tail NOT met' END,
	CASE WHEN un_n.ndcg >= 0.95 * kd_n.ndcg THEN 'NDCG met' ELSE 'NDCG NOT met' END)
FROM kd_head, un_head, t_head, kd_tail, un_tail, kd_n, un_n;

-- every tuning run, so the choice can be checked
SELECT E'\n<details><summary>Validation runs (tuning split; the chosen run of each model is marked)</summary>\n\n'
	   '| model | decay | kd_weight | mu | group_weight_exponent | valid N@20 | valid head share@20 | valid tail recall@20 | best epoch | s | chosen |\n'
	   '|---|---|---|---|---|---|---|---|---|---|---|';
SELECT format('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |', r.role,
			  r.config->>'decay', coalesce(r.config->>'kd_weight', ''), coalesce(r.config->>'mu', ''),
			  coalesce(r.config->>'group_weight_exponent', ''),
			  to_char(r.valid_ndcg, 'FM0.0000'), to_char(r.valid_head, 'FM0.000'),
			  to_char(r.valid_tail, 'FM0.0000'), r.best_epoch, to_char(r.seconds, 'FM9990.0'),
			  CASE WHEN r.run = (quality.best(r.role)).run THEN 'yes' ELSE '' END)
FROM quality.runs r ORDER BY r.run;
SELECT E'\n</details>\n';
\o
