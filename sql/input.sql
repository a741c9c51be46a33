-- The input layer: column types, NULL ids, empty and missing input

CREATE TABLE small_ids (uid smallint, iid integer, label text, score real);
INSERT INTO small_ids VALUES (1, 10, 'a', 1), (1, 11, 'b', 1), (2, 10, 'c', 1),
	(2, 10, 'dup', 1), (NULL, 12, 'null user', 1), (3, NULL, 'null item', 1);

-- int2/int4 columns work; duplicates collapse; NULL ids are skipped with a count
SELECT * FROM unkd.popularity_groups('small_ids', 2, item_column => 'iid', user_column => 'uid')
ORDER BY item_id;

-- views and quoted, schema-qualified names work
CREATE SCHEMA "My Schema";
CREATE VIEW "My Schema"."Odd View" AS SELECT uid AS user_id, iid AS item_id FROM small_ids;
SELECT count(*) FROM unkd.popularity_groups('"My Schema"."Odd View"');

-- a missing column
SELECT * FROM unkd.popularity_groups('small_ids', 2);
SELECT * FROM unkd.popularity_groups('small_ids', 2, item_column => 'nope', user_column => 'uid');
-- a column that is not an integer
SELECT * FROM unkd.popularity_groups('small_ids', 2, item_column => 'label', user_column => 'uid');
SELECT * FROM unkd.popularity_groups('small_ids', 2, item_column => 'score', user_column => 'uid');
-- an empty input, and one with only NULL ids
CREATE TABLE empty_ids (user_id bigint, item_id bigint);
SELECT * FROM unkd.popularity_groups('empty_ids');
INSERT INTO empty_ids VALUES (NULL, 1), (2, NULL);
SELECT * FROM unkd.popularity_groups('empty_ids');
-- a missing table fails at the call with PostgreSQL's own error
SELECT * FROM unkd.popularity_groups('no_such_table');

-- the memory budget is checked before big allocations, and names the amount
CREATE TABLE many AS SELECT g AS user_id, g % 100 AS item_id FROM generate_series(1, 200000) g;
SET maintenance_work_mem = '1MB';
SELECT count(*) FROM unkd.popularity_groups('many');
RESET maintenance_work_mem;
SELECT count(*) FROM unkd.popularity_groups('many');

-- reading respects the caller's rights
CREATE ROLE regress_unkd_nopriv;
SET ROLE regress_unkd_nopriv;
SELECT count(*) FROM unkd.popularity_groups('many');
RESET ROLE;
DROP ROLE regress_unkd_nopriv;
