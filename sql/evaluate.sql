-- unkd.evaluate(): a hand-computed example checked to 1e-9 for every metric
-- and group, a SQL reference implementation of METHOD.md section 7 on a
-- larger model, and every error. Models are made by writing the catalog.
CREATE SCHEMA ev;
SET search_path = ev, public;

CREATE FUNCTION ev.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Hand example. Training popularity 5,5,3,2,1,1 (mass 10 | 3 2 2 of 17), so
-- with two groups: group 0 = items 1, 2 (popularity 5), group 1 = items 3..6.
CREATE TABLE ev.train (user_id int, item_id int);
INSERT INTO ev.train VALUES (10, 1), (20, 6), (20, 3), (30, 2);
CREATE INDEX ON ev.train (user_id);
CREATE TABLE ev.test (uid bigint, iid smallint);
INSERT INTO ev.test VALUES (10, 5), (10, 4), (10, 5), (20, 1), (20, 2), (30, 4), (30, 99), (40, 4);

INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('hand', 'student', 'unkd', 2, 3, 6, 4, '{5,1}', 'ev.train', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings VALUES
	('hand', 1, 5, '{0.875,0}'), ('hand', 2, 5, '{0.5,0.5}'), ('hand', 3, 3, '{0.75,1}'),
	('hand', 4, 2, '{0.125,0.875}'), ('hand', 5, 1, '{0.625,-1}'), ('hand', 6, 1, '{0.25,2}');
INSERT INTO unkd.user_embeddings VALUES
	('hand', 10, '{1,0}'), ('hand', 20, '{0,1}'), ('hand', 40, '{1,1}');   -- 30 is unknown: popularity order

-- Top 3 by hand (training items excluded):
--   user 10: 3 (.75), 5 (.625), 2 (.5)     test {4, 5}: hit at 1
--   user 20: 4 (.875), 2 (.5), 1 (0)       test {1, 2}: hits at 1, 2
--   user 30: 1, 3, 4 (popularity)          test {4, 99}: hit at 2; 99 is not in the model: a miss, group 1
--   user 40: 6 (2.25), 3 (1.75), 2 (1; ties with 4, lower id first)   test {4}: no hit
-- With L = 1/log2(3): ndcg 10 = L/(1+L), 20 = (L+1/2)/(1+L), 30 = (1/2)/(1+L), 40 = 0.
-- Slots: group 0 holds 1+2+1+1 = 5 of 12. Group 0 test users: 20 (recall 1);
-- group 1: 10 (1/2), 30 (1/2), 40 (0). Group precision: group hits / k over all 4 users.
CREATE TABLE ev.expected AS
WITH c AS (SELECT 1 / log(2, 3)::float8 AS l)
SELECT * FROM (VALUES
	(0, 1::bigint, 1.0::float8, (2.0 / 3) / 4, NULL::float8, 5.0 / 12),
	(1, 3, (0.5 + 0.5 + 0) / 3, (1.0 / 3 + 1.0 / 3) / 4, NULL, 7.0 / 12),
	(NULL, 4, (0.5 + 1 + 0.5 + 0) / 4, (1.0 / 3 + 2.0 / 3 + 1.0 / 3) / 4,
	 (SELECT (2 * l + 1) / (4 * (1 + l)) FROM c), 1.0)
) v(group_id, users, recall, "precision", ndcg, share);

SELECT group_id, users, round(recall::numeric, 6) AS recall, round(precision::numeric, 6) AS precision,
	   round(ndcg::numeric, 6) AS ndcg, round(share::numeric, 6) AS share
FROM unkd.evaluate('hand', 'ev.test', 3, 2, user_column => 'uid', item_column => 'iid', fold_in => false);

-- every value within 1e-9 of the hand computation, NULLs where expected
SELECT e.group_id, r.group_id IS NOT NULL OR e.group_id IS NULL AS row_present,
	   r.users = e.users AS users_ok,
	   abs(r.recall - e.recall) < 1e-9 AS recall_ok,
	   abs(r.precision - e.precision) < 1e-9 AS precision_ok,
	   CASE WHEN e.ndcg IS NULL THEN r.ndcg IS NULL ELSE abs(r.ndcg - e.ndcg) < 1e-9 END AS ndcg_ok,
	   abs(r.share - e.share) < 1e-9 AS share_ok
FROM ev.expected e
LEFT JOIN unkd.evaluate('hand', 'ev.test', 3, 2, 'uid', 'iid', false) r
	   ON r.group_id IS NOT DISTINCT FROM e.group_id
ORDER BY e.group_id NULLS LAST;

-- k = 1: first places 3, 4, 1, 6 are none of the users' held-out items
SELECT group_id, users, recall, precision, ndcg, share
FROM unkd.evaluate('hand', 'ev.test', 1, 2, 'uid', 'iid', false) WHERE group_id IS NULL;

-- more groups than popularity levels: one row per level (4), shares sum to 1
SELECT count(*) FILTER (WHERE group_id IS NOT NULL) AS groups,
	   round(sum(share) FILTER (WHERE group_id IS NOT NULL)::numeric, 9) AS share_sum,
	   round(sum(precision) FILTER (WHERE group_id IS NOT NULL)::numeric, 9) =
	   round(max(precision) FILTER (WHERE group_id IS NULL)::numeric, 9) AS group_precisions_add_up
FROM unkd.evaluate('hand', 'ev.test', 3, 10, 'uid', 'iid', false);

-- a user with no training items and no embedding ranks the whole catalogue by popularity
INSERT INTO ev.test VALUES (50, 1);
SELECT users, recall, precision FROM unkd.evaluate('hand', 'ev.test', 2, 2, 'uid', 'iid', false) WHERE group_id = 0;
DELETE FROM ev.test WHERE uid = 50;

-- Reference: METHOD.md section 7 in SQL on a larger model (1/4-grid embeddings
-- keep scores exact, so both sides rank identically), one and two groups.
CREATE FUNCTION ev.vec(seed int, dim int) RETURNS real[] LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(((((seed * 7919 + j * 104729) % 9) + 9) % 9 - 4)::real / 4 ORDER BY j)
	FROM generate_series(1, dim) AS j $$;
CREATE TABLE ev.big_train AS
SELECT u AS user_id, i AS item_id FROM generate_series(1, 60) u, generate_series(1, 80) i
WHERE (u * 7 + i * i) % 11 < 2 OR i % 13 = u % 3;
CREATE TABLE ev.big_test AS
SELECT u AS user_id, i AS item_id FROM generate_series(1, 70) u, generate_series(1, 85) i
WHERE (u * 5 + i * 3) % 17 = 0 AND (u, i) NOT IN (SELECT user_id, item_id FROM ev.big_train);
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('big', 'teacher', 'bpr', 5, 55, 80, 0, '{}', 'ev.big_train', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings
SELECT 'big', i, (SELECT count(*) FROM ev.big_train t WHERE t.item_id = i), ev.vec(i, 5)
FROM generate_series(1, 80) i;
INSERT INTO unkd.user_embeddings SELECT 'big', u, ev.vec(u * 3 + 1, 5) FROM generate_series(1, 55) u;

-- group of every model item for n groups, from the strata aggregate over training popularity
CREATE FUNCTION ev.item_groups(n int) RETURNS TABLE(item_id bigint, g int) LANGUAGE sql STABLE AS $$
	WITH s AS (SELECT unkd.popularity_strata(i.item_id, n) AS b
			   FROM unkd.item_embeddings i, generate_series(1, i.popularity)
			   WHERE i.model = 'big')
	SELECT i.item_id,
		   coalesce((SELECT min(j) - 1 FROM s, generate_subscripts(s.b, 1) j WHERE i.popularity >= s.b[j]),
					(SELECT array_length(b, 1) - 1 FROM s))::int
	FROM unkd.item_embeddings i WHERE i.model = 'big' $$;

CREATE FUNCTION ev.reference(k int, n int)
RETURNS TABLE(group_id int, users bigint, recall float8, "precision" float8, ndcg float8, share float8)
LANGUAGE sql STABLE AS $$
	WITH tu AS (SELECT DISTINCT user_id, item_id FROM ev.big_test),
	ig AS (SELECT * FROM ev.item_groups(n)),
	ng AS (SELECT max(g) + 1 AS n FROM ig),
	cand AS (
		SELECT u.user_id, i.item_id,
			   coalesce((SELECT sum(a * b) FROM unnest(e.embedding, i.embedding) t(a, b)), i.popularity) AS score
		FROM (SELECT DISTINCT user_id FROM tu) u
		CROSS JOIN unkd.item_embeddings i
		LEFT JOIN unkd.user_embeddings e ON e.model = 'big' AND e.user_id = u.user_id
		WHERE i.model = 'big'
		  AND NOT EXISTS (SELECT 1 FROM ev.big_train t WHERE t.user_id = u.user_id AND t.item_id = i.item_id)),
	topk AS (
		SELECT * FROM (SELECT user_id, item_id,
							  row_number() OVER (PARTITION BY user_id ORDER BY score DESC, item_id) - 1 AS pos
					   FROM cand) r WHERE pos < k),
	per_user AS (
		SELECT u.user_id, u.n_test,
			   (SELECT count(*) FROM topk t JOIN tu ON tu.user_id = t.user_id AND tu.item_id = t.item_id
				WHERE t.user_id = u.user_id) AS hits,
			   (SELECT coalesce(sum(1 / log(2, t.pos + 2)), 0) FROM topk t
				JOIN tu ON tu.user_id = t.user_id AND tu.item_id = t.item_id WHERE t.user_id = u.user_id) AS dcg,
			   (SELECT sum(1 / log(2, j + 2)) FROM generate_series(0, least(k, u.n_test) - 1) j) AS idcg
		FROM (SELECT user_id, count(*) AS n_test FROM tu GROUP BY user_id) u),
	tug AS (SELECT tu.user_id, tu.item_id, coalesce(ig.g, (SELECT n - 1 FROM ng)) AS g
			FROM tu LEFT JOIN ig ON ig.item_id = tu.item_id),
	per_group AS (
		SELECT x.g, x.user_id, count(*) AS n_test,
			   count(t.item_id) AS hits
		FROM tug x LEFT JOIN topk t ON t.user_id = x.user_id AND t.item_id = x.item_id
		GROUP BY x.g, x.user_id),
	slots AS (SELECT ig.g, count(*) AS n FROM topk JOIN ig USING (item_id) GROUP BY ig.g)
	SELECT g, count(p.user_id), avg(p.hits::float8 / p.n_test),
		   (SELECT coalesce(sum(q.hits), 0)::float8 / k / (SELECT count(*) FROM per_user) FROM per_group q WHERE q.g = gs.g),
		   NULL::float8,
		   coalesce((SELECT n FROM slots s WHERE s.g = gs.g), 0)::float8 / (SELECT sum(n) FROM slots)
	FROM generate_series(0, (SELECT n - 1 FROM ng)) gs(g)
	LEFT JOIN per_group p USING (g)
	GROUP BY g
	UNION ALL
	SELECT NULL, count(*), avg(hits::float8 / n_test), avg(hits::float8 / k), avg((dcg / idcg)::float8), 1
	FROM per_user $$;

SELECT k, n, count(*) AS rows,
	   count(*) FILTER (WHERE r.users = e.users
						AND abs(r.recall - e.recall) < 1e-9
						AND abs(r.precision - e.precision) < 1e-9
						AND (r.ndcg IS NULL AND e.ndcg IS NULL OR abs(r.ndcg - e.ndcg) < 1e-9)
						AND abs(r.share - e.share) < 1e-9) AS rows_matching
FROM unnest('{1,5,20}'::int[]) k, unnest('{1,2,4}'::int[]) n,
	 LATERAL ev.reference(k, n) e
	 LEFT JOIN LATERAL unkd.evaluate('big', 'ev.big_test', k, n, fold_in => false) r
	   ON r.group_id IS NOT DISTINCT FROM e.group_id
GROUP BY k, n ORDER BY k, n;

-- fold-in: users left out of training but present in the seen relation get
-- a vector from their seen items, far better than the popularity list, and
-- close to what training on them gives; fold_in => false turns it off
CREATE TABLE ev.fold_all AS SELECT * FROM unkd.synthetic_interactions(400, 150, 20, 1.0, 11);
CREATE TABLE ev.fold_split AS SELECT * FROM unkd.split('ev.fold_all', 0.2, 3);
CREATE TABLE ev.fold_train AS SELECT user_id, item_id FROM ev.fold_split WHERE NOT is_test;
CREATE INDEX ON ev.fold_train (user_id);
CREATE VIEW ev.fold_known AS SELECT * FROM ev.fold_train WHERE user_id % 5 <> 0;
CREATE TABLE ev.fold_test AS SELECT user_id, item_id FROM ev.fold_split WHERE is_test AND user_id % 5 = 0;
SELECT name FROM unkd.train('fold_part', 'ev.fold_known', seen => 'ev.fold_train', dim => 16, epochs => 30, seed => 1, notice_every => 0);
SELECT name FROM unkd.train('fold_full', 'ev.fold_train', dim => 16, epochs => 30, seed => 1, notice_every => 0);
CREATE TABLE ev.fold_recall AS
SELECT (SELECT recall FROM unkd.evaluate('fold_part', 'ev.fold_test', 20) WHERE group_id IS NULL) AS folded,
	   (SELECT recall FROM unkd.evaluate('fold_part', 'ev.fold_test', 20, fold_in => false) WHERE group_id IS NULL) AS popularity,
	   (SELECT recall FROM unkd.evaluate('fold_full', 'ev.fold_test', 20) WHERE group_id IS NULL) AS trained,
	   (SELECT recall FROM unkd.evaluate('fold_part', 'ev.fold_test', 20) WHERE group_id IS NULL) AS folded_again;
SELECT folded > 1.3 * popularity AS far_above_popularity, folded >= 0.8 * trained AS close_to_trained,
	   folded = folded_again AS deterministic
FROM ev.fold_recall;
-- fold_in => true recomputes known users from their seen items: still close
SELECT (SELECT recall FROM unkd.evaluate('fold_full', 'ev.fold_test', 20, fold_in => true) WHERE group_id IS NULL)
	   >= 0.8 * trained AS refolded_close_to_trained
FROM ev.fold_recall;
SELECT unkd.drop_model('fold_part'), unkd.drop_model('fold_full');

-- errors
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''nope'', ''ev.big_test'')');
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.missing'')');
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.test'', 0)');
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.test'', 100001)');
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.test'', 3, 0)');
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.test'', 3, NULL)');
SELECT ev.error_of('SELECT * FROM unkd.evaluate(NULL, ''ev.test'')');
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.test'')');
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.test'', user_column => ''uid'', item_column => ''nope'')');
CREATE TABLE ev.empty (user_id int, item_id int);
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.empty'')');
ALTER TABLE ev.test ADD COLUMN label text;
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.test'', user_column => ''uid'', item_column => ''label'')');
ALTER TABLE ev.train RENAME TO train_gone;
SELECT ev.error_of('SELECT * FROM unkd.evaluate(''hand'', ''ev.test'', 3, 2, ''uid'', ''iid'')');

DELETE FROM unkd.models WHERE name IN ('hand', 'big');
DROP SCHEMA ev CASCADE;
RESET search_path;
