-- The validation split of the grid scripts (distill_grid.sql, train_grid.sql,
-- distill_seeds.sql; seeds.sql uses its 80/20 part), included with \ir: the
-- quality suite's 80/20 split (unkd.split seed 1) and a further 10% of the
-- training data (seed 2) as grid.valid, the rest as grid.train. Variable:
-- csv (path of interactions.csv).
DROP SCHEMA IF EXISTS grid CASCADE;
CREATE SCHEMA grid;

CREATE TABLE grid.all_interactions (user_id bigint, item_id bigint);
\set copy_cmd '\\copy grid.all_interactions FROM ' :'csv' ' CSV HEADER'
:copy_cmd
CREATE TABLE grid.split AS SELECT * FROM unkd.split('grid.all_interactions', 0.2, 1);
CREATE TABLE grid.train_full AS SELECT user_id, item_id FROM grid.split WHERE NOT is_test;
CREATE TABLE grid.vsplit AS SELECT * FROM unkd.split('grid.train_full', 0.1, 2);
CREATE TABLE grid.train AS SELECT user_id, item_id FROM grid.vsplit WHERE NOT is_test;
CREATE TABLE grid.valid AS SELECT user_id, item_id FROM grid.vsplit WHERE is_test;
CREATE INDEX ON grid.train (user_id);
ANALYZE grid.train, grid.valid;
