/*
 * synthetic.c
 *	  unkd.synthetic_interactions: deterministic, long-tailed implicit
 *	  feedback with real user preference structure, for demos and tests.
 *
 * Generative story. Items get a popularity rank (a seeded permutation of the
 * ids, so an id says nothing about popularity) and a Zipf-like weight
 * (rank + 1)^-skew; each item belongs to one of T latent topics. Each user has
 * a primary and a secondary topic. A user's items are drawn without
 * replacement, each draw from the primary topic with probability 0.6, the
 * secondary with 0.2 and the whole catalogue with 0.2, always weighted by
 * item popularity. So popularity is long-tailed, and a model that learns
 * users' topics beats the most-popular ranking.
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(unkd_synthetic_interactions);

#define SYNTH_MAX_USERS		10000000
#define SYNTH_MAX_ITEMS		10000000
#define SYNTH_MAX_ROWS		((int64) 200000000)
#define SYNTH_P_PRIMARY		0.6
#define SYNTH_P_SECONDARY	0.2

/* loop iterations between interrupt checks (each well under a microsecond) */
#define SYNTH_CHECK_EVERY	4096

/* Cumulative popularity weights of a set of items, for inverse-CDF draws */
typedef struct WeightedItems
{
	int32		n;
	int32	   *items;			/* item ids - 1 */
	double	   *cumulative;		/* [n] running sums of weights */
} WeightedItems;

/*
 * Ensure the generator's arguments are in range
 */
static void
CheckSyntheticArgs(int32 n_users, int32 n_items, int32 per_user, double skew)
{
	if (n_users < 1 || n_users > SYNTH_MAX_USERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_users must be between 1 and %d", SYNTH_MAX_USERS)));
	if (n_items < 1 || n_items > SYNTH_MAX_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_items must be between 1 and %d", SYNTH_MAX_ITEMS)));
	if (per_user < 1 || per_user > n_items)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("per_user must be between 1 and n_items (%d)", n_items)));
	if ((int64) n_users * per_user > SYNTH_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("n_users * per_user must be at most %lld", (long long) SYNTH_MAX_ROWS)));
	if (isnan(skew) || skew < 0.0 || skew > 10.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("skew must be between 0 and 10")));
}

/* Fill a weighted set from the items (in rank order) of one topic, or all */
static void
BuildWeightedItems(WeightedItems *set, const int32 *rank_to_item, const int32 *topic_of_rank,
				   const double *weight_of_rank, int32 n_items, int topic)
{
	double		sum = 0.0;

	set->n = 0;
	for (int32 r = 0; r < n_items; r++)
	{
		if (r % SYNTH_CHECK_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		if (topic < 0 || topic_of_rank[r] == topic)
			set->n++;
	}
	set->items = palloc(sizeof(int32) * Max(set->n, 1));
	set->cumulative = palloc(sizeof(double) * Max(set->n, 1));
	set->n = 0;
	for (int32 r = 0; r < n_items; r++)
	{
		if (r % SYNTH_CHECK_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		if (topic >= 0 && topic_of_rank[r] != topic)
			continue;
		sum += weight_of_rank[r];
		set->items[set->n] = rank_to_item[r];
		set->cumulative[set->n] = sum;
		set->n++;
	}
}

/* Draw one item of a weighted set (inverse CDF by binary search) */
static int32
DrawWeighted(const WeightedItems *set, pg_prng_state *rng)
{
	double		target = pg_prng_double(rng) * set->cumulative[set->n - 1];
	int32		lo = 0;
	int32		hi = set->n - 1;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (set->cumulative[mid] > target)
			hi = mid;
		else
			lo = mid + 1;
	}
	return set->items[lo];
}

/*
 * Emit one user's sorted items; a row of millions is written to the
 * tuplestore (and disk) in interruptible steps
 */
static void
EmitUser(ReturnSetInfo *rsinfo, int32 u, const int32 *chosen, int32 n_chosen)
{
	for (int32 c = 0; c < n_chosen; c++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (c % SYNTH_CHECK_EVERY == SYNTH_CHECK_EVERY - 1)
			CHECK_FOR_INTERRUPTS();
		values[0] = Int64GetDatum((int64) u + 1);
		values[1] = Int64GetDatum((int64) chosen[c] + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * unkd.synthetic_interactions(n_users, n_items, per_user, skew, seed)
 */
Datum
unkd_synthetic_interactions(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"n_users", "n_items", "per_user", "skew", "seed"};
	int32		n_users;
	int32		n_items;
	int32		per_user;
	double		skew;
	int64		seed;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pg_prng_state rng;
	int			n_topics;
	int32	   *rank_to_item;
	int32	   *topic_of_rank;
	double	   *weight_of_rank;
	int32	   *owner;			/* last user that drew each item */
	int32	   *chosen;
	WeightedItems all;
	WeightedItems *topics;

	UnkdCheckArgsNotNull(fcinfo, names, lengthof(names));
	n_users = PG_GETARG_INT32(0);
	n_items = PG_GETARG_INT32(1);
	per_user = PG_GETARG_INT32(2);
	skew = PG_GETARG_FLOAT8(3);
	seed = PG_GETARG_INT64(4);
	CheckSyntheticArgs(n_users, n_items, per_user, skew);
	UnkdCheckMemoryBudget((double) n_items * 40.0, "generating synthetic data");
	InitMaterializedSRF(fcinfo, 0);

	pg_prng_seed(&rng, (uint64) seed);
	n_topics = Max(1, Min(16, n_items / 20));
	rank_to_item = palloc(sizeof(int32) * n_items);
	topic_of_rank = palloc(sizeof(int32) * n_items);
	weight_of_rank = palloc(sizeof(double) * n_items);
	owner = palloc(sizeof(int32) * n_items);
	chosen = palloc(sizeof(int32) * per_user);

	/* a seeded shuffle decides which id gets which popularity rank */
	for (int32 r = 0; r < n_items; r++)
		rank_to_item[r] = r;
	for (int32 r = n_items - 1; r > 0; r--)
	{
		int32		j = (int32) pg_prng_uint64_range(&rng, 0, r);
		int32		t = rank_to_item[r];

		if (r % SYNTH_CHECK_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		rank_to_item[r] = rank_to_item[j];
		rank_to_item[j] = t;
	}
	for (int32 r = 0; r < n_items; r++)
	{
		if (r % SYNTH_CHECK_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		weight_of_rank[r] = pow(r + 1.0, -skew);
		topic_of_rank[r] = (int32) pg_prng_uint64_range(&rng, 0, n_topics - 1);
		owner[r] = -1;
	}
	BuildWeightedItems(&all, rank_to_item, topic_of_rank, weight_of_rank, n_items, -1);
	topics = palloc(sizeof(WeightedItems) * n_topics);
	for (int t = 0; t < n_topics; t++)
		BuildWeightedItems(&topics[t], rank_to_item, topic_of_rank, weight_of_rank, n_items, t);

	for (int32 u = 0; u < n_users; u++)
	{
		int			primary = (int) pg_prng_uint64_range(&rng, 0, n_topics - 1);
		int			secondary = (int) pg_prng_uint64_range(&rng, 0, n_topics - 1);
		int32		n_chosen = 0;
		int64		attempts = 0;

		CHECK_FOR_INTERRUPTS();
		while (n_chosen < per_user && attempts < 64 * (int64) per_user)
		{
			double		p = pg_prng_double(&rng);
			const WeightedItems *set = &all;
			int32		item;

			if (p < SYNTH_P_PRIMARY && topics[primary].n > 0)
				set = &topics[primary];
			else if (p < SYNTH_P_PRIMARY + SYNTH_P_SECONDARY && topics[secondary].n > 0)
				set = &topics[secondary];
			/* one row may take up to 64 * n_items draws: seconds, not one step */
			if (attempts % SYNTH_CHECK_EVERY == SYNTH_CHECK_EVERY - 1)
				CHECK_FOR_INTERRUPTS();
			item = DrawWeighted(set, &rng);
			attempts++;
			if (owner[item] == u)
				continue;
			owner[item] = u;
			chosen[n_chosen++] = item;
		}
		/* a nearly full row: complete it with the most popular unseen items */
		for (int32 r = 0; n_chosen < per_user && r < n_items; r++)
		{
			if (r % SYNTH_CHECK_EVERY == SYNTH_CHECK_EVERY - 1)
				CHECK_FOR_INTERRUPTS();
			if (owner[rank_to_item[r]] != u)
			{
				owner[rank_to_item[r]] = u;
				chosen[n_chosen++] = rank_to_item[r];
			}
		}

		UnkdSortInt32(chosen, n_chosen);
		EmitUser(rsinfo, u, chosen, n_chosen);
	}
	return (Datum) 0;
}
