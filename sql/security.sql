-- The security model (docs/security.md): each attack of the safety issue,
-- played by non-superuser roles against a superuser and each other.
--   regress_sec_mallory  a trainer (the documented grant) and the attacker
--   regress_sec_alice    another trainer, with a private model
--   regress_sec_bob      a role with more rights than mallory, no trainer
-- The session user is the superuser who runs the suite.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE ROLE regress_sec_mallory;
CREATE ROLE regress_sec_alice;
CREATE ROLE regress_sec_bob;
GRANT EXECUTE ON FUNCTION unkd.train, unkd.distill, unkd.retrain
	TO regress_sec_mallory, regress_sec_alice;
CREATE SCHEMA sec_mallory AUTHORIZATION regress_sec_mallory;
CREATE SCHEMA sec_alice AUTHORIZATION regress_sec_alice;
GRANT USAGE ON SCHEMA sec_mallory TO PUBLIC;
CREATE TABLE sec_data AS SELECT * FROM unkd.synthetic_interactions(40, 30, 6, 1.0, 3);
GRANT SELECT ON sec_data TO PUBLIC;

------------------------------------------------------------------------------
-- 1. Privilege escalation through the code of a model's relations
------------------------------------------------------------------------------
SET ROLE regress_sec_mallory;
-- a log of whose rights mallory's code ran with, and a function that tries
-- to make mallory a superuser whenever it runs with enough rights
CREATE TABLE sec_mallory.log (current_role_name text, superuser boolean);
GRANT INSERT ON sec_mallory.log TO PUBLIC;
CREATE FUNCTION sec_mallory.spy() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	INSERT INTO sec_mallory.log SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	BEGIN
		ALTER ROLE regress_sec_mallory SUPERUSER;
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN true;
END $$;
CREATE TABLE sec_mallory.events AS SELECT * FROM sec_data;
CREATE INDEX ON sec_mallory.events (user_id);
CREATE VIEW sec_mallory.spied AS SELECT * FROM sec_mallory.events WHERE sec_mallory.spy();
SELECT name, owner FROM unkd.train('sec_trap', 'sec_mallory.spied', dim => 4, epochs => 2, notice_every => 0);
SELECT unkd.grant_model('sec_trap', 'public');
SELECT unkd.deploy('sec_trap');
TRUNCATE sec_mallory.log;
RESET ROLE;

-- the superuser serves the deployed model and evaluates it
SELECT count(*) AS recommended FROM unkd.recommend(1, 5);
SELECT count(*) > 0 AS evaluated FROM unkd.evaluate('sec_trap', 'sec_data');
-- mallory's code ran, but as mallory, and mallory is still no superuser
SELECT DISTINCT current_role_name, superuser FROM sec_mallory.log;
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'regress_sec_mallory';
-- and inside a security-restricted operation: it could not change the session
SET ROLE regress_sec_mallory;
CREATE OR REPLACE FUNCTION sec_mallory.spy() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM set_config('work_mem', '77MB', false);
	INSERT INTO sec_mallory.log VALUES (current_setting('work_mem'), NULL);
	RETURN true;
END $$;
RESET ROLE;
TRUNCATE sec_mallory.log;
SELECT count(*) AS recommended FROM unkd.recommend(2, 5);
SELECT DISTINCT current_role_name AS work_mem_inside FROM sec_mallory.log;
SHOW work_mem;

-- through a row-level security policy: bob, not a superuser, serves the model
RESET ROLE;
SET ROLE regress_sec_mallory;
CREATE OR REPLACE FUNCTION sec_mallory.spy() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	INSERT INTO sec_mallory.log SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	RETURN true;
END $$;
CREATE TABLE sec_mallory.guarded AS SELECT * FROM sec_data;
ALTER TABLE sec_mallory.guarded ENABLE ROW LEVEL SECURITY;
ALTER TABLE sec_mallory.guarded FORCE ROW LEVEL SECURITY;
CREATE POLICY spy ON sec_mallory.guarded USING (sec_mallory.spy());
GRANT SELECT ON sec_mallory.guarded TO PUBLIC;
SELECT name FROM unkd.train('sec_rls', 'sec_mallory.guarded', dim => 4, epochs => 2, notice_every => 0);
SELECT unkd.grant_model('sec_rls', 'regress_sec_bob');
TRUNCATE sec_mallory.log;
SET ROLE regress_sec_bob;
SELECT count(*) AS recommended FROM unkd.recommend(3, 5, 'sec_rls');
RESET ROLE;
SELECT DISTINCT current_role_name FROM sec_mallory.log;

-- through a column type changed after training: checked again at every call
SET ROLE regress_sec_mallory;
CREATE TABLE sec_mallory.typed AS SELECT * FROM sec_data;
CREATE INDEX ON sec_mallory.typed (user_id);
SELECT name FROM unkd.train('sec_typed', 'sec_mallory.typed', dim => 4, epochs => 2, notice_every => 0);
SELECT unkd.grant_model('sec_typed', 'public');
RESET ROLE;
SELECT count(*) AS recommended FROM unkd.recommend(1, 5, 'sec_typed');
SET ROLE regress_sec_mallory;
CREATE DOMAIN sec_mallory.spied_id AS bigint CHECK (sec_mallory.spy());
ALTER TABLE sec_mallory.typed ALTER item_id TYPE sec_mallory.spied_id;
RESET ROLE;
SELECT pg_temp.err($$SELECT * FROM unkd.recommend(1, 5, 'sec_typed')$$);
SET ROLE regress_sec_mallory;
ALTER TABLE sec_mallory.typed ALTER item_id TYPE float8 USING item_id + 0.4;
RESET ROLE;
SELECT pg_temp.err($$SELECT * FROM unkd.recommend(1, 5, 'sec_typed')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.evaluate('sec_typed', 'sec_data')$$);

------------------------------------------------------------------------------
-- 2. Models are their owners': nobody else replaces, deploys, renames, drops
--    or reads them
------------------------------------------------------------------------------
SET ROLE regress_sec_alice;
CREATE TABLE sec_alice.private AS SELECT * FROM sec_data;
SELECT name, owner, readers FROM unkd.train('sec_alice_model', 'sec_alice.private', dim => 4, epochs => 2, notice_every => 0);
SET ROLE regress_sec_mallory;
SELECT pg_temp.err($$SELECT unkd.train('sec_alice_model', 'sec_data', dim => 4, epochs => 1, notice_every => 0)$$);
SELECT pg_temp.err($$SELECT unkd.distill('sec_alice_model', 'sec_data', teacher => 'sec_trap', epochs => 1, notice_every => 0)$$);
SELECT pg_temp.err($$SELECT unkd.retrain('sec_alice_model')$$);
SELECT pg_temp.err($$SELECT unkd.drop_model('sec_alice_model')$$);
SELECT pg_temp.err($$SELECT unkd.rename_model('sec_alice_model', 'sec_mine')$$);
SELECT pg_temp.err($$SELECT unkd.grant_model('sec_alice_model', 'regress_sec_mallory')$$);
SELECT pg_temp.err($$SELECT unkd.deploy('sec_alice_model')$$);
-- nor reads it: not served, not evaluated, not distilled from, not visible
SELECT pg_temp.err($$SELECT * FROM unkd.recommend(1, 5, 'sec_alice_model')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.evaluate('sec_alice_model', 'sec_data')$$);
SELECT pg_temp.err($$SELECT unkd.distill('sec_stolen', 'sec_data', teacher => 'sec_alice_model', epochs => 1, notice_every => 0)$$);
SELECT name FROM unkd.models ORDER BY name;
SELECT count(*) AS alice_rows FROM unkd.user_embeddings WHERE model = 'sec_alice_model';
SELECT count(*) AS alice_rows FROM unkd.item_embeddings WHERE model = 'sec_alice_model';
-- the registry tables cannot be written directly
SELECT pg_temp.err($$UPDATE unkd.models SET owner = 'regress_sec_mallory' WHERE name = 'sec_alice_model'$$);
SELECT pg_temp.err($$INSERT INTO unkd.models (name, kind, method, dim, n_users, n_items, n_interactions, strata, interactions, user_column, item_column, owner) VALUES ('x', 'teacher', 'bpr', 1, 0, 0, 0, '{}', 'sec_data', 'user_id', 'item_id', 'regress_sec_alice')$$);
SELECT pg_temp.err($$DELETE FROM unkd.item_embeddings$$);
-- a model that is deployed can only be replaced by a role that may manage it
SET ROLE regress_sec_alice;
SELECT pg_temp.err($$SELECT unkd.deploy('sec_alice_model')$$);
-- alice grants mallory a read: now mallory may serve and distil from it
SELECT unkd.grant_model('sec_alice_model', 'regress_sec_mallory');
SET ROLE regress_sec_mallory;
SELECT count(*) AS recommended FROM unkd.recommend(1, 5, 'sec_alice_model');
SELECT name, method, owner FROM unkd.distill('sec_student', 'sec_data', teacher => 'sec_alice_model', dim => 4, epochs => 1, notice_every => 0);
SELECT name FROM unkd.models ORDER BY name;
SET ROLE regress_sec_alice;
SELECT unkd.revoke_model('sec_alice_model', 'regress_sec_mallory');
SET ROLE regress_sec_mallory;
SELECT pg_temp.err($$SELECT * FROM unkd.recommend(1, 5, 'sec_alice_model')$$);
-- bob, without a grant of the trainer functions, cannot create models
SET ROLE regress_sec_bob;
SELECT pg_temp.err($$SELECT unkd.train('sec_bob', 'sec_data', dim => 4, epochs => 1, notice_every => 0)$$);
RESET ROLE;
-- the owner renames; the superuser may manage any model
SET ROLE regress_sec_alice;
SELECT unkd.rename_model('sec_alice_model', 'sec_alice_renamed');
SELECT pg_temp.err($$SELECT unkd.rename_model('sec_alice_renamed', 'sec_trap')$$);
RESET ROLE;
SELECT name, owner, version FROM unkd.retrain('sec_alice_renamed');
SELECT unkd.drop_model('sec_alice_renamed');

------------------------------------------------------------------------------
-- 3b. A re-entrant recommend: the seen relation's code retrains the model
--     and calls recommend while the outer call is using the cache entry
------------------------------------------------------------------------------
SET ROLE regress_sec_mallory;
CREATE TABLE sec_mallory.base AS SELECT * FROM sec_data;
CREATE FUNCTION sec_mallory.reenter() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF pg_catalog.current_setting('sec.depth', true) IS DISTINCT FROM '1' THEN
		PERFORM pg_catalog.set_config('sec.depth', '1', true);
		PERFORM unkd.train('sec_reenter', 'sec_mallory.base', dim => 4, epochs => 1, seed => 9,
						   seen => 'sec_mallory.reentrant', notice_every => 0);
		PERFORM * FROM unkd.recommend(1, 3, 'sec_reenter');
	END IF;
	RETURN true;
END $$;
CREATE VIEW sec_mallory.reentrant AS SELECT * FROM sec_mallory.base WHERE sec_mallory.reenter();
SELECT name FROM unkd.train('sec_reenter', 'sec_mallory.base', dim => 4, epochs => 1,
							seen => 'sec_mallory.reentrant', notice_every => 0);
SELECT unkd.grant_model('sec_reenter', 'public');
RESET ROLE;
SELECT count(*) AS recommended FROM unkd.recommend(1, 3, 'sec_reenter');
SELECT count(*) AS recommended FROM unkd.recommend(2, 3, 'sec_reenter');
SELECT version > 1 AS retrained_inside FROM unkd.models WHERE name = 'sec_reenter';
SELECT 1 AS backend_alive;

------------------------------------------------------------------------------
-- 5. Correct serving of real data
------------------------------------------------------------------------------
-- (a) a model trained on a filtered view excludes what its seen relation holds
CREATE TABLE sec_ratings AS
	SELECT user_id, item_id, (1 + (user_id * 7 + item_id * 3) % 5) AS rating FROM sec_data;
CREATE INDEX ON sec_ratings (user_id);
CREATE VIEW sec_liked AS SELECT user_id, item_id FROM sec_ratings WHERE rating >= 4;
SELECT name, seen FROM unkd.train('sec_liked_only', 'sec_liked', dim => 4, epochs => 2, notice_every => 0);
SELECT name, seen FROM unkd.train('sec_liked_seen', 'sec_liked', dim => 4, epochs => 2, notice_every => 0,
								  seen => 'sec_ratings');
SELECT m.name,
	   (SELECT count(*) FROM generate_series(1, 40) u, unkd.recommend(u, 5, m.name) r
		WHERE EXISTS (SELECT 1 FROM sec_ratings s WHERE s.user_id = u AND s.item_id = r.item_id)) AS already_rated
FROM unkd.models m WHERE m.name IN ('sec_liked_only', 'sec_liked_seen') ORDER BY m.name;
-- (b) evaluate warns when test rows are among the seen ones
SELECT users FROM unkd.evaluate('sec_liked_seen', 'sec_liked') WHERE group_id IS NULL;
-- (d) temporary relations cannot be stored in a model
CREATE TEMP TABLE sec_temp AS SELECT * FROM sec_data;
SELECT pg_temp.err($$SELECT unkd.train('sec_temp', 'sec_temp', dim => 4, epochs => 1, notice_every => 0)$$);
SELECT pg_temp.err($$SELECT unkd.train('sec_temp', 'sec_data', dim => 4, epochs => 1, notice_every => 0, seen => 'sec_temp')$$);
-- (e) retraining under a name never silently changes what the model is
SELECT name, kind, method FROM unkd.distill('sec_student2', 'sec_data', teacher => 'sec_liked_only', dim => 4, epochs => 1, notice_every => 0);
SELECT pg_temp.err($$SELECT unkd.train('sec_student2', 'sec_data', dim => 4, epochs => 1, notice_every => 0)$$);
SELECT pg_temp.err($$SELECT unkd.distill('sec_student2', 'sec_data', teacher => 'sec_liked_only', n_groups => 1, dim => 4, epochs => 1, notice_every => 0)$$);
SELECT name, kind, method, version FROM unkd.train('sec_student2', 'sec_data', dim => 4, epochs => 1, notice_every => 0, replace => true);
-- retrain keeps what the model is
SELECT name, kind, method, version FROM unkd.retrain('sec_student2');

------------------------------------------------------------------------------
-- 6. Cheap checks come before any work
------------------------------------------------------------------------------
SELECT pg_temp.err(format($$SELECT unkd.train(%L, 'sec_data', dim => 4, epochs => 1)$$, repeat('x', 3200)));
SELECT pg_temp.err($$SELECT unkd.train('', 'sec_data', dim => 4, epochs => 1)$$);
BEGIN TRANSACTION READ ONLY;
SELECT pg_temp.err($$SELECT unkd.train('sec_ro', 'sec_data', dim => 4, epochs => 1)$$);
SELECT pg_temp.err($$SELECT unkd.retrain('sec_student2')$$);
SELECT pg_temp.err($$SELECT unkd.deploy('sec_student2')$$);
SELECT pg_temp.err($$SELECT unkd.drop_model('sec_student2')$$);
ROLLBACK;
SELECT pg_temp.err($$SELECT unkd.retrain('sec_none')$$);
SELECT pg_temp.err($$SELECT unkd.train('sec_t', 'sec_data', dim => 4, epochs => 1, time_limit => '-1 s')$$);

-- time_limit stops at the end of an epoch, keeps the best and says so (its
-- NOTICE names the epoch, which depends on the machine's speed)
SET client_min_messages = warning;
SELECT name, metrics->>'stopped_early' AS stopped_early, metrics->>'stop_reason' AS stop_reason,
	   (metrics->>'epochs_run')::int < 100000 AS stopped_before_the_end
FROM unkd.train('sec_limited', 'sec_data', dim => 4, epochs => 100000, notice_every => 0,
				validation_fraction => 0, time_limit => '10 ms');
RESET client_min_messages;
SELECT metrics->>'stopped_early' AS stopped_early, metrics->>'stop_reason' AS stop_reason
FROM unkd.train('sec_limited', 'sec_data', dim => 4, epochs => 2, notice_every => 0,
				time_limit => '1 hour');

-- a model changes owner as other objects do: the owner (or a superuser)
-- gives it to a role it is a member of; serving then reads as the new owner
CREATE ROLE regress_sec_team;
GRANT regress_sec_team TO regress_sec_mallory;
SET ROLE regress_sec_mallory;
SELECT unkd.alter_model_owner('sec_typed', 'regress_sec_team');
SELECT pg_temp.err($$SELECT unkd.alter_model_owner('sec_rls', 'regress_sec_alice')$$);
SELECT name, owner FROM unkd.models WHERE name IN ('sec_typed', 'sec_rls') ORDER BY name;
SET ROLE regress_sec_alice;
SELECT pg_temp.err($$SELECT unkd.alter_model_owner('sec_rls', 'regress_sec_alice')$$);
RESET ROLE;
SELECT pg_temp.err($$SELECT unkd.alter_model_owner('sec_rls', 'regress_sec_nobody')$$);
SELECT pg_temp.err($$SELECT unkd.alter_model_owner('sec_rls', NULL)$$);
SELECT unkd.alter_model_owner('sec_typed', 'regress_sec_mallory');
DROP ROLE regress_sec_team;

-- a model whose owner role was dropped: a clear error, and a superuser can
-- still drop it
CREATE ROLE regress_sec_gone;
GRANT EXECUTE ON FUNCTION unkd.train TO regress_sec_gone;
SET ROLE regress_sec_gone;
SELECT name FROM unkd.train('sec_orphan', 'sec_data', dim => 4, epochs => 1, notice_every => 0);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION unkd.train FROM regress_sec_gone;
DROP ROLE regress_sec_gone;
SELECT pg_temp.err($$SELECT * FROM unkd.recommend(1, 5, 'sec_orphan')$$);
SELECT pg_temp.err($$SELECT * FROM unkd.evaluate('sec_orphan', 'sec_data')$$);
SELECT pg_temp.err($$SELECT unkd.retrain('sec_orphan')$$);

------------------------------------------------------------------------------
-- clean up
------------------------------------------------------------------------------
RESET ROLE;
SELECT unkd.drop_model(name) FROM unkd.models WHERE name LIKE 'sec\_%' ORDER BY name;
DROP SCHEMA sec_mallory CASCADE;
DROP SCHEMA sec_alice CASCADE;
DROP TABLE sec_data, sec_ratings CASCADE;
REVOKE EXECUTE ON FUNCTION unkd.train, unkd.distill, unkd.retrain
	FROM regress_sec_mallory, regress_sec_alice;
DROP ROLE regress_sec_mallory, regress_sec_alice, regress_sec_bob;
