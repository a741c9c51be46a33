/*
 * trainer.c
 *	  One training run of unkd.train and unkd.distill: BPR matrix
 *	  factorisation trained by per-sample SGD, optionally with the (un)biased
 *	  rank-aware distillation term of spec/METHOD.md section 6, and early
 *	  stopping on validation NDCG@20.
 *
 * Everything is read up front and written once at the end through
 * UnkdSaveModel in the caller's transaction, so a failed or cancelled run
 * never leaves a partial model: the previous version stays until commit.
 * The epoch loop touches only contiguous arrays and a local PRNG seeded from
 * the seed argument, so a seed reproduces a model bit for bit on one build.
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/json.h"

#include "trainer.h"
#include "sgd.h"

static double SecondsSince(instr_time start);

/* ---------- set-up ---------- */

/* Popularity strata and each item's group */
void
UnkdComputeGroups(Trainer *t, int n_groups)
{
	t->item_group = UnkdItemGroups(t->all->item_pop, t->all->n_items, n_groups, t->strata,
								   &t->n_strata);
}

/*
 * The groups of the validation bias figures: TRAIN_STRATA of them for every
 * run, so that a KD student (one group) and an UnKD student are measured
 * alike, as unkd.evaluate measures them with its default n_groups
 */
static void
ComputeBiasGroups(Trainer *t, int n_groups)
{
	const UnkdInteractions *data = t->all;
	int64		strata[UNKD_MAX_GROUPS];

	if (n_groups == TRAIN_STRATA)
	{
		t->bias_strata = t->n_strata;
		t->bias_group = t->item_group;
		return;
	}
	t->bias_group = UnkdItemGroups(data->item_pop, data->n_items, TRAIN_STRATA, strata,
								   &t->bias_strata);
}

/* Everything the run allocates, so it fails before work, not midway; returns the bytes */
static double
CheckRunMemory(const TrainOptions *opt, const UnkdInteractions *data)
{
	double		rows = (double) data->n_users + data->n_items;
	double		bytes = rows * opt->dim * sizeof(float);

	if (OidIsValid(opt->validation) || opt->validation_fraction > 0)
	{
		bytes *= 2;				/* the best parameters are kept aside */
		bytes += UnkdValidationBytes(data->n_items, opt->dim);
	}
	if (opt->optimizer == UNKD_OPTIMIZER_ADAGRAD)
		bytes += rows * sizeof(float);
	bytes += (double) data->n_pairs * 2 * sizeof(int32);
	if (opt->validation_fraction > 0)	/* the training part's own CSR */
		bytes += (double) data->n_pairs * sizeof(int32) +
			(double) data->n_users * sizeof(int64) + (double) data->n_items * sizeof(int64);
	if (opt->distill && opt->kd_weight > 0)
	{
		bytes += UnkdCandidatesBytes(data->n_users, opt->n_groups, opt->candidates);
		bytes += (double) data->n_users * (2.0 * opt->samples + 2) * sizeof(int32);
	}
	UnkdCheckMemoryBudget(bytes, "training");
	return bytes;
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

/* Allocate and initialise the trainer of one run */
static void
InitTrainer(Trainer *t, const TrainOptions *opt, const UnkdInteractions *data,
			const UnkdInteractions *all)
{
	int64		n_user_emb = (int64) data->n_users * opt->dim;
	int64		n_item_emb = (int64) data->n_items * opt->dim;

	memset(t, 0, sizeof(Trainer));
	t->opt = opt;
	t->data = data;
	t->all = all;
	pg_prng_seed(&t->rng, (uint64) opt->seed);
	t->user_emb = UnkdAllocHuge(n_user_emb, sizeof(float));
	t->item_emb = UnkdAllocHuge(n_item_emb, sizeof(float));
	InitEmbeddings(t->user_emb, n_user_emb, opt->init_std, &t->rng);
	InitEmbeddings(t->item_emb, n_item_emb, opt->init_std, &t->rng);
	if (opt->optimizer == UNKD_OPTIMIZER_ADAGRAD)
	{
		t->user_acc = UnkdAllocHuge(data->n_users, sizeof(float));
		t->item_acc = UnkdAllocHuge(data->n_items, sizeof(float));
		memset(t->user_acc, 0, (Size) data->n_users * sizeof(float));
		memset(t->item_acc, 0, (Size) data->n_items * sizeof(float));
	}
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

/* A fresh random visiting order of n interactions (Fisher-Yates) */
void
UnkdShuffleRange(int32 *order, int64 n, pg_prng_state *rng)
{
	for (int64 k = n - 1; k > 0; k--)
	{
		int32		j = UnkdScaleBelow(pg_prng_uint32(rng), (int) (k + 1));
		int32		tmp = order[k];

		if ((k & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		order[k] = order[j];
		order[j] = tmp;
	}
}

/* Draw this epoch's distillation pairs of users [from, to) */
void
UnkdSampleRangePairs(Trainer *t, int32 from, int32 to)
{
	int32		samples = t->opt->samples;

	for (int32 u = from; u < to; u++)
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

/* One weighted BPR step of user u on positive p against negative q */
static inline double
PairStep(const Trainer *t, int32 u, int32 p, int32 q, float lr, float decay, float weight)
{
	int			dim = t->opt->dim;
	float	   *user_vec = t->user_emb + (int64) u * dim;
	float	   *pos_vec = t->item_emb + (int64) p * dim;
	float	   *neg_vec = t->item_emb + (int64) q * dim;

	if (t->user_acc == NULL)
		return UnkdBprStep(user_vec, pos_vec, neg_vec, dim, lr, decay, weight);
	return UnkdBprStepAdagrad(user_vec, pos_vec, neg_vec, t->user_acc + u,
							  t->item_acc + p, t->item_acc + q, dim, lr, decay, weight);
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
DistillStep(Trainer *t, int32 u, int64 n_u, float lr, float decay)
{
	int32		count = t->kd_count[u];
	int64		visits = Max(n_u, (int64) count);
	int64		k = t->kd_step[u]++;
	int64		from = k * visits / n_u;
	int64		to = (k + 1) * visits / n_u;
	float		weight = (float) (t->opt->kd_weight * n_u / visits);
	const int32 *pos = t->kd_pos + (int64) u * t->opt->samples;
	const int32 *neg = t->kd_neg + (int64) u * t->opt->samples;
	double		loss = 0.0;

	/* one visit may carry up to samples pairs: check per visit, not per 4096 */
	CHECK_FOR_INTERRUPTS();
	for (int64 m = from; m < to; m++)
	{
		int32		slot = (int32) (m % count);

		loss += PairStep(t, u, pos[slot], neg[slot], lr, decay, weight);
		t->updates++;
	}
	return loss;
}

/*
 * Visits order[from, to): for each interaction a BPR step against a uniform
 * unseen negative and, when distilling, its share of KD pair steps. Adds the
 * losses and the number of pair updates to sums.
 */
void
UnkdRunSteps(Trainer *t, const int32 *order, int64 from, int64 to, UnkdEpochSums *sums)
{
	const UnkdInteractions *data = t->data;
	const int64 *user_start = data->user_start;
	const int32 *user_items = data->user_items;
	/* locals: with -fno-strict-aliasing every float store would reload fields */
	const int32 *pair_user = t->pair_user;
	int32		n_items = data->n_items;
	float		lr = (float) t->opt->lr;
	float		decay = (float) t->opt->decay;
	/* the reference leaves KD pairs unregularised; kd_decay makes it a choice */
	float		kd_decay = (float) t->opt->kd_decay;
	bool		distill = t->cand != NULL;
	int64		updates = 0;
	double		bpr_loss = 0.0;
	double		kd_loss = 0.0;

	t->updates = 0;
	for (int64 s = from; s < to; s++)
	{
		int32		e = order[s];
		int32		u = pair_user[e];
		int64		first = user_start[u];
		int64		n_u = user_start[u + 1] - first;

		if ((s & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		/* a user who has every item has no negative to contrast */
		if (n_u < n_items)
		{
			int32		j;

			do
				j = UnkdScaleBelow(pg_prng_uint32(&t->rng), n_items);
			while (UnkdSortedContains(user_items + first, n_u, j));
			bpr_loss += PairStep(t, u, user_items[e], j, lr, decay, 1.0f);
			updates++;
		}
		if (distill && t->kd_count[u] > 0)
			kd_loss += DistillStep(t, u, n_u, lr, kd_decay);
	}
	sums->updates += updates + t->updates;
	sums->bpr_loss += bpr_loss;
	sums->kd_loss += kd_loss;
}

/* One epoch: every training interaction once, in a fresh random order */
static void
RunEpoch(Trainer *t)
{
	UnkdEpochSums sums = {0};
	int64		updates = t->updates;

	UnkdShuffleRange(t->order, t->data->n_pairs, &t->rng);
	if (t->cand != NULL)
		UnkdSampleRangePairs(t, 0, t->data->n_users);
	UnkdRunSteps(t, t->order, 0, t->data->n_pairs, &sums);
	t->updates = updates + sums.updates;
	t->bpr_loss = sums.bpr_loss / t->data->n_pairs;
	t->kd_loss = sums.kd_loss / t->data->n_pairs;
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
		double		head_share;
		double		tail_recall;
		bool		time_up;

		if (t->par)
			UnkdParallelEpoch(t);
		else
			RunEpoch(t);
		CheckDiverged(t, epoch);
		t->epochs_run = epoch;
		time_up = TimeIsUp(t);
		if (t->val && (epoch % opt->eval_every == 0 || epoch == opt->epochs || time_up))
		{
			instr_time	validation_start;

			INSTR_TIME_SET_CURRENT(validation_start);
			ndcg = UnkdValidate(t, &head_share, &tail_recall);
			t->validation_seconds += SecondsSince(validation_start);
			if (ndcg > t->best_ndcg)
			{
				t->best_ndcg = ndcg;
				t->validation_head_share = head_share;
				t->validation_tail_recall = tail_recall;
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

/* params jsonb: every hyper-parameter, the seed, the slices and the input relations */
static char *
ParamsJson(const Trainer *t)
{
	const TrainOptions *opt = t->opt;
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
	if (!OidIsValid(opt->validation))
		JsonNumber(&buf, "validation_fraction", opt->validation_fraction);
	JsonText(&buf, "optimizer", opt->optimizer == UNKD_OPTIMIZER_ADAGRAD ? "adagrad" : "sgd");
	JsonNumber(&buf, "workers", t->n_slices - 1);
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
	{
		JsonNumber(&buf, "validation_ndcg_at_20", t->best_ndcg);
		JsonNumber(&buf, "validation_head_share_at_20", t->validation_head_share);
		JsonNumber(&buf, "validation_tail_recall_at_20", t->validation_tail_recall);
		JsonNumber(&buf, "validation_users", t->validation_users);
		appendStringInfo(&buf, ", \"validation_interactions\": " INT64_FORMAT,
						 t->validation_interactions);
		JsonNumber(&buf, "validation_seconds", t->validation_seconds);
	}
	appendStringInfo(&buf, ", \"pair_updates\": " INT64_FORMAT, t->updates);
	JsonNumber(&buf, "loop_seconds", t->loop_seconds);
	if (t->n_slices > 1)
		JsonNumber(&buf, "workers_launched", t->workers_launched);
	if (t->cand)
		JsonNumber(&buf, "candidate_seconds", t->cand->seconds);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* Store the trained parameters as the model's new version */
static Datum
SaveTrained(const Trainer *t, const char *kind, const char *method, double seconds)
{
	const TrainOptions *opt = t->opt;
	const UnkdInteractions *data = t->all;
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
	return UnkdSaveModel(&model, ParamsJson(t), MetricsJson(t), seconds);
}

/* Read the training interactions and refuse what cannot be trained on */
UnkdInteractions *
UnkdReadTraining(const TrainOptions *opt)
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

/* Candidate lists and pair buffers of a distilling run */
static void
InitCandidates(Trainer *t)
{
	const TrainOptions *opt = t->opt;

	/* from all the input: held-out positives are no candidates either */
	t->cand = UnkdBuildCandidates(t->all, t->item_group, t->n_strata, opt->candidates,
								  &opt->teacher, opt->workers);
	t->cand->group_weight = UnkdGroupWeights(t->all, t->item_group, t->n_strata,
											 opt->group_weight_exponent);
	InitDistillation(t);
}

/* The whole run shared by train and distill; returns the models row */
Datum
UnkdRunTraining(const TrainOptions *opt, const char *kind, const char *method)
{
	UnkdInteractions *data;
	UnkdInteractions *train_part;
	Validation *val = NULL;
	Trainer		t;
	instr_time	start;
	double		bytes;

	INSTR_TIME_SET_CURRENT(start);
	data = UnkdReadTraining(opt);
	bytes = CheckRunMemory(opt, data);
	train_part = data;
	if (OidIsValid(opt->validation))
		val = UnkdLoadValidation(opt, data);
	else if (opt->validation_fraction > 0)
		val = UnkdHoldOutValidation(data, opt->validation_fraction, opt->seed, opt->dim,
									&train_part);
	InitTrainer(&t, opt, train_part, data);
	t.run_start = start;
	UnkdComputeGroups(&t, opt->distill ? opt->n_groups : TRAIN_STRATA);
	ComputeBiasGroups(&t, opt->distill ? opt->n_groups : TRAIN_STRATA);
	if (opt->distill && opt->kd_weight > 0)
		InitCandidates(&t);
	t.val = val;
	if (val)
		UnkdValidationSize(val, &t.validation_users, &t.validation_interactions);
	t.n_slices = 1;
	t.memory_bytes = bytes;
	t.par = UnkdParallelBegin(&t);
	Train(&t);
	UnkdParallelEnd(&t);
	/* the activity shows the statement again, not the last epoch */
	pgstat_report_activity(STATE_RUNNING, debug_query_string);
	return SaveTrained(&t, kind, method, SecondsSince(start));
}
