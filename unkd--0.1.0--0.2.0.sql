/* unkd--0.1.0--0.2.0.sql: upgrade of the unkd extension from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION unkd UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Argument checks: NULL arguments raise 22004 instead of returning no rows
------------------------------------------------------------------------------

-- The data helpers and the sampler were STRICT, so a NULL argument silently
-- gave no rows; they now check every argument in C like the other functions.
ALTER FUNCTION unkd.popularity_groups(regclass, integer, text, text) CALLED ON NULL INPUT;
ALTER FUNCTION unkd.synthetic_interactions(integer, integer, integer, double precision, bigint) CALLED ON NULL INPUT;
ALTER FUNCTION unkd.split(regclass, double precision, bigint, text, text) CALLED ON NULL INPUT;
ALTER FUNCTION unkd.sample_ranks(integer, integer, double precision, bigint) CALLED ON NULL INPUT;
