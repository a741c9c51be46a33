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
