/* unkd--0.1.0--0.2.0.sql: upgrade of the unkd extension from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION unkd UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Argument checks: NULL arguments raise 22004 instead of returning no rows
------------------------------------------------------------------------------


------------------------------------------------------------------------------
-- Registry dump
------------------------------------------------------------------------------

-- pg_dump leaves out the contents of an extension's objects unless they are
-- marked as configuration: without this, dump and restore of a database loses
-- every model, and the restored sequence would hand out version ids again.
SELECT pg_catalog.pg_extension_config_dump('unkd.models', '');
SELECT pg_catalog.pg_extension_config_dump('unkd.user_embeddings', '');
SELECT pg_catalog.pg_extension_config_dump('unkd.item_embeddings', '');
SELECT pg_catalog.pg_extension_config_dump('unkd.model_version_seq', '');
