-- Fold-in in recommend: a user the model was not trained on, with rows in
-- the seen relation, is ranked with a vector computed from those items
-- (foldin.c), the same one evaluate uses; fold_in => false gives the
-- popularity list, fold_in => true folds in known users too.
CREATE SCHEMA fold;
SET search_path = fold, public;
CREATE TABLE fold.all_x AS SELECT * FROM unkd.synthetic_interactions(300, 120, 15, 1.0, 4);
CREATE TABLE fold.sp AS SELECT * FROM unkd.split('fold.all_x', 0.2, 2);
CREATE TABLE fold.train AS SELECT user_id, item_id FROM fold.sp WHERE NOT is_test;
CREATE INDEX ON fold.train (user_id);
CREATE TABLE fold.test AS SELECT user_id, item_id FROM fold.sp WHERE is_test AND user_id % 4 = 0;
CREATE VIEW fold.known AS SELECT * FROM fold.train WHERE user_id % 4 <> 0;
SELECT name, n_users FROM unkd.train('fold_m', 'fold.known', seen => 'fold.train', dim => 8, epochs => 20, seed => 5, notice_every => 0);

-- users 4, 8, ... are not in the model but have seen rows: folded in, their
-- scores are inner products (not popularities), no seen item is returned
SELECT count(DISTINCT u) AS users,
	   count(*) FILTER (WHERE r.score <> round(r.score)) > 0 AS inner_product_scores,
	   count(*) FILTER (WHERE EXISTS (SELECT FROM fold.train t WHERE t.user_id = u AND t.item_id = r.item_id)) AS seen_returned
FROM generate_series(4, 300, 4) u, unkd.recommend(u, 10, 'fold_m') r;

-- the folded-in ranking is not the popularity list, and is deterministic
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(8, 10, 'fold_m'))
	   IS DISTINCT FROM (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(8, 10, 'fold_m', fold_in => false)) AS not_popularity,
	   (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(8, 10, 'fold_m'))
	   = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(8, 10, 'fold_m')) AS deterministic,
	   (SELECT bool_and(score = round(score)) FROM unkd.recommend(8, 10, 'fold_m', fold_in => false)) AS popularity_scores;

-- the same vector as evaluate's: recall@20 computed from recommend's rows
-- equals evaluate's for the folded-in test users
WITH per_user AS (
	SELECT t.user_id,
		   count(*) FILTER (WHERE EXISTS (SELECT FROM unkd.recommend(t.user_id, 20, 'fold_m') r WHERE r.item_id = t.item_id))::float8
		   / count(*) AS recall
	FROM fold.test t GROUP BY t.user_id)
SELECT abs(avg(recall) - (SELECT recall FROM unkd.evaluate('fold_m', 'fold.test', 20) WHERE group_id IS NULL)) < 1e-9
	   AS same_as_evaluate
FROM per_user;

-- a user with no seen rows anywhere still gets the popularity list
SELECT bool_and(score = round(score)) AS popularity_for_strangers, count(*) AS rows
FROM unkd.recommend(999999, 5, 'fold_m');

-- fold_in => true: a known user's new interactions move the ranking without
-- retraining; without it the trained vector is used
CREATE TABLE fold.before AS
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(1, 10, 'fold_m')) AS trained,
	   (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(1, 10, 'fold_m', fold_in => true)) AS refolded;
INSERT INTO fold.train SELECT 1, item_id FROM unkd.recommend(2, 15, 'fold_m');
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(1, 10, 'fold_m', fold_in => true)) IS DISTINCT FROM refolded
	   AS refolded_follows_new_rows,
	   (SELECT count(*) FROM unkd.recommend(1, 10, 'fold_m', fold_in => true) r
		WHERE EXISTS (SELECT FROM fold.train t WHERE t.user_id = 1 AND t.item_id = r.item_id)) AS seen_returned
FROM fold.before;

SELECT unkd.drop_model('fold_m');
DROP SCHEMA fold CASCADE;
