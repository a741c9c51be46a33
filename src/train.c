/*
 * train.c
 *	  The SQL entry points of training: unkd.train, unkd.distill,
 *	  unkd.retrain, unkd.check_target and the sampler inspector
 *	  unkd.distill_pairs. They parse and check every argument before any
 *	  work; the run itself is trainer.c's.
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/tuplestore.h"

#include "keys.h"
#include "trainer.h"

/* a student's step when its lr or decay is NULL (StepArgs) */
#define STUDENT_ADAGRAD_LR		0.2
#define STUDENT_ADAGRAD_DECAY	0.003
#define PLAIN_STUDENT_ADAGRAD_DECAY	0.01
#define STUDENT_SGD_LR			0.05
#define STUDENT_SGD_DECAY		0.01

PG_FUNCTION_INFO_V1(unkd_train);
PG_FUNCTION_INFO_V1(unkd_distill);
PG_FUNCTION_INFO_V1(unkd_distill_pairs);
PG_FUNCTION_INFO_V1(unkd_retrain);
PG_FUNCTION_INFO_V1(unkd_check_target);

/* ---------- argument handling ---------- */

/* A required argument must not be NULL */
static void
CheckNotNull(FunctionCallInfo fcinfo, int arg, const char *what)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
}

/* A text argument as a C string, or NULL */
static char *
ArgText(FunctionCallInfo fcinfo, int arg)
{
	return PG_ARGISNULL(arg) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

/*
 * The id columns of a relation read with the training interactions hold
 * the same kinds of ids as those of the interactions (keys.h)
 */
static void
CheckLikeInteractions(Oid relid, const char *user_column, const char *item_column,
					  const TrainOptions *opt)
{
	Oid			user_type = UnkdIdColumnType(opt->interactions, opt->user_column);
	Oid			item_type = UnkdIdColumnType(opt->interactions, opt->item_column);
	char	   *whose = psprintf("the interactions relation %s",
								 UnkdRelationName(opt->interactions));

	UnkdCheckIdKind(relid, user_column, user_type, whose);
	UnkdCheckIdKind(relid, item_column, item_type, whose);
}

/* An integer option within [lo, hi] */
static void
CheckIntRange(const char *what, int64 value, int64 lo, int64 hi)
{
	if (value < lo || value > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between " INT64_FORMAT " and " INT64_FORMAT ", not " INT64_FORMAT,
						what, lo, hi, value)));
}

/*
 * A finite floating-point option, > 0 (strict) or >= 0, also as the float
 * the epoch loop uses (1e-308 would become 0, 1e308 infinity)
 */
static void
CheckPositive(const char *what, double value, bool strict)
{
	float		as_float = (float) value;

	if (!isfinite(value) || value < 0 || (strict && value == 0) ||
		!isfinite(as_float) || (strict && as_float == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number %s 0, not %g",
						what, strict ? "greater than" : "at least", value)));
}

/*
 * The relation a stored model serves from: not temporary, with id columns
 * of the kinds (integer or text) of the training interactions'
 */
static void
CheckStoredRelation(Oid relid, const char *role, const TrainOptions *opt)
{
	CheckLikeInteractions(relid, opt->user_column, opt->item_column, opt);
	UnkdCheckStorableRelation(relid, role);
}

/*
 * The name can take this run's model: the transaction can write, the
 * caller may manage an existing model of that name, and retraining does
 * not silently turn it into another kind of model
 */
static void
CheckTarget(const TrainOptions *opt, const char *command, const char *kind,
			const char *method)
{
	UnkdModelMeta meta;

	UnkdCheckCanWriteRegistry(command);
	UnkdCheckModelName(opt->name);
	UnkdModelMetaLookup(opt->name, &meta);
	if (!meta.exists)
		return;
	UnkdCheckCanManage(opt->name, meta.owner);
	if (!opt->replace && (strcmp(meta.kind, kind) != 0 || strcmp(meta.method, method) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" is a %s (%s), and %s would replace it with a %s (%s)",
						opt->name, meta.kind, meta.method, command, kind, method),
				 errhint("Pass replace => true to replace it, use another name, or unkd.retrain('%s') to retrain it as it is.",
						 opt->name)));
}

/* Options common to train and distill */
static void
CheckCommonOptions(const TrainOptions *opt)
{
	UnkdCheckModelName(opt->name);
	CheckIntRange("dim", opt->dim, 1, UNKD_MAX_DIM);
	CheckIntRange("epochs", opt->epochs, 1, MAX_EPOCHS);
	CheckPositive("lr", opt->lr, true);
	CheckPositive("decay", opt->decay, false);
	CheckPositive("init_std", opt->init_std, true);
	CheckIntRange("eval_every", opt->eval_every, 1, MAX_EPOCHS);
	CheckIntRange("patience", opt->patience, 1, MAX_EPOCHS);
	CheckIntRange("notice_every", opt->notice_every, 0, MAX_EPOCHS);
	if (isnan(opt->validation_fraction) || opt->validation_fraction < 0 ||
		opt->validation_fraction >= 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("validation_fraction must be at least 0 and less than 1, not %g",
						opt->validation_fraction),
				 errhint("0 turns the internal validation slice off.")));
	CheckStoredRelation(opt->interactions, "interactions", opt);
	if (OidIsValid(opt->seen))
		CheckStoredRelation(opt->seen, "seen", opt);
	if (OidIsValid(opt->validation))
		CheckLikeInteractions(opt->validation, opt->user_column, opt->item_column, opt);
}

/* The pair-quota exponent: finite and small enough that weights stay finite */
static void
CheckGroupWeightExponent(double exponent)
{
	if (isnan(exponent) || exponent < -10.0 || exponent > 10.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("group_weight_exponent must be between -10 and 10, not %g", exponent)));
}

/*
 * A teacher model has ids of the kinds of the interactions': codes and
 * integer ids are never matched with each other
 */
static void
CheckTeacherIds(const TrainOptions *opt, const UnkdModelMeta *meta)
{
	Oid			user_type = UnkdIdColumnType(opt->interactions, opt->user_column);
	Oid			item_type = UnkdIdColumnType(opt->interactions, opt->item_column);

	if (UnkdIsKeyType(user_type) != UnkdIsKeyType(meta->user_type) ||
		UnkdIsKeyType(item_type) != UnkdIsKeyType(meta->item_type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("teacher model \"%s\" has %s user ids and %s item ids, the interactions relation %s has %s user ids and %s item ids",
						opt->teacher.model, UnkdIdKindName(meta->user_type),
						UnkdIdKindName(meta->item_type), UnkdRelationName(opt->interactions),
						UnkdIdKindName(user_type), UnkdIdKindName(item_type)),
				 errhint("Distil from a teacher trained on ids of the same kinds.")));
}

/* Distillation options, including the choice of teacher */
static void
CheckDistillOptions(const TrainOptions *opt)
{
	bool		has_model = opt->teacher.model != NULL;
	bool		has_table = OidIsValid(opt->teacher.scores);

	UnkdCheckGroups(opt->n_groups);
	CheckIntRange("samples", opt->samples, 1, MAX_SAMPLES);
	CheckPositive("kd_weight", opt->kd_weight, false);
	CheckIntRange("candidates", opt->candidates, 2, MAX_CANDIDATES);
	UnkdCheckMu(opt->mu);
	CheckPositive("kd_decay", opt->kd_decay, false);
	CheckGroupWeightExponent(opt->group_weight_exponent);
	if (opt->kd_weight == 0)
		return;
	if (has_model && has_table)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("teacher and teacher_scores cannot both be given"),
				 errhint("Name a teacher model or a teacher-score table, not both.")));
	if (!has_model && !has_table)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("distillation needs a teacher"),
				 errhint("Pass teacher => 'model name' or teacher_scores => 'table', or kd_weight => 0 for a plain BPR student.")));
	/* fail before the expensive reading when the teacher is unknown */
	if (has_model)
	{
		UnkdModelMeta meta;

		UnkdModelMetaLookup(opt->teacher.model, &meta);
		if (!meta.exists)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" does not exist", opt->teacher.model),
					 errhint("See SELECT name FROM unkd.models for the trained models.")));
		UnkdCheckCanRead(opt->teacher.model, meta.owner, meta.readers, meta.n_readers);
		CheckTeacherIds(opt, &meta);
	}
	else
	{
		CheckLikeInteractions(opt->teacher.scores, opt->teacher.user_column,
							  opt->teacher.item_column, opt);
		UnkdCheckScoreColumn(opt->teacher.scores, opt->teacher.score_column);
	}
}

/* ---------- SQL entry points ---------- */

/* An interval as seconds (a month counts 30 days, as in interval arithmetic) */
static double
IntervalSeconds(const Interval *span)
{
	return span->time / (double) USECS_PER_SEC + span->day * (double) SECS_PER_DAY +
		span->month * (double) DAYS_PER_MONTH * SECS_PER_DAY;
}

/* A time limit argument: NULL for none, else a positive interval */
static double
TimeLimitArg(FunctionCallInfo fcinfo, int arg)
{
	double		seconds;

	if (PG_ARGISNULL(arg))
		return 0;
	seconds = IntervalSeconds(PG_GETARG_INTERVAL_P(arg));
	if (!(seconds > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time_limit must be a positive interval")));
	return seconds;
}

/* The seen, replace and time_limit arguments, from the first one's position */
static void
StorageArgs(FunctionCallInfo fcinfo, TrainOptions *opt, int a_seen)
{
	/* 0.1.0's SQL declaration has none of them (CheckTarget then says so) */
	if (PG_NARGS() <= a_seen)
		return;
	CheckNotNull(fcinfo, a_seen + 1, "replace");
	opt->seen = PG_ARGISNULL(a_seen) ? InvalidOid : PG_GETARG_OID(a_seen);
	opt->replace = PG_GETARG_BOOL(a_seen + 1);
	opt->time_limit = TimeLimitArg(fcinfo, a_seen + 2);
}

/* The optimizer argument: 'adagrad' or 'sgd' */
static UnkdOptimizer
OptimizerArg(const char *name)
{
	if (pg_strcasecmp(name, "adagrad") == 0)
		return UNKD_OPTIMIZER_ADAGRAD;
	if (pg_strcasecmp(name, "sgd") == 0)
		return UNKD_OPTIMIZER_SGD;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown optimizer \"%s\"", name),
			 errhint("Use 'adagrad' (the default) or 'sgd'.")));
	return UNKD_OPTIMIZER_SGD;	/* keep the compiler quiet */
}

/*
 * The optimizer, validation_fraction and workers arguments, from the first
 * one's position; without them (an older declaration) a run is plain SGD
 * with fixed epochs unless a validation relation is given, in this process
 * alone
 */
static void
OptimizerArgs(FunctionCallInfo fcinfo, TrainOptions *opt, int a_optimizer)
{
	opt->optimizer = UNKD_OPTIMIZER_SGD;
	opt->validation_fraction = 0;
	opt->workers = 0;
	if (PG_NARGS() <= a_optimizer)
		return;
	CheckNotNull(fcinfo, a_optimizer, "optimizer");
	CheckNotNull(fcinfo, a_optimizer + 1, "validation_fraction");
	opt->optimizer = OptimizerArg(ArgText(fcinfo, a_optimizer));
	opt->validation_fraction = PG_GETARG_FLOAT8(a_optimizer + 1);
	if (PG_NARGS() <= a_optimizer + 2)
		return;
	/* NULL: max_parallel_maintenance_workers, as CREATE INDEX */
	opt->workers = -1;
	if (!PG_ARGISNULL(a_optimizer + 2))
	{
		opt->workers = PG_GETARG_INT32(a_optimizer + 2);
		CheckIntRange("workers", opt->workers, 0, UNKD_MAX_TRAIN_WORKERS);
	}
}

/*
 * Options shared by both entry points, from their argument positions (lr
 * and decay at a_lr and a_lr + 1 are StepArgs')
 */
static void
CommonArgs(FunctionCallInfo fcinfo, TrainOptions *opt, int a_dim, int a_epochs,
		   int a_seed, int a_lr)
{
	static const char *const options[] = {"init_std", NULL, "eval_every",
	"patience", "notice_every", "user_column", "item_column"};
	int			a_first = a_lr + 2;

	CheckNotNull(fcinfo, 0, "name");
	CheckNotNull(fcinfo, 1, "interactions");
	CheckNotNull(fcinfo, a_dim, "dim");
	CheckNotNull(fcinfo, a_epochs, "epochs");
	CheckNotNull(fcinfo, a_seed, "seed");
	for (int k = 0; k < lengthof(options); k++)
		if (options[k] != NULL) /* validation may be NULL */
			CheckNotNull(fcinfo, a_first + k, options[k]);
	opt->name = ArgText(fcinfo, 0);
	opt->interactions = PG_GETARG_OID(1);
	opt->dim = PG_GETARG_INT32(a_dim);
	opt->epochs = PG_GETARG_INT32(a_epochs);
	opt->seed = PG_GETARG_INT64(a_seed);
	opt->init_std = PG_GETARG_FLOAT8(a_first);
	opt->validation = PG_ARGISNULL(a_first + 1) ? InvalidOid : PG_GETARG_OID(a_first + 1);
	opt->eval_every = PG_GETARG_INT32(a_first + 2);
	opt->patience = PG_GETARG_INT32(a_first + 3);
	opt->notice_every = PG_GETARG_INT32(a_first + 4);
	opt->user_column = ArgText(fcinfo, a_first + 5);
	opt->item_column = ArgText(fcinfo, a_first + 6);
}

/*
 * lr and decay, once the optimizer is known. A teacher must name both; a
 * student's NULL follows its optimizer: AdaGrad steps at 0.2 with decay
 * 0.003 (chosen on validation, docs/distill.md), SGD at 0.1.0's 0.05 and
 * 0.01, a step SGD does not diverge at. A plain student (kd_weight 0) keeps
 * decay 0.01 under AdaGrad too: without the distillation term, which
 * regularises, 0.003 overfits (validation, docs/distill.md).
 */
static void
StepArgs(FunctionCallInfo fcinfo, TrainOptions *opt, int a_lr, bool student)
{
	bool		adagrad = opt->optimizer == UNKD_OPTIMIZER_ADAGRAD;

	if (!student)
	{
		CheckNotNull(fcinfo, a_lr, "lr");
		CheckNotNull(fcinfo, a_lr + 1, "decay");
	}
	opt->lr = !PG_ARGISNULL(a_lr) ? PG_GETARG_FLOAT8(a_lr) :
		adagrad ? STUDENT_ADAGRAD_LR : STUDENT_SGD_LR;
	opt->decay = !PG_ARGISNULL(a_lr + 1) ? PG_GETARG_FLOAT8(a_lr + 1) :
		!adagrad ? STUDENT_SGD_DECAY :
		opt->kd_weight > 0 ? STUDENT_ADAGRAD_DECAY : PLAIN_STUDENT_ADAGRAD_DECAY;
}

/*
 * unkd.train(name, interactions, dim, epochs, seed, lr, decay, init_std,
 *			  validation, eval_every, patience, notice_every, user_column,
 *			  item_column): a BPR matrix factorisation teacher.
 */
Datum
unkd_train(PG_FUNCTION_ARGS)
{
	TrainOptions opt = {0};

	CommonArgs(fcinfo, &opt, 2, 3, 4, 5);
	StorageArgs(fcinfo, &opt, 14);
	OptimizerArgs(fcinfo, &opt, 17);
	StepArgs(fcinfo, &opt, 5, false);
	CheckTarget(&opt, "unkd.train()", "teacher", "bpr");
	CheckCommonOptions(&opt);
	PG_RETURN_DATUM(UnkdRunTraining(&opt, "teacher", "bpr"));
}

/* Distillation arguments after the common ones (positions of unkd.distill) */
static void
DistillArgs(FunctionCallInfo fcinfo, TrainOptions *opt)
{
	CheckNotNull(fcinfo, 5, "n_groups");
	CheckNotNull(fcinfo, 6, "samples");
	CheckNotNull(fcinfo, 7, "kd_weight");
	CheckNotNull(fcinfo, 19, "candidates");
	CheckNotNull(fcinfo, 20, "mu");
	CheckNotNull(fcinfo, 21, "score_column");
	CheckNotNull(fcinfo, 22, "kd_decay");
	CheckNotNull(fcinfo, 23, "group_weight_exponent");
	opt->distill = true;
	opt->teacher.model = ArgText(fcinfo, 2);
	opt->teacher.scores = PG_ARGISNULL(3) ? InvalidOid : PG_GETARG_OID(3);
	opt->n_groups = PG_GETARG_INT32(5);
	opt->samples = PG_GETARG_INT32(6);
	opt->kd_weight = PG_GETARG_FLOAT8(7);
	opt->candidates = PG_GETARG_INT32(19);
	opt->mu = PG_GETARG_FLOAT8(20);
	opt->teacher.score_column = ArgText(fcinfo, 21);
	opt->kd_decay = PG_GETARG_FLOAT8(22);
	opt->group_weight_exponent = PG_GETARG_FLOAT8(23);
	opt->teacher.user_column = opt->user_column;
	opt->teacher.item_column = opt->item_column;
}

/*
 * unkd.distill(name, interactions, teacher, teacher_scores, dim, n_groups,
 *				samples, kd_weight, epochs, seed, lr, decay, init_std,
 *				validation, eval_every, patience, notice_every, user_column,
 *				item_column, candidates, mu, score_column): a student.
 */
Datum
unkd_distill(PG_FUNCTION_ARGS)
{
	TrainOptions opt = {0};
	const char *method;

	CommonArgs(fcinfo, &opt, 4, 8, 9, 10);
	DistillArgs(fcinfo, &opt);
	StorageArgs(fcinfo, &opt, 24);
	OptimizerArgs(fcinfo, &opt, 27);
	StepArgs(fcinfo, &opt, 10, true);
	method = opt.kd_weight == 0 ? "bpr" : opt.n_groups == 1 ? "kd" : "unkd";
	CheckTarget(&opt, "unkd.distill()", "student", method);
	CheckCommonOptions(&opt);
	CheckDistillOptions(&opt);
	if (opt.kd_weight == 0)
	{
		/* a plain student: the teacher, if named, is not used */
		opt.teacher.model = NULL;
		opt.teacher.scores = InvalidOid;
	}
	PG_RETURN_DATUM(UnkdRunTraining(&opt, "student", method));
}

/*
 * unkd.distill_pairs(interactions, teacher, teacher_scores, n_groups,
 *					  samples, candidates, mu, seed, user_column, item_column,
 *					  score_column): one epoch of distillation pairs, with
 *					  their group and ranks, to inspect and test the sampler.
 */
Datum
unkd_distill_pairs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TrainOptions opt = {0};
	UnkdInteractions *data;
	Trainer		t;
	int32	   *pos,
			   *neg,
			   *pos_rank,
			   *neg_rank;
	int		   *group;
	static const char *const options[] = {"n_groups", "samples", "candidates", "mu", "seed",
	"user_column", "item_column", "score_column", "group_weight_exponent"};

	CheckNotNull(fcinfo, 0, "interactions");
	for (int k = 0; k < lengthof(options); k++)
		CheckNotNull(fcinfo, 3 + k, options[k]);
	opt.name = "distill_pairs";
	opt.interactions = PG_GETARG_OID(0);
	opt.distill = true;
	opt.teacher.model = ArgText(fcinfo, 1);
	opt.teacher.scores = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	opt.n_groups = PG_GETARG_INT32(3);
	opt.samples = PG_GETARG_INT32(4);
	opt.candidates = PG_GETARG_INT32(5);
	opt.mu = PG_GETARG_FLOAT8(6);
	opt.seed = PG_GETARG_INT64(7);
	opt.user_column = opt.teacher.user_column = ArgText(fcinfo, 8);
	opt.item_column = opt.teacher.item_column = ArgText(fcinfo, 9);
	opt.teacher.score_column = ArgText(fcinfo, 10);
	opt.group_weight_exponent = PG_GETARG_FLOAT8(11);
	opt.kd_weight = 1.0;
	opt.workers = -1;			/* max_parallel_maintenance_workers */
	UnkdCheckIdColumn(opt.interactions, opt.user_column);
	UnkdCheckIdColumn(opt.interactions, opt.item_column);
	CheckDistillOptions(&opt);

	InitMaterializedSRF(fcinfo, 0);
	data = UnkdReadTraining(&opt);
	UnkdCheckMemoryBudget(UnkdCandidatesBytes(data->n_users, opt.n_groups, opt.candidates),
						  "distillation candidates");
	memset(&t, 0, sizeof(t));
	t.data = t.all = data;
	UnkdComputeGroups(&t, opt.n_groups);
	t.cand = UnkdBuildCandidates(data, t.item_group, t.n_strata, opt.candidates,
								 &opt.teacher, opt.workers);
	t.cand->group_weight = UnkdGroupWeights(data, t.item_group, t.n_strata,
											opt.group_weight_exponent);
	UnkdRankSamplerInit(&t.sampler, opt.mu);
	pg_prng_seed(&t.rng, (uint64) opt.seed);
	pos = palloc(opt.samples * sizeof(int32));
	neg = palloc(opt.samples * sizeof(int32));
	pos_rank = palloc(opt.samples * sizeof(int32));
	neg_rank = palloc(opt.samples * sizeof(int32));
	group = palloc(opt.samples * sizeof(int));
	for (int32 u = 0; u < data->n_users; u++)
	{
		int			n = UnkdSampleUserPairs(t.cand, u, opt.samples, &t.sampler, &t.rng,
											pos, neg, pos_rank, neg_rank, group);

		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < n; k++)
		{
			Datum		values[6];
			bool		nulls[6] = {0};

			values[0] = Int64GetDatum(data->user_ids[u]);
			values[1] = Int32GetDatum(group[k]);
			values[2] = Int64GetDatum(data->item_ids[pos[k]]);
			values[3] = Int64GetDatum(data->item_ids[neg[k]]);
			values[4] = Int32GetDatum(pos_rank[k]);
			values[5] = Int32GetDatum(neg_rank[k]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * Named arguments of train and distill alike: params ($2), seen, columns,
 * time limit; a model trained before the optimizer and the internal
 * validation slice existed is retrained as it was, by SGD for fixed epochs
 */
#define RETRAIN_COMMON_ARGS \
	"interactions => ($2 OPERATOR(pg_catalog.->>) 'interactions')::pg_catalog.regclass, " \
	"dim => ($2 OPERATOR(pg_catalog.->>) 'dim')::pg_catalog.int4, " \
	"epochs => ($2 OPERATOR(pg_catalog.->>) 'epochs')::pg_catalog.int4, " \
	"seed => ($2 OPERATOR(pg_catalog.->>) 'seed')::pg_catalog.int8, " \
	"lr => ($2 OPERATOR(pg_catalog.->>) 'lr')::pg_catalog.float8, " \
	"decay => ($2 OPERATOR(pg_catalog.->>) 'decay')::pg_catalog.float8, " \
	"init_std => ($2 OPERATOR(pg_catalog.->>) 'init_std')::pg_catalog.float8, " \
	"validation => ($2 OPERATOR(pg_catalog.->>) 'validation')::pg_catalog.regclass, " \
	"eval_every => ($2 OPERATOR(pg_catalog.->>) 'eval_every')::pg_catalog.int4, " \
	"patience => ($2 OPERATOR(pg_catalog.->>) 'patience')::pg_catalog.int4, " \
	"user_column => $4, item_column => $5, " \
	"seen => $3::pg_catalog.regclass, time_limit => $6, " \
	"optimizer => COALESCE($2 OPERATOR(pg_catalog.->>) 'optimizer', 'sgd'), " \
	"validation_fraction => COALESCE(($2 OPERATOR(pg_catalog.->>) 'validation_fraction')::pg_catalog.float8, 0), " \
	"workers => COALESCE(($2 OPERATOR(pg_catalog.->>) 'workers')::pg_catalog.int4, 0)"

/* Named arguments of distill only (models of early 0.1.0 builds lack the last two) */
#define RETRAIN_DISTILL_ARGS \
	", teacher => $2 OPERATOR(pg_catalog.->>) 'teacher', " \
	"teacher_scores => ($2 OPERATOR(pg_catalog.->>) 'teacher_scores')::pg_catalog.regclass, " \
	"n_groups => ($2 OPERATOR(pg_catalog.->>) 'n_groups')::pg_catalog.int4, " \
	"samples => ($2 OPERATOR(pg_catalog.->>) 'samples')::pg_catalog.int4, " \
	"kd_weight => ($2 OPERATOR(pg_catalog.->>) 'kd_weight')::pg_catalog.float8, " \
	"candidates => ($2 OPERATOR(pg_catalog.->>) 'candidates')::pg_catalog.int4, " \
	"mu => ($2 OPERATOR(pg_catalog.->>) 'mu')::pg_catalog.float8, " \
	"score_column => $2 OPERATOR(pg_catalog.->>) 'score_column', " \
	"kd_decay => COALESCE(($2 OPERATOR(pg_catalog.->>) 'kd_decay')::pg_catalog.float8, 0), " \
	"group_weight_exponent => COALESCE(($2 OPERATOR(pg_catalog.->>) 'group_weight_exponent')::pg_catalog.float8, 0)"

/*
 * The call that retrains a model from its stored parameters: every
 * hyper-parameter and relation comes from params ($2), the name, seen
 * relation and id columns from the registry row ($1, $3-$5).
 */
static const char *
RetrainSql(bool teacher)
{
	if (teacher)
		return "SELECT r FROM unkd.train(name => $1, " RETRAIN_COMMON_ARGS ") AS r";
	return "SELECT r FROM unkd.distill(name => $1, " RETRAIN_COMMON_ARGS RETRAIN_DISTILL_ARGS ") AS r";
}

/*
 * unkd.retrain(name, time_limit): a new version of a model from its stored
 * parameters on the current contents of its tables. The run reads them as
 * the model's owner in a security-restricted operation, so a superuser or a
 * member retraining someone's model never runs that role's code with its
 * own rights.
 */
Datum
unkd_retrain(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[6] = {TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, INTERVALOID};
	Datum		values[6];
	char		nulls[7] = "      ";
	UnkdModelMeta meta;
	UnkdUserSwitch sw;
	char	   *name;
	bool		isnull;
	Datum		row;
	int			rc;

	CheckNotNull(fcinfo, 0, "name");
	name = ArgText(fcinfo, 0);
	UnkdCheckCanWriteRegistry("unkd.retrain()");
	(void) TimeLimitArg(fcinfo, 1);
	UnkdModelMetaLookup(name, &meta);
	if (!meta.exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("See SELECT name FROM unkd.models for the trained models.")));
	UnkdCheckCanManage(name, meta.owner);

	values[0] = CStringGetTextDatum(name);
	values[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(meta.params));
	values[2] = CStringGetTextDatum(meta.seen);
	values[3] = CStringGetTextDatum(meta.user_column);
	values[4] = CStringGetTextDatum(meta.item_column);
	values[5] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	if (PG_ARGISNULL(1))
		nulls[5] = 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	UnkdBecomeModelOwner(meta.owner, &sw);
	rc = SPI_execute_with_args(RetrainSql(strcmp(meta.kind, "teacher") == 0), 6, types,
							   values, nulls, false, 1);
	UnkdRestoreUser(&sw);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "retraining model \"%s\" failed: %s", name, SPI_result_code_string(rc));
	row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	MemoryContextSwitchTo(outer);
	row = SPI_datumTransfer(row, false, -1);
	SPI_finish();
	PG_RETURN_DATUM(row);
}

/*
 * unkd.check_target(name, command, kind, method, replace): the checks
 * train and distill make on the name they will write, for callers that
 * build a model under a name in several steps (unkd.tune), before any work
 */
Datum
unkd_check_target(PG_FUNCTION_ARGS)
{
	TrainOptions opt = {0};
	const char *command;
	const char *kind;
	const char *method;

	for (int arg = 0; arg < 5; arg++)
		CheckNotNull(fcinfo, arg, "an argument of unkd.check_target");
	opt.name = ArgText(fcinfo, 0);
	command = ArgText(fcinfo, 1);
	kind = ArgText(fcinfo, 2);
	method = ArgText(fcinfo, 3);
	opt.replace = PG_GETARG_BOOL(4);
	CheckTarget(&opt, command, kind, method);
	PG_RETURN_VOID();
}
