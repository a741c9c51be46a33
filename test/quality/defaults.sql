-- Defaults benchmark for one data set (run by test/quality/defaults.sh through psql).
--
-- Exactly what an analyst gets without options: unkd.train and unkd.distill
-- with their defaults (kd_weight => 0 makes the plain student, n_groups => 1
-- KD), on an 80/20 per-user split (unkd.split seed 1), evaluated once on
-- test at k = 10 and 20, with issue 9's rules and targets checked.
-- Variables: dataset (a label), csv (path of interactions.csv), out.
\set ON_ERROR_STOP 1
\ir cells.sql
SET client_min_messages = warning;
SET maintenance_work_mem = '2GB';

DROP SCHEMA IF EXISTS defaults CASCADE;
CREATE SCHEMA defaults;
SET search_path = defaults, public;

CREATE TABLE defaults.all_interactions (user_id bigint, item_id bigint);
\set copy_cmd '\\copy defaults.all_interactions FROM ' :'csv' ' CSV HEADER'
:copy_cmd
CREATE TABLE defaults.split AS SELECT * FROM unkd.split('defaults.all_interactions', 0.2, 1);
CREATE TABLE defaults.train AS SELECT user_id, item_id FROM defaults.split WHERE NOT is_test;
CREATE TABLE defaults.test AS SELECT user_id, item_id FROM defaults.split WHERE is_test;
CREATE INDEX ON defaults.train (user_id);
ANALYZE defaults.train, defaults.test;

SELECT count(*) FROM unkd.train('default_teacher', 'defaults.train', notice_every => 0, replace => true);
SELECT count(*) FROM unkd.distill('default_student', 'defaults.train', kd_weight => 0, notice_every => 0, replace => true);
SELECT count(*) FROM unkd.distill('default_kd', 'defaults.train', teacher => 'default_teacher', n_groups => 1,
								  notice_every => 0, replace => true);
SELECT count(*) FROM unkd.distill('default_unkd', 'defaults.train', teacher => 'default_teacher',
								  notice_every => 0, replace => true);

CREATE TABLE defaults.results AS
SELECT role, k, e.*
FROM unnest(ARRAY['teacher', 'student', 'kd', 'unkd']) r(role),
	 unnest(ARRAY[10, 20]) k,
	 LATERAL unkd.evaluate('default_' || r.role, 'defaults.test', k, 4) e;

-- Markdown section for docs/results.md
\pset format unaligned
\pset tuples_only on
\o :out
SELECT format(E'### %s, defaults\n\n%s users, %s items, %s interactions; 80/20 split per user (seed 1); '
			  'every model with its defaults, on all training data (each holds out its own validation slice).\n',
			  :'dataset', count(DISTINCT user_id), count(DISTINCT item_id), count(*))
FROM defaults.all_interactions;
SELECT E'| model (defaults) | dim | R@10 | R@20 | N@10 | N@20 | share@20 g0 | g1 | g2 | g3 | recall@20 g0 | g1 | g2 | g3 | train s | validation s | best / run epochs |\n'
	   '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';
SELECT format('| %s | %s | %s | %s | %s | %s / %s |',
	pg_temp.role_label(r.role), m.dim, pg_temp.metric_cells('defaults.results', r.role),
	to_char(m.train_seconds, 'FM9990.0'),
	to_char((m.metrics->>'validation_seconds')::float8, 'FM9990.0'),
	m.metrics->>'best_epoch', m.metrics->>'epochs_run')
FROM unnest(ARRAY['teacher', 'student', 'kd', 'unkd']) WITH ORDINALITY r(role, ord)
JOIN unkd.models m ON m.name = 'default_' || r.role
ORDER BY r.ord;

-- issue 9's rules and targets, UnKD against KD at k = 20
WITH s AS (SELECT role, group_id, share, recall, ndcg FROM defaults.results WHERE k = 20),
	 v AS (SELECT max(share) FILTER (WHERE role = 'kd' AND group_id = 0) AS kd_head,
				  max(share) FILTER (WHERE role = 'unkd' AND group_id = 0) AS un_head,
				  max(recall) FILTER (WHERE role = 'kd' AND group_id = 3) AS kd_tail,
				  max(recall) FILTER (WHERE role = 'unkd' AND group_id = 3) AS un_tail,
				  max(ndcg) FILTER (WHERE role = 'kd' AND group_id IS NULL) AS kd_n,
				  max(ndcg) FILTER (WHERE role = 'unkd' AND group_id IS NULL) AS un_n,
				  max(ndcg) FILTER (WHERE role = 'teacher' AND group_id IS NULL) AS t_n
		   FROM s),
	 t AS (SELECT sum(train_seconds) AS seconds, sum((metrics->>'validation_seconds')::float8) AS val_seconds
		   FROM unkd.models WHERE name LIKE 'default\_%')
SELECT format(E'\nUnKD vs KD at k = 20: head-group share %s vs %s (%sx), tail-group recall %s vs %s, NDCG@20 %s vs %s (%sx).\n'
			  'Rule (head share below KD''s, tail recall above, NDCG@20 within 3%%): %s. '
			  'Target (head share <= 0.85x KD, tail recall > KD, NDCG@20 >= 0.97x KD): %s. '
			  'Teacher NDCG@20 %s. The four models: %s s of training, %s s of it validation (%s%%).\n',
	to_char(un_head, 'FM0.000'), to_char(kd_head, 'FM0.000'), to_char(un_head / kd_head, 'FM0.00'),
	to_char(un_tail, 'FM0.0000'), to_char(kd_tail, 'FM0.0000'),
	to_char(un_n, 'FM0.0000'), to_char(kd_n, 'FM0.0000'), to_char(un_n / kd_n, 'FM0.000'),
	CASE WHEN un_head < kd_head AND un_tail > kd_tail AND un_n >= 0.97 * kd_n THEN 'met'
		 ELSE 'NOT met' END,
	CASE WHEN un_head <= 0.85 * kd_head AND un_tail > kd_tail AND un_n >= 0.97 * kd_n THEN 'met'
		 ELSE format('NOT met (%s)', concat_ws(', ',
			  CASE WHEN un_head > 0.85 * kd_head THEN 'head' END,
			  CASE WHEN un_tail <= kd_tail THEN 'tail' END,
			  CASE WHEN un_n < 0.97 * kd_n THEN 'NDCG' END)) END,
	to_char(t_n, 'FM0.0000'),
	to_char(t.seconds, 'FM9990'), to_char(t.val_seconds, 'FM9990'),
	to_char(100 * t.val_seconds / t.seconds, 'FM990'))
FROM v, t;
\o
