/*
 * popularity.c
 *	  Popularity strata (METHOD.md section 3): the aggregate
 *	  unkd.popularity_strata and unkd.popularity_groups.
 *
 * Items are split into at most G groups of about equal interaction mass,
 * group 0 the most popular. Items of one popularity level never straddle a
 * cut, so the result depends only on the multiset of popularity counts.
 * Cuts are chosen level by level: cut g is the level whose cumulative mass
 * is closest to g*M/G, leaving at least one level for each remaining group,
 * ties to the smaller level. Comparisons use exact integer arithmetic.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(popularity_strata_transfn);
PG_FUNCTION_INFO_V1(popularity_strata_combinefn);
PG_FUNCTION_INFO_V1(popularity_strata_serialfn);
PG_FUNCTION_INFO_V1(popularity_strata_deserialfn);
PG_FUNCTION_INFO_V1(popularity_strata_finalfn);
PG_FUNCTION_INFO_V1(unkd_popularity_groups);

/* One popularity level: a count value and how many items have it */
typedef struct PopularityLevel
{
	int64		popularity;
	int64		n_items;
} PopularityLevel;

/* Entry of the aggregate's item -> count hash table */
typedef struct ItemCount
{
	int64		item_id;
	int64		count;
	char		status;
} ItemCount;

#define SH_PREFIX		itemcount
#define SH_ELEMENT_TYPE	ItemCount
#define SH_KEY_TYPE		int64
#define SH_KEY			item_id
#define SH_HASH_KEY(tb, key)	UnkdHash64((uint64) (key))
#define SH_EQUAL(tb, a, b)		((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Aggregate state: per-item row counts and the requested group count */
typedef struct StrataState
{
	int32		n_groups;		/* 0 until the first non-NULL row */
	itemcount_hash *counts;
} StrataState;

/*
 * Ensure a group count is in range
 */
void
UnkdCheckGroups(int n_groups)
{
	if (n_groups < 1 || n_groups > UNKD_MAX_GROUPS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_groups must be between 1 and %d", UNKD_MAX_GROUPS)));
}

/* Order popularity values descending */
static int
CompareInt64Desc(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x > y ? -1 : (x < y ? 1 : 0);
}

/* The same order as an interruptible sort (catalogues of millions of items) */
#define ST_SORT SortInt64Desc
#define ST_ELEMENT_TYPE int64
#define ST_COMPARE(a, b) CompareInt64Desc(a, b)
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Collapse popularity counts into distinct levels, most popular first
 */
static int
BuildLevels(const int64 *popularity, int32 n_items, PopularityLevel *levels)
{
	int64	   *sorted = UnkdAllocHuge(n_items, sizeof(int64));
	int			n_levels = 0;

	memcpy(sorted, popularity, sizeof(int64) * n_items);
	SortInt64Desc(sorted, n_items);
	for (int32 i = 0; i < n_items; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (n_levels > 0 && levels[n_levels - 1].popularity == sorted[i])
			levels[n_levels - 1].n_items++;
		else
		{
			levels[n_levels].popularity = sorted[i];
			levels[n_levels].n_items = 1;
			n_levels++;
		}
	}
	pfree(sorted);
	return n_levels;
}

/* |G*C - g*M| exactly, the distance of a cumulative mass from a target */
static inline uint128
CutDistance(int64 cumulative, int64 total, int groups, int g)
{
	int128		a = (int128) cumulative * groups;
	int128		b = (int128) total * g;

	return (uint128) (a > b ? a - b : b - a);
}

/*
 * Compute popularity strata; returns the number of groups, min(G, levels)
 *
 * bounds receives the popularity lower bound of each group, most popular
 * first; it must have room for n_groups values. Items with popularity 0 are
 * ignored (they carry no mass and belong to the last group anyway).
 */
int
UnkdComputeStrata(const int64 *popularity, int32 n_items, int n_groups,
				  int64 *bounds)
{
	PopularityLevel *levels = UnkdAllocHuge(Max(n_items, 1), sizeof(PopularityLevel));
	int64	   *cumulative;
	int			n_levels;
	int			groups;
	int			prev_cut = 0;	/* c_{g-1}, as a count of levels */
	int			n_positive = 0;
	int64	   *positive = UnkdAllocHuge(Max(n_items, 1), sizeof(int64));

	UnkdCheckGroups(n_groups);
	for (int32 i = 0; i < n_items; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (popularity[i] > 0)
			positive[n_positive++] = popularity[i];
	}
	if (n_positive == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no item has any interaction")));

	n_levels = BuildLevels(positive, n_positive, levels);
	groups = Min(n_groups, n_levels);
	cumulative = palloc(sizeof(int64) * (n_levels + 1));
	cumulative[0] = 0;
	for (int j = 1; j <= n_levels; j++)
		cumulative[j] = cumulative[j - 1] +
			levels[j - 1].popularity * levels[j - 1].n_items;

	for (int g = 1; g < groups; g++)
	{
		/* leave at least one level for each of the groups - g after this */
		int			last = n_levels - (groups - g);
		int			best = prev_cut + 1;
		uint128		best_dist = CutDistance(cumulative[best], cumulative[n_levels], groups, g);

		/* G scans over up to L levels: can be long for many groups */
		CHECK_FOR_INTERRUPTS();
		for (int j = best + 1; j <= last; j++)
		{
			uint128		d = CutDistance(cumulative[j], cumulative[n_levels], groups, g);

			if (d < best_dist)
			{
				best = j;
				best_dist = d;
			}
		}
		/* group g-1 ends at level best (1-based): its lowest popularity */
		bounds[g - 1] = levels[best - 1].popularity;
		prev_cut = best;
	}
	bounds[groups - 1] = levels[n_levels - 1].popularity;

	pfree(levels);
	pfree(positive);
	pfree(cumulative);
	return groups;
}

/*
 * Group of an item: the first group whose lower bound its popularity reaches
 */
int
UnkdGroupOf(int64 popularity, const int64 *bounds, int n_strata)
{
	for (int g = 0; g < n_strata; g++)
		if (popularity >= bounds[g])
			return g;
	return n_strata - 1;
}

/*
 * Each item's group under the strata of n_groups groups, which are written
 * to bounds (n_groups entries); sets *n_strata to the groups there are
 */
int *
UnkdItemGroups(const int64 *popularity, int32 n_items, int n_groups, int64 *bounds,
			   int *n_strata)
{
	int		   *group = palloc(Max(n_items, 1) * sizeof(int));

	*n_strata = UnkdComputeStrata(popularity, n_items, n_groups, bounds);
	for (int32 i = 0; i < n_items; i++)
	{
		/* up to n_groups comparisons per item */
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		group[i] = UnkdGroupOf(popularity[i], bounds, *n_strata);
	}
	return group;
}

/* Create an empty aggregate state in the aggregate's memory context */
static StrataState *
StrataStateCreate(MemoryContext aggctx)
{
	StrataState *state = MemoryContextAllocZero(aggctx, sizeof(StrataState));

	state->counts = itemcount_create(aggctx, 1024, NULL);
	return state;
}

/* Record the group count, which must be the same on every row */
static void
StrataStateSetGroups(StrataState *state, int32 n_groups)
{
	if (state->n_groups != 0 && state->n_groups != n_groups)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_groups must be the same for every row of popularity_strata")));
	state->n_groups = n_groups;
}

/* Add count to an item's total */
static inline void
StrataStateAdd(StrataState *state, int64 item_id, int64 count)
{
	bool		found;
	ItemCount  *entry = itemcount_insert(state->counts, item_id, &found);

	if (!found)
		entry->count = 0;
	entry->count += count;
}

/* The aggregate's memory context, or an error outside an aggregate */
static MemoryContext
StrataAggContext(FunctionCallInfo fcinfo)
{
	MemoryContext aggctx;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "popularity_strata support function called in non-aggregate context");
	return aggctx;
}

/*
 * Transition: count one row's item; NULL items are skipped
 */
Datum
popularity_strata_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = StrataAggContext(fcinfo);
	StrataState *state = PG_ARGISNULL(0) ? NULL : (StrataState *) PG_GETARG_POINTER(0);
	int32		n_groups;

	if (state == NULL)
		state = StrataStateCreate(aggctx);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("n_groups must not be NULL")));
	n_groups = PG_GETARG_INT32(2);
	UnkdCheckGroups(n_groups);
	StrataStateSetGroups(state, n_groups);
	if (!PG_ARGISNULL(1))
		StrataStateAdd(state, PG_GETARG_INT64(1), 1);
	PG_RETURN_POINTER(state);
}

/*
 * Combine two partial states into the first (or a copy of the second)
 */
Datum
popularity_strata_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = StrataAggContext(fcinfo);
	StrataState *a = PG_ARGISNULL(0) ? NULL : (StrataState *) PG_GETARG_POINTER(0);
	StrataState *b = PG_ARGISNULL(1) ? NULL : (StrataState *) PG_GETARG_POINTER(1);
	itemcount_iterator it;
	ItemCount  *entry;

	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = StrataStateCreate(aggctx);
	if (b->n_groups != 0)
		StrataStateSetGroups(a, b->n_groups);
	itemcount_start_iterate(b->counts, &it);
	while ((entry = itemcount_iterate(b->counts, &it)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		StrataStateAdd(a, entry->item_id, entry->count);
	}
	PG_RETURN_POINTER(a);
}

/*
 * Serialize a state: n_groups, number of items, then (item, count) pairs
 */
Datum
popularity_strata_serialfn(PG_FUNCTION_ARGS)
{
	StrataState *state = (StrataState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	itemcount_iterator it;
	ItemCount  *entry;

	StrataAggContext(fcinfo);
	pq_begintypsend(&buf);
	pq_sendint32(&buf, state->n_groups);
	pq_sendint64(&buf, (int64) state->counts->members);
	itemcount_start_iterate(state->counts, &it);
	while ((entry = itemcount_iterate(state->counts, &it)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		pq_sendint64(&buf, entry->item_id);
		pq_sendint64(&buf, entry->count);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Deserialize a state written by popularity_strata_serialfn
 */
Datum
popularity_strata_deserialfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = StrataAggContext(fcinfo);
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	StrataState *state = StrataStateCreate(aggctx);
	int64		n;

	/* a read-only view of the bytea (initReadOnlyStringInfo is PG16+) */
	buf.data = VARDATA_ANY(bytes);
	buf.len = VARSIZE_ANY_EXHDR(bytes);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	state->n_groups = pq_getmsgint(&buf, 4);
	n = pq_getmsgint64(&buf);
	if (n < 0 || n > (int64) (buf.len - buf.cursor) / 16)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid popularity_strata state")));
	for (int64 i = 0; i < n; i++)
	{
		int64		item_id = pq_getmsgint64(&buf);
		int64		count = pq_getmsgint64(&buf);

		CHECK_FOR_INTERRUPTS();
		StrataStateAdd(state, item_id, count);
	}
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

/* Build a bigint[] from an array of int64 */
static ArrayType *
Int64Array(const int64 *values, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		datums[i] = Int64GetDatum(values[i]);
	return construct_array(datums, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
						   TYPALIGN_DOUBLE);
}

/*
 * Final: the strata of the counted items; NULL when no row had an item
 */
Datum
popularity_strata_finalfn(PG_FUNCTION_ARGS)
{
	StrataState *state = PG_ARGISNULL(0) ? NULL : (StrataState *) PG_GETARG_POINTER(0);
	int64	   *counts;
	int64	   *bounds;
	int32		n = 0;
	int			groups;
	itemcount_iterator it;
	ItemCount  *entry;

	StrataAggContext(fcinfo);
	if (state == NULL || state->counts->members == 0)
		PG_RETURN_NULL();

	counts = UnkdAllocHuge(state->counts->members, sizeof(int64));
	itemcount_start_iterate(state->counts, &it);
	while ((entry = itemcount_iterate(state->counts, &it)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		counts[n++] = entry->count;
	}
	bounds = palloc(sizeof(int64) * state->n_groups);
	groups = UnkdComputeStrata(counts, n, state->n_groups, bounds);
	PG_RETURN_ARRAYTYPE_P(Int64Array(bounds, groups));
}

/*
 * unkd.popularity_groups: every item with its popularity and group
 */
Datum
unkd_popularity_groups(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"interactions", "n_groups", "item_column",
	"user_column"};
	Oid			relid;
	int32		n_groups;
	char	   *item_column;
	char	   *user_column;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	UnkdInteractions *data;
	int64	   *bounds;
	int			groups;

	UnkdCheckArgsNotNull(fcinfo, names, lengthof(names));
	relid = PG_GETARG_OID(0);
	n_groups = PG_GETARG_INT32(1);
	item_column = text_to_cstring(PG_GETARG_TEXT_PP(2));
	user_column = text_to_cstring(PG_GETARG_TEXT_PP(3));
	UnkdCheckGroups(n_groups);
	data = UnkdReadInteractions(relid, user_column, item_column);
	bounds = palloc(sizeof(int64) * n_groups);
	groups = UnkdComputeStrata(data->item_pop, data->n_items, n_groups, bounds);

	InitMaterializedSRF(fcinfo, 0);
	for (int32 i = 0; i < data->n_items; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		/* finding the group scans up to n_groups bounds per item */
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		values[0] = Int64GetDatum(data->item_ids[i]);
		values[1] = Int64GetDatum(data->item_pop[i]);
		values[2] = Int32GetDatum(UnkdGroupOf(data->item_pop[i], bounds, groups));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
