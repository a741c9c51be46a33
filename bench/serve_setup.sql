-- bench/serve_setup.sql: a random model of :n_items items x :dim dimensions
-- named bench<dim>, over the shared bench_events table (created on the first
-- call: :n_users users with 20 random items each, indexed on user_id).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT setseed(0.42);
CREATE TABLE IF NOT EXISTS bench_events AS
SELECT u::bigint AS user_id, (1 + floor(random() * :n_items))::bigint AS item_id
FROM generate_series(1, :n_users) u, generate_series(1, 20) j;
CREATE INDEX IF NOT EXISTS bench_events_user ON bench_events (user_id);
ANALYZE bench_events;

DELETE FROM unkd.models WHERE name = 'bench' || :dim;
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
SELECT 'bench' || :dim, 'teacher', 'bpr', :dim, :n_users, :n_items, count(*), '{}',
	   'public.bench_events', 'user_id', 'item_id'
FROM bench_events;
-- the WHERE on the outer row makes the subquery run per row (a new random vector each)
INSERT INTO unkd.item_embeddings
SELECT 'bench' || :dim, i, coalesce(p.n, 0),
	   (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, :dim) WHERE i IS NOT NULL)
FROM generate_series(1, :n_items) i
LEFT JOIN (SELECT item_id, count(*) AS n FROM bench_events GROUP BY item_id) p ON p.item_id = i;
INSERT INTO unkd.user_embeddings
SELECT 'bench' || :dim, u,
	   (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, :dim) WHERE u IS NOT NULL)
FROM generate_series(1, :n_users) u;

-- a 10-item model on the same table: what a call costs besides scoring
DELETE FROM unkd.models WHERE name = 'bench_tiny';
INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata,
						 interactions, user_column, item_column)
VALUES ('bench_tiny', 'teacher', 'bpr', :dim, :n_users, 10, 0, '{}', 'public.bench_events', 'user_id', 'item_id');
INSERT INTO unkd.item_embeddings
SELECT 'bench_tiny', i, 1, (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, :dim) WHERE i IS NOT NULL)
FROM generate_series(1, 10) i;
INSERT INTO unkd.user_embeddings
SELECT 'bench_tiny', user_id, embedding FROM unkd.user_embeddings WHERE model = 'bench' || :dim;
ANALYZE unkd.models;
ANALYZE unkd.item_embeddings;
ANALYZE unkd.user_embeddings;
