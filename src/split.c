/*
 * split.c
 *	  unkd.split: per-user random train/test split of an interactions table.
 *
 * Each user's draw uses its own generator, seeded from the split seed and the
 * user id, so a user's split does not change when other users are added to
 * or removed from the table.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(unkd_split);

/*
 * Ensure the test fraction is a proper fraction
 */
static void
CheckTestFraction(double fraction)
{
	if (isnan(fraction) || fraction <= 0.0 || fraction >= 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_fraction must be greater than 0 and less than 1")));
}

/*
 * Number of test interactions for a user with n interactions
 *
 * round(fraction * n), but at least one when the user has two or more and
 * never all of them, so every test user keeps training data.
 */
int64
UnkdSplitTestCount(int64 n, double fraction)
{
	int64		n_test;

	if (n < 2)
		return 0;
	n_test = (int64) floor(fraction * n + 0.5);
	return Min(Max(n_test, 1), n - 1);
}

/*
 * Mark n_chosen of positions 0..n-1, drawn uniformly without replacement
 * (a partial Fisher-Yates over scratch[0..n)): the test rows of unkd.split
 * and the validation slice of training draw with it
 */
void
UnkdDrawSubset(int32 *scratch, bool *chosen, int64 n, int64 n_chosen, pg_prng_state *rng)
{
	for (int64 j = 0; j < n; j++)
	{
		scratch[j] = (int32) j;
		chosen[j] = false;
	}
	for (int64 j = 0; j < n_chosen; j++)
	{
		int64		pick = (int64) pg_prng_uint64_range(rng, j, n - 1);
		int32		t = scratch[j];

		/* one user may have millions of rows */
		if ((j & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
		scratch[j] = scratch[pick];
		scratch[pick] = t;
		chosen[scratch[j]] = true;
	}
}

/*
 * unkd.split(interactions, test_fraction, seed, user_column, item_column,
 *			  order_column)
 *
 * order_column NULL (or absent, under the 0.1.0 definition): random split.
 */
Datum
unkd_split(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"interactions", "test_fraction", "seed",
	"user_column", "item_column"};
	Oid			relid;
	double		fraction;
	int64		seed;
	char	   *user_column;
	char	   *item_column;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	UnkdInteractions *data;
	int64		max_row = 0;
	int32	   *order;
	bool	   *is_test;

	UnkdCheckArgsNotNull(fcinfo, names, lengthof(names));
	relid = PG_GETARG_OID(0);
	fraction = PG_GETARG_FLOAT8(1);
	seed = PG_GETARG_INT64(2);
	user_column = text_to_cstring(PG_GETARG_TEXT_PP(3));
	item_column = text_to_cstring(PG_GETARG_TEXT_PP(4));
	CheckTestFraction(fraction);
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
	{
		UnkdSplitByTime(fcinfo, relid, fraction, user_column, item_column,
						text_to_cstring(PG_GETARG_TEXT_PP(5)));
		return (Datum) 0;
	}
	data = UnkdReadInteractions(relid, user_column, item_column);
	for (int32 u = 0; u < data->n_users; u++)
		max_row = Max(max_row, data->user_start[u + 1] - data->user_start[u]);
	order = UnkdAllocHuge(max_row, sizeof(int32));
	is_test = UnkdAllocHuge(max_row, sizeof(bool));

	InitMaterializedSRF(fcinfo, 0);
	for (int32 u = 0; u < data->n_users; u++)
	{
		int64		start = data->user_start[u];
		int64		n = data->user_start[u + 1] - start;
		int64		n_test = UnkdSplitTestCount(n, fraction);
		pg_prng_state rng;

		CHECK_FOR_INTERRUPTS();
		pg_prng_seed(&rng, hash_combine64(UnkdHash64((uint64) seed),
										  UnkdHash64((uint64) data->user_ids[u])));
		UnkdDrawSubset(order, is_test, n, n_test, &rng);
		for (int64 j = 0; j < n; j++)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			if ((j & 4095) == 4095)
				CHECK_FOR_INTERRUPTS();
			values[0] = Int64GetDatum(data->user_ids[u]);
			values[1] = Int64GetDatum(data->item_ids[data->user_items[start + j]]);
			values[2] = BoolGetDatum(is_test[j]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
