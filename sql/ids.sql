-- Text and uuid ids (issue 11): models trained on text and uuid users and
-- items, served by the text overloads of recommend and similar_items,
-- evaluated on text test tables, distilled from a text teacher and a text
-- teacher-score table, retrained; the result independent of row order; the
-- wrong form of a call, id kinds mixed across tables, and bad input.
CREATE SCHEMA ids;
SET search_path = ids, public;
SET extra_float_digits = 0;

CREATE FUNCTION ids.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the same with the error's hint
CREATE FUNCTION ids.err_hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	hint text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM || E'\nHINT: ' || hint;
END $$;

-- the integer data, and the same data keyed by text SKUs and uuid users
CREATE TABLE ids.num AS SELECT * FROM unkd.synthetic_interactions(200, 80, 12, 1.0, 3);
CREATE TABLE ids.sp AS SELECT * FROM unkd.split('ids.num', 0.2, 1);
CREATE FUNCTION ids.uid(u bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
	$$ SELECT md5('user ' || u)::uuid $$;
CREATE TABLE ids.train AS
	SELECT 'u' || user_id AS user_id, 'sku-' || item_id AS item_id FROM ids.sp WHERE NOT is_test;
CREATE INDEX ON ids.train (user_id);
CREATE TABLE ids.test AS
	SELECT 'u' || user_id AS user_id, 'sku-' || item_id AS item_id FROM ids.sp WHERE is_test;
CREATE TABLE ids.utrain AS
	SELECT ids.uid(user_id) AS user_id, ('sku-' || item_id)::varchar AS item_id FROM ids.sp WHERE NOT is_test;
CREATE INDEX ON ids.utrain (user_id);
CREATE TABLE ids.utest AS
	SELECT ids.uid(user_id) AS user_id, 'sku-' || item_id AS item_id FROM ids.sp WHERE is_test;

-- train: the id types are detected and stored, keys kept beside codes
SELECT name, n_users, n_items, user_key_type, item_key_type
FROM unkd.train('tm', 'ids.train', dim => 8, epochs => 15, seed => 7, notice_every => 0);
SELECT name, n_users, n_items, user_key_type, item_key_type
FROM unkd.train('um', 'ids.utrain', dim => 8, epochs => 15, seed => 7, notice_every => 0);
CREATE INDEX ON ids.num (user_id);
SELECT name, user_key_type, item_key_type
FROM unkd.train('nm', 'ids.num', dim => 4, epochs => 2, notice_every => 0);
SELECT count(*) AS items, count(DISTINCT item_key) AS keys, bool_and(item_key LIKE 'sku-%') AS skus
FROM unkd.item_embeddings WHERE model = 'tm';
SELECT count(*) AS users, bool_and(user_key ~ '^[0-9a-f-]{36}$') AS uuid_keys
FROM unkd.user_embeddings WHERE model = 'um';

-- the model does not depend on the physical order of the rows
CREATE TABLE ids.shuffled AS SELECT * FROM ids.train ORDER BY md5(user_id || item_id);
SELECT name FROM unkd.train('tm_shuffled', 'ids.shuffled', dim => 8, epochs => 15, seed => 7, notice_every => 0);
SELECT bool_and(a.embedding = b.embedding) AS same_users, count(*) AS n
FROM unkd.user_embeddings a JOIN unkd.user_embeddings b ON b.user_key = a.user_key
WHERE a.model = 'tm' AND b.model = 'tm_shuffled';

-- recommend with a text user: k unseen items as text, exactly the SQL
-- ranking of the stored vectors by key
CREATE FUNCTION ids.brute(m text, uid text, k int, items text[], exclude text[])
RETURNS TABLE(item_id text, score double precision, rank bigint) LANGUAGE sql STABLE AS $$
	SELECT item_key, score, rank FROM (
		SELECT i.item_key, s.score, row_number() OVER (ORDER BY s.score DESC, i.item_id) AS rank
		FROM unkd.item_embeddings i
		JOIN unkd.user_embeddings u ON u.model = i.model AND u.user_key = uid
		CROSS JOIN LATERAL (SELECT sum(a::float8 * b::float8) AS score
							FROM unnest(i.embedding, u.embedding) AS t(a, b)) s
		WHERE i.model = m
		  AND i.item_key NOT IN (SELECT t.item_id FROM ids.train t WHERE t.user_id = uid)
		  AND (items IS NULL OR i.item_key = ANY (items))
		  AND (exclude IS NULL OR NOT i.item_key = ANY (array_remove(exclude, NULL)))
	) r WHERE rank <= k $$;
CREATE FUNCTION ids.matches(uid text, k int, items text[], exclude text[]) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(bool_and(r.item_id = b.item_id AND abs(r.score - b.score) < 1e-5), true)
		   AND count(r.*) = count(b.*)
	FROM unkd.recommend(uid, k, 'tm', items, exclude) r
	FULL JOIN ids.brute('tm', uid, k, items, exclude) b ON b.rank = r.rank $$;
SELECT pg_typeof(item_id) AS item_id_type, count(*) AS n FROM unkd.recommend('u3', 5, 'tm') GROUP BY 1;
SELECT count(*) AS calls, bool_and(ids.matches('u' || u, k, NULL, NULL)) AS all_exact
FROM generate_series(1, 200, 7) u, (VALUES (1), (10), (100)) AS kk(k);
-- filters are text[]: unknown keys and NULL elements are ignored
SELECT bool_and(ids.matches('u' || u, 5, ARRAY['sku-1', 'sku-5', 'sku-9', 'sku-12', 'sku-40', 'nope'],
							ARRAY['sku-5', NULL, 'nope'])) AS filtered_exact,
	   bool_and(ids.matches('u' || u, 5, NULL, ARRAY['sku-1', 'sku-2', 'sku-3'])) AS excluded_exact
FROM generate_series(1, 200, 11) u;
SELECT count(*) AS rows, bool_and(item_id IN ('sku-1', 'sku-2')) AS only_allowed
FROM unkd.recommend('u9', 10, 'tm', items => '{sku-1,sku-2,nope}');
SELECT count(*) AS rows FROM unkd.recommend('u9', 10, 'tm', items => '{}');

-- a user the model has never seen gets the popularity list
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend('stranger', 5, 'tm'))
	 = (SELECT array_agg(item_key ORDER BY popularity DESC, item_id) FROM
		(SELECT * FROM unkd.item_embeddings WHERE model = 'tm' ORDER BY popularity DESC, item_id LIMIT 5) p)
	   AS popularity_list;

-- uuid users pass ::text, in any case; the deployed model serves too
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(ids.uid(3)::text, 10, 'um'))
	 = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(upper(ids.uid(3)::text), 10, 'um'))
	   AS case_insensitive,
	   (SELECT count(*) FROM unkd.recommend(ids.uid(3)::text, 10, 'um') r
		WHERE r.item_id IN (SELECT item_id FROM ids.utrain WHERE user_id = ids.uid(3))) AS seen_returned;
SELECT unkd.deploy('um');
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(ids.uid(5)::text, 10))
	 = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend(ids.uid(5)::text, 10, 'um'))
	   AS deployed_same;
SELECT ids.err($$SELECT * FROM unkd.recommend('not-a-uuid', 10, 'um')$$);

-- fold-in: a user only in the seen relation gets a vector from those items
CREATE TABLE ids.seen AS SELECT * FROM ids.train UNION ALL
	SELECT 'newcomer', item_id FROM ids.train WHERE user_id = 'u3';
CREATE INDEX ON ids.seen (user_id);
SELECT name FROM unkd.train('tf', 'ids.train', seen => 'ids.seen', dim => 8, epochs => 15, seed => 7, notice_every => 0);
SELECT count(*) AS rows, bool_and(score <> round(score)) AS inner_products,
	   count(*) FILTER (WHERE item_id IN (SELECT item_id FROM ids.train WHERE user_id = 'u3')) AS seen_returned
FROM unkd.recommend('newcomer', 10, 'tf');
SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend('newcomer', 10, 'tf'))
	 = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend('newcomer', 10, 'tf')) AS deterministic,
	   (SELECT bool_and(score = round(score)) FROM unkd.recommend('newcomer', 10, 'tf', fold_in => false)) AS popularity_without,
	   (SELECT count(*) FROM unkd.recommend('u3', 10, 'tf', fold_in => true)) AS known_folded;

-- similar_items with a text item: exact cosine ranking, the item left out
CREATE FUNCTION ids.cos_brute(m text, q text, k int) RETURNS TABLE(item_id text, score double precision)
LANGUAGE sql STABLE AS $$
	SELECT i.item_key, s.score FROM unkd.item_embeddings i
	JOIN unkd.item_embeddings j ON j.model = i.model AND j.item_key = q
	CROSS JOIN LATERAL (SELECT sum(a::float8 * b::float8) / sqrt(sum(a::float8 * a)) / sqrt(sum(b::float8 * b)) AS score
						FROM unnest(i.embedding, j.embedding) AS t(a, b)) s
	WHERE i.model = m AND i.item_key <> q ORDER BY s.score DESC, i.item_id LIMIT k $$;
SELECT bool_and(same) AS similar_exact FROM (
	SELECT (SELECT array_agg(item_id ORDER BY rank) FROM unkd.similar_items('sku-' || i, 5, 'tm'))
		 = (SELECT array_agg(item_id) FROM ids.cos_brute('tm', 'sku-' || i, 5)) AS same
	FROM generate_series(1, 80, 9) i) s;
SELECT count(*) AS rows, bool_and(item_id <> 'sku-4') AS itself_left_out FROM unkd.similar_items('sku-4', 10, 'tm');
SELECT count(*) AS rows FROM unkd.similar_items('sku-4', 10, 'tm', items => '{sku-4,sku-7,nope}');
SELECT count(*) AS unknown_item_rows FROM unkd.similar_items('nope', 10, 'tm');

-- evaluate with a text test table: recall@20 equals what recommend returns
WITH per_user AS (
	SELECT t.user_id, count(*) FILTER (WHERE EXISTS (
		SELECT FROM unkd.recommend(t.user_id, 20, 'tm') r WHERE r.item_id = t.item_id))::float8 / count(*) AS recall
	FROM ids.test t GROUP BY t.user_id)
SELECT abs(avg(recall) - (SELECT recall FROM unkd.evaluate('tm', 'ids.test', 20) WHERE group_id IS NULL)) < 1e-9
	   AS same_as_recommend, count(*) AS users
FROM per_user;
SELECT group_id, users FROM unkd.evaluate('um', 'ids.utest', 20) ORDER BY group_id NULLS LAST;
-- a text-keyed test table and a uuid-keyed model meet on the key's text
CREATE TABLE ids.utest_text AS SELECT user_id::text AS user_id, item_id FROM ids.utest;
SELECT (SELECT recall FROM unkd.evaluate('um', 'ids.utest_text', 20) WHERE group_id IS NULL)
	 = (SELECT recall FROM unkd.evaluate('um', 'ids.utest', 20) WHERE group_id IS NULL) AS text_equals_uuid;

-- validation on a text table during training
SELECT (metrics ->> 'validation_ndcg_at_20')::float8 > 0 AS validated
FROM unkd.train('tv', 'ids.train', validation => 'ids.test', dim => 8, epochs => 10, seed => 7, notice_every => 0);

-- distillation from a text teacher, and from a text teacher-score table
SELECT name, method, user_key_type, item_key_type
FROM unkd.distill('ts', 'ids.train', teacher => 'tm', dim => 4, epochs => 10, seed => 3, notice_every => 0);
CREATE TABLE ids.scores AS
	SELECT u.user_key AS user_id, i.item_key AS item_id,
		   (SELECT sum(a * b) FROM unnest(u.embedding, i.embedding) AS t(a, b))::float8 AS score
	FROM unkd.user_embeddings u, unkd.item_embeddings i
	WHERE u.model = 'tm' AND i.model = 'tm';
SELECT name FROM unkd.distill('ts2', 'ids.train', teacher_scores => 'ids.scores', dim => 4, epochs => 10,
							  seed => 3, notice_every => 0);
-- the score table holds the teacher's own inner products: the same pairs are drawn
SELECT bool_and(a.embedding = b.embedding) AS same_student
FROM unkd.user_embeddings a JOIN unkd.user_embeddings b ON b.user_key = a.user_key
WHERE a.model = 'ts' AND b.model = 'ts2';
SELECT count(*) AS rows FROM unkd.recommend('u3', 5, 'ts');

-- retrain keeps the types and the keys
SET client_min_messages = warning;
SELECT version, user_key_type, item_key_type FROM unkd.retrain('tm');
RESET client_min_messages;
SELECT count(*) AS rows FROM unkd.recommend('u3', 5, 'tm');

-- integer users with text items: the text form, the user id as text
CREATE TABLE ids.mixed AS SELECT user_id, 'sku-' || item_id AS item_id FROM ids.sp WHERE NOT is_test;
CREATE INDEX ON ids.mixed (user_id);
SELECT name, user_key_type, item_key_type
FROM unkd.train('mx', 'ids.mixed', dim => 4, epochs => 5, seed => 1, notice_every => 0);
SELECT count(*) AS rows, bool_and(item_id LIKE 'sku-%') AS skus FROM unkd.recommend('7', 5, 'mx');
SELECT ids.err($$SELECT * FROM unkd.recommend('seven', 5, 'mx')$$);

-- the wrong form of a call names the right one
SELECT ids.err_hint($$SELECT * FROM unkd.recommend(3, 5, 'tm')$$);
SELECT ids.err_hint($$SELECT * FROM unkd.similar_items(3, 5, 'tm')$$);
SELECT ids.err_hint($$SELECT * FROM unkd.recommend(3, 5, 'mx')$$);
SELECT count(*) AS integer_form_still_works FROM unkd.recommend(3, 5, 'nm');
-- an untyped or quoted id ($1 of unknown type from libpq, '3') resolves to
-- the text form: on an integer model it serves the same items, as text
SELECT (SELECT array_agg(item_id::text ORDER BY rank) FROM unkd.recommend(3, 5, 'nm'))
	 = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.recommend('3', 5, 'nm')) AS quoted_recommend_same,
	   (SELECT array_agg(item_id::text ORDER BY rank) FROM unkd.similar_items(3, 5, 'nm'))
	 = (SELECT array_agg(item_id ORDER BY rank) FROM unkd.similar_items('3', 5, 'nm')) AS quoted_similar_same;
PREPARE untyped AS SELECT item_id FROM unkd.recommend($1, 5, 'nm');
CREATE TEMP TABLE untyped_rows AS EXECUTE untyped(3);
SELECT pg_typeof(item_id) AS untyped_parameter_result, count(*) FROM untyped_rows GROUP BY 1;
SELECT ids.err($$EXECUTE untyped('three')$$);
DEALLOCATE untyped;

-- id kinds mixed across the tables of a model are errors
SELECT ids.err($$SELECT * FROM unkd.evaluate('tm', 'ids.sp')$$);
SELECT ids.err($$SELECT * FROM unkd.evaluate('nm', 'ids.test')$$);
SELECT ids.err($$SELECT * FROM unkd.train('bad', 'ids.train', validation => 'ids.sp', notice_every => 0)$$);
SELECT ids.err($$SELECT * FROM unkd.train('bad', 'ids.train', seen => 'ids.num', notice_every => 0)$$);
SELECT ids.err($$SELECT * FROM unkd.distill('bad', 'ids.train', teacher => 'nm', notice_every => 0)$$);
SELECT ids.err($$SELECT * FROM unkd.distill('bad', 'ids.num', teacher => 'tm', notice_every => 0)$$);
CREATE TABLE ids.num_scores AS SELECT user_id, item_id, 1.0::float8 AS score FROM ids.num;
SELECT ids.err($$SELECT * FROM unkd.distill('bad', 'ids.train', teacher_scores => 'ids.num_scores', notice_every => 0)$$);

-- bad input: unsupported id types, NULL keys, NULL arguments
CREATE TABLE ids.floats AS SELECT user_id::float8 AS user_id, item_id FROM ids.num;
SELECT ids.err($$SELECT * FROM unkd.train('bad', 'ids.floats', notice_every => 0)$$);
CREATE TABLE ids.dates AS SELECT user_id, DATE '2024-01-01' + item_id::int AS item_id FROM ids.num;
SELECT ids.err($$SELECT * FROM unkd.train('bad', 'ids.dates', notice_every => 0)$$);
CREATE TABLE ids.with_nulls AS SELECT * FROM ids.train UNION ALL SELECT NULL, 'sku-1' UNION ALL SELECT 'u1', NULL;
SELECT n_interactions FROM unkd.train('tn', 'ids.with_nulls', dim => 4, epochs => 2, notice_every => 0);
SELECT ids.err($$SELECT * FROM unkd.recommend(NULL::text, 5, 'tm')$$);
SELECT ids.err($$SELECT * FROM unkd.similar_items(NULL::text, 5, 'tm')$$);
SELECT ids.err($$SELECT * FROM unkd.recommend('u3', 0, 'tm')$$);
SELECT ids.err($$SELECT * FROM unkd.recommend('u3', 5, 'tm', items => '{{a,b},{c,d}}')$$);
SELECT ids.err($$SELECT * FROM unkd.recommend('u3', 5, 'nope')$$);
-- splits and popularity groups return bigint ids: integer tables only
SELECT ids.err($$SELECT * FROM unkd.split('ids.train')$$);

DROP SCHEMA ids CASCADE;
SELECT unkd.drop_model(name) FROM unkd.models ORDER BY name;
RESET search_path;
