/*
 * validation.c
 *	  Early stopping's measure: NDCG@20 of the current parameters on
 *	  held-out interactions of the training users, training items excluded.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "portability/instr_time.h"

#include "scoring.h"
#include "trainer.h"

/* Validation interactions mapped onto the training indices */
struct Validation
{
	int32		n_users;
	int32	   *user;			/* [n_users] training user index */
	int64	   *start;			/* [n_users + 1] offsets into items */
	int32	   *items;			/* training item index, -1 if never trained on */
	UnkdScoreBlock block;		/* users scored together by sgemm */
	int32	   *ranked;			/* [VALIDATION_K] scratch */
	UnkdSelect	topk;
	double		seconds;		/* spent in UnkdValidationNdcg so far */
};

/* Read the validation table, keeping users the model can score */
Validation *
UnkdLoadValidation(const TrainOptions *opt, const UnkdInteractions *data)
{
	UnkdInteractions *raw = UnkdReadInteractions(opt->validation, opt->user_column,
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
	/* budgeted with the run (UnkdValidationBytes) */
	UnkdScoreBlockInit(&val->block, data->n_items, opt->dim);
	val->ranked = palloc(VALIDATION_K * sizeof(int32));
	UnkdSelectInit(&val->topk, VALIDATION_K);
	return val;
}

/* Memory of validation's scoring, for the run's budget */
double
UnkdValidationBytes(int32 n_items, int32 dim)
{
	return UnkdScoreBlockBytes(n_items, dim);
}

/*
 * Add the NDCG of the block's users, validation users first..first+n-1, to
 * *sum one user at a time (the serial loop's order of additions)
 */
static void
AddBlockNdcg(const Trainer *t, int32 first, int32 n, double *sum)
{
	const UnkdInteractions *data = t->data;
	Validation *val = t->val;

	for (int32 r = 0; r < n; r++)
	{
		int32		v = first + r;
		int32		u = val->user[v];
		int64		seen = data->user_start[u];
		int			n_ranked;
		double		recall,
					precision,
					ndcg;

		n_ranked = UnkdRankScores(UnkdScoreBlockRow(&val->block, r), data->n_items,
								  data->user_items + seen, data->user_start[u + 1] - seen,
								  &val->topk, val->ranked, NULL);
		UnkdUserMetrics(val->ranked, n_ranked, VALIDATION_K, val->items + val->start[v],
						(int) (val->start[v + 1] - val->start[v]),
						&recall, &precision, &ndcg);
		*sum += ndcg;
	}
}

/*
 * Mean NDCG@20 over the validation users, with training items excluded;
 * users are scored by blocks in one matrix product each (scoring.c)
 */
double
UnkdValidationNdcg(const Trainer *t)
{
	Validation *val = t->val;
	UnkdScoreBlock *block = &val->block;
	int			dim = t->opt->dim;
	double		sum = 0.0;
	instr_time	start,
				now;

	INSTR_TIME_SET_CURRENT(start);
	for (int32 first = 0; first < val->n_users; first += block->max_users)
	{
		int32		n = Min(block->max_users, val->n_users - first);

		UnkdScoreBlockReset(block);
		for (int32 v = first; v < first + n; v++)
			memcpy(UnkdScoreBlockAddUser(block),
				   t->user_emb + (int64) val->user[v] * dim, dim * sizeof(float));
		UnkdScoreBlockRun(block, t->item_emb);
		AddBlockNdcg(t, first, n, &sum);
	}
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	val->seconds += INSTR_TIME_GET_DOUBLE(now);
	return sum / val->n_users;
}

/* Seconds spent validating in this run, for the metrics */
double
UnkdValidationSeconds(const Validation *val)
{
	return val->seconds;
}
