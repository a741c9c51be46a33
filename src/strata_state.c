/*
 * strata_state.c
 *	  The serialisable state of unkd.popularity_strata (issue 10): the type
 *	  unkd.strata_state and the aggregate's transition, combine and final
 *	  functions over it.
 *
 * 0.1.0's aggregate kept its per-item counts in an "internal" state. Its
 * serial/deserial functions let PostgreSQL's parallel workers combine
 * partial states, but Citus only pushes the partial step of a custom
 * aggregate to the shards when the state is a real type it can ship as
 * text. unkd.strata_state is that type: on disk and on the wire a varlena of
 * (n_groups, then item/count pairs), in text "n_groups:item=count,...".
 * While an aggregate runs, the state is a read-write expanded object (as
 * expanded arrays are for array_append) holding a hash table, so a row
 * costs one hash insert, not a copy of the state.
 *
 * The 0.1.0 functions stay in popularity.c: a database still on 0.1.0
 * keeps calling them until ALTER EXTENSION unkd UPDATE.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/expandeddatum.h"
#include "utils/memutils.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(unkd_strata_state_in);
PG_FUNCTION_INFO_V1(unkd_strata_state_out);
PG_FUNCTION_INFO_V1(unkd_strata_state_transfn);
PG_FUNCTION_INFO_V1(unkd_strata_state_combinefn);
PG_FUNCTION_INFO_V1(unkd_strata_state_finalfn);

/* Entry of the item -> count hash table */
typedef struct StateItem
{
	int64		item_id;
	int64		count;
	char		status;
} StateItem;

#define SH_PREFIX		stateitem
#define SH_ELEMENT_TYPE	StateItem
#define SH_KEY_TYPE		int64
#define SH_KEY			item_id
#define SH_HASH_KEY(tb, key)	UnkdHash64((uint64) (key))
#define SH_EQUAL(tb, a, b)		((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * Flat form: varlena header, n_groups (0 until the first row), number of
 * items, then n_items (item_id, count) pairs, every count positive and every
 * item once
 */
typedef struct StrataFlat
{
	int32		vl_len_;
	int32		n_groups;
	int64		n_items;
	int64		pairs[FLEXIBLE_ARRAY_MEMBER];
} StrataFlat;

#define STRATA_FLAT_HEADER	offsetof(StrataFlat, pairs)

/* Expanded form, used while an aggregate runs */
typedef struct StrataExpanded
{
	ExpandedObjectHeader hdr;
	int32		n_groups;
	stateitem_hash *counts;
} StrataExpanded;

static Size StrataGetFlatSize(ExpandedObjectHeader *eohptr);
static void StrataFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);

static const ExpandedObjectMethods StrataMethods = {
	StrataGetFlatSize,
	StrataFlattenInto
};

/* Items and counts of a state, in either form, for reading */
typedef struct StrataPairs
{
	int32		n_groups;
	int64		n_items;
	int64	   *items;
	int64	   *counts;
} StrataPairs;

/* Size of the flat form of an expanded state */
static Size
StrataGetFlatSize(ExpandedObjectHeader *eohptr)
{
	StrataExpanded *state = (StrataExpanded *) eohptr;
	Size		size = STRATA_FLAT_HEADER + (Size) state->counts->members * 2 * sizeof(int64);

	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("popularity_strata state of %llu items is too large",
						(unsigned long long) state->counts->members)));
	return size;
}

/* Write the flat form of an expanded state into result */
static void
StrataFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	StrataExpanded *state = (StrataExpanded *) eohptr;
	StrataFlat *flat = (StrataFlat *) result;
	stateitem_iterator it;
	StateItem  *entry;
	int64		i = 0;

	Assert(allocated_size == StrataGetFlatSize(eohptr));
	memset(flat, 0, STRATA_FLAT_HEADER);
	SET_VARSIZE(flat, allocated_size);
	flat->n_groups = state->n_groups;
	flat->n_items = (int64) state->counts->members;
	stateitem_start_iterate(state->counts, &it);
	while ((entry = stateitem_iterate(state->counts, &it)) != NULL)
	{
		flat->pairs[2 * i] = entry->item_id;
		flat->pairs[2 * i + 1] = entry->count;
		i++;
	}
}

/* A new, empty expanded state in its own context under parent */
static StrataExpanded *
StrataNew(MemoryContext parent)
{
	MemoryContext ctx = AllocSetContextCreate(parent, "popularity_strata state",
											  ALLOCSET_DEFAULT_SIZES);
	StrataExpanded *state = MemoryContextAllocZero(ctx, sizeof(StrataExpanded));

	EOH_init_header(&state->hdr, &StrataMethods, ctx);
	state->counts = stateitem_create(ctx, 1024, NULL);
	return state;
}

/* Record the group count, which must be the same for every row */
static void
StrataSetGroups(StrataExpanded *state, int32 n_groups)
{
	if (n_groups == 0)
		return;
	if (state->n_groups != 0 && state->n_groups != n_groups)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_groups must be the same for every row of popularity_strata")));
	state->n_groups = n_groups;
}

/* Add count to an item's total */
static inline void
StrataAdd(StrataExpanded *state, int64 item_id, int64 count)
{
	bool		found;
	StateItem  *entry = stateitem_insert(state->counts, item_id, &found);

	if (!found)
		entry->count = 0;
	if (pg_add_s64_overflow(entry->count, count, &entry->count))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("popularity_strata count of item %lld is out of range",
						(long long) item_id)));
}

/* Whether a datum is one of our read-write expanded states */
static bool
StrataIsOwnExpanded(Datum d)
{
	return VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)) &&
		DatumGetEOHP(d)->eoh_methods == &StrataMethods;
}

/*
 * The items of a state in either form. A flat state is checked: it may
 * come from another node or from text a user typed.
 */
static void
StrataGetPairs(Datum d, StrataPairs *out)
{
	if (StrataIsOwnExpanded(d))
	{
		StrataExpanded *state = (StrataExpanded *) DatumGetEOHP(d);
		stateitem_iterator it;
		StateItem  *entry;
		int64		i = 0;

		out->n_groups = state->n_groups;
		out->n_items = (int64) state->counts->members;
		out->items = UnkdAllocHuge(Max(out->n_items, 1), sizeof(int64));
		out->counts = UnkdAllocHuge(Max(out->n_items, 1), sizeof(int64));
		stateitem_start_iterate(state->counts, &it);
		while ((entry = stateitem_iterate(state->counts, &it)) != NULL)
		{
			out->items[i] = entry->item_id;
			out->counts[i] = entry->count;
			i++;
		}
	}
	else
	{
		StrataFlat *flat = (StrataFlat *) PG_DETOAST_DATUM(d);
		Size		size = VARSIZE(flat);

		if (size < STRATA_FLAT_HEADER || flat->n_items < 0 ||
			(Size) flat->n_items != (size - STRATA_FLAT_HEADER) / (2 * sizeof(int64)) ||
			(size - STRATA_FLAT_HEADER) % (2 * sizeof(int64)) != 0 ||
			flat->n_groups < 0 || flat->n_groups > UNKD_MAX_GROUPS)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid popularity_strata state")));
		out->n_groups = flat->n_groups;
		out->n_items = flat->n_items;
		out->items = UnkdAllocHuge(Max(out->n_items, 1), sizeof(int64));
		out->counts = UnkdAllocHuge(Max(out->n_items, 1), sizeof(int64));
		for (int64 i = 0; i < flat->n_items; i++)
		{
			out->items[i] = flat->pairs[2 * i];
			out->counts[i] = flat->pairs[2 * i + 1];
			if (out->counts[i] <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("invalid popularity_strata state")));
		}
	}
}

/* Add every item of a state (either form) to an expanded state */
static void
StrataAddAll(StrataExpanded *state, Datum d)
{
	StrataPairs pairs;

	StrataGetPairs(d, &pairs);
	StrataSetGroups(state, pairs.n_groups);
	for (int64 i = 0; i < pairs.n_items; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		StrataAdd(state, pairs.items[i], pairs.counts[i]);
	}
	pfree(pairs.items);
	pfree(pairs.counts);
}

/* The aggregate's memory context, or an error outside an aggregate */
static MemoryContext
StrataAggContext(FunctionCallInfo fcinfo)
{
	MemoryContext aggctx;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("popularity_strata support function called outside an aggregate")));
	return aggctx;
}

/*
 * The state in argument 0 to update in place: our own expanded object as
 * it is, anything else (NULL, flat, another's) as a new expanded copy
 */
static StrataExpanded *
StrataForUpdate(FunctionCallInfo fcinfo, MemoryContext aggctx)
{
	StrataExpanded *state;

	if (!PG_ARGISNULL(0) && StrataIsOwnExpanded(PG_GETARG_DATUM(0)) &&
		VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(PG_GETARG_DATUM(0))))
		return (StrataExpanded *) DatumGetEOHP(PG_GETARG_DATUM(0));
	state = StrataNew(aggctx);
	if (!PG_ARGISNULL(0))
		StrataAddAll(state, PG_GETARG_DATUM(0));
	return state;
}

/* Parse a signed 64-bit decimal at *p, advancing it; false when none */
static bool
ParseInt64(const char **p, int64 *value)
{
	const char *s = *p;
	bool		negative = false;
	uint64		v = 0;
	int			digits = 0;

	if (*s == '-')
	{
		negative = true;
		s++;
	}
	while (*s >= '0' && *s <= '9')
	{
		int			d = *s - '0';

		if (v > (PG_UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		s++;
		digits++;
	}
	if (digits == 0 || (!negative && v > (uint64) PG_INT64_MAX) ||
		(negative && v > (uint64) PG_INT64_MAX + 1))
		return false;
	*value = negative ? (int64) (0 - v) : (int64) v;
	*p = s;
	return true;
}

/* Report text that is not a strata state */
static void
ReportBadText(const char *text)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type unkd.strata_state: \"%.100s\"", text),
			 errdetail("Expected \"n_groups:item=count,item=count,...\" with n_groups between 0 and %d and positive counts.",
					   UNKD_MAX_GROUPS)));
}

/*
 * unkd.strata_state input: "n_groups:item=count,..." (an item listed twice
 * counts twice)
 */
Datum
unkd_strata_state_in(PG_FUNCTION_ARGS)
{
	const char *text = PG_GETARG_CSTRING(0);
	const char *p = text;
	StrataExpanded *state = StrataNew(CurrentMemoryContext);
	int64		n_groups;
	Size		size;
	void	   *flat;

	if (!ParseInt64(&p, &n_groups) || n_groups < 0 || n_groups > UNKD_MAX_GROUPS || *p != ':')
		ReportBadText(text);
	p++;
	StrataSetGroups(state, (int32) n_groups);
	while (*p != '\0')
	{
		int64		item;
		int64		count;

		if (!ParseInt64(&p, &item) || *p != '=')
			ReportBadText(text);
		p++;
		if (!ParseInt64(&p, &count) || count <= 0)
			ReportBadText(text);
		StrataAdd(state, item, count);
		if (*p == ',' && p[1] != '\0')
			p++;
		else if (*p != '\0')
			ReportBadText(text);
	}
	size = EOH_get_flat_size(&state->hdr);
	flat = palloc(size);
	EOH_flatten_into(&state->hdr, flat, size);
	MemoryContextDelete(state->hdr.eoh_context);
	PG_RETURN_POINTER(flat);
}

/* unkd.strata_state output, the text unkd_strata_state_in reads */
Datum
unkd_strata_state_out(PG_FUNCTION_ARGS)
{
	StrataPairs pairs;
	StringInfoData buf;

	StrataGetPairs(PG_GETARG_DATUM(0), &pairs);
	initStringInfo(&buf);
	appendStringInfo(&buf, "%d:", pairs.n_groups);
	for (int64 i = 0; i < pairs.n_items; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfo(&buf, INT64_FORMAT "=" INT64_FORMAT, pairs.items[i], pairs.counts[i]);
	}
	PG_RETURN_CSTRING(buf.data);
}

/*
 * Transition: count one row's item (NULL items are skipped), in place
 */
Datum
unkd_strata_state_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = StrataAggContext(fcinfo);
	StrataExpanded *state;
	int32		n_groups;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("n_groups must not be NULL")));
	n_groups = PG_GETARG_INT32(2);
	UnkdCheckGroups(n_groups);
	state = StrataForUpdate(fcinfo, aggctx);
	StrataSetGroups(state, n_groups);
	if (!PG_ARGISNULL(1))
		StrataAdd(state, PG_GETARG_INT64(1), 1);
	PG_RETURN_DATUM(EOHPGetRWDatum(&state->hdr));
}

/*
 * Combine: add the second state's counts to the first
 */
Datum
unkd_strata_state_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = StrataAggContext(fcinfo);
	StrataExpanded *state;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(EOHPGetRWDatum(&StrataForUpdate(fcinfo, aggctx)->hdr));
	}
	state = StrataForUpdate(fcinfo, aggctx);
	StrataAddAll(state, PG_GETARG_DATUM(1));
	PG_RETURN_DATUM(EOHPGetRWDatum(&state->hdr));
}

/* Build a bigint[] from an array of int64 */
static ArrayType *
BoundsArray(const int64 *values, int n)
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
unkd_strata_state_finalfn(PG_FUNCTION_ARGS)
{
	StrataPairs pairs;
	int64	   *bounds;
	int			groups;

	StrataAggContext(fcinfo);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	StrataGetPairs(PG_GETARG_DATUM(0), &pairs);
	if (pairs.n_items == 0)
		PG_RETURN_NULL();
	if (pairs.n_items > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("popularity_strata supports at most %d distinct items", PG_INT32_MAX)));
	UnkdCheckGroups(pairs.n_groups);
	bounds = palloc(sizeof(int64) * pairs.n_groups);
	groups = UnkdComputeStrata(pairs.counts, (int32) pairs.n_items, pairs.n_groups, bounds);
	PG_RETURN_ARRAYTYPE_P(BoundsArray(bounds, groups));
}
