-- The model registry: deploy, drop_model, versions and privileges.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TABLE models_data AS
	SELECT * FROM unkd.synthetic_interactions(100, 80, 10, 1.0, 5);
SELECT name, version FROM unkd.train('models_a', 'models_data', dim => 4, epochs => 2, notice_every => 0);
SELECT name, version FROM unkd.train('models_b', 'models_data', dim => 4, epochs => 2, notice_every => 0);

-- deploy: exactly one deployed model, switched atomically
SELECT unkd.deploy('models_a');
SELECT name, deployed FROM unkd.models WHERE name LIKE 'models\_%' ORDER BY name;
SELECT unkd.deploy('models_b');
SELECT name, deployed FROM unkd.models WHERE name LIKE 'models\_%' ORDER BY name;
SELECT unkd.deploy('models_b');
SELECT count(*) AS deployed FROM unkd.models WHERE deployed;
-- a rolled-back deploy changes nothing
BEGIN;
SELECT unkd.deploy('models_a');
ROLLBACK;
SELECT name FROM unkd.models WHERE deployed;
-- retraining keeps the deployment and bumps the version
SELECT name, version, deployed FROM unkd.train('models_b', 'models_data', dim => 4, epochs => 2, notice_every => 0);

-- unknown names
SELECT pg_temp.err($$SELECT unkd.deploy('models_none')$$);
SELECT pg_temp.err($$SELECT unkd.drop_model('models_none')$$);
SELECT pg_temp.err($$SELECT unkd.deploy(NULL)$$);
SELECT pg_temp.err($$SELECT unkd.drop_model(NULL)$$);
SELECT name FROM unkd.models WHERE deployed;

-- drop_model removes the row and its embeddings; dropping the deployed
-- model leaves none deployed
SELECT unkd.drop_model('models_b');
SELECT count(*) AS rows, (SELECT count(*) FROM unkd.user_embeddings WHERE model = 'models_b') AS users,
	   (SELECT count(*) FROM unkd.item_embeddings WHERE model = 'models_b') AS items,
	   (SELECT count(*) FROM unkd.models WHERE deployed) AS deployed
FROM unkd.models WHERE name = 'models_b';
-- a dropped name can be trained again from version 1
SELECT name, version FROM unkd.train('models_b', 'models_data', dim => 4, epochs => 2, notice_every => 0);

-- privileges: a role sees only the models it may read (row-level security),
-- may not train without EXECUTE on unkd.train, and may not change another
-- role's model (docs/security.md has the whole model; sql/security.sql the attacks)
CREATE ROLE regress_unkd_reader;
GRANT SELECT ON models_data TO regress_unkd_reader;
SET ROLE regress_unkd_reader;
SELECT count(*) AS readable FROM unkd.models WHERE name LIKE 'models\_%';
SELECT count(*) > 0 AS embeddings_readable FROM unkd.item_embeddings WHERE model = 'models_a';
SELECT pg_temp.err($$SELECT unkd.train('models_c', 'models_data', dim => 4, epochs => 1, notice_every => 0)$$);
SELECT pg_temp.err($$SELECT unkd.drop_model('models_a')$$);
SELECT pg_temp.err($$SELECT unkd.deploy('models_a')$$);
RESET ROLE;
-- the documented grant lets the role train; the model is its own
GRANT EXECUTE ON FUNCTION unkd.train TO regress_unkd_reader;
SET ROLE regress_unkd_reader;
SELECT name, version, owner FROM unkd.train('models_c', 'models_data', dim => 4, epochs => 1, notice_every => 0);
SELECT name FROM unkd.models WHERE name LIKE 'models\_%' ORDER BY name;
-- training reads the input with the caller's rights
RESET ROLE;
REVOKE SELECT ON models_data FROM regress_unkd_reader;
SET ROLE regress_unkd_reader;
SELECT pg_temp.err($$SELECT unkd.train('models_c', 'models_data', dim => 4, epochs => 1, notice_every => 0)$$);
RESET ROLE;

-- clean up
REVOKE EXECUTE ON FUNCTION unkd.train FROM regress_unkd_reader;
SELECT unkd.drop_model(name) FROM unkd.models WHERE name LIKE 'models\_%' ORDER BY name;
DROP ROLE regress_unkd_reader;
DROP TABLE models_data;
