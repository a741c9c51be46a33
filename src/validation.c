/*
 * validation.c
 *	  Early stopping's measure: NDCG@20 of the current parameters on
 *	  held-out interactions of the training users, training items excluded,
 *	  with the head share and tail recall of the same rankings.
 *	  A pass runs in parallel workers when they pay (parallel_validation.c),
 *	  else here, block by block; both add the same per-user terms in order.
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "miscadmin.h"

#include "validation.h"

#define VALIDATION_MAX_USERS 1000

/* Read the validation table, keeping users the model can score */
Validation *
UnkdLoadValidation(const TrainOptions *opt, const UnkdInteractions *data)
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
	UnkdValidationInitScratch(val, data->n_items, opt->dim);
	return val;
}

/* Memory of validation's scoring, for the run's budget */
double
UnkdValidationBytes(int32 n_items, int32 dim)
{
	return UnkdScoreBlockBytes(n_items, dim);
}

/* Fill user v's terms from its n_ranked best items in val->ranked */
static void
UserTerms(const Trainer *t, int32 v, int n_ranked, UnkdValidationTerms *one)
{
	const Validation *val = t->val;
	const int32 *held = val->items + val->start[v];
	int64		n_held = val->start[v + 1] - val->start[v];
	int			tail = t->bias_strata - 1;
	int64		in_tail = 0;
	int64		tail_hits = 0;
	double		recall,
				precision;

	memset(one, 0, sizeof(*one));
	UnkdUserMetrics(val->ranked, n_ranked, VALIDATION_K, held, (int) n_held,
					&recall, &precision, &one->ndcg);
	for (int k = 0; k < n_ranked; k++)
		one->head_slots += (t->bias_group[val->ranked[k]] == 0);
	one->slots = n_ranked;
	for (int64 e = 0; e < n_held; e++)
		in_tail += (held[e] >= 0 && t->bias_group[held[e]] == tail);
	if (in_tail == 0)
		return;
	for (int k = 0; k < n_ranked; k++)
		tail_hits += (t->bias_group[val->ranked[k]] == tail &&
					  bsearch(&val->ranked[k], held, n_held, sizeof(int32),
							  UnkdCompareInt32) != NULL);
	one->tail_recall = (double) tail_hits / in_tail;
	one->has_tail = true;
}

/* The vector of validation user v: the worker's copy or the trainer's row */
static inline const float *
UserRow(const Trainer *t, int32 v)
{
	const Validation *val = t->val;

	if (val->user_rows)
		return val->user_rows + (int64) v * t->opt->dim;
	return t->user_emb + (int64) val->user[v] * t->opt->dim;
}

/*
 * Rank the block of validation users from `first` (a multiple of the block
 * size, as the serial pass takes them) in one matrix product, training
 * items excluded, and fill terms[r] for user first + r
 */
void
UnkdValidationScoreBlock(const Trainer *t, int32 first, UnkdValidationTerms *terms)
{
	const UnkdInteractions *data = t->data;
	Validation *val = t->val;
	UnkdScoreBlock *block = &val->block;
	int32		n = Min(block->max_users, val->n_users - first);

	UnkdScoreBlockReset(block);
	for (int32 v = first; v < first + n; v++)
		memcpy(UnkdScoreBlockAddUser(block), UserRow(t, v), t->opt->dim * sizeof(float));
	UnkdScoreBlockRun(block, t->item_emb);
	for (int32 r = 0; r < n; r++)
	{
		int32		u = val->user[first + r];
		int64		seen = data->user_start[u];
		int			n_ranked;

		CHECK_FOR_INTERRUPTS();
		n_ranked = UnkdRankScores(UnkdScoreBlockRow(block, r), data->n_items,
								  data->user_items + seen,
								  data->user_start[u + 1] - seen,
								  &val->topk, val->ranked, NULL);
		UserTerms(t, first + r, n_ranked, &terms[r]);
	}
}

/*
 * Add one user's terms to the sums. Serial and parallel passes both add
 * through here in validation-user order, so their sums are bit-identical.
 */
static void
AddTerms(UnkdValidationSums *sums, const UnkdValidationTerms *one)
{
	sums->ndcg += one->ndcg;
	sums->head_slots += one->head_slots;
	sums->slots += one->slots;
	if (!one->has_tail)
		return;
	sums->tail_recall += one->tail_recall;
	sums->tail_users++;
}

/* Add n users' terms to the sums in validation-user order */
void
UnkdValidationAddAll(UnkdValidationSums *sums, const UnkdValidationTerms *terms, int32 n)
{
	for (int32 v = 0; v < n; v++)
	{
		if ((v & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		AddTerms(sums, &terms[v]);
	}
}

/* Rank every validation user block by block in this process, adding in order */
static void
RankValidationUsers(const Trainer *t, UnkdValidationSums *sums)
{
	Validation *val = t->val;
	int32		block_users = val->block.max_users;
	UnkdValidationTerms *terms = palloc(sizeof(UnkdValidationTerms) * block_users);

	for (int32 first = 0; first < val->n_users; first += block_users)
	{
		CHECK_FOR_INTERRUPTS();
		UnkdValidationScoreBlock(t, first, terms);
		UnkdValidationAddAll(sums, terms, Min(block_users, val->n_users - first));
	}
	pfree(terms);
}

/*
 * One pass over the validation users: in the run's training workers when
 * it has some (they are started and idle), else in parallel workers of its
 * own when they pay, else in this process: mean NDCG@20 (training items
 * excluded), and the bias figures of the same rankings: the share of top-20 slots that hold
 * items of the most popular group, and recall@20 on held-out items of the
 * least popular group (over the users who have some), as unkd.evaluate
 * computes them. One pass gives all three, so the best parameters' bias
 * costs no pass of its own.
 */
double
UnkdValidate(const Trainer *t, double *head_share, double *tail_recall)
{
	UnkdValidationSums sums;

	memset(&sums, 0, sizeof(sums));
	if (!UnkdValidateInTrainWorkers(t, &sums) && !UnkdValidateParallel(t, &sums))
		RankValidationUsers(t, &sums);
	*head_share = sums.slots > 0 ? (double) sums.head_slots / sums.slots : 0.0;
	*tail_recall = sums.tail_users > 0 ? sums.tail_recall / sums.tail_users : 0.0;
	return sums.ndcg / t->val->n_users;
}

/* The users validation scores and their held-out interactions */
void
UnkdValidationSize(const Validation *val, int32 *users, int64 *interactions)
{
	*users = val->n_users;
	*interactions = val->start[val->n_users];
}

/* Scratch buffers of the scoring pass (budgeted with the run: UnkdValidationBytes) */
void
UnkdValidationInitScratch(Validation *val, int32 n_items, int32 dim)
{
	UnkdScoreBlockInit(&val->block, n_items, dim);
	val->ranked = palloc(VALIDATION_K * sizeof(int32));
	UnkdSelectInit(&val->topk, VALIDATION_K);
}

/*
 * The validation sample: a quarter of the users with two or more
 * interactions, at most VALIDATION_MAX_USERS, drawn uniformly
 */
static bool *
SampleValidationUsers(const UnkdInteractions *all, int32 *scratch, pg_prng_state *rng)
{
	bool	   *sampled = UnkdAllocHuge(all->n_users, sizeof(bool));
	int32	   *eligible = UnkdAllocHuge(all->n_users, sizeof(int32));
	bool	   *picked = UnkdAllocHuge(all->n_users, sizeof(bool));
	int32		n_eligible = 0;

	for (int32 u = 0; u < all->n_users; u++)
	{
		sampled[u] = false;
		if (all->user_start[u + 1] - all->user_start[u] >= 2)
			eligible[n_eligible++] = u;
	}
	UnkdDrawSubset(scratch, picked, n_eligible,
				   Min((n_eligible + 3) / 4, VALIDATION_MAX_USERS), rng);
	for (int32 k = 0; k < n_eligible; k++)
		sampled[eligible[k]] = picked[k];
	pfree(eligible);
	pfree(picked);
	return sampled;
}

/*
 * Hold out a seeded validation slice: `fraction` of the interactions of
 * each user of the validation sample (the same count per user as
 * unkd.split takes for a test fraction, at least one). Sampling keeps
 * scoring a small part of a run, and the slice takes at most a quarter of
 * `fraction` of the training data, so the best parameters are kept without
 * a refit. *rest receives the other interactions, on the same user and item
 * indices as all. The PRNG stream depends on the seed only, so a teacher
 * and a student trained with one seed on one table hold out the same
 * interactions.
 */
Validation *
UnkdHoldOutValidation(const UnkdInteractions *all, double fraction, int64 seed,
					  int32 dim, UnkdInteractions **rest)
{
	UnkdInteractions *train = palloc(sizeof(UnkdInteractions));
	Validation *val = palloc0(sizeof(Validation));
	pg_prng_state rng;
	int64		max_n = 0;
	int64		n_train = 0;
	int64		n_val = 0;
	int32	   *scratch;
	bool	   *held;
	bool	   *sampled;

	pg_prng_seed(&rng, (uint64) seed ^ UINT64CONST(0x9e3779b97f4a7c15));
	for (int32 u = 0; u < all->n_users; u++)
		max_n = Max(max_n, all->user_start[u + 1] - all->user_start[u]);
	scratch = UnkdAllocHuge(Max(max_n, all->n_users), sizeof(int32));
	held = UnkdAllocHuge(max_n, sizeof(bool));
	sampled = SampleValidationUsers(all, scratch, &rng);

	*train = *all;
	train->user_start = UnkdAllocHuge(all->n_users + 1, sizeof(int64));
	train->user_items = UnkdAllocHuge(all->n_pairs, sizeof(int32));
	train->item_pop = UnkdAllocHuge(all->n_items, sizeof(int64));
	memset(train->item_pop, 0, (Size) all->n_items * sizeof(int64));
	val->user = palloc(all->n_users * sizeof(int32));
	val->start = palloc((all->n_users + 1) * sizeof(int64));
	val->items = UnkdAllocHuge(all->n_pairs, sizeof(int32));

	for (int32 u = 0; u < all->n_users; u++)
	{
		int64		first = all->user_start[u];
		int64		n = all->user_start[u + 1] - first;
		int64		n_held = sampled[u] ? UnkdSplitTestCount(n, fraction) : 0;

		if ((u & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		UnkdDrawSubset(scratch, held, n, n_held, &rng);
		train->user_start[u] = n_train;
		if (n_held > 0)
		{
			val->user[val->n_users] = u;
			val->start[val->n_users] = n_val;
			val->n_users++;
		}
		/* items stay ascending in both parts */
		for (int64 k = 0; k < n; k++)
		{
			int32		i = all->user_items[first + k];

			if (held[k])
				val->items[n_val++] = i;
			else
			{
				train->user_items[n_train++] = i;
				train->item_pop[i]++;
			}
		}
	}
	train->user_start[all->n_users] = n_train;
	train->n_pairs = n_train;
	val->start[val->n_users] = n_val;
	if (val->n_users == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no user has two or more interactions to hold out for validation"),
				 errhint("Pass validation_fraction => 0 to train for a fixed number of epochs, or a validation relation.")));
	UnkdValidationInitScratch(val, all->n_items, dim);
	pfree(scratch);
	pfree(held);
	pfree(sampled);
	*rest = train;
	return val;
}

