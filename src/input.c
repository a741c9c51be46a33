/*
 * input.c
 *	  Reading interaction tables through SPI into dense, deduplicated form.
 *
 * Every user table is read with the caller's rights through an SPI cursor in
 * batches of UNKD_FETCH_BATCH rows, so views, row-level security and
 * distributed tables behave as in any query. Ids are cast to int8 in the
 * query after the column types were checked against the catalog, which gives
 * precise errors before any row is read.
 *
 * The pairs are sorted and deduplicated, then users and items get dense
 * indices in ascending id order: the result does not depend on the physical
 * order of the rows, which keeps training deterministic for a seed.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "unkd.h"
#include "keys.h"

/* Entry of the id -> dense index hash map */
typedef struct UnkdIdEntry
{
	int64		id;
	int32		index;
	char		status;
} UnkdIdEntry;

#define SH_PREFIX		unkdid
#define SH_ELEMENT_TYPE	UnkdIdEntry
#define SH_KEY_TYPE		int64
#define SH_KEY			id
#define SH_HASH_KEY(tb, key)	UnkdHash64((uint64) (key))
#define SH_EQUAL(tb, a, b)		((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct UnkdIdMap
{
	unkdid_hash *hash;
};

/* A (user, item) pair as read, before dense mapping */
typedef struct UnkdRawPair
{
	int64		user_id;
	int64		item_id;
} UnkdRawPair;

/* Growing buffer of raw pairs filled by the scan callback */
typedef struct UnkdPairBuffer
{
	UnkdRawPair *pairs;
	int64		count;
	int64		capacity;
	int64		n_null;
	Oid			user_type;		/* id column types (keys.h) */
	Oid			item_type;
	UnkdKeyDict *user_dict;		/* keys read, for key columns; else NULL */
	UnkdKeyDict *item_dict;
} UnkdPairBuffer;

/*
 * Check a planned allocation against the training memory budget
 *
 * The budget is maintenance_work_mem, as for index builds: training and
 * evaluation are maintenance-like work that a DBA sizes per session.
 */
void
UnkdCheckMemoryBudget(double bytes, const char *what)
{
	double		budget = (double) maintenance_work_mem * 1024.0;

	if (bytes > budget)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s needs %.0f MB of memory, maintenance_work_mem is %d MB",
						what, ceil(bytes / (1024.0 * 1024.0)),
						maintenance_work_mem / 1024),
				 errhint("Increase maintenance_work_mem for this session, e.g. SET maintenance_work_mem = '%.0fMB'.",
						 ceil(bytes / (1024.0 * 1024.0)) + 1)));
}

/*
 * Allocate a zeroed array that may exceed 1 GB, with overflow checks
 */
void *
UnkdAllocHuge(Size count, Size size)
{
	Size		bytes = mul_size(Max(count, 1), size);

	return palloc_extended(bytes, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/*
 * Quoted, schema-qualified name of a relation for use in SQL text
 */
char *
UnkdRelationName(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}

/*
 * Type of a column of a relation, or an error naming both
 */
static Oid
ColumnType(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in relation %s",
						column, UnkdRelationName(relid))));
	return get_atttype(relid, attnum);
}

/*
 * Ensure a column exists and holds integer ids
 */
void
UnkdCheckIdColumn(Oid relid, const char *column)
{
	Oid			type = ColumnType(relid, column);

	if (type != INT2OID && type != INT4OID && type != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation %s must be smallint, integer or bigint, not %s",
						column, UnkdRelationName(relid), format_type_be(type))));
}

/*
 * Ensure a column exists and holds floating-point scores
 */
void
UnkdCheckScoreColumn(Oid relid, const char *column)
{
	Oid			type = ColumnType(relid, column);

	if (type != FLOAT4OID && type != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation %s must be real or double precision, not %s",
						column, UnkdRelationName(relid), format_type_be(type))));
}

/*
 * Ensure a column exists and holds values that order interactions in time:
 * a timestamp, a date or a number. Returns its type (a domain's base type).
 */
Oid
UnkdCheckOrderColumn(Oid relid, const char *column)
{
	Oid			type = getBaseType(ColumnType(relid, column));

	switch (type)
	{
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			return type;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation %s must be a timestamp, timestamptz, date or number to order interactions, not %s",
							column, UnkdRelationName(relid), format_type_be(type))));
	}
	return InvalidOid;			/* keep the compiler quiet */
}

/*
 * Run a query through an SPI cursor, one callback per row
 *
 * args are the values of the query's nargs parameters, of types argtypes
 * (none may be NULL). The callback runs in the caller's memory context, so
 * what it allocates survives the scan; by-reference values must be copied
 * before returning.
 */
void
UnkdScanQuery(const char *query, int nargs, Oid *argtypes, Datum *args,
			  UnkdRowCallback callback, void *arg)
{
	MemoryContext callerCtx = CurrentMemoryContext;
	SPIPlanPtr	plan;
	Portal		portal;
	Datum	   *values = NULL;
	bool	   *nulls = NULL;
	int			ncolumns = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(query, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", query,
			 SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, args, NULL, true);

	for (;;)
	{
		SPITupleTable *tuptable;
		uint64		nrows;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, UNKD_FETCH_BATCH);
		nrows = SPI_processed;
		if (nrows == 0)
			break;
		tuptable = SPI_tuptable;
		MemoryContextSwitchTo(callerCtx);
		if (values == NULL)
		{
			ncolumns = tuptable->tupdesc->natts;
			values = palloc(sizeof(Datum) * ncolumns);
			nulls = palloc(sizeof(bool) * ncolumns);
		}
		for (uint64 r = 0; r < nrows; r++)
		{
			for (int c = 0; c < ncolumns; c++)
				values[c] = SPI_getbinval(tuptable->vals[r], tuptable->tupdesc,
										  c + 1, &nulls[c]);
			callback(arg, values, nulls);
		}
		SPI_freetuptable(tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	if (values != NULL)
	{
		pfree(values);
		pfree(nulls);
	}
}

/*
 * Read columns of a relation through an SPI cursor, one callback per row
 *
 * casts[i] is the pg_catalog type each column is cast to in the query; the
 * callback is called as by UnkdScanQuery.
 */
void
UnkdScanRelation(Oid relid, int ncolumns, const char *const *columns,
				 const char *const *casts, UnkdRowCallback callback, void *arg)
{
	StringInfoData query;

	initStringInfo(&query);
	appendStringInfoString(&query, "SELECT ");
	for (int i = 0; i < ncolumns; i++)
		appendStringInfo(&query, "%s%s::pg_catalog.%s", i > 0 ? ", " : "",
						 quote_identifier(columns[i]), casts[i]);
	appendStringInfo(&query, " FROM %s", UnkdRelationName(relid));
	UnkdScanQuery(query.data, 0, NULL, NULL, callback, arg);
	pfree(query.data);
}

/*
 * Scan callback: append one (user, item) pair, counting NULLs
 */
static void
CollectPair(void *arg, Datum *values, bool *nulls)
{
	UnkdPairBuffer *buf = (UnkdPairBuffer *) arg;

	if (nulls[0] || nulls[1])
	{
		buf->n_null++;
		return;
	}
	if (buf->count == buf->capacity)
	{
		int64		newcap = buf->capacity * 2;

		UnkdCheckMemoryBudget((double) newcap * sizeof(UnkdRawPair) +
							  UnkdKeyDictBytes(buf->user_dict) +
							  UnkdKeyDictBytes(buf->item_dict),
							  "reading interactions");
		buf->pairs = repalloc_huge(buf->pairs, newcap * sizeof(UnkdRawPair));
		buf->capacity = newcap;
	}
	buf->pairs[buf->count].user_id = buf->user_dict ?
		UnkdKeyDictAdd(buf->user_dict, values[0]) : DatumGetInt64(values[0]);
	buf->pairs[buf->count].item_id = buf->item_dict ?
		UnkdKeyDictAdd(buf->item_dict, values[1]) : DatumGetInt64(values[1]);
	buf->count++;
}

/* Order pairs by user, then item */
static int
CompareRawPairs(const void *a, const void *b)
{
	const UnkdRawPair *x = a;
	const UnkdRawPair *y = b;

	if (x->user_id != y->user_id)
		return x->user_id < y->user_id ? -1 : 1;
	if (x->item_id != y->item_id)
		return x->item_id < y->item_id ? -1 : 1;
	return 0;
}

/*
 * Sorts that check for interrupts as they go (qsort cannot be cancelled,
 * and sorting 10^8 pairs takes many seconds). Equal elements are identical,
 * so the result is the same as qsort's.
 */
#define ST_SORT SortRawPairs
#define ST_ELEMENT_TYPE UnkdRawPair
#define ST_COMPARE(a, b) CompareRawPairs(a, b)
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

#define ST_SORT UnkdSortInt32
#define ST_ELEMENT_TYPE int32
#define ST_COMPARE(a, b) UnkdCompareInt32(a, b)
#define ST_SCOPE extern
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DEFINE
#include "lib/sort_template.h"

#define ST_SORT UnkdSortInt64
#define ST_ELEMENT_TYPE int64
#define ST_COMPARE(a, b) UnkdCompareInt64(a, b)
#define ST_SCOPE extern
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Build a hash map from ids to their positions in the array
 */
UnkdIdMap *
UnkdBuildIdMap(const int64 *ids, int32 n)
{
	UnkdIdMap  *map = palloc(sizeof(UnkdIdMap));

	map->hash = unkdid_create(CurrentMemoryContext, Max(n, 16), NULL);
	for (int32 i = 0; i < n; i++)
	{
		bool		found;
		UnkdIdEntry *entry = unkdid_insert(map->hash, ids[i], &found);

		entry->index = i;
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return map;
}

/*
 * Dense index of an id, or -1 when absent
 */
int32
UnkdIdMapLookup(const UnkdIdMap *map, int64 id)
{
	UnkdIdEntry *entry = unkdid_lookup(map->hash, id);

	return entry ? entry->index : -1;
}

/*
 * Build the dense CSR structure from sorted, distinct raw pairs
 */
static void
BuildDenseInteractions(UnkdInteractions *data, UnkdRawPair *pairs, int64 n)
{
	int64	   *items;
	int64		n_items;
	int32		u = -1;

	/* distinct items, ascending */
	UnkdCheckMemoryBudget((double) n * (sizeof(UnkdRawPair) + sizeof(int64) + sizeof(int32)),
						  "reading interactions");
	items = UnkdAllocHuge(n, sizeof(int64));
	for (int64 p = 0; p < n; p++)
	{
		if ((p & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		items[p] = pairs[p].item_id;
	}
	UnkdSortInt64(items, n);
	n_items = qunique(items, n, sizeof(int64), UnkdCompareInt64);
	if (n_items > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct items: %lld", (long long) n_items)));
	data->n_items = (int32) n_items;
	data->item_ids = repalloc_huge(items, Max(n_items, 1) * sizeof(int64));
	data->item_map = UnkdBuildIdMap(data->item_ids, data->n_items);
	data->item_pop = UnkdAllocHuge(n_items, sizeof(int64));

	/* users: count first, then fill */
	data->n_users = 0;
	for (int64 p = 0; p < n; p++)
	{
		if ((p & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (p == 0 || pairs[p].user_id != pairs[p - 1].user_id)
			data->n_users++;
	}
	data->user_ids = UnkdAllocHuge(data->n_users, sizeof(int64));
	data->user_start = UnkdAllocHuge((Size) data->n_users + 1, sizeof(int64));
	data->user_items = UnkdAllocHuge(n, sizeof(int32));
	for (int64 p = 0; p < n; p++)
	{
		int32		item;

		if (p == 0 || pairs[p].user_id != pairs[p - 1].user_id)
		{
			u++;
			data->user_ids[u] = pairs[p].user_id;
			data->user_start[u] = p;
		}
		item = UnkdIdMapLookup(data->item_map, pairs[p].item_id);
		data->user_items[p] = item;
		data->item_pop[item]++;
		if ((p & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	data->user_start[data->n_users] = n;
	data->n_pairs = n;
	data->user_map = UnkdBuildIdMap(data->user_ids, data->n_users);
}

/* The keys of the dense ids from a dictionary, or NULL for an integer column */
static char **
DenseKeys(const UnkdKeyDict *dict, const int64 *ids, int32 n)
{
	char	  **keys;

	if (dict == NULL)
		return NULL;
	keys = UnkdAllocHuge(n, sizeof(char *));
	for (int32 i = 0; i < n; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		keys[i] = UnkdKeyDictGet(dict, ids[i]);
	}
	return keys;
}

/*
 * Read the distinct (user, item) interactions of a relation whose id
 * columns are of the given types (keys.h): integers as they are, keys as
 * their codes, with the keys kept in data->user_keys and item_keys
 *
 * NULL ids are skipped with a NOTICE giving their count; an input without
 * any interaction is an error, since nothing can be learned from it.
 */
static UnkdInteractions *
ReadInteractions(Oid relid, const char *user_column, const char *item_column,
				 Oid user_type, Oid item_type)
{
	UnkdInteractions *data = palloc0(sizeof(UnkdInteractions));
	UnkdPairBuffer buf = {0};
	const char *columns[2] = {user_column, item_column};
	const char *casts[2] = {UnkdIdCast(user_type), UnkdIdCast(item_type)};
	int64		n;

	buf.capacity = 65536;
	buf.user_type = user_type;
	buf.item_type = item_type;
	buf.user_dict = UnkdIsKeyType(user_type) ? UnkdKeyDictCreate() : NULL;
	buf.item_dict = UnkdIsKeyType(item_type) ? UnkdKeyDictCreate() : NULL;
	buf.pairs = palloc_extended(buf.capacity * sizeof(UnkdRawPair), MCXT_ALLOC_HUGE);
	UnkdScanRelation(relid, 2, columns, casts, CollectPair, &buf);

	data->n_rows = buf.count + buf.n_null;
	data->n_null = buf.n_null;
	data->user_type = user_type;
	data->item_type = item_type;
	if (buf.n_null > 0)
		ereport(NOTICE,
				(errmsg("skipped %lld rows of %s with a NULL user or item id",
						(long long) buf.n_null, UnkdRelationName(relid))));
	if (buf.count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("relation %s has no interactions", UnkdRelationName(relid)),
				 errdetail("Every row needs a non-NULL \"%s\" and \"%s\".",
						   user_column, item_column)));

	SortRawPairs(buf.pairs, buf.count);
	n = qunique(buf.pairs, buf.count, sizeof(UnkdRawPair), CompareRawPairs);
	if (n > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct interactions: %lld", (long long) n)));
	BuildDenseInteractions(data, buf.pairs, n);
	pfree(buf.pairs);
	data->user_keys = DenseKeys(buf.user_dict, data->user_ids, data->n_users);
	data->item_keys = DenseKeys(buf.item_dict, data->item_ids, data->n_items);
	return data;
}

/*
 * Read the distinct interactions of a relation with integer id columns
 */
UnkdInteractions *
UnkdReadInteractions(Oid relid, const char *user_column, const char *item_column)
{
	UnkdCheckIdColumn(relid, user_column);
	UnkdCheckIdColumn(relid, item_column);
	return ReadInteractions(relid, user_column, item_column, INT8OID, INT8OID);
}

/*
 * Read the distinct interactions of a relation with id columns of any
 * supported type: integer, text, varchar or uuid (keys.h)
 */
UnkdInteractions *
UnkdReadKeyedInteractions(Oid relid, const char *user_column, const char *item_column)
{
	Oid			user_type = UnkdIdColumnType(relid, user_column);
	Oid			item_type = UnkdIdColumnType(relid, item_column);

	return ReadInteractions(relid, user_column, item_column, user_type, item_type);
}

/*
 * Dense index of a user id, or -1 when the user has no interaction
 */
int32
UnkdLookupUser(const UnkdInteractions *data, int64 user_id)
{
	return UnkdIdMapLookup(data->user_map, user_id);
}

/*
 * Dense index of an item id, or -1 when no user has it
 */
int32
UnkdLookupItem(const UnkdInteractions *data, int64 item_id)
{
	return UnkdIdMapLookup(data->item_map, item_id);
}

/*
 * Whether a user has an item, by binary search in the user's sorted row
 */
bool
UnkdUserHasItem(const UnkdInteractions *data, int32 user, int32 item)
{
	int64		lo = data->user_start[user];
	int64		hi = data->user_start[user + 1] - 1;

	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;
		int32		v = data->user_items[mid];

		if (v == item)
			return true;
		if (v < item)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}
