#!/usr/bin/env bash
# Timing of unkd.split (random and by time) and unkd.split_at on the
# 960,000 interactions of synthetic_interactions(6000, 3700, 160, 1.0, 1)
# with a synthetic timestamptz column (one distinct second in a year per
# row, plus a date column with many ties). Needs root, like scripts/test.sh:
# it runs its own throw-away cluster and holds the install lock throughout.
# Prints figures only (best of BENCH_RUNS, default 3); asserts nothing.
set -euo pipefail
UNKD_PORT=${UNKD_PORT:-54339}
source "$(dirname "$0")/../scripts/lib.sh"
BENCH_RUNS=${BENCH_RUNS:-3}
unkd_setup

psql -X -q -d postgres -v ON_ERROR_STOP=1 -v runs="$BENCH_RUNS" <<'SQL'
SET client_min_messages = warning;
SET maintenance_work_mem = '1GB';
CREATE EXTENSION unkd;
CREATE TABLE bench AS
SELECT user_id, item_id,
	   '2024-01-01'::timestamptz + (abs(hashint8(user_id * 4000 + item_id)) % 31536000) * interval '1 second' AS ts
FROM unkd.synthetic_interactions(6000, 3700, 160, 1.0, 1);
ALTER TABLE bench ADD COLUMN day date;
UPDATE bench SET day = ts::date;
VACUUM ANALYZE bench;

CREATE FUNCTION pg_temp.best_seconds(q text, runs int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	best double precision := 'Infinity';
	t0 timestamptz;
BEGIN
	FOR r IN 1..runs LOOP
		t0 := clock_timestamp();
		EXECUTE q;
		best := least(best, extract(epoch FROM clock_timestamp() - t0));
	END LOOP;
	RETURN round(best::numeric, 3);
END $$;

SELECT count(*) AS rows, count(DISTINCT user_id) AS users, count(DISTINCT item_id) AS items FROM bench;
SELECT what, pg_temp.best_seconds(q, :runs) AS best_seconds
FROM (VALUES
	(1, 'read only (SELECT count(*) of the three columns)', $$SELECT count(user_id + item_id) FROM bench WHERE ts IS NOT NULL$$),
	(2, 'split random', $$SELECT count(*) FROM unkd.split('bench', 0.2, 1)$$),
	(3, 'split order_column => ts (timestamptz)', $$SELECT count(*) FROM unkd.split('bench', 0.2, order_column => 'ts')$$),
	(4, 'split order_column => day (date, ties)', $$SELECT count(*) FROM unkd.split('bench', 0.2, order_column => 'day')$$),
	(5, 'split_at ts >= 2024-10-01', $$SELECT count(*) FROM unkd.split_at('bench', 'ts', '2024-10-01'::timestamptz)$$),
	(6, 'for scale: plain SQL row_number() per user by ts', $$SELECT count(*) FROM (SELECT user_id, item_id, row_number() OVER (PARTITION BY user_id ORDER BY ts DESC, item_id DESC) AS r FROM bench) s WHERE r <= 32$$)
) v(n, what, q) ORDER BY n;
SQL
