-- unkd.train: BPR matrix factorisation, determinism, quality, validation,
-- cancellation and input errors. Progress NOTICEs are switched off
-- (notice_every => 0) so that no timing reaches the expected output.
SET extra_float_digits = 0;

-- an error's SQLSTATE and message, without failing the script
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- NDCG@10 of a (user_id, item_id, score) ranking against train_te, with
-- training items excluded and ties broken by item id
CREATE FUNCTION pg_temp.ndcg10(scores text) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
	result double precision;
BEGIN
	EXECUTE format($q$
		WITH ranked AS (
			SELECT s.user_id, s.item_id,
				   row_number() OVER (PARTITION BY s.user_id ORDER BY s.score DESC, s.item_id) - 1 AS pos
			FROM %s s
			WHERE NOT EXISTS (SELECT 1 FROM train_tr t WHERE t.user_id = s.user_id AND t.item_id = s.item_id)
		), dcg AS (
			SELECT r.user_id, sum(1.0 / log(2, r.pos + 2)) AS dcg
			FROM ranked r JOIN train_te t USING (user_id, item_id)
			WHERE r.pos < 10 GROUP BY r.user_id
		), held AS (
			SELECT user_id, count(*) AS n FROM train_te GROUP BY user_id
		), idcg AS (
			SELECT user_id, (SELECT sum(1.0 / log(2, j + 2))
							 FROM generate_series(0, least(n, 10) - 1) j) AS idcg
			FROM held
		)
		SELECT avg(coalesce(dcg, 0) / idcg) FROM idcg LEFT JOIN dcg USING (user_id)
	$q$, scores) INTO result;
	RETURN result;
END $$;

CREATE TABLE train_data AS
	SELECT * FROM unkd.synthetic_interactions(300, 200, 20, 1.0, 7);
CREATE TABLE train_split AS SELECT * FROM unkd.split('train_data', 0.2, 1);
CREATE TABLE train_tr AS SELECT user_id, item_id FROM train_split WHERE NOT is_test;
CREATE TABLE train_te AS SELECT user_id, item_id FROM train_split WHERE is_test;

-- the returned row describes the model and its training data
SELECT name, kind, method, dim, version,
	   n_users = (SELECT count(DISTINCT user_id) FROM train_tr) AS users_ok,
	   n_items = (SELECT count(DISTINCT item_id) FROM train_tr) AS items_ok,
	   n_interactions = (SELECT count(*) FROM (SELECT DISTINCT * FROM train_tr) d) AS pairs_ok,
	   cardinality(strata) AS n_strata, interactions, user_column, item_column,
	   train_seconds >= 0 AS timed
FROM unkd.train('train_a', 'train_tr', dim => 16, epochs => 30, notice_every => 0);

-- every hyper-parameter, the seed and the input are recorded
SELECT key, value FROM unkd.models, jsonb_each(params) WHERE name = 'train_a' ORDER BY key;
-- by default a seeded validation slice is held out: 10% of the
-- interactions of a quarter of the users with two or more (75 of 300 here)
SELECT (metrics->>'epochs_run')::int AS epochs_run,
	   (metrics->>'pair_updates')::bigint =
		   30 * (n_interactions - (metrics->>'validation_interactions')::bigint) AS one_update_per_trained_pair,
	   (metrics->>'validation_users')::int AS validation_users,
	   (metrics->>'validation_interactions')::bigint BETWEEN 75 AND 0.1 * n_interactions AS slice_size_ok,
	   (metrics->>'validation_ndcg_at_20')::float8 > 0 AS validated,
	   (metrics->>'validation_head_share_at_20')::float8 BETWEEN 0 AND 1 AS head_share_ok,
	   (metrics->>'validation_tail_recall_at_20')::float8 BETWEEN 0 AND 1 AS tail_recall_ok,
	   (metrics->>'loss')::float8 BETWEEN 0 AND 0.6931 AS loss_below_chance
FROM unkd.models WHERE name = 'train_a';

-- validation_fraction => 0 trains on every interaction for exactly epochs
SELECT (metrics->>'epochs_run')::int AS epochs_run,
	   (metrics->>'pair_updates')::bigint = 7 * n_interactions AS one_update_per_pair,
	   metrics ? 'validation_ndcg_at_20' AS validated, metrics->>'stop_reason' AS stop_reason
FROM unkd.train('train_fixed', 'train_tr', dim => 8, epochs => 7, validation_fraction => 0,
				notice_every => 0);

-- the default optimizer is row-wise AdaGrad; plain SGD stays selectable and
-- gives other parameters from the same seed
SELECT params->>'optimizer' AS optimizer FROM unkd.train('train_sgd', 'train_tr', dim => 16, epochs => 30,
	optimizer => 'sgd', notice_every => 0);
SELECT count(*) FILTER (WHERE a.embedding = s.embedding) AS identical_items
FROM unkd.item_embeddings a JOIN unkd.item_embeddings s USING (item_id)
WHERE a.model = 'train_a' AND s.model = 'train_sgd';

-- without a validation relation, epochs is a maximum: the slice stops the run
SELECT metrics->>'stop_reason' AS stop_reason,
	   (metrics->>'epochs_run')::int - (metrics->>'best_epoch')::int = 5 * 10 AS ran_patience_past_best
FROM unkd.train('train_auto', 'train_tr', dim => 16, notice_every => 0);

-- one embedding of the right size per user and item
SELECT (SELECT count(*) FROM unkd.user_embeddings WHERE model = 'train_a') = n_users AS all_users,
	   (SELECT count(*) FROM unkd.item_embeddings WHERE model = 'train_a') = n_items AS all_items,
	   (SELECT bool_and(cardinality(embedding) = 16) FROM unkd.item_embeddings WHERE model = 'train_a') AS dims_ok,
	   (SELECT bool_and(e.popularity = p.popularity)
		FROM unkd.item_embeddings e
		JOIN (SELECT item_id, count(DISTINCT user_id) AS popularity FROM train_tr GROUP BY item_id) p USING (item_id)
		WHERE e.model = 'train_a') AS popularity_ok
FROM unkd.models WHERE name = 'train_a';

-- the same seed gives bit-identical embeddings; another seed does not
SELECT name FROM unkd.train('train_b', 'train_tr', dim => 16, epochs => 30, notice_every => 0);
SELECT name FROM unkd.train('train_c', 'train_tr', dim => 16, epochs => 30, seed => 5, notice_every => 0);
SELECT count(*) AS users,
	   count(*) FILTER (WHERE a.embedding = b.embedding) AS identical
FROM unkd.user_embeddings a JOIN unkd.user_embeddings b USING (user_id)
WHERE a.model = 'train_a' AND b.model = 'train_b';
SELECT count(*) FILTER (WHERE a.embedding = b.embedding) AS identical_items
FROM unkd.item_embeddings a JOIN unkd.item_embeddings b USING (item_id)
WHERE a.model = 'train_a' AND b.model = 'train_b';
SELECT count(*) FILTER (WHERE a.embedding = c.embedding) AS identical_other_seed
FROM unkd.item_embeddings a JOIN unkd.item_embeddings c USING (item_id)
WHERE a.model = 'train_a' AND c.model = 'train_c';

-- a trained model ranks held-out items better than popularity and chance
CREATE TABLE train_scores_model AS
	SELECT u.user_id, i.item_id,
		   (SELECT sum(x * y) FROM unnest(u.embedding, i.embedding) AS t(x, y)) AS score
	FROM unkd.user_embeddings u JOIN unkd.item_embeddings i ON i.model = u.model
	WHERE u.model = 'train_a';
CREATE TABLE train_scores_pop AS
	SELECT u.user_id, i.item_id, i.popularity::float8 AS score
	FROM (SELECT DISTINCT user_id FROM train_tr) u
	CROSS JOIN unkd.item_embeddings i WHERE i.model = 'train_a';
CREATE TABLE train_scores_random AS
	SELECT user_id, item_id, ('x' || substr(md5(user_id || ':' || item_id), 1, 8))::bit(32)::int::float8 AS score
	FROM train_scores_pop;
SELECT pg_temp.ndcg10('train_scores_model') > pg_temp.ndcg10('train_scores_pop') AS beats_popularity,
	   pg_temp.ndcg10('train_scores_pop') > pg_temp.ndcg10('train_scores_random') AS popularity_beats_random;

-- early stopping: validation NDCG@20 is recorded and the best epoch kept
SELECT (metrics->>'validation_ndcg_at_20')::float8 > 0 AS validated,
	   (metrics->>'best_epoch')::int % 2 = 0 AS evaluated_epoch,
	   (metrics->>'epochs_run')::int <= 40 AS stopped,
	   params->>'validation' AS validation
FROM unkd.train('train_v', 'train_tr', dim => 16, epochs => 40, validation => 'train_te',
				eval_every => 2, patience => 3, notice_every => 0);

-- notice_every => 0 silences the progress NOTICEs (they carry timings)
SET client_min_messages = notice;
SELECT count(*) FROM (SELECT unkd.train('train_q', 'train_tr', dim => 4, epochs => 3, notice_every => 0)) q;
RESET client_min_messages;

-- other column names
CREATE TABLE train_renamed AS SELECT user_id AS u, item_id::int2 AS i FROM train_tr;
SELECT name, user_column, item_column, n_users
FROM unkd.train('train_r', 'train_renamed', dim => 4, epochs => 2, notice_every => 0,
				user_column => 'u', item_column => 'i');

-- retraining writes a new version; a cancelled run keeps the old one
CREATE TABLE train_before AS
	SELECT version, version_id FROM unkd.models WHERE name = 'train_a';
CREATE TABLE train_before_emb AS
	SELECT item_id, embedding FROM unkd.item_embeddings WHERE model = 'train_a';
SET statement_timeout = '300ms';
SELECT unkd.train('train_a', 'train_tr', dim => 16, epochs => 100000, validation_fraction => 0,
				  notice_every => 0);
RESET statement_timeout;
SELECT m.version = b.version AS same_version, m.version_id = b.version_id AS same_version_id
FROM unkd.models m, train_before b WHERE m.name = 'train_a';
SELECT count(*) AS unchanged_items
FROM unkd.item_embeddings e JOIN train_before_emb b USING (item_id)
WHERE e.model = 'train_a' AND e.embedding = b.embedding;
-- a failed run (error after training started) keeps it too
SELECT pg_temp.err($$SELECT unkd.train('train_a', 'train_tr', lr => 1e30, notice_every => 0)$$);
SELECT m.version_id = b.version_id AS same_version_id
FROM unkd.models m, train_before b WHERE m.name = 'train_a';
SELECT version, dim FROM unkd.train('train_a', 'train_tr', dim => 8, epochs => 2, notice_every => 0);
SELECT m.version = b.version + 1 AS next_version, m.version_id <> b.version_id AS new_version_id,
	   (SELECT count(*) FROM unkd.item_embeddings WHERE model = 'train_a') = m.n_items AS replaced,
	   (SELECT bool_and(cardinality(embedding) = 8) FROM unkd.item_embeddings WHERE model = 'train_a') AS new_dim
FROM unkd.models m, train_before b WHERE m.name = 'train_a';

-- bad input: a clear error with the right SQLSTATE
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', dim => 0)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', dim => 5000)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', epochs => 0)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', lr => 0)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', lr => 'NaN')$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', decay => -1)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', patience => 0)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', notice_every => -1)$$);
SELECT pg_temp.err($$SELECT unkd.train('', 'train_tr')$$);
SELECT pg_temp.err($$SELECT unkd.train(NULL, 'train_tr')$$);
SELECT pg_temp.err($$SELECT unkd.train('x', NULL)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', epochs => NULL)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_no_such_table')$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', user_column => 'nope')$$);
CREATE TABLE train_text_ids (user_id numeric, item_id int);  -- text and uuid ids are fine (ids.sql), numeric is not
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_text_ids')$$);
CREATE TABLE train_empty (user_id int, item_id int);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_empty')$$);
INSERT INTO train_empty VALUES (1, 1), (2, 1);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_empty')$$);
CREATE TABLE train_strangers AS SELECT user_id + 1000000 AS user_id, item_id FROM train_te;
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', validation => 'train_strangers', notice_every => 0)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', validation => 'train_no_such_table')$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', optimizer => 'adam')$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', optimizer => NULL)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', validation_fraction => 1)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', validation_fraction => -0.1)$$);
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', validation_fraction => 'NaN')$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'train_tr', kd_weight => 0, validation_fraction => NULL)$$);
-- one interaction per user: nothing to hold out, and the error says what to do
CREATE TABLE train_singletons AS SELECT DISTINCT ON (user_id) user_id, item_id FROM train_tr ORDER BY user_id, item_id;
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_singletons')$$);
SELECT epochs_run FROM (SELECT (metrics->>'epochs_run')::int AS epochs_run
	FROM unkd.train('train_single', 'train_singletons', dim => 4, epochs => 3, validation_fraction => 0,
					notice_every => 0)) s;
SET maintenance_work_mem = '1MB';
SELECT pg_temp.err($$SELECT unkd.train('x', 'train_tr', dim => 1024)$$);
RESET maintenance_work_mem;
SELECT count(*) AS no_model_x FROM unkd.models WHERE name = 'x';

-- clean up
SELECT unkd.drop_model(name) FROM unkd.models WHERE name LIKE 'train\_%' ORDER BY name;
DROP TABLE train_data, train_split, train_tr, train_te, train_scores_model, train_scores_pop,
	train_scores_random, train_renamed, train_before, train_before_emb, train_text_ids, train_empty, train_strangers, train_singletons;
