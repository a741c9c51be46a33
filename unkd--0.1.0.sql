/* unkd--0.1.0.sql: install script of the unkd extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION unkd" to load this file. \quit

------------------------------------------------------------------------------
-- Popularity strata
------------------------------------------------------------------------------

CREATE FUNCTION unkd.popularity_strata_transfn(internal, bigint, integer)
RETURNS internal
AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION unkd.popularity_strata_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE FUNCTION unkd.popularity_strata_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;

CREATE FUNCTION unkd.popularity_strata_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME' LANGUAGE C STRICT PARALLEL SAFE;

CREATE FUNCTION unkd.popularity_strata_finalfn(internal, bigint, integer)
RETURNS bigint[]
AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;

CREATE AGGREGATE unkd.popularity_strata(item_id bigint, n_groups integer) (
	SFUNC = unkd.popularity_strata_transfn,
	STYPE = internal,
	FINALFUNC = unkd.popularity_strata_finalfn,
	FINALFUNC_EXTRA,
	COMBINEFUNC = unkd.popularity_strata_combinefn,
	SERIALFUNC = unkd.popularity_strata_serialfn,
	DESERIALFUNC = unkd.popularity_strata_deserialfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE unkd.popularity_strata(bigint, integer) IS
'popularity lower bound of each of n_groups equal-mass item groups, most popular first (each row counts once)';

CREATE FUNCTION unkd.popularity_groups(
	interactions regclass,
	n_groups integer DEFAULT 4,
	item_column text DEFAULT 'item_id',
	user_column text DEFAULT 'user_id')
RETURNS TABLE(item_id bigint, popularity bigint, group_id integer)
AS 'MODULE_PATHNAME', 'unkd_popularity_groups' LANGUAGE C STABLE STRICT;

COMMENT ON FUNCTION unkd.popularity_groups(regclass, integer, text, text) IS
'every item of an interactions table with its popularity (distinct users) and popularity group (0 = most popular)';

------------------------------------------------------------------------------
-- Data helpers
------------------------------------------------------------------------------

CREATE FUNCTION unkd.synthetic_interactions(
	n_users integer,
	n_items integer,
	per_user integer,
	skew double precision DEFAULT 1.0,
	seed bigint DEFAULT 0)
RETURNS TABLE(user_id bigint, item_id bigint)
AS 'MODULE_PATHNAME', 'unkd_synthetic_interactions' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION unkd.synthetic_interactions(integer, integer, integer, double precision, bigint) IS
'deterministic long-tailed implicit feedback with latent user tastes, for demos and tests';

CREATE FUNCTION unkd.split(
	interactions regclass,
	test_fraction double precision DEFAULT 0.2,
	seed bigint DEFAULT 0,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id')
RETURNS TABLE(user_id bigint, item_id bigint, is_test boolean)
AS 'MODULE_PATHNAME', 'unkd_split' LANGUAGE C STABLE STRICT;

COMMENT ON FUNCTION unkd.split(regclass, double precision, bigint, text, text) IS
'per-user random train/test split of the distinct interactions, deterministic for a seed';

------------------------------------------------------------------------------
-- Model registry
------------------------------------------------------------------------------

CREATE SEQUENCE unkd.model_version_seq;

CREATE TABLE unkd.models (
	name			text PRIMARY KEY,
	version_id		bigint NOT NULL UNIQUE DEFAULT pg_catalog.nextval('unkd.model_version_seq'),
	version			integer NOT NULL DEFAULT 1,
	kind			text NOT NULL CHECK (kind IN ('teacher', 'student')),
	method			text NOT NULL CHECK (method IN ('bpr', 'kd', 'unkd')),
	dim				integer NOT NULL CHECK (dim > 0),
	n_users			integer NOT NULL,
	n_items			integer NOT NULL,
	n_interactions	bigint NOT NULL,
	strata			bigint[] NOT NULL,
	interactions	text NOT NULL,
	user_column		text NOT NULL,
	item_column		text NOT NULL,
	params			jsonb NOT NULL DEFAULT '{}',
	metrics			jsonb NOT NULL DEFAULT '{}',
	deployed		boolean NOT NULL DEFAULT false,
	trained_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	train_seconds	double precision
);

CREATE UNIQUE INDEX models_one_deployed ON unkd.models (deployed) WHERE deployed;

COMMENT ON TABLE unkd.models IS 'one row per model: its current version, parameters and metrics';
COMMENT ON COLUMN unkd.models.version_id IS 'identifies the current version; a new value at every retraining';
COMMENT ON COLUMN unkd.models.version IS 'number of times this name has been trained';
COMMENT ON COLUMN unkd.models.interactions IS 'the training interactions relation, as a qualified name; recommend() excludes what a user has there';
COMMENT ON COLUMN unkd.models.strata IS 'popularity lower bounds of the training popularity groups';
COMMENT ON COLUMN unkd.models.deployed IS 'true for the model recommend() uses when none is named';

CREATE TABLE unkd.user_embeddings (
	model		text NOT NULL REFERENCES unkd.models (name) ON DELETE CASCADE ON UPDATE CASCADE,
	user_id		bigint NOT NULL,
	embedding	real[] NOT NULL,
	PRIMARY KEY (model, user_id)
);

COMMENT ON TABLE unkd.user_embeddings IS 'user vectors of the current version of each model (model = unkd.models.name)';

CREATE TABLE unkd.item_embeddings (
	model		text NOT NULL REFERENCES unkd.models (name) ON DELETE CASCADE ON UPDATE CASCADE,
	item_id		bigint NOT NULL,
	popularity	bigint NOT NULL,
	embedding	real[] NOT NULL,
	PRIMARY KEY (model, item_id)
);

COMMENT ON TABLE unkd.item_embeddings IS 'item vectors and training popularity of the current version of each model (model = unkd.models.name)';

GRANT USAGE ON SCHEMA unkd TO PUBLIC;
GRANT SELECT ON unkd.models, unkd.user_embeddings, unkd.item_embeddings TO PUBLIC;

------------------------------------------------------------------------------
-- Serving and evaluation
------------------------------------------------------------------------------

CREATE FUNCTION unkd.recommend(
	user_id bigint,
	k integer DEFAULT 10,
	model text DEFAULT NULL)
RETURNS TABLE(item_id bigint, score real, rank integer)
AS 'MODULE_PATHNAME', 'unkd_recommend' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL SAFE ROWS 10;

COMMENT ON FUNCTION unkd.recommend(bigint, integer, text) IS
'exact top-k unseen items of a user by inner product, best first (model NULL = the deployed model; a user the model has not seen gets the most popular unseen items, score = popularity)';

CREATE FUNCTION unkd.evaluate(
	model text,
	test regclass,
	k integer DEFAULT 20,
	n_groups integer DEFAULT 4,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id')
RETURNS TABLE(group_id integer, users bigint, recall double precision,
			  "precision" double precision, ndcg double precision, share double precision)
AS 'MODULE_PATHNAME', 'unkd_evaluate' LANGUAGE C STABLE CALLED ON NULL INPUT ROWS 5;

COMMENT ON FUNCTION unkd.evaluate(text, regclass, integer, integer, text, text) IS
'full-ranking recall, precision and NDCG at k of a model on a test table, with recall and top-k share per training popularity group (group_id NULL = overall)';
-- Training and distillation
------------------------------------------------------------------------------

-- Not STRICT: validation and the teacher arguments may be NULL; the C code
-- rejects NULL in every other argument with a clear error.
CREATE FUNCTION unkd.train(
	name text,
	interactions regclass,
	dim integer DEFAULT 100,
	epochs integer DEFAULT 50,
	seed bigint DEFAULT 0,
	lr double precision DEFAULT 0.05,
	decay double precision DEFAULT 0.01,
	init_std double precision DEFAULT 0.1,
	validation regclass DEFAULT NULL,
	eval_every integer DEFAULT 5,
	patience integer DEFAULT 2,
	notice_every integer DEFAULT 10,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id')
RETURNS unkd.models
AS 'MODULE_PATHNAME', 'unkd_train' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.train(text, regclass, integer, integer, bigint, double precision, double precision, double precision, regclass, integer, integer, integer, text, text) IS
'train a BPR matrix factorisation model (a teacher) and store it as the new version of name';

CREATE FUNCTION unkd.distill(
	name text,
	interactions regclass,
	teacher text DEFAULT NULL,
	teacher_scores regclass DEFAULT NULL,
	dim integer DEFAULT 10,
	n_groups integer DEFAULT 4,
	samples integer DEFAULT 30,
	kd_weight double precision DEFAULT 1.0,
	epochs integer DEFAULT 50,
	seed bigint DEFAULT 0,
	lr double precision DEFAULT 0.05,
	decay double precision DEFAULT 0.01,
	init_std double precision DEFAULT 0.1,
	validation regclass DEFAULT NULL,
	eval_every integer DEFAULT 5,
	patience integer DEFAULT 2,
	notice_every integer DEFAULT 10,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id',
	candidates integer DEFAULT 200,
	mu double precision DEFAULT 20,
	score_column text DEFAULT 'score',
	kd_decay double precision DEFAULT 0,
	group_weight_exponent double precision DEFAULT 0)
RETURNS unkd.models
AS 'MODULE_PATHNAME', 'unkd_distill' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.distill(text, regclass, text, regclass, integer, integer, integer, double precision, integer, bigint, double precision, double precision, double precision, regclass, integer, integer, integer, text, text, integer, double precision, text, double precision, double precision) IS
'train a compact student with popularity-stratified (n_groups >= 2), standard (n_groups = 1) or no (kd_weight = 0) rank-aware distillation from a teacher model or score table';

CREATE FUNCTION unkd.deploy(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'unkd_deploy' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.deploy(text) IS
'make a model the one unkd.recommend uses when no model is named';

CREATE FUNCTION unkd.drop_model(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'unkd_drop_model' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.drop_model(text) IS
'remove a model and its embeddings from the registry';

CREATE FUNCTION unkd.sample_ranks(
	n_candidates integer,
	n integer,
	mu double precision DEFAULT 20,
	seed bigint DEFAULT 0)
RETURNS TABLE(better integer, worse integer)
AS 'MODULE_PATHNAME', 'unkd_sample_ranks' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION unkd.sample_ranks(integer, integer, double precision, bigint) IS
'debugging aid: n rank pairs (0-based) drawn from a candidate list of n_candidates as distillation draws them';

CREATE FUNCTION unkd.distill_pairs(
	interactions regclass,
	teacher text DEFAULT NULL,
	teacher_scores regclass DEFAULT NULL,
	n_groups integer DEFAULT 4,
	samples integer DEFAULT 30,
	candidates integer DEFAULT 200,
	mu double precision DEFAULT 20,
	seed bigint DEFAULT 0,
	user_column text DEFAULT 'user_id',
	item_column text DEFAULT 'item_id',
	score_column text DEFAULT 'score',
	group_weight_exponent double precision DEFAULT 0)
RETURNS TABLE(user_id bigint, group_id integer, better_item bigint, worse_item bigint,
			  better_rank integer, worse_rank integer)
AS 'MODULE_PATHNAME', 'unkd_distill_pairs' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION unkd.distill_pairs(regclass, text, regclass, integer, integer, integer, double precision, bigint, text, text, text, double precision) IS
'debugging aid: one epoch of the distillation pairs of every user, with popularity group and candidate ranks';
