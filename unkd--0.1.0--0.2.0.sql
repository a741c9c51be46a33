/* unkd--0.1.0--0.2.0.sql: upgrade of the unkd extension from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION unkd UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Argument checks: NULL arguments raise 22004 instead of returning no rows
------------------------------------------------------------------------------

