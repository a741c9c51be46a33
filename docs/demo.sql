-- unkd demo on built-in synthetic data (run by scripts/demo.sh)
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS unkd;

\echo '== 1. synthetic long-tailed interactions: 3,000 users x 2,000 items, 25 each'
DROP TABLE IF EXISTS demo_interactions;
CREATE TABLE demo_interactions AS
	SELECT * FROM unkd.synthetic_interactions(3000, 2000, 25, skew => 1.0, seed => 1);
CREATE INDEX ON demo_interactions (user_id);
SELECT count(*) AS interactions, count(DISTINCT user_id) AS users, count(DISTINCT item_id) AS items
FROM demo_interactions;

\echo '== 2. popularity strata: the lowest popularity of each of 4 equal-mass groups'
SELECT unkd.popularity_strata(item_id, 4) AS strata FROM demo_interactions;

\echo '== 3. popularity groups: few head items carry as much mass as the long tail'
SELECT group_id, count(*) AS items, min(popularity) AS min_popularity,
	   max(popularity) AS max_popularity,
	   round(sum(popularity)::numeric / (SELECT count(*) FROM demo_interactions), 3) AS mass_share
FROM unkd.popularity_groups('demo_interactions', 4)
GROUP BY group_id ORDER BY group_id;

\echo '== 4. per-user train/test split (20% held out)'
DROP TABLE IF EXISTS demo_split, demo_train, demo_test;
CREATE TABLE demo_split AS SELECT * FROM unkd.split('demo_interactions', 0.2, seed => 1);
CREATE TABLE demo_train AS SELECT user_id, item_id FROM demo_split WHERE NOT is_test;
CREATE TABLE demo_test AS SELECT user_id, item_id FROM demo_split WHERE is_test;
CREATE INDEX ON demo_train (user_id);   -- recommend() looks up each user's seen items here
SELECT (SELECT count(*) FROM demo_train) AS train_rows, (SELECT count(*) FROM demo_test) AS test_rows;

\echo '== 5. a dim-100 teacher, then dim-10 students: plain (no KD), KD (n_groups => 1), UnKD (n_groups => 4)'
SELECT name, method, dim, round(train_seconds::numeric, 1) AS seconds
FROM unkd.train('demo_teacher', 'demo_train', dim => 100, seed => 1);
SELECT name, method, dim, round(train_seconds::numeric, 1) AS seconds
FROM unkd.distill('demo_student', 'demo_train', teacher => 'demo_teacher', kd_weight => 0, seed => 1);
SELECT name, method, dim, round(train_seconds::numeric, 1) AS seconds
FROM unkd.distill('demo_kd', 'demo_train', teacher => 'demo_teacher', n_groups => 1, seed => 1);
SELECT name, method, dim, round(train_seconds::numeric, 1) AS seconds
FROM unkd.distill('demo_unkd', 'demo_train', teacher => 'demo_teacher', n_groups => 4, seed => 1);

-- evaluate every model once; the test set's own share of each group for comparison
DROP TABLE IF EXISTS demo_eval;
CREATE TEMP TABLE demo_eval AS
SELECT m.name, e.* FROM unnest('{demo_teacher,demo_student,demo_kd,demo_unkd}'::text[]) m(name),
	 LATERAL unkd.evaluate(m.name, 'demo_test', k => 20, n_groups => 4) e;
CREATE TEMP TABLE demo_test_share AS
SELECT coalesce(g.group_id, 3) AS group_id, count(*)::float8 / sum(count(*)) OVER () AS share
FROM demo_test t LEFT JOIN unkd.popularity_groups('demo_train', 4) g USING (item_id)
GROUP BY 1;

\echo '== 6. share of the top-20 slots per popularity group (group 0 = head). A head share above the'
\echo '      test set''s own share is popularity bias; UnKD should bring it down towards the test set.'
SELECT group_id,
	   round(max(t.share)::numeric, 3) AS test_set,
	   round(max(e.share) FILTER (WHERE name = 'demo_teacher')::numeric, 3) AS teacher,
	   round(max(e.share) FILTER (WHERE name = 'demo_student')::numeric, 3) AS student,
	   round(max(e.share) FILTER (WHERE name = 'demo_kd')::numeric, 3) AS kd,
	   round(max(e.share) FILTER (WHERE name = 'demo_unkd')::numeric, 3) AS unkd
FROM demo_eval e JOIN demo_test_share t USING (group_id)
GROUP BY group_id ORDER BY group_id;

\echo '== 7. recall@20 per group, and overall recall / precision / NDCG@20 (group empty = overall)'
SELECT group_id, max(users) AS users,
	   round(max(recall) FILTER (WHERE name = 'demo_teacher')::numeric, 4) AS teacher,
	   round(max(recall) FILTER (WHERE name = 'demo_student')::numeric, 4) AS student,
	   round(max(recall) FILTER (WHERE name = 'demo_kd')::numeric, 4) AS kd,
	   round(max(recall) FILTER (WHERE name = 'demo_unkd')::numeric, 4) AS unkd
FROM demo_eval GROUP BY group_id ORDER BY group_id NULLS LAST;
SELECT name, users, round(recall::numeric, 4) AS recall, round(precision::numeric, 4) AS precision,
	   round(ndcg::numeric, 4) AS ndcg
FROM demo_eval WHERE group_id IS NULL
ORDER BY array_position('{demo_teacher,demo_student,demo_kd,demo_unkd}'::text[], name);

\echo '== 8. serving: deploy the UnKD student and recommend for user 42 (seen items excluded)'
SELECT 'demo_unkd' AS deployed FROM unkd.deploy('demo_unkd');
SELECT r.rank, r.item_id, round(r.score::numeric, 3) AS score, g.popularity, g.group_id
FROM unkd.recommend(42, 10) r
LEFT JOIN unkd.popularity_groups('demo_train', 4) g USING (item_id)
ORDER BY r.rank;
\echo '   a user the model has never seen gets the most popular items (score = popularity)'
SELECT * FROM unkd.recommend(999999, 5);

\echo '== 9. verdict (measured above): UnKD against KD'
SELECT format('UnKD head share %s vs KD %s (test set %s); tail-group recall %s vs %s; NDCG@20 %s vs %s (%s%%)',
			  round(u.share::numeric, 3), round(k.share::numeric, 3), round(t.share::numeric, 3),
			  round(ut.recall::numeric, 4), round(kt.recall::numeric, 4),
			  round(un.ndcg::numeric, 4), round(kn.ndcg::numeric, 4),
			  round((100 * (un.ndcg / kn.ndcg - 1))::numeric, 1)) AS verdict
FROM demo_eval u, demo_eval k, demo_test_share t, demo_eval ut, demo_eval kt, demo_eval un, demo_eval kn
WHERE u.name = 'demo_unkd' AND u.group_id = 0 AND k.name = 'demo_kd' AND k.group_id = 0 AND t.group_id = 0
  AND ut.name = 'demo_unkd' AND ut.group_id = 3 AND kt.name = 'demo_kd' AND kt.group_id = 3
  AND un.name = 'demo_unkd' AND un.group_id IS NULL AND kn.name = 'demo_kd' AND kn.group_id IS NULL;
