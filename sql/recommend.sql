-- unkd.recommend(): exact top-k against a brute-force SQL ranking, seen-item
-- exclusion, row counts, cold users, the model cache across retraining, and
-- every error. Models are made by writing the catalog directly.
CREATE SCHEMA rec;
SET search_path = rec, public;

-- 'sqlstate: message' of a statement that must fail
CREATE FUNCTION rec.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Embedding values on a 1/4 grid keep every dot product exact in float, so
-- equal scores are real ties and the tie order (item id ascending) is tested.
CREATE FUNCTION rec.vec(seed int, dim int) RETURNS real[] LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(((((seed * 7919 + j * 104729) % 9) + 9) % 9 - 4)::real / 4 ORDER BY j)
	FROM generate_series(1, dim) AS j $$;

CREATE TABLE rec.events (user_id int, item_id int, at int);
INSERT INTO rec.events
SELECT u, i, 0 FROM generate_series(1, 30) u, generate_series(101, 140) i
WHERE (u * 31 + i * 17) % 7 = 0;
INSERT INTO rec.events VALUES (1, 101, 1), (1, 101, 2), (5, 999, 1);  -- a duplicate, an item outside the model
CREATE INDEX ON rec.events (user_id);

-- model m1: 40 items, 25 users (users 26..30 are unknown to it), dim 6
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('m1', 'teacher', 'bpr', 6, 25, 40, 0, '{}', 'rec.events', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings
SELECT 'm1', i, (i * 13) % 11, rec.vec(i, 6) FROM generate_series(101, 140) i;
INSERT INTO unkd.user_embeddings
SELECT 'm1', u, rec.vec(u + 1000, 6) FROM generate_series(1, 25) u;

-- the reference: every unseen item scored in SQL, ties by item id
CREATE FUNCTION rec.brute(model text, uid bigint, k int)
RETURNS TABLE(item_id bigint, score double precision, rank bigint) LANGUAGE sql STABLE AS $$
	SELECT item_id, score, rank FROM (
		SELECT i.item_id, s.score,
			   row_number() OVER (ORDER BY s.score DESC, i.item_id) AS rank
		FROM unkd.item_embeddings i
		JOIN unkd.user_embeddings u ON u.model = i.model AND u.user_id = uid
		CROSS JOIN LATERAL (SELECT sum(a::float8 * b::float8) AS score
							FROM unnest(i.embedding, u.embedding) AS t(a, b)) s
		WHERE i.model = brute.model
		  AND i.item_id NOT IN (SELECT e.item_id FROM rec.events e WHERE e.user_id = uid)
	) r WHERE rank <= k $$;

-- a readable example: user 3, top 5
SELECT item_id, score, rank FROM unkd.recommend(3, 5, 'm1');
SELECT item_id, score, rank FROM rec.brute('m1', 3, 5);

-- every known user and several k: same items, same order, scores within 1e-5
SELECT k, count(*) AS users,
	   count(*) FILTER (WHERE ok) AS users_matching
FROM (
	SELECT k, u,
		   (SELECT coalesce(bool_and(r.item_id = b.item_id AND abs(r.score - b.score) < 1e-5), false)
				   AND count(r.*) = count(b.*)
			FROM unkd.recommend(u, k, 'm1') r
			FULL JOIN rec.brute('m1', u, k) b ON b.rank = r.rank) AS ok
	FROM generate_series(1, 25) u, unnest('{1,3,10,40}'::int[]) k
) t GROUP BY k ORDER BY k;

-- seen items are never returned, for known and unknown users
SELECT count(*) AS seen_returned
FROM generate_series(1, 30) u, unkd.recommend(u, 40, 'm1') r
WHERE EXISTS (SELECT 1 FROM rec.events e WHERE e.user_id = u AND e.item_id = r.item_id);

-- exactly min(k, eligible) rows with ranks 1..n, for k up to beyond the catalogue
SELECT count(*) AS calls,
	   count(*) FILTER (WHERE n = least(k, eligible) AND max_rank = n AND min_rank = 1) AS right_size
FROM (
	SELECT u, k,
		   40 - (SELECT count(DISTINCT item_id) FROM rec.events e
				 WHERE e.user_id = u AND e.item_id BETWEEN 101 AND 140) AS eligible,
		   count(r.rank) AS n, coalesce(max(r.rank), 0) AS max_rank, coalesce(min(r.rank), 1) AS min_rank
	FROM generate_series(1, 30) u, unnest('{1,7,33,40,41,100000000}'::int[]) k
	LEFT JOIN LATERAL unkd.recommend(u, k, 'm1') r ON true
	GROUP BY u, k
) t;

-- with fold_in => false, users the model has not seen get the most popular
-- unseen items, score = popularity (by default those with seen rows are
-- folded in: sql/recommend_foldin.sql)
SELECT item_id, score, rank FROM unkd.recommend(27, 4, 'm1', fold_in => false);
SELECT count(*) AS users, count(*) FILTER (WHERE ok) AS users_matching
FROM (
	SELECT u, (SELECT coalesce(bool_and(r.item_id = p.item_id AND r.score = p.popularity), false)
					  AND count(r.*) = count(p.*)
			   FROM unkd.recommend(u, 8, 'm1', fold_in => false) r
			   FULL JOIN (SELECT item_id, popularity,
								 row_number() OVER (ORDER BY popularity DESC, item_id) AS rank
						  FROM unkd.item_embeddings i
						  WHERE model = 'm1'
							AND item_id NOT IN (SELECT item_id FROM rec.events e WHERE e.user_id = u)
						  ORDER BY popularity DESC, item_id LIMIT 8) p ON p.rank = r.rank) AS ok
	FROM generate_series(26, 30) u
) t;
SELECT count(*) AS rows_for_user_never_seen_anywhere FROM unkd.recommend(123456789, 10, 'm1');

-- seen items are read at call time: a new interaction disappears from the result
SELECT item_id FROM unkd.recommend(3, 1, 'm1');
INSERT INTO rec.events SELECT 3, item_id, 9 FROM unkd.recommend(3, 1, 'm1');
SELECT count(*) AS still_returned
FROM unkd.recommend(3, 40, 'm1') r
WHERE r.item_id IN (SELECT item_id FROM rec.events WHERE at = 9);

-- retraining in the same session: new version_id and embeddings are picked up
SELECT array_agg(item_id ORDER BY rank) = (SELECT array_agg(item_id ORDER BY rank) FROM rec.brute('m1', 4, 5))
	   AS before_matches
FROM unkd.recommend(4, 5, 'm1');
BEGIN;
UPDATE unkd.models SET version_id = nextval('unkd.model_version_seq'), version = version + 1, dim = 3,
	n_items = 50, n_users = 30
WHERE name = 'm1';
DELETE FROM unkd.item_embeddings WHERE model = 'm1';
DELETE FROM unkd.user_embeddings WHERE model = 'm1';
INSERT INTO unkd.item_embeddings
SELECT 'm1', i, i % 5, rec.vec(i * 3, 3) FROM generate_series(101, 150) i;
INSERT INTO unkd.user_embeddings
SELECT 'm1', u, rec.vec(u * 5, 3) FROM generate_series(1, 30) u;
COMMIT;
SELECT count(*) AS users, count(*) FILTER (WHERE ok) AS users_matching_new_version
FROM (
	SELECT u, (SELECT coalesce(bool_and(r.item_id = b.item_id AND abs(r.score - b.score) < 1e-5), false)
					  AND count(r.*) = count(b.*)
			   FROM unkd.recommend(u, 12, 'm1') r
			   FULL JOIN rec.brute('m1', u, 12) b ON b.rank = r.rank) AS ok
	FROM generate_series(1, 30) u
) t;
SELECT count(*) AS new_items_returned FROM unkd.recommend(7, 50, 'm1') WHERE item_id > 140;

-- a rolled-back retraining leaves the cached version serving
BEGIN;
UPDATE unkd.models SET version_id = nextval('unkd.model_version_seq') WHERE name = 'm1';
UPDATE unkd.item_embeddings SET embedding = '{0,0,0}' WHERE model = 'm1';
SELECT count(DISTINCT score) AS distinct_scores_inside FROM unkd.recommend(7, 50, 'm1');
ROLLBACK;
SELECT count(DISTINCT score) > 1 AS distinct_scores_after FROM unkd.recommend(7, 50, 'm1');

-- a version that fails to load (registry and embeddings disagree) is an error,
-- and the cached version still serves correctly afterwards
BEGIN;
UPDATE unkd.models SET version_id = nextval('unkd.model_version_seq'), n_items = n_items + 5 WHERE name = 'm1';
SELECT rec.error_of('SELECT * FROM unkd.recommend(7, 3, ''m1'')');
ROLLBACK;
SELECT count(*) AS users, count(*) FILTER (WHERE ok) AS users_matching_after_failed_load
FROM (
	SELECT u, (SELECT coalesce(bool_and(r.item_id = b.item_id AND abs(r.score - b.score) < 1e-5), false)
					  AND count(r.*) = count(b.*)
			   FROM unkd.recommend(u, 12, 'm1') r
			   FULL JOIN rec.brute('m1', u, 12) b ON b.rank = r.rank) AS ok
	FROM generate_series(1, 30) u
) t;

-- the deployed model serves calls without a model name
UPDATE unkd.models SET deployed = false WHERE deployed;  -- whatever earlier tests left
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, 5)');
UPDATE unkd.models SET deployed = true WHERE name = 'm1';
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(2))
	 = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(2, 10, 'm1')) AS deployed_used;
SELECT count(*) AS default_k FROM unkd.recommend(2);

-- a table without an index on the user column: one NOTICE per backend and model
CREATE TABLE rec.no_index (uid bigint, iid bigint);
INSERT INTO rec.no_index VALUES (1, 101);
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('m2', 'student', 'unkd', 3, 1, 3, 1, '{}', 'rec.no_index', 'uid', 'iid');
INSERT INTO unkd.item_embeddings VALUES ('m2', 101, 1, '{1,0,0}'), ('m2', 102, 0, '{0,1,0}'), ('m2', 103, 0, '{0,0,1}');
INSERT INTO unkd.user_embeddings VALUES ('m2', 1, '{0.5,0.25,1}');
SELECT * FROM unkd.recommend(1, 5, 'm2');
SELECT * FROM unkd.recommend(1, 5, 'm2');

-- errors
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, 0, ''m1'')');
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, -3, ''m1'')');
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, NULL, ''m1'')');
SELECT rec.error_of('SELECT * FROM unkd.recommend(NULL, 5, ''m1'')');
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, 5, ''nope'')');
UPDATE unkd.models SET deployed = false;
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, 5)');
UPDATE unkd.user_embeddings SET embedding = '{1,2}' WHERE model = 'm2';
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, 5, ''m2'')');
UPDATE unkd.user_embeddings SET embedding = '{1,2,3}' WHERE model = 'm2';
ALTER TABLE rec.no_index RENAME TO no_index_gone;
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, 5, ''m2'')');
-- the stored table name is data: a tampered one is refused, never run as SQL
UPDATE unkd.models SET interactions = 'rec.no_index_gone; DROP TABLE rec.events',
	version_id = nextval('unkd.model_version_seq') WHERE name = 'm2';
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, 5, ''m2'')');
SELECT to_regclass('rec.events') IS NOT NULL AS events_still_there;
UPDATE unkd.models SET interactions = 'rec.no_index' WHERE name = 'm2';

-- models from unkd.train: served as trained, retraining under the same name is
-- picked up by this session's cache, dropping the model ends serving.
-- Trained scores are arbitrary floats, so the check is tie-proof: at every
-- rank the score matches the reference's, and every returned item's own
-- reference score matches what recommend returned (both within 1e-4).
DELETE FROM unkd.models WHERE name = 'm1';
TRUNCATE rec.events;
INSERT INTO rec.events SELECT user_id, item_id, 0 FROM unkd.synthetic_interactions(200, 120, 12, seed => 3);
SET client_min_messages = warning;
SELECT name, version FROM unkd.train('t1', 'rec.events', dim => 8, epochs => 5, seed => 1);
CREATE FUNCTION rec.matches_reference(model text, k int) RETURNS TABLE(users bigint, users_matching bigint)
LANGUAGE sql AS $$
	SELECT count(*), count(*) FILTER (WHERE ok) FROM (
		SELECT u, (SELECT coalesce(bool_and(abs(r.score - b.score) < 1e-4
											AND abs(r.score - own.score) < 1e-4), false)
						  AND count(r.*) = count(b.*)
				   FROM unkd.recommend(u, k, model) r
				   FULL JOIN rec.brute(model, u, k) b ON b.rank = r.rank
				   LEFT JOIN rec.brute(model, u, 1000) own ON own.item_id = r.item_id) AS ok
		FROM generate_series(1, 200) u) t $$;
SELECT * FROM rec.matches_reference('t1', 10);
CREATE TEMP TABLE first_lists AS
SELECT u, array_agg(item_id ORDER BY rank) AS items FROM generate_series(1, 200) u, unkd.recommend(u, 10, 't1') GROUP BY u;
SELECT name, version FROM unkd.train('t1', 'rec.events', dim => 8, epochs => 5, seed => 2);
RESET client_min_messages;
SELECT * FROM rec.matches_reference('t1', 10);
SELECT count(*) FILTER (WHERE f.items <> n.items) > 0 AS lists_changed
FROM first_lists f
JOIN (SELECT u, array_agg(item_id ORDER BY rank) AS items
	  FROM generate_series(1, 200) u, unkd.recommend(u, 10, 't1') GROUP BY u) n USING (u);
SELECT unkd.drop_model('t1');
SELECT rec.error_of('SELECT * FROM unkd.recommend(1, 5, ''t1'')');

-- the extension dropped and created again in this session: version_ids restart,
-- and a new model that reuses a cached model's name and version_id is not stale
ALTER TABLE rec.no_index_gone RENAME TO no_index;
SELECT version_id AS m2_version FROM unkd.models WHERE name = 'm2' \gset
SELECT item_id FROM unkd.recommend(1, 1, 'm2');
-- DROP EXTENSION keeps the models unless told to drop them
SELECT rec.error_of('DROP EXTENSION unkd CASCADE');
SET unkd.drop_models = on;
DROP EXTENSION unkd CASCADE;
RESET unkd.drop_models;
CREATE EXTENSION unkd;
SELECT setval('unkd.model_version_seq', :m2_version, false) > 0 AS version_reused;
CREATE TABLE rec.again (uid bigint, iid bigint);
CREATE INDEX ON rec.again (uid);
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('m2', 'student', 'unkd', 3, 1, 3, 0, '{}', 'rec.again', 'uid', 'iid');
SELECT version_id = :m2_version AS same_version_id FROM unkd.models WHERE name = 'm2';
INSERT INTO unkd.item_embeddings VALUES ('m2', 101, 1, '{0,0,1}'), ('m2', 102, 0, '{0,1,0}'), ('m2', 103, 0, '{1,0,0}');
INSERT INTO unkd.user_embeddings VALUES ('m2', 1, '{1,2,3}');
SELECT item_id FROM unkd.recommend(1, 1, 'm2');

DELETE FROM unkd.models WHERE name IN ('m1', 'm2');
DROP SCHEMA rec CASCADE;
RESET search_path;
