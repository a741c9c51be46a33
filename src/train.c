/*
 * train.c
 *	  unkd.train and unkd.distill: BPR matrix factorisation trained by
 *	  per-sample SGD, optionally with the (un)biased rank-aware distillation
 *	  term of spec/METHOD.md section 6, and early stopping on validation
 *	  NDCG@20.
 *
 * Everything is read up front and written once at the end through
 * UnkdSaveModel in the caller's transaction, so a failed or cancelled run
 * never leaves a partial model: the previous version stays until commit.
 * The epoch loop touches only contiguous arrays and a local PRNG seeded from
 * the seed argument, so a seed reproduces a model bit for bit on one build.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "common/pg_prng.h"
#include "common/shortest_dec.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "unkd.h"
#include "keys.h"
#include "sampling.h"
#include "sgd.h"

#define VALIDATION_K		20
#define TRAIN_STRATA		4	/* strata recorded for a plain train() model */
#define MAX_EPOCHS			100000
#define MAX_SAMPLES			10000
#define MAX_CANDIDATES		100000

/* Every option of one training run, as given (validated by Check...) */
typedef struct TrainOptions
{
	const char *name;
	Oid			interactions;
	int32		dim;
	int32		epochs;
	int64		seed;
	double		lr;
	double		decay;
	double		init_std;
	Oid			validation;		/* InvalidOid: fixed epochs */
	int32		eval_every;
	int32		patience;
	int32		notice_every;	/* 0: quiet */
	const char *user_column;
	const char *item_column;
	Oid			seen;			/* InvalidOid: the interactions relation */
	bool		replace;		/* may change the kind or method of a name */
	double		time_limit;		/* seconds; 0: none */
	/* distillation only */
	bool		distill;
	UnkdTeacherSource teacher;
	int32		n_groups;
	int32		samples;
	double		kd_weight;
	int32		candidates;
	double		mu;
	double		kd_decay;		/* decay of distillation steps */
	double		group_weight_exponent;	/* 0: even pair quotas */
} TrainOptions;

/* Validation interactions mapped onto the training indices */
typedef struct Validation
{
	int32		n_users;
	int32	   *user;			/* [n_users] training user index */
	int64	   *start;			/* [n_users + 1] offsets into items */
	int32	   *items;			/* training item index, -1 if never trained on */
	float	   *scores;			/* [n_items] scratch */
	int32	   *ranked;			/* [VALIDATION_K] scratch */
	UnkdTopK	topk;
} Validation;

/* The state of one run */
typedef struct Trainer
{
	const TrainOptions *opt;
	const UnkdInteractions *data;
	float	   *user_emb;
	float	   *item_emb;
	float	   *best_user_emb;	/* copies at the best validation NDCG */
	float	   *best_item_emb;
	int32	   *order;			/* [n_pairs] this epoch's visiting order */
	int32	   *pair_user;		/* [n_pairs] user of each CSR position */
	pg_prng_state rng;
	/* popularity strata */
	int			n_strata;
	int64		strata[UNKD_MAX_GROUPS];
	int		   *item_group;
	/* distillation */
	UnkdCandidates *cand;
	UnkdRankSampler sampler;
	int32	   *kd_pos;			/* [n_users * samples] this epoch's pairs */
	int32	   *kd_neg;
	int32	   *kd_count;		/* [n_users] pairs this epoch (samples or 0) */
	int32	   *kd_step;		/* [n_users] interactions visited this epoch */
	Validation *val;
	/* results */
	double		bpr_loss;
	double		kd_loss;
	int64		updates;
	int32		epochs_run;
	int32		best_epoch;
	double		best_ndcg;
	double		loop_seconds;
	const char *stop_reason;	/* "epochs", "patience" or "time_limit" */
	instr_time	run_start;		/* the time limit counts from here */
} Trainer;

PG_FUNCTION_INFO_V1(unkd_train);
PG_FUNCTION_INFO_V1(unkd_distill);
PG_FUNCTION_INFO_V1(unkd_distill_pairs);
PG_FUNCTION_INFO_V1(unkd_retrain);
PG_FUNCTION_INFO_V1(unkd_check_target);

static double SecondsSince(instr_time start);

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

/* ---------- set-up ---------- */

/* Popularity strata and each item's group */
static void
ComputeGroups(Trainer *t, int n_groups)
{
	const UnkdInteractions *data = t->data;

	t->n_strata = UnkdComputeStrata(data->item_pop, data->n_items, n_groups, t->strata);
	t->item_group = palloc(data->n_items * sizeof(int));
	for (int32 i = 0; i < data->n_items; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		t->item_group[i] = UnkdGroupOf(data->item_pop[i], t->strata, t->n_strata);
	}
}

/* Everything the run allocates, so it fails before work, not midway */
static void
CheckRunMemory(const TrainOptions *opt, const UnkdInteractions *data)
{
	double		rows = (double) data->n_users + data->n_items;
	double		bytes = rows * opt->dim * sizeof(float);

	if (OidIsValid(opt->validation))
		bytes *= 2;				/* the best parameters are kept aside */
	bytes += (double) data->n_pairs * 2 * sizeof(int32);
	if (opt->distill && opt->kd_weight > 0)
	{
		bytes += UnkdCandidatesBytes(data->n_users, opt->n_groups, opt->candidates);
		bytes += (double) data->n_users * (2.0 * opt->samples + 2) * sizeof(int32);
	}
	UnkdCheckMemoryBudget(bytes, "training");
}

/* Small Gaussian values (Box-Muller) from the run's own PRNG */
static void
InitEmbeddings(float *emb, int64 n, double std, pg_prng_state *rng)
{
	for (int64 k = 0; k < n; k += 2)
	{
		double		u1 = 1.0 - pg_prng_double(rng);	/* (0, 1]: log is finite */
		double		u2 = pg_prng_double(rng);
		double		r = std * sqrt(-2.0 * log(u1));

		if ((k & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();

		emb[k] = (float) (r * cos(2.0 * M_PI * u2));
		if (k + 1 < n)
			emb[k + 1] = (float) (r * sin(2.0 * M_PI * u2));
	}
}

/* Read the validation table, keeping users the model can score */
static Validation *
LoadValidation(const TrainOptions *opt, const UnkdInteractions *data)
{
	UnkdInteractions *raw = UnkdReadKeyedInteractions(opt->validation, opt->user_column,
												 opt->item_column);
	Validation *val = palloc0(sizeof(Validation));
	int64		n = 0;

	val->user = palloc(raw->n_users * sizeof(int32));
	val->start = palloc((raw->n_users + 1) * sizeof(int64));
	val->items = UnkdAllocHuge(raw->n_pairs, sizeof(int32));
	for (int32 v = 0; v < raw->n_users; v++)
	{
		int32		u = UnkdLookupUser(data, raw->user_ids[v]);
		int64		first = n;

		CHECK_FOR_INTERRUPTS();
		if (u < 0)
			continue;
		for (int64 e = raw->user_start[v]; e < raw->user_start[v + 1]; e++)
		{
			int32		i = UnkdLookupItem(data, raw->item_ids[raw->user_items[e]]);

			/* a held-out item the user trained on cannot be recommended */
			if (i >= 0 && UnkdUserHasItem(data, u, i))
				continue;
			val->items[n++] = i;
		}
		if (n == first)
			continue;
		/* unknown items map to -1: sorting keeps the list searchable */
		qsort(val->items + first, n - first, sizeof(int32), UnkdCompareInt32);
		val->user[val->n_users] = u;
		val->start[val->n_users] = first;
		val->n_users++;
	}
	val->start[val->n_users] = n;
	if (val->n_users == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("validation relation %s has no held-out items of training users",
						UnkdRelationName(opt->validation)),
				 errhint("Validate on a slice of the same users' interactions, e.g. from unkd.split.")));
	val->scores = UnkdAllocHuge(data->n_items, sizeof(float));
	val->ranked = palloc(VALIDATION_K * sizeof(int32));
	UnkdTopKInit(&val->topk, VALIDATION_K);
	return val;
}

/* Allocate and initialise the trainer of one run */
static void
InitTrainer(Trainer *t, const TrainOptions *opt, const UnkdInteractions *data)
{
	int64		n_user_emb = (int64) data->n_users * opt->dim;
	int64		n_item_emb = (int64) data->n_items * opt->dim;

	memset(t, 0, sizeof(Trainer));
	t->opt = opt;
	t->data = data;
	pg_prng_seed(&t->rng, (uint64) opt->seed);
	t->user_emb = UnkdAllocHuge(n_user_emb, sizeof(float));
	t->item_emb = UnkdAllocHuge(n_item_emb, sizeof(float));
	InitEmbeddings(t->user_emb, n_user_emb, opt->init_std, &t->rng);
	InitEmbeddings(t->item_emb, n_item_emb, opt->init_std, &t->rng);
	t->order = UnkdAllocHuge(data->n_pairs, sizeof(int32));
	t->pair_user = UnkdAllocHuge(data->n_pairs, sizeof(int32));
	for (int64 e = 0; e < data->n_pairs; e++)
		t->order[e] = (int32) e;
	for (int32 u = 0; u < data->n_users; u++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int64 e = data->user_start[u]; e < data->user_start[u + 1]; e++)
			t->pair_user[e] = u;
	}
	t->best_ndcg = -1.0;
}

/* Allocate the per-epoch pair buffers of distillation */
static void
InitDistillation(Trainer *t)
{
	const TrainOptions *opt = t->opt;
	int32		n_users = t->data->n_users;

	UnkdRankSamplerInit(&t->sampler, opt->mu);
	t->kd_pos = UnkdAllocHuge((Size) n_users * opt->samples, sizeof(int32));
	t->kd_neg = UnkdAllocHuge((Size) n_users * opt->samples, sizeof(int32));
	t->kd_count = UnkdAllocHuge(n_users, sizeof(int32));
	t->kd_step = UnkdAllocHuge(n_users, sizeof(int32));
}

/* ---------- the epoch loop ---------- */

/* A fresh random visiting order of all interactions (Fisher-Yates) */
static void
ShuffleOrder(Trainer *t)
{
	int32	   *order = t->order;

	for (int64 k = t->data->n_pairs - 1; k > 0; k--)
	{
		int32		j = UnkdScaleBelow(pg_prng_uint32(&t->rng), (int) (k + 1));
		int32		tmp = order[k];

		if ((k & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		order[k] = order[j];
		order[j] = tmp;
	}
}

/* Draw this epoch's distillation pairs of every user */
static void
SampleEpochPairs(Trainer *t)
{
	int32		samples = t->opt->samples;

	for (int32 u = 0; u < t->data->n_users; u++)
	{
		if ((u & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		t->kd_count[u] = UnkdSampleUserPairs(t->cand, u, samples, &t->sampler, &t->rng,
											 t->kd_pos + (int64) u * samples,
											 t->kd_neg + (int64) u * samples,
											 NULL, NULL, NULL);
		t->kd_step[u] = 0;
	}
}

/*
 * The distillation steps attached to one visit of user u (n_u visits per
 * epoch). Each of the user's pairs must carry kd_weight * n_u / samples of
 * weight per epoch (METHOD.md: the KD mean is counted per interaction); the
 * V = max(n_u, samples) visits of pairs are spread evenly over the n_u
 * interaction steps, each with weight kd_weight * n_u / V <= kd_weight, so
 * no single step is larger than a plain BPR step.
 */
static inline double
DistillStep(Trainer *t, int32 u, int64 n_u, float *user_vec, float lr, float decay)
{
	int32		count = t->kd_count[u];
	int64		visits = Max(n_u, (int64) count);
	int64		k = t->kd_step[u]++;
	int64		from = k * visits / n_u;
	int64		to = (k + 1) * visits / n_u;
	float		weight = (float) (t->opt->kd_weight * n_u / visits);
	const int32 *pos = t->kd_pos + (int64) u * t->opt->samples;
	const int32 *neg = t->kd_neg + (int64) u * t->opt->samples;
	int			dim = t->opt->dim;
	double		loss = 0.0;

	/* one visit may carry up to samples pairs: check per visit, not per 4096 */
	CHECK_FOR_INTERRUPTS();
	for (int64 m = from; m < to; m++)
	{
		int32		slot = (int32) (m % count);

		loss += UnkdBprStep(user_vec, t->item_emb + (int64) pos[slot] * dim,
							t->item_emb + (int64) neg[slot] * dim, dim, lr, decay,
							weight);
		t->updates++;
	}
	return loss;
}

/*
 * One epoch: every training interaction once in random order, a BPR step
 * against a uniform unseen negative and, when distilling, its share of KD
 * pair steps. Accumulates the epoch's losses into the trainer.
 */
static void
RunEpoch(Trainer *t)
{
	const UnkdInteractions *data = t->data;
	const int64 *user_start = data->user_start;
	const int32 *user_items = data->user_items;
	/* locals: with -fno-strict-aliasing every float store would reload fields */
	const int32 *order = t->order;
	const int32 *pair_user = t->pair_user;
	float	   *user_emb = t->user_emb;
	float	   *item_emb = t->item_emb;
	int64		n_pairs = data->n_pairs;
	int32		n_items = data->n_items;
	int			dim = t->opt->dim;
	float		lr = (float) t->opt->lr;
	float		decay = (float) t->opt->decay;
	/* the reference leaves KD pairs unregularised; kd_decay makes it a choice */
	float		kd_decay = (float) t->opt->kd_decay;
	bool		distill = t->cand != NULL;
	int64		updates = 0;
	double		bpr_loss = 0.0;
	double		kd_loss = 0.0;

	ShuffleOrder(t);
	if (distill)
		SampleEpochPairs(t);
	for (int64 s = 0; s < n_pairs; s++)
	{
		int32		e = order[s];
		int32		u = pair_user[e];
		int64		first = user_start[u];
		int64		n_u = user_start[u + 1] - first;
		float	   *user_vec = user_emb + (int64) u * dim;

		if ((s & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		/* a user who has every item has no negative to contrast */
		if (n_u < n_items)
		{
			int32		j;

			do
				j = UnkdScaleBelow(pg_prng_uint32(&t->rng), n_items);
			while (UnkdSortedContains(user_items + first, n_u, j));
			bpr_loss += UnkdBprStep(user_vec, item_emb + (int64) user_items[e] * dim,
									item_emb + (int64) j * dim, dim, lr, decay, 1.0f);
			updates++;
		}
		if (distill && t->kd_count[u] > 0)
			kd_loss += DistillStep(t, u, n_u, user_vec, lr, kd_decay);
	}
	t->updates += updates;
	t->bpr_loss = bpr_loss / n_pairs;
	t->kd_loss = kd_loss / n_pairs;
}

/* Stop with a clear error when the parameters have diverged */
static void
CheckDiverged(const Trainer *t, int32 epoch)
{
	if (isfinite(t->bpr_loss) && isfinite(t->kd_loss))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("training of model \"%s\" diverged at epoch %d: the loss is not finite",
					t->opt->name, epoch),
			 errdetail("No model was stored; the previous version, if any, is unchanged."),
			 errhint("Lower lr (now %g) or raise decay.", t->opt->lr)));
}

/* Mean NDCG@20 over the validation users, with training items excluded */
static double
ValidationNdcg(Trainer *t)
{
	const UnkdInteractions *data = t->data;
	Validation *val = t->val;
	int			dim = t->opt->dim;
	double		sum = 0.0;

	for (int32 v = 0; v < val->n_users; v++)
	{
		int32		u = val->user[v];
		int64		first = data->user_start[u];
		int			n;
		double		recall,
					precision,
					ndcg;

		CHECK_FOR_INTERRUPTS();
		UnkdScoreItems(t->user_emb + (int64) u * dim, t->item_emb, data->n_items, dim,
					   val->scores);
		n = UnkdRankUser(val->scores, data->n_items, data->user_items + first,
						 data->user_start[u + 1] - first, &val->topk, val->ranked, NULL);
		UnkdUserMetrics(val->ranked, n, VALIDATION_K, val->items + val->start[v],
						(int) (val->start[v + 1] - val->start[v]),
						&recall, &precision, &ndcg);
		sum += ndcg;
	}
	return sum / val->n_users;
}

/* Keep (or restore) the parameters of the best validation score */
static void
CopyParameters(Trainer *t, bool save)
{
	Size		user_bytes = (Size) t->data->n_users * t->opt->dim * sizeof(float);
	Size		item_bytes = (Size) t->data->n_items * t->opt->dim * sizeof(float);

	if (t->best_user_emb == NULL)
	{
		t->best_user_emb = UnkdAllocHuge(user_bytes, 1);
		t->best_item_emb = UnkdAllocHuge(item_bytes, 1);
	}
	if (save)
	{
		memcpy(t->best_user_emb, t->user_emb, user_bytes);
		memcpy(t->best_item_emb, t->item_emb, item_bytes);
	}
	else
	{
		memcpy(t->user_emb, t->best_user_emb, user_bytes);
		memcpy(t->item_emb, t->best_item_emb, item_bytes);
	}
}

/* Seconds elapsed since start */
static double
SecondsSince(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

/*
 * Show a running training's progress to other sessions, in the query column
 * of pg_stat_activity
 */
static void
ReportActivity(const Trainer *t, int32 epoch, double ndcg, double seconds)
{
	char		buf[256];

	if (ndcg >= 0)
		snprintf(buf, sizeof(buf), "unkd: training model \"%s\", epoch %d of %d, validation ndcg@20 %.4f, %.1f s",
				 t->opt->name, epoch, t->opt->epochs, ndcg, seconds);
	else
		snprintf(buf, sizeof(buf), "unkd: training model \"%s\", epoch %d of %d, %.1f s",
				 t->opt->name, epoch, t->opt->epochs, seconds);
	pgstat_report_activity(STATE_RUNNING, buf);
}

/* Whether the run's time limit has passed */
static bool
TimeIsUp(const Trainer *t)
{
	return t->opt->time_limit > 0 && SecondsSince(t->run_start) >= t->opt->time_limit;
}

/* The progress NOTICE of one epoch */
static void
ReportProgress(const Trainer *t, int32 epoch, double ndcg, double seconds)
{
	if (ndcg >= 0)
		ereport(NOTICE,
				(errmsg("model \"%s\": epoch %d of %d, loss %.4f (kd %.4f), validation ndcg@20 %.4f, %.1f s",
						t->opt->name, epoch, t->opt->epochs, t->bpr_loss, t->kd_loss,
						ndcg, seconds)));
	else
		ereport(NOTICE,
				(errmsg("model \"%s\": epoch %d of %d, loss %.4f (kd %.4f), %.1f s",
						t->opt->name, epoch, t->opt->epochs, t->bpr_loss, t->kd_loss,
						seconds)));
}

/*
 * All epochs: a fixed number, or with validation until NDCG@20 has not
 * improved for `patience` evaluations, ending on the best parameters. A
 * time limit ends the run after the epoch in which it passes (that epoch is
 * validated too, so no trained epoch is lost).
 */
static void
Train(Trainer *t)
{
	const TrainOptions *opt = t->opt;
	int32		stale = 0;
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	t->stop_reason = "epochs";
	for (int32 epoch = 1; epoch <= opt->epochs; epoch++)
	{
		double		ndcg = -1.0;
		bool		time_up;

		RunEpoch(t);
		CheckDiverged(t, epoch);
		t->epochs_run = epoch;
		time_up = TimeIsUp(t);
		if (t->val && (epoch % opt->eval_every == 0 || epoch == opt->epochs || time_up))
		{
			ndcg = ValidationNdcg(t);
			if (ndcg > t->best_ndcg)
			{
				t->best_ndcg = ndcg;
				t->best_epoch = epoch;
				CopyParameters(t, true);
				stale = 0;
			}
			else
				stale++;
		}
		ReportActivity(t, epoch, ndcg, SecondsSince(start));
		if (opt->notice_every > 0 && epoch % opt->notice_every == 0)
			ReportProgress(t, epoch, ndcg, SecondsSince(start));
		if (t->val && stale >= opt->patience)
		{
			t->stop_reason = "patience";
			break;
		}
		if (time_up && epoch < opt->epochs)
		{
			t->stop_reason = "time_limit";
			ereport(NOTICE,
					(errmsg("model \"%s\": time limit of %g s reached after epoch %d of %d",
							opt->name, opt->time_limit, epoch, opt->epochs)));
			break;
		}
	}
	if (t->val)
		CopyParameters(t, false);
	else
		t->best_epoch = t->epochs_run;
	t->loop_seconds = SecondsSince(start);
}

/* ---------- results ---------- */

/* Append "key": string (or null) to a JSON object under construction */
static void
JsonText(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, "%s\"%s\": ", buf->len > 1 ? ", " : "", key);
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/* Append "key": number, in the shortest text that reads back exactly */
static void
JsonNumber(StringInfo buf, const char *key, double value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(value, digits);
	appendStringInfo(buf, "%s\"%s\": %s", buf->len > 1 ? ", " : "", key, digits);
}

/* Qualified name of an optional relation, or NULL */
static const char *
OptionalRelation(Oid relid)
{
	return OidIsValid(relid) ? UnkdRelationName(relid) : NULL;
}

/* params jsonb: every hyper-parameter, the seed and the input relations */
static char *
ParamsJson(const TrainOptions *opt)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	JsonText(&buf, "interactions", UnkdRelationName(opt->interactions));
	JsonText(&buf, "user_column", opt->user_column);
	JsonText(&buf, "item_column", opt->item_column);
	JsonNumber(&buf, "dim", opt->dim);
	JsonNumber(&buf, "epochs", opt->epochs);
	appendStringInfo(&buf, ", \"seed\": " INT64_FORMAT, opt->seed);
	JsonNumber(&buf, "lr", opt->lr);
	JsonNumber(&buf, "decay", opt->decay);
	JsonNumber(&buf, "init_std", opt->init_std);
	JsonText(&buf, "validation", OptionalRelation(opt->validation));
	JsonNumber(&buf, "eval_every", opt->eval_every);
	JsonNumber(&buf, "patience", opt->patience);
	JsonText(&buf, "seen", UnkdRelationName(OidIsValid(opt->seen) ? opt->seen : opt->interactions));
	if (opt->time_limit > 0)
		JsonNumber(&buf, "time_limit_seconds", opt->time_limit);
	if (opt->distill)
	{
		JsonText(&buf, "teacher", opt->teacher.model);
		JsonText(&buf, "teacher_scores", OptionalRelation(opt->teacher.scores));
		JsonText(&buf, "score_column", opt->teacher.score_column);
		JsonNumber(&buf, "n_groups", opt->n_groups);
		JsonNumber(&buf, "samples", opt->samples);
		JsonNumber(&buf, "kd_weight", opt->kd_weight);
		JsonNumber(&buf, "candidates", opt->candidates);
		JsonNumber(&buf, "mu", opt->mu);
		JsonNumber(&buf, "kd_decay", opt->kd_decay);
		JsonNumber(&buf, "group_weight_exponent", opt->group_weight_exponent);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* metrics jsonb: final losses, stopping point, validation and throughput */
static char *
MetricsJson(const Trainer *t)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	JsonNumber(&buf, "loss", t->bpr_loss);
	JsonNumber(&buf, "kd_loss", t->kd_loss);
	JsonNumber(&buf, "epochs_run", t->epochs_run);
	JsonNumber(&buf, "best_epoch", t->best_epoch);
	appendStringInfo(&buf, ", \"stopped_early\": %s",
					 strcmp(t->stop_reason, "time_limit") == 0 ? "true" : "false");
	JsonText(&buf, "stop_reason", t->stop_reason);
	if (t->val)
		JsonNumber(&buf, "validation_ndcg_at_20", t->best_ndcg);
	appendStringInfo(&buf, ", \"pair_updates\": " INT64_FORMAT, t->updates);
	JsonNumber(&buf, "loop_seconds", t->loop_seconds);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* Store the trained parameters as the model's new version */
static Datum
SaveTrained(const Trainer *t, const char *kind, const char *method, double seconds)
{
	const TrainOptions *opt = t->opt;
	const UnkdInteractions *data = t->data;
	UnkdModel	model = {0};

	model.name = (char *) opt->name;
	model.kind = (char *) kind;
	model.method = (char *) method;
	model.dim = opt->dim;
	model.n_users = data->n_users;
	model.n_items = data->n_items;
	model.n_interactions = data->n_pairs;
	model.user_ids = data->user_ids;
	model.user_emb = t->user_emb;
	model.item_ids = data->item_ids;
	model.item_emb = t->item_emb;
	model.item_pop = data->item_pop;
	model.n_strata = t->n_strata;
	model.strata = (int64 *) t->strata;
	model.interactions = UnkdRelationName(opt->interactions);
	model.seen = UnkdRelationName(OidIsValid(opt->seen) ? opt->seen : opt->interactions);
	model.user_column = (char *) opt->user_column;
	model.item_column = (char *) opt->item_column;
	model.user_type = data->user_type;
	model.item_type = data->item_type;
	model.user_keys = data->user_keys;
	model.item_keys = data->item_keys;
	return UnkdSaveModel(&model, ParamsJson(opt), MetricsJson(t), seconds);
}

/* Read the training interactions and refuse what cannot be trained on */
static UnkdInteractions *
ReadTraining(const TrainOptions *opt)
{
	UnkdInteractions *data = UnkdReadKeyedInteractions(opt->interactions, opt->user_column,
												  opt->item_column);

	if (data->n_items < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation %s has fewer than 2 distinct items",
						UnkdRelationName(opt->interactions)),
				 errdetail("BPR contrasts a positive with an unseen item.")));
	if (data->n_pairs > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many interactions to train on: " INT64_FORMAT, data->n_pairs)));
	return data;
}

/* The whole run shared by train and distill; returns the models row */
static Datum
RunTraining(const TrainOptions *opt, const char *kind, const char *method)
{
	UnkdInteractions *data;
	Trainer		t;
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	data = ReadTraining(opt);
	CheckRunMemory(opt, data);
	InitTrainer(&t, opt, data);
	t.run_start = start;
	ComputeGroups(&t, opt->distill ? opt->n_groups : TRAIN_STRATA);
	if (opt->distill && opt->kd_weight > 0)
	{
		t.cand = UnkdBuildCandidates(data, t.item_group, t.n_strata, opt->candidates,
									 &opt->teacher);
		t.cand->group_weight = UnkdGroupWeights(data, t.item_group, t.n_strata,
												opt->group_weight_exponent);
		InitDistillation(&t);
	}
	if (OidIsValid(opt->validation))
		t.val = LoadValidation(opt, data);
	Train(&t);
	/* the activity shows the statement again, not the last epoch */
	pgstat_report_activity(STATE_RUNNING, debug_query_string);
	return SaveTrained(&t, kind, method, SecondsSince(start));
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

/* Options shared by both entry points, from their argument positions */
static void
CommonArgs(FunctionCallInfo fcinfo, TrainOptions *opt, int a_dim, int a_epochs,
		   int a_seed, int a_lr)
{
	static const char *const options[] = {"lr", "decay", "init_std", NULL, "eval_every",
	"patience", "notice_every", "user_column", "item_column"};

	CheckNotNull(fcinfo, 0, "name");
	CheckNotNull(fcinfo, 1, "interactions");
	CheckNotNull(fcinfo, a_dim, "dim");
	CheckNotNull(fcinfo, a_epochs, "epochs");
	CheckNotNull(fcinfo, a_seed, "seed");
	for (int k = 0; k < lengthof(options); k++)
		if (options[k] != NULL) /* validation may be NULL */
			CheckNotNull(fcinfo, a_lr + k, options[k]);
	opt->name = ArgText(fcinfo, 0);
	opt->interactions = PG_GETARG_OID(1);
	opt->dim = PG_GETARG_INT32(a_dim);
	opt->epochs = PG_GETARG_INT32(a_epochs);
	opt->seed = PG_GETARG_INT64(a_seed);
	opt->lr = PG_GETARG_FLOAT8(a_lr);
	opt->decay = PG_GETARG_FLOAT8(a_lr + 1);
	opt->init_std = PG_GETARG_FLOAT8(a_lr + 2);
	opt->validation = PG_ARGISNULL(a_lr + 3) ? InvalidOid : PG_GETARG_OID(a_lr + 3);
	opt->eval_every = PG_GETARG_INT32(a_lr + 4);
	opt->patience = PG_GETARG_INT32(a_lr + 5);
	opt->notice_every = PG_GETARG_INT32(a_lr + 6);
	opt->user_column = ArgText(fcinfo, a_lr + 7);
	opt->item_column = ArgText(fcinfo, a_lr + 8);
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
	CheckTarget(&opt, "unkd.train()", "teacher", "bpr");
	CheckCommonOptions(&opt);
	PG_RETURN_DATUM(RunTraining(&opt, "teacher", "bpr"));
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
	PG_RETURN_DATUM(RunTraining(&opt, "student", method));
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
	UnkdCheckIdColumn(opt.interactions, opt.user_column);
	UnkdCheckIdColumn(opt.interactions, opt.item_column);
	CheckDistillOptions(&opt);

	InitMaterializedSRF(fcinfo, 0);
	data = ReadTraining(&opt);
	UnkdCheckMemoryBudget(UnkdCandidatesBytes(data->n_users, opt.n_groups, opt.candidates),
						  "distillation candidates");
	memset(&t, 0, sizeof(t));
	t.data = data;
	ComputeGroups(&t, opt.n_groups);
	t.cand = UnkdBuildCandidates(data, t.item_group, t.n_strata, opt.candidates, &opt.teacher);
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

/* Named arguments of train and distill alike: params ($2), seen, columns, time limit */
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
	"seen => $3::pg_catalog.regclass, time_limit => $6"

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
