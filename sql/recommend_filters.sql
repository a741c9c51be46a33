-- unkd.recommend(items, exclude) and unkd.similar_items(): exact top-k
-- against brute-force SQL rankings for many users, filters and k (fewer than
-- k rows, exclude overlapping seen items, unknown ids, duplicates, NULL
-- elements, empty and NULL arrays, cold users), cosine similarity with ties
-- and zero vectors, permissions, the cache, errors, and the upgrade of the
-- recommend signature keeping its privileges. Models are made by writing
-- the catalog directly.
CREATE SCHEMA filt;
SET search_path = filt, public;

-- 'sqlstate: message' of a statement that must fail
CREATE FUNCTION filt.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Embedding values on a 1/4 grid keep every dot product exact in float, so
-- equal scores are real ties; items i and i + 9 have the same vector.
CREATE FUNCTION filt.vec(seed int, dim int) RETURNS real[] LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(((((seed * 7919 + j * 104729) % 9) + 9) % 9 - 4)::real / 4 ORDER BY j)
	FROM generate_series(1, dim) AS j $$;

CREATE TABLE filt.events (user_id int, item_id int);
INSERT INTO filt.events
SELECT u, i FROM generate_series(1, 30) u, generate_series(101, 140) i
WHERE (u * 31 + i * 17) % 7 = 0;
INSERT INTO filt.events VALUES (1, 101), (1, 101), (5, 999);  -- a duplicate, an item outside the model
CREATE INDEX ON filt.events (user_id);

-- model f1: 40 items 101..140 (140 has a zero vector), 25 users (26..30 are
-- unknown to it), dim 6
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('f1', 'teacher', 'bpr', 6, 25, 40, 0, '{}', 'filt.events', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings
SELECT 'f1', i, (i * 13) % 11, CASE WHEN i = 140 THEN '{0,0,0,0,0,0}' ELSE filt.vec(i, 6) END
FROM generate_series(101, 140) i;
INSERT INTO unkd.user_embeddings
SELECT 'f1', u, filt.vec(u + 1000, 6) FROM generate_series(1, 25) u;

-- the reference ranking in SQL: a known user's unseen items by inner
-- product, a cold user's by popularity; only among items (when not NULL),
-- never any of exclude; NULL elements and unknown ids mean nothing
CREATE FUNCTION filt.brute(model text, uid bigint, k int, items bigint[], exclude bigint[])
RETURNS TABLE(item_id bigint, score double precision, rank bigint) LANGUAGE sql STABLE AS $$
	SELECT item_id, score, rank FROM (
		SELECT i.item_id, s.score,
			   row_number() OVER (ORDER BY s.score DESC, i.item_id) AS rank
		FROM unkd.item_embeddings i
		LEFT JOIN unkd.user_embeddings u ON u.model = i.model AND u.user_id = uid
		CROSS JOIN LATERAL (SELECT CASE WHEN u.user_id IS NULL THEN i.popularity::float8
										ELSE sum(a::float8 * b::float8) END AS score
							FROM unnest(i.embedding, u.embedding) AS t(a, b)) s
		WHERE i.model = brute.model
		  AND i.item_id NOT IN (SELECT e.item_id FROM filt.events e WHERE e.user_id = uid)
		  AND (items IS NULL OR i.item_id = ANY (array_remove(items, NULL)))
		  AND (exclude IS NULL OR NOT i.item_id = ANY (array_remove(exclude, NULL)))
	) r WHERE rank <= k $$;

-- whether recommend returns the reference: same items in the same order,
-- scores within 1e-5, same row count
CREATE FUNCTION filt.matches(uid bigint, k int, items bigint[], exclude bigint[])
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT coalesce(bool_and(r.item_id = b.item_id AND abs(r.score - b.score) < 1e-5), true)
		   AND count(r.*) = count(b.*)
	FROM unkd.recommend(uid, k, 'f1', items, exclude, fold_in => false) r
	FULL JOIN filt.brute('f1', uid, k, items, exclude) b ON b.rank = r.rank $$;

-- readable examples: user 3's top 5, then only among four items, one of
-- which user 3 has seen (123), one unknown (999): fewer than k rows
SELECT item_id FROM filt.events WHERE user_id = 3 ORDER BY item_id;
SELECT item_id, score, rank FROM unkd.recommend(3, 5, 'f1');
SELECT item_id, score, rank FROM unkd.recommend(3, 5, 'f1', items => '{104,120,123,999}');
SELECT item_id, score, rank FROM unkd.recommend(3, 5, 'f1', exclude => '{103,112,999}');
SELECT item_id, score, rank FROM unkd.recommend(3, 5, 'f1', '{101,103,104,112,120}', '{103}');

-- the filters tried, for every user (known and cold) and several k
CREATE TABLE filt.filters (id serial, name text, items bigint[], exclude bigint[]);
INSERT INTO filt.filters (name, items, exclude) VALUES
	('no filter', NULL, NULL),
	('items: 10 ids', '{101,103,105,108,112,117,121,126,133,139}', NULL),
	('items: dups, NULLs, unknown ids', '{105,105,NULL,999,-1,120,131,131,9223372036854775807,NULL}', NULL),
	('items: all 40 and more', (SELECT array_agg(i) FROM generate_series(90, 150) i), NULL),
	('items: one id', '{122}', NULL),
	('items: only unknown ids', '{1,2,999}', NULL),
	('items: only NULLs', '{NULL,NULL}', NULL),
	('items: empty', '{}', NULL),
	('exclude: 6 ids', NULL, '{102,104,111,120,126,138}'),
	('exclude: seen of users 1-5, NULL, unknown',
	 NULL, (SELECT array_agg(DISTINCT item_id::bigint) || '{NULL,999}'::bigint[] FROM filt.events WHERE user_id <= 5)),
	('exclude: empty', NULL, '{}'),
	('exclude: everything', NULL, (SELECT array_agg(i) FROM generate_series(101, 140) i)),
	('items and exclude overlap', '{101,102,103,104,105,106,107,108,109,110,111,112}', '{103,104,105,999,NULL}'),
	('items inside exclude', '{110,111}', '{110,111,112}');

SELECT f.name, count(*) AS calls, count(*) FILTER (WHERE filt.matches(u, k, f.items, f.exclude)) AS calls_matching,
	   sum((SELECT count(*) FROM unkd.recommend(u, k, 'f1', f.items, f.exclude))) AS rows_returned,
	   sum(k) AS rows_asked
FROM filt.filters f, generate_series(1, 30) u, unnest('{1,3,10,40}'::int[]) k
GROUP BY f.name ORDER BY min(f.id);

-- a filter never lets seen or excluded items through, for known and cold users
SELECT count(*) AS forbidden_returned
FROM filt.filters f, generate_series(1, 30) u, unkd.recommend(u, 40, 'f1', f.items, f.exclude) r
WHERE EXISTS (SELECT 1 FROM filt.events e WHERE e.user_id = u AND e.item_id = r.item_id)
   OR r.item_id = ANY (coalesce(f.exclude, '{}'))
   OR NOT r.item_id = ANY (coalesce(f.items, ARRAY[r.item_id]));

-- cold users with a filter and fold_in => false: the most popular allowed
-- items, score = popularity
SELECT item_id, score, rank FROM unkd.recommend(27, 3, 'f1', items => '{101,102,103,104,105,106}', fold_in => false);
-- folded in (the default), a filter keeps exactly the allowed part of the
-- unfiltered ranking, in its order
SELECT count(*) AS cold_calls,
	   count(*) FILTER (WHERE filtered IS NOT DISTINCT FROM restricted) AS calls_matching
FROM (SELECT u, f.id,
			 (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(u, 40, 'f1', f.items, f.exclude)) AS filtered,
			 (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(u, 40, 'f1') r
			  WHERE (f.items IS NULL OR r.item_id = ANY (f.items))
				AND NOT r.item_id = ANY (coalesce(array_remove(f.exclude, NULL), '{}'))) AS restricted
	  FROM filt.filters f, generate_series(26, 30) u) t;
SELECT item_id, popularity FROM unkd.item_embeddings
WHERE model = 'f1' AND item_id BETWEEN 101 AND 106 ORDER BY popularity DESC, item_id;
SELECT item_id FROM filt.events WHERE user_id = 27 AND item_id BETWEEN 101 AND 106;

-- ranks are 1..n without gaps, and the positional three-argument call still works
SELECT count(*) AS calls, count(*) FILTER (WHERE n = max_rank) AS dense_ranks
FROM (SELECT f.name, u, count(*) AS n, max(r.rank) AS max_rank
	  FROM filt.filters f, generate_series(1, 30) u, unkd.recommend(u, 7, 'f1', f.items, f.exclude) r
	  GROUP BY f.name, u) t;
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(4, 6, 'f1'))
	 = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(4, 6, 'f1', NULL, NULL)) AS same_as_unfiltered;

------------------------------------------------------------------------------
-- similar_items
------------------------------------------------------------------------------

-- the reference: cosine of every other item with a non-zero vector, ties by id
CREATE FUNCTION filt.brute_similar(model text, iid bigint, k int, items bigint[])
RETURNS TABLE(item_id bigint, score double precision, rank bigint) LANGUAGE sql STABLE AS $$
	SELECT item_id, score, rank FROM (
		SELECT i.item_id, s.score,
			   row_number() OVER (ORDER BY s.score DESC, i.item_id) AS rank
		FROM unkd.item_embeddings q
		JOIN unkd.item_embeddings i ON i.model = q.model AND i.item_id <> q.item_id
		CROSS JOIN LATERAL (SELECT sum(a::float8 * b::float8)
								   / nullif(sqrt(sum(a::float8 * a::float8)) * sqrt(sum(b::float8 * b::float8)), 0)
								   AS score
							FROM unnest(q.embedding, i.embedding) AS t(a, b)) s
		WHERE q.model = brute_similar.model AND q.item_id = iid AND s.score IS NOT NULL
		  AND (items IS NULL OR i.item_id = ANY (array_remove(items, NULL)))
	) r WHERE rank <= k $$;

-- Cosines are not on a grid, so the check is tie-proof: at every rank the
-- score matches the reference's, every returned item's own reference score
-- matches what was returned (both within 1e-5), and the row counts agree.
CREATE FUNCTION filt.similar_matches(iid bigint, k int, items bigint[])
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT coalesce(bool_and(abs(r.score - b.score) < 1e-5 AND abs(r.score - own.score) < 1e-5), true)
		   AND count(r.*) = count(b.*)
	FROM unkd.similar_items(iid, k, 'f1', items) r
	FULL JOIN filt.brute_similar('f1', iid, k, items) b ON b.rank = r.rank
	LEFT JOIN filt.brute_similar('f1', iid, 1000, items) own ON own.item_id = r.item_id $$;

-- a readable example: item 105 has the same vector as 114, 123 and 132
SELECT item_id, round(score::numeric, 4) AS score, rank FROM unkd.similar_items(105, 6, 'f1');
SELECT item_id, round(score::numeric, 4) AS score, rank FROM filt.brute_similar('f1', 105, 6, NULL);

-- every item, several k and filters
SELECT f.name, count(*) AS calls, count(*) FILTER (WHERE filt.similar_matches(i, k, f.items)) AS calls_matching,
	   sum((SELECT count(*) FROM unkd.similar_items(i, k, 'f1', f.items))) AS rows_returned
FROM (VALUES ('no filter', NULL::bigint[]),
			 ('items: 10 ids, the query, the zero vector', '{101,103,105,108,112,117,121,126,133,140}'),
			 ('items: dups, NULLs, unknown ids', '{105,105,NULL,999,120,131,131}'),
			 ('items: empty', '{}')) f(name, items),
	 generate_series(101, 140) i, unnest('{1,4,10,1000}'::int[]) k
GROUP BY f.name ORDER BY f.name;

-- equal scores come by item id ascending; the item itself and the zero
-- vector never come back
SELECT count(*) AS pairs, count(*) FILTER (WHERE prev_score > score OR (prev_score = score AND prev_id < item_id)) AS in_order,
	   count(*) FILTER (WHERE prev_score = score) AS ties
FROM (SELECT q, r.item_id, r.score, lag(r.score) OVER w AS prev_score, lag(r.item_id) OVER w AS prev_id
	  FROM generate_series(101, 139) q, unkd.similar_items(q, 1000, 'f1') r
	  WINDOW w AS (PARTITION BY q ORDER BY r.rank)) t
WHERE prev_score IS NOT NULL;
SELECT count(*) FILTER (WHERE r.item_id = q) AS itself_returned,
	   count(*) FILTER (WHERE r.item_id = 140) AS zero_vector_returned,
	   count(DISTINCT q) AS queries, count(*) / count(DISTINCT q) AS rows_per_query
FROM generate_series(101, 139) q, unkd.similar_items(q, 1000, 'f1') r;

-- an item the model does not know, and one with a zero vector: no rows
SELECT count(*) AS unknown_item_rows FROM unkd.similar_items(999, 10, 'f1');
SELECT count(*) AS zero_vector_rows FROM unkd.similar_items(140, 10, 'f1');

-- the deployed model serves calls without a model name
UPDATE unkd.models SET deployed = false WHERE deployed;  -- whatever earlier tests left
SELECT filt.error_of('SELECT * FROM unkd.similar_items(101)');
UPDATE unkd.models SET deployed = true WHERE name = 'f1';
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.similar_items(107))
	 = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.similar_items(107, 10, 'f1')) AS deployed_used;
SELECT count(*) AS default_k FROM unkd.similar_items(107);
UPDATE unkd.models SET deployed = false WHERE name = 'f1';

-- similar_items never reads the seen relation: it serves a model whose seen
-- relation is gone, where recommend fails
CREATE TABLE filt.gone (user_id int, item_id int);
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('f2', 'student', 'unkd', 2, 1, 3, 0, '{}', 'filt.gone', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings VALUES ('f2', 1, 0, '{1,0}'), ('f2', 2, 0, '{1,1}'), ('f2', 3, 0, '{0,1}');
INSERT INTO unkd.user_embeddings VALUES ('f2', 1, '{1,2}');
DROP TABLE filt.gone;
SELECT item_id, round(score::numeric, 4) AS score, rank FROM unkd.similar_items(1, 5, 'f2');
SELECT filt.error_of('SELECT * FROM unkd.recommend(1, 5, ''f2'')');

-- a new version of the model is picked up by similar_items too
UPDATE unkd.models SET version_id = nextval('unkd.model_version_seq') WHERE name = 'f2';
UPDATE unkd.item_embeddings SET embedding = '{-1,0}' WHERE model = 'f2' AND item_id = 2;
SELECT item_id, round(score::numeric, 4) AS score, rank FROM unkd.similar_items(1, 5, 'f2');

-- permission: the owner's privileges or a grant, as for recommend
CREATE ROLE regress_filt_reader;
GRANT USAGE ON SCHEMA filt TO regress_filt_reader;
SET ROLE regress_filt_reader;
SELECT filt.error_of('SELECT * FROM unkd.similar_items(101, 3, ''f1'')');
SELECT filt.error_of('SELECT * FROM unkd.recommend(1, 3, ''f1'', items => ''{101}'')');
RESET ROLE;
SELECT unkd.grant_model('f1', 'regress_filt_reader');
SET ROLE regress_filt_reader;
SELECT count(*) AS similar_rows FROM unkd.similar_items(101, 3, 'f1');
RESET ROLE;
SELECT unkd.revoke_model('f1', 'regress_filt_reader');
SELECT has_function_privilege('regress_filt_reader', 'unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)', 'EXECUTE') AS recommend_executable,
	   has_function_privilege('regress_filt_reader', 'unkd.similar_items(bigint, integer, text, bigint[])', 'EXECUTE') AS similar_executable;

-- a trained model (arbitrary float scores): a filter that allows every item
-- returns exactly the unfiltered ranking, bit for bit, for recommend and
-- similar_items, so filtered and unfiltered calls never disagree on ties
CREATE TABLE filt.trained AS SELECT * FROM unkd.synthetic_interactions(300, 120, 10, 1.0, 5);
CREATE INDEX ON filt.trained (user_id);
SET client_min_messages = warning;
SELECT name FROM unkd.train('f3', 'filt.trained', dim => 24, epochs => 5, seed => 1, notice_every => 0);
RESET client_min_messages;
SELECT count(*) > 0 AS compared, count(*) FILTER (WHERE a.score IS DISTINCT FROM b.score) AS score_diff,
	   count(*) FILTER (WHERE a.item_id IS DISTINCT FROM b.item_id) AS order_diff
FROM generate_series(1, 300) u,
	 LATERAL unkd.recommend(u, 120, 'f3') a
	 FULL JOIN LATERAL unkd.recommend(u, 120, 'f3', items => (SELECT array_agg(i) FROM generate_series(0, 200) i)) b
	 ON a.rank = b.rank;
SELECT count(*) > 0 AS compared, count(*) FILTER (WHERE a.score IS DISTINCT FROM b.score) AS score_diff,
	   count(*) FILTER (WHERE a.item_id IS DISTINCT FROM b.item_id) AS order_diff
FROM generate_series(0, 130) q,
	 LATERAL unkd.similar_items(q, 120, 'f3') a
	 FULL JOIN LATERAL unkd.similar_items(q, 120, 'f3', items => (SELECT array_agg(i) FROM generate_series(0, 200) i)) b
	 ON a.rank = b.rank;
SELECT unkd.drop_model('f3');

------------------------------------------------------------------------------
-- errors
------------------------------------------------------------------------------
SELECT filt.error_of('SELECT * FROM unkd.recommend(1, 5, ''f1'', items => ''{{101,102},{103,104}}'')');
SELECT filt.error_of('SELECT * FROM unkd.recommend(1, 5, ''f1'', exclude => ''{{101},{102}}'')');
SELECT filt.error_of('SELECT * FROM unkd.recommend(1, 5, ''f1'', items => ''{a}'')');
SELECT filt.error_of('SELECT * FROM unkd.recommend(1, 5, ''f1'', items => ARRAY[''101''::text])');
SELECT filt.error_of('SELECT * FROM unkd.recommend(NULL, 5, ''f1'', items => ''{101}'')');
SELECT filt.error_of('SELECT * FROM unkd.recommend(1, 0, ''f1'', exclude => ''{101}'')');
SELECT filt.error_of('SELECT * FROM unkd.similar_items(NULL, 5, ''f1'')');
SELECT filt.error_of('SELECT * FROM unkd.similar_items(101, NULL, ''f1'')');
SELECT filt.error_of('SELECT * FROM unkd.similar_items(101, 0, ''f1'')');
SELECT filt.error_of('SELECT * FROM unkd.similar_items(101, -1, ''f1'')');
SELECT filt.error_of('SELECT * FROM unkd.similar_items(101, 5, ''nope'')');
SELECT filt.error_of('SELECT * FROM unkd.similar_items(101, 5, ''f1'', ''{{101}}'')');
SELECT filt.error_of('SELECT * FROM unkd.similar_items(101, 5, ''f1'', ARRAY[1.5])');

------------------------------------------------------------------------------
-- upgrading from 0.1.0 replaces recommend(bigint, integer, text) and keeps
-- the EXECUTE privileges the old function had
------------------------------------------------------------------------------
\set regress_db :DBNAME
CREATE ROLE regress_filt_app;
CREATE DATABASE regress_unkd_filt_upgrade;
\c regress_unkd_filt_upgrade
SET client_min_messages = warning;
CREATE EXTENSION unkd VERSION '0.1.0';
REVOKE EXECUTE ON FUNCTION unkd.recommend(bigint, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION unkd.recommend(bigint, integer, text) TO regress_filt_app;
-- evaluate and split are replaced too (fold_in, order_column)
REVOKE EXECUTE ON FUNCTION unkd.evaluate(text, regclass, integer, integer, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION unkd.split(regclass, double precision, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION unkd.split(regclass, double precision, bigint, text, text) TO regress_filt_app;
ALTER EXTENSION unkd UPDATE TO '0.2.0';
RESET client_min_messages;
SELECT p.oid::regprocedure AS recommend FROM pg_proc p WHERE p.proname = 'recommend' ORDER BY 1::text;
-- the text overload (issue 11) takes the bigint form's privileges
SELECT has_function_privilege('regress_filt_app', 'unkd.recommend(text, integer, text, text[], text[], boolean)', 'EXECUTE') AS app_may_text,
	   has_function_privilege('regress_filt_reader', 'unkd.recommend(text, integer, text, text[], text[], boolean)', 'EXECUTE') AS others_may_text;
SELECT has_function_privilege('regress_filt_app', 'unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)', 'EXECUTE') AS app_may,
	   has_function_privilege('regress_filt_reader', 'unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)', 'EXECUTE') AS others_may,
	   has_function_privilege('regress_filt_reader', 'unkd.similar_items(bigint, integer, text, bigint[])', 'EXECUTE') AS similar_public;
SELECT has_function_privilege('regress_filt_reader', 'unkd.evaluate(text, regclass, integer, integer, text, text, boolean)', 'EXECUTE') AS others_may_evaluate,
	   has_function_privilege('regress_filt_app', 'unkd.split(regclass, double precision, bigint, text, text, text)', 'EXECUTE') AS app_may_split,
	   has_function_privilege('regress_filt_reader', 'unkd.split(regclass, double precision, bigint, text, text, text)', 'EXECUTE') AS others_may_split;
\c :regress_db
DROP DATABASE regress_unkd_filt_upgrade;
DROP ROLE regress_filt_app;

DELETE FROM unkd.models WHERE name IN ('f1', 'f2');
DROP SCHEMA filt CASCADE;
DROP ROLE regress_filt_reader;
RESET search_path;
