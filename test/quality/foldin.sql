-- Fold-in quality (issue 11): users left out of training but present in the
-- seen relation, served by fold-in, against the same users trained on, and
-- against the popularity list they got before. Variables: csv, dim.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
CREATE TABLE all_x (user_id bigint, item_id bigint);
\set copy_cmd '\\copy all_x FROM ' :'csv' ' CSV HEADER'
:copy_cmd
CREATE TABLE sp AS SELECT * FROM unkd.split('all_x', 0.2, 1);
CREATE TABLE tr AS SELECT user_id, item_id FROM sp WHERE NOT is_test;
CREATE INDEX ON tr (user_id);
-- 10% of the users (id = 0 mod 10) are left out of training
CREATE VIEW tr_known AS SELECT * FROM tr WHERE user_id % 10 <> 0;
CREATE TABLE te_held AS SELECT user_id, item_id FROM sp WHERE is_test AND user_id % 10 = 0;
\o /dev/null
SELECT count(*) AS trained FROM unkd.train('with_them', 'tr', dim => :dim, seed => 1, notice_every => 0);
SELECT count(*) AS trained FROM unkd.train('without_them', 'tr_known', seen => 'tr', dim => :dim, seed => 1, notice_every => 0);
\o
\pset footer off
SELECT 'trained on them' AS held_out_users, users, round(recall::numeric, 4) AS recall_at_20, round(ndcg::numeric, 4) AS ndcg_at_20
FROM unkd.evaluate('with_them', 'te_held', 20) WHERE group_id IS NULL
UNION ALL
SELECT 'folded in', users, round(recall::numeric, 4), round(ndcg::numeric, 4)
FROM unkd.evaluate('without_them', 'te_held', 20) WHERE group_id IS NULL
UNION ALL
SELECT 'popularity list', users, round(recall::numeric, 4), round(ndcg::numeric, 4)
FROM unkd.evaluate('without_them', 'te_held', 20, fold_in => false) WHERE group_id IS NULL;
SELECT round(((SELECT recall FROM unkd.evaluate('without_them', 'te_held', 20) WHERE group_id IS NULL) /
			  (SELECT recall FROM unkd.evaluate('with_them', 'te_held', 20) WHERE group_id IS NULL))::numeric, 3)
	   AS folded_over_trained_recall, 0.8 AS target;
