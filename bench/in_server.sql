-- bench/in_server.sql: per-call latency of unkd.recommend measured inside the
-- server (no client round trip), 500 calls on random users of model :model.
SET client_min_messages = warning;
SELECT set_config('bench.model', :'model', false), set_config('bench.users', :'n_users', false) \gset
DO $$
DECLARE
	model text := current_setting('bench.model');
	n_users int := current_setting('bench.users')::int;
	t0 timestamptz;
	lat float8[] := '{}';
BEGIN
	PERFORM * FROM unkd.recommend(1, 10, model);	-- loads the model into the cache
	FOR i IN 1..500 LOOP
		t0 := clock_timestamp();
		PERFORM * FROM unkd.recommend(1 + (i * 7919) % n_users, 10, model);
		lat := lat || extract(epoch FROM clock_timestamp() - t0) * 1e6;
	END LOOP;
	RAISE WARNING '%', format('%-34s in server:  p50 %6s us, p99 %6s us, min %6s us',
		'recommend ' || model,
		(SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric) FROM unnest(lat) x),
		(SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY x)::numeric) FROM unnest(lat) x),
		(SELECT round(min(x)::numeric) FROM unnest(lat) x));
END $$;
