-- unkd.distill and its sampler: candidate lists, the rank-aware pair
-- distribution, group quotas, sparse score tables, methods and errors.
SET extra_float_digits = 0;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the rank distribution P(r) ~ exp(-(r+1)/mu): with mu = 20 and 300
-- candidates the better rank averages 9.5 and the other 30 (METHOD.md 5)
SELECT count(*) AS pairs,
	   avg(better) BETWEEN 9.2 AND 9.8 AS better_mean_ok,
	   avg(worse) BETWEEN 29.3 AND 30.7 AS worse_mean_ok,
	   bool_and(better < worse) AS ordered,
	   min(better) AS min_rank, max(worse) < 300 AS in_range
FROM unkd.sample_ranks(300, 20000, 20, 1);
-- geometric: each rank is about exp(-1/mu) times as likely as the one before
SELECT abs(ln(count(*) FILTER (WHERE better = 0)::float8 / count(*) FILTER (WHERE better = 1)) - 2.0 / 20) < 0.05
	   AS decay_rate_ok
FROM unkd.sample_ranks(300, 20000, 20, 2);
SELECT avg(better) FILTER (WHERE mu = 5) < avg(better) FILTER (WHERE mu = 50) AS larger_mu_is_flatter
FROM (SELECT 5 AS mu, * FROM unkd.sample_ranks(300, 2000, 5, 1)
	  UNION ALL SELECT 50, * FROM unkd.sample_ranks(300, 2000, 50, 1)) s;
SELECT DISTINCT better, worse FROM unkd.sample_ranks(2, 100, 20, 1);
SELECT count(*) = 1000 AS same_seed_same_draws
FROM unkd.sample_ranks(50, 1000, 20, 9) WITH ORDINALITY a
JOIN unkd.sample_ranks(50, 1000, 20, 9) WITH ORDINALITY b USING (ordinality)
WHERE a.better = b.better AND a.worse = b.worse;
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(1, 10)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, 10, 0)$$);
SELECT pg_temp.err($$SELECT * FROM unkd.sample_ranks(10, -1)$$);

-- a teacher on synthetic data, and its scores as a table
CREATE TABLE distill_data AS
	SELECT * FROM unkd.synthetic_interactions(200, 300, 20, 1.0, 3);
CREATE TABLE distill_tr AS
	SELECT user_id, item_id FROM unkd.split('distill_data', 0.2, 1) WHERE NOT is_test;
SELECT name, kind FROM unkd.train('distill_t', 'distill_tr', dim => 32, epochs => 20, notice_every => 0);
CREATE TABLE distill_scores AS
	SELECT u.user_id, i.item_id,
		   (SELECT sum(x * y) FROM unnest(u.embedding, i.embedding) AS t(x, y))::float8 AS score
	FROM unkd.user_embeddings u JOIN unkd.item_embeddings i ON i.model = u.model
	WHERE u.model = 'distill_t';
CREATE TABLE distill_groups AS SELECT * FROM unkd.popularity_groups('distill_tr', 4);

-- one epoch of pairs from the teacher model
CREATE TABLE distill_p AS
	SELECT * FROM unkd.distill_pairs('distill_tr', teacher => 'distill_t', seed => 1);
-- every user gets exactly `samples` pairs, spread evenly, remainder to the
-- most popular groups first (30 over 4 groups: 8, 8, 7, 7)
SELECT count(DISTINCT user_id) = (SELECT count(DISTINCT user_id) FROM distill_tr) AS every_user,
	   bool_and(n = 30) AS thirty_each
FROM (SELECT user_id, count(*) AS n FROM distill_p GROUP BY user_id) s;
SELECT group_id, min(n), max(n)
FROM (SELECT user_id, group_id, count(*) AS n FROM distill_p GROUP BY 1, 2) s
GROUP BY group_id ORDER BY group_id;
-- both items of a pair are in the pair's popularity group, distinct, unseen
SELECT bool_and(gb.group_id = p.group_id AND gw.group_id = p.group_id) AS same_group,
	   bool_and(p.better_item <> p.worse_item AND p.better_rank < p.worse_rank) AS distinct_ordered,
	   max(p.worse_rank) < 200 AS within_candidates
FROM distill_p p
JOIN distill_groups gb ON gb.item_id = p.better_item
JOIN distill_groups gw ON gw.item_id = p.worse_item;
SELECT count(*) AS pairs_with_a_training_item
FROM distill_p p JOIN distill_tr t
	ON t.user_id = p.user_id AND t.item_id IN (p.better_item, p.worse_item);
-- the better item is the one the teacher scores higher (rounding aside)
SELECT bool_and(sb.score >= sw.score - 1e-4) AS teacher_order
FROM distill_p p
JOIN distill_scores sb ON sb.user_id = p.user_id AND sb.item_id = p.better_item
JOIN distill_scores sw ON sw.user_id = p.user_id AND sw.item_id = p.worse_item;
-- the candidates option truncates the lists
SELECT max(worse_rank) < 5 AS truncated
FROM unkd.distill_pairs('distill_tr', teacher => 'distill_t', candidates => 5);
-- n_groups => 1 is one global list
SELECT array_agg(DISTINCT group_id) AS groups, count(*) / count(DISTINCT user_id) AS per_user
FROM unkd.distill_pairs('distill_tr', teacher => 'distill_t', n_groups => 1, samples => 7);

-- a sparse score table: scored items rank first, by score; unscored items
-- follow in id order; users without any score get no pairs
CREATE TABLE distill_sparse AS
	SELECT user_id, item_id, score::real AS score FROM distill_scores
	WHERE item_id % 3 = 0 AND user_id % 10 <> 0;
CREATE TABLE distill_sp AS
	SELECT p.*, sb.score AS better_score, sw.score AS worse_score
	FROM unkd.distill_pairs('distill_tr', teacher_scores => 'distill_sparse', seed => 1) p
	LEFT JOIN distill_sparse sb ON sb.user_id = p.user_id AND sb.item_id = p.better_item
	LEFT JOIN distill_sparse sw ON sw.user_id = p.user_id AND sw.item_id = p.worse_item;
SELECT count(*) FILTER (WHERE user_id % 10 = 0) AS pairs_of_unscored_users,
	   count(DISTINCT user_id) = (SELECT count(DISTINCT user_id) FROM distill_tr WHERE user_id % 10 <> 0)
	   AS scored_users_all_paired,
	   bool_and(worse_score IS NULL OR better_score IS NOT NULL) AS scored_first,
	   bool_and(better_score IS NULL OR worse_score IS NULL OR better_score >= worse_score) AS score_order,
	   bool_and(better_score IS NOT NULL OR better_item < worse_item) AS unscored_by_id,
	   count(*) FILTER (WHERE better_score IS NULL) > 0 AS unscored_used
FROM distill_sp;

-- a group with fewer than 2 candidates is skipped and its quota moved:
-- items 100 and 101 form the popular group, and every user has seen at
-- least one of them
CREATE TABLE distill_small (user_id int, item_id int);
INSERT INTO distill_small
	SELECT u, 100 FROM generate_series(1, 6) u
	UNION ALL SELECT u, 101 FROM generate_series(1, 5) u
	UNION ALL SELECT 1 + (i % 6), i FROM generate_series(1, 12) i;
CREATE TABLE distill_small_scores AS
	SELECT u AS user_id, i AS item_id, -i::float8 AS score
	FROM generate_series(1, 6) u, (SELECT DISTINCT item_id AS i FROM distill_small) i;
SELECT popularity, group_id, count(*) AS items
FROM unkd.popularity_groups('distill_small', 2) GROUP BY 1, 2 ORDER BY 1 DESC;
CREATE TABLE distill_small_p AS
	SELECT * FROM unkd.distill_pairs('distill_small', teacher_scores => 'distill_small_scores',
									 n_groups => 2, samples => 9);
SELECT user_id, group_id, count(*) FROM distill_small_p GROUP BY 1, 2 ORDER BY 1, 2;
-- rank r is the (r+1)-th best unseen item of the group (score = -item_id)
SELECT bool_and(p.better_item = (SELECT s.item_id FROM distill_small s WHERE s.item_id < 100
								  AND NOT EXISTS (SELECT 1 FROM distill_small x
												  WHERE x.user_id = p.user_id AND x.item_id = s.item_id)
								  ORDER BY s.item_id OFFSET p.better_rank LIMIT 1)) AS ranks_exact
FROM distill_small_p p;

-- students: UnKD (n_groups >= 2), standard KD (n_groups = 1), plain BPR;
-- the stored params record the defaults (students: lr 0.2, decay 0.003;
-- plain students decay 0.01)
SELECT name, kind, method, dim, cardinality(strata) AS n_strata,
	   params->>'teacher' AS teacher, params->>'n_groups' AS n_groups,
	   params->>'samples' AS samples, params->>'kd_weight' AS kd_weight,
	   params->>'candidates' AS candidates, params->>'mu' AS mu, params->>'seed' AS seed,
	   params->>'lr' AS lr, params->>'decay' AS decay
FROM unkd.distill('distill_unkd', 'distill_tr', teacher => 'distill_t', epochs => 5,
				  validation_fraction => 0, notice_every => 0);
SELECT name, method, cardinality(strata) AS n_strata
FROM unkd.distill('distill_kd', 'distill_tr', teacher => 'distill_t', n_groups => 1, epochs => 5,
				  notice_every => 0);
-- its validation bias figures are taken on 4 popularity groups, as an
-- UnKD student's: not the whole catalogue as one "head" group
SELECT (metrics->>'validation_head_share_at_20')::float8 < 1 AS head_share_below_1,
	   (metrics->>'validation_head_share_at_20')::float8 > 0 AS head_share_above_0
FROM unkd.models WHERE name = 'distill_kd';
-- a plain student keeps decay 0.01: without the distillation term 0.003 overfits
SELECT name, kind, method, params->>'teacher' AS teacher, params->>'lr' AS lr,
	   params->>'decay' AS decay
FROM unkd.distill('distill_bpr', 'distill_tr', kd_weight => 0, epochs => 5, validation_fraction => 0,
				  notice_every => 0);
SELECT name, method, params->>'teacher_scores' AS teacher_scores
FROM unkd.distill('distill_sparse_student', 'distill_tr', teacher_scores => 'distill_sparse',
				  epochs => 5, notice_every => 0);

-- the KD term: each user's pairs are visited max(n_u, samples) times per
-- epoch, on top of one BPR update per interaction
SELECT (m.metrics->>'pair_updates')::bigint =
	   5 * (m.n_interactions + (SELECT sum(greatest(n, 30))
								FROM (SELECT user_id, count(*) AS n FROM distill_tr GROUP BY 1) s))
	   AS kd_visits_ok,
	   (m.metrics->>'kd_loss')::float8 > 0 AS kd_loss_positive,
	   (b.metrics->>'pair_updates')::bigint = 5 * b.n_interactions AS bpr_only,
	   (b.metrics->>'kd_loss')::float8 = 0 AS no_kd_loss
FROM unkd.models m, unkd.models b WHERE m.name = 'distill_unkd' AND b.name = 'distill_bpr';

-- the same seed gives a bit-identical student
SELECT name FROM unkd.distill('distill_unkd2', 'distill_tr', teacher => 'distill_t', epochs => 5,
							  validation_fraction => 0, notice_every => 0);
SELECT count(*) AS items, count(*) FILTER (WHERE a.embedding = b.embedding) AS identical
FROM unkd.item_embeddings a JOIN unkd.item_embeddings b USING (item_id)
WHERE a.model = 'distill_unkd' AND b.model = 'distill_unkd2';

-- group_weight_exponent: quotas follow (mean group popularity)^-exponent,
-- positive favouring the tail, negative the head, always `samples` in all
SELECT e AS exponent, group_id, min(n) AS min_pairs, max(n) AS max_pairs
FROM unnest(ARRAY[-1.0, 1.0]) e,
	 LATERAL (SELECT user_id, group_id, count(*) AS n
			  FROM unkd.distill_pairs('distill_tr', teacher => 'distill_t', seed => 1,
									  group_weight_exponent => e)
			  GROUP BY 1, 2) s
GROUP BY e, group_id ORDER BY e, group_id;
SELECT bool_and(n = 30) AS thirty_each
FROM (SELECT user_id, count(*) AS n
	  FROM unkd.distill_pairs('distill_tr', teacher => 'distill_t', seed => 1,
							  group_weight_exponent => 1) GROUP BY 1) s;

-- kd_decay (default 0: distillation pairs unregularised, as the reference
-- code) is recorded and changes training; group_weight_exponent defaults to
-- 0.1 (quotas leaning slightly to the tail)
SELECT params->>'kd_decay' AS kd_decay, params->>'group_weight_exponent' AS group_weight_exponent
FROM unkd.distill('distill_kdd', 'distill_tr', teacher => 'distill_t', epochs => 5,
				  notice_every => 0, kd_decay => 0.01);
SELECT params->>'kd_decay' AS kd_decay FROM unkd.models WHERE name = 'distill_unkd';
SELECT count(*) FILTER (WHERE a.embedding <> b.embedding) > 0 AS kd_decay_changes_training
FROM unkd.item_embeddings a JOIN unkd.item_embeddings b USING (item_id)
WHERE a.model = 'distill_unkd' AND b.model = 'distill_kdd';

-- a NULL lr or decay follows the optimizer: SGD keeps 0.1.0's 0.05 and 0.01
-- (AdaGrad's 0.2 diverges under plain SGD); an explicit value is kept
SELECT params->>'optimizer' AS optimizer, params->>'lr' AS lr, params->>'decay' AS decay
FROM unkd.distill('distill_sgd', 'distill_tr', teacher => 'distill_t', epochs => 5,
				  optimizer => 'sgd', validation_fraction => 0, notice_every => 0);
SELECT params->>'lr' AS lr, params->>'decay' AS decay
FROM unkd.distill('distill_sgd', 'distill_tr', teacher => 'distill_t', epochs => 5,
				  optimizer => 'sgd', lr => 0.02, decay => NULL, validation_fraction => 0,
				  notice_every => 0, replace => true);
SELECT params->>'lr' AS lr, params->>'decay' AS decay
FROM unkd.distill('distill_sgd', 'distill_tr', teacher => 'distill_t', epochs => 5,
				  lr => NULL, decay => 0.02, validation_fraction => 0, notice_every => 0,
				  replace => true);
SELECT unkd.drop_model('distill_sgd');

-- bad input
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', lr => 'NaN')$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', decay => -1)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', kd_decay => -1)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', kd_decay => NULL)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', group_weight_exponent => 11)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', group_weight_exponent => 'NaN')$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'no_such_model')$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr')$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', teacher_scores => 'distill_sparse')$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', samples => 0)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', n_groups => 0)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', n_groups => 1001)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', dim => 0)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', epochs => -1)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', candidates => 1)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', mu => 0)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', kd_weight => -1)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', kd_weight => 'Infinity')$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', n_groups => NULL)$$);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher_scores => 'distill_sparse', score_column => 'nope')$$);
CREATE TABLE distill_bad_scores AS SELECT * FROM distill_sparse;
INSERT INTO distill_bad_scores VALUES (1, 1, 'NaN');
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher_scores => 'distill_bad_scores')$$);
UPDATE distill_bad_scores SET score = '-Infinity' WHERE score = 'NaN';
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher_scores => 'distill_bad_scores')$$);
CREATE TABLE distill_text_scores (user_id int, item_id int, score text);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher_scores => 'distill_text_scores')$$);
CREATE TABLE distill_stranger_scores AS SELECT user_id + 1000000 AS user_id, item_id, score FROM distill_sparse;
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher_scores => 'distill_stranger_scores')$$);
CREATE TABLE distill_strangers AS SELECT user_id + 1000000 AS user_id, item_id + 1000000 AS item_id FROM distill_tr;
SELECT name FROM unkd.train('distill_stranger', 'distill_strangers', dim => 4, epochs => 1, notice_every => 0);
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_stranger')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.distill_pairs('distill_tr')$$);
SET maintenance_work_mem = '1MB';
SELECT pg_temp.err($$SELECT unkd.distill('x', 'distill_tr', teacher => 'distill_t', candidates => 2000)$$);
RESET maintenance_work_mem;
SELECT count(*) AS no_model_x FROM unkd.models WHERE name = 'x';

-- clean up
SELECT unkd.drop_model(name) FROM unkd.models WHERE name LIKE 'distill\_%' ORDER BY name;
DROP TABLE distill_data, distill_tr, distill_scores, distill_groups, distill_p, distill_sparse,
	distill_sp, distill_small, distill_small_scores, distill_small_p, distill_bad_scores,
	distill_text_scores, distill_stranger_scores, distill_strangers;
