-- Installing into a schema unkd that an untrusted role owns is refused: that
-- role could replace or drop unkd's objects. Same for the upgrade script.
\set regress_db :DBNAME
CREATE ROLE regress_squatter;
CREATE DATABASE regress_unkd_squat;
\c regress_unkd_squat
CREATE SCHEMA unkd AUTHORIZATION regress_squatter;
CREATE EXTENSION unkd;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'unkd';
-- a schema the installing superuser owns is fine
DROP SCHEMA unkd;
CREATE SCHEMA unkd;
CREATE EXTENSION unkd;
SELECT extversion FROM pg_extension WHERE extname = 'unkd';
\c :regress_db
DROP DATABASE regress_unkd_squat;
DROP ROLE regress_squatter;
