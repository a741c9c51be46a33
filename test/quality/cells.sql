-- Table cells shared by the quality suite's Markdown tables (quality.sql,
-- defaults.sql); included with \ir. A results table has the columns of
-- unkd.evaluate plus role and k.

-- The name of a role in the tables
CREATE FUNCTION pg_temp.role_label(role text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE role WHEN 'teacher' THEN 'Teacher' WHEN 'student' THEN 'Student (no KD)'
		WHEN 'kd' THEN 'KD (G = 1)' ELSE 'UnKD (G = 4)' END
$$;

-- R@10 | R@20 | N@10 | N@20 | share@20 per group | recall@20 per group, of one role
CREATE FUNCTION pg_temp.metric_cells(results regclass, role text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	cells text;
BEGIN
	EXECUTE format($q$
		WITH o AS (SELECT k, recall, ndcg FROM %1$s WHERE role = $1 AND group_id IS NULL),
			 g AS (SELECT group_id, share, recall FROM %1$s WHERE role = $1 AND k = 20 AND group_id IS NOT NULL)
		SELECT concat_ws(' | ',
			(SELECT to_char(recall, 'FM0.0000') FROM o WHERE k = 10),
			(SELECT to_char(recall, 'FM0.0000') FROM o WHERE k = 20),
			(SELECT to_char(ndcg, 'FM0.0000') FROM o WHERE k = 10),
			(SELECT to_char(ndcg, 'FM0.0000') FROM o WHERE k = 20),
			(SELECT string_agg(to_char(share, 'FM0.000'), ' | ' ORDER BY group_id) FROM g),
			(SELECT string_agg(to_char(recall, 'FM0.0000'), ' | ' ORDER BY group_id) FROM g))$q$,
		results) INTO cells USING role;
	RETURN cells;
END $$;
