/*
 * foldin.c
 *	  Fold-in: a user vector for a user the model was not trained on,
 *	  computed at call time from the user's items with the item embeddings
 *	  fixed.
 *
 * The vector is what BPR training would give the user if the items did not
 * move: starting from zero, FOLD_IN_EPOCHS passes over the user's items in
 * a shuffled order, each a BPR step on the user vector alone against one
 * uniform negative, with the model's learning rate and decay. The PRNG is
 * seeded from the user id, so a call is deterministic for a user and a set
 * of items. Cost: FOLD_IN_EPOCHS * n_items_of_user * 4 * dim flops, well
 * under a millisecond for a few hundred items at dim 100.
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "miscadmin.h"

#include "unkd.h"
#include "sgd.h"

/* One BPR step on the user vector, the positive p and negative q fixed */
static inline void
UserOnlyStep(float *restrict u, const float *restrict p, const float *restrict q,
			 int dim, float lr, float decay)
{
	float		x = 0.0f;
	float		g;

	for (int k = 0; k < dim; k++)
		x += u[k] * (p[k] - q[k]);
	g = 1.0f / (1.0f + expf(x));
	for (int k = 0; k < dim; k++)
		u[k] += lr * (g * (p[k] - q[k]) - decay * u[k]);
}

/*
 * Fold a user in from items[0..n) (ascending model item indices) into
 * user_vec[dim]. A user who has every item, or none, gets the zero vector.
 */
void
UnkdFoldInUser(const float *item_emb, int32 n_items, int32 dim,
			   const int32 *items, int64 n, double lr, double decay,
			   int64 user_id, float *user_vec)
{
	pg_prng_state rng;
	int32	   *order;

	memset(user_vec, 0, sizeof(float) * dim);
	if (n == 0 || n >= n_items)
		return;
	pg_prng_seed(&rng, UnkdHash64((uint64) user_id));
	order = palloc(sizeof(int32) * n);
	for (int64 k = 0; k < n; k++)
		order[k] = items[k];

	for (int epoch = 0; epoch < UNKD_FOLD_IN_EPOCHS; epoch++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int64 k = n - 1; k > 0; k--)
		{
			int32		j = UnkdScaleBelow(pg_prng_uint32(&rng), (int) (k + 1));
			int32		tmp = order[k];

			order[k] = order[j];
			order[j] = tmp;
		}
		for (int64 k = 0; k < n; k++)
		{
			int32		neg;

			/* n < n_items, so an unseen item exists; expected n_items/(n_items-n) draws */
			do
				neg = UnkdScaleBelow(pg_prng_uint32(&rng), n_items);
			while (UnkdSortedContains(items, n, neg));
			UserOnlyStep(user_vec, item_emb + (Size) order[k] * dim,
						 item_emb + (Size) neg * dim, dim, (float) lr, (float) decay);
		}
	}
	pfree(order);
}

/* The fold_in argument at position arg: NULL (or absent), true or false */
UnkdFoldIn
UnkdFoldInArg(FunctionCallInfo fcinfo, int arg)
{
	if (PG_NARGS() <= arg || PG_ARGISNULL(arg))
		return UNKD_FOLD_IN_NEW;
	return PG_GETARG_BOOL(arg) ? UNKD_FOLD_IN_ALL : UNKD_FOLD_IN_NEVER;
}
