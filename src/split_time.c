/*
 * split_time.c
 *	  Time-based train/test splits: unkd.split with an order column (each
 *	  user's latest interactions are the test set) and unkd.split_at (a global
 *	  cut: what happened at or after it is the test set).
 *
 * Both read (user, item, key) rows, where the key orders a row in time
 * (split) or says whether it is at or after the cut (split_at), and reduce
 * them to distinct (user, item) pairs whose key is that of the pair's FIRST
 * occurrence: a pair enters a user's history when it is first seen, and
 * repeating it later does not make it new. Rows with a NULL order value are
 * skipped with a NOTICE, as rows with a NULL id are.
 *
 * Everything is sorted by ids and keys, so the result does not depend on the
 * physical order of the rows.
 */
#include "postgres.h"

#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parse_oper.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(unkd_split_at);

/* How the third column of a row becomes its int64 key */
typedef enum TimedKeyKind
{
	KEY_INT8,					/* int8, timestamp, timestamptz, a rank */
	KEY_DATE,					/* date */
	KEY_FLOAT8,					/* float8, mapped to an order-preserving int64 */
	KEY_BOOL					/* at or after the cut: 1, before: 0 */
} TimedKeyKind;

/* A row as read, and after reduction a distinct pair with its first key */
typedef struct TimedRow
{
	int64		user_id;
	int64		item_id;
	int64		key;
} TimedRow;

/* Growing buffer of rows filled by the scan callback */
typedef struct TimedRowBuffer
{
	TimedRow   *rows;
	int64		count;
	int64		capacity;
	int64		n_null_id;
	int64		n_null_order;
	TimedKeyKind kind;
} TimedRowBuffer;

/* Distinct pairs sorted by user then item, with each user's range */
typedef struct TimedPairs
{
	TimedRow   *pairs;
	int64		n_pairs;
	int32		n_users;
	int64	   *user_start;		/* [n_users + 1] offsets into pairs */
	int64		max_user_pairs; /* pairs of the user with the most */
} TimedPairs;

/* Order rows by user, item, then key */
static int
CompareTimedRows(const TimedRow *x, const TimedRow *y)
{
	if (x->user_id != y->user_id)
		return x->user_id < y->user_id ? -1 : 1;
	if (x->item_id != y->item_id)
		return x->item_id < y->item_id ? -1 : 1;
	return (x->key > y->key) - (x->key < y->key);
}

#define ST_SORT SortTimedRows
#define ST_ELEMENT_TYPE TimedRow
#define ST_COMPARE(a, b) CompareTimedRows(a, b)
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* Order a user's pair indices by key, then item id */
static inline int
CompareByTime(const int32 *a, const int32 *b, const TimedRow *pairs)
{
	const TimedRow *x = &pairs[*a];
	const TimedRow *y = &pairs[*b];

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->item_id > y->item_id) - (x->item_id < y->item_id);
}

#define ST_SORT SortByTime
#define ST_ELEMENT_TYPE int32
#define ST_COMPARE_ARG_TYPE const TimedRow
#define ST_COMPARE(a, b, arg) CompareByTime(a, b, arg)
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Map a float8 to an int64 with the same order as PostgreSQL's float
 * comparison: -0 equals 0, and every NaN equals every other and is above
 * +Infinity. Done on the bits, so fast-math flags cannot change it.
 */
static int64
Float8OrderKey(float8 value)
{
	const uint64 sign = UINT64CONST(0x8000000000000000);
	const uint64 exponent = UINT64CONST(0x7FF0000000000000);
	uint64		bits;

	memcpy(&bits, &value, sizeof(bits));
	if ((bits & ~sign) == 0)
		bits = 0;
	else if ((bits & exponent) == exponent && (bits & ~(sign | exponent)) != 0)
		bits = UINT64CONST(0x7FF8000000000000);
	bits = (bits & sign) ? ~bits : (bits | sign);
	return (int64) (bits ^ sign);
}

/*
 * Scan callback: append one row, counting rows skipped for NULLs
 */
static void
CollectTimedRow(void *arg, Datum *values, bool *nulls)
{
	TimedRowBuffer *buf = (TimedRowBuffer *) arg;
	TimedRow   *row;

	if (nulls[0] || nulls[1])
	{
		buf->n_null_id++;
		return;
	}
	if (nulls[2])
	{
		buf->n_null_order++;
		return;
	}
	if (buf->count == buf->capacity)
	{
		int64		newcap = buf->capacity * 2;

		UnkdCheckMemoryBudget((double) newcap * sizeof(TimedRow),
							  "reading interactions");
		buf->rows = repalloc_huge(buf->rows, newcap * sizeof(TimedRow));
		buf->capacity = newcap;
	}
	row = &buf->rows[buf->count++];
	row->user_id = DatumGetInt64(values[0]);
	row->item_id = DatumGetInt64(values[1]);
	switch (buf->kind)
	{
		case KEY_INT8:
			row->key = DatumGetInt64(values[2]);
			break;
		case KEY_DATE:
			row->key = DatumGetDateADT(values[2]);
			break;
		case KEY_FLOAT8:
			row->key = Float8OrderKey(DatumGetFloat8(values[2]));
			break;
		case KEY_BOOL:
			row->key = DatumGetBool(values[2]) ? 1 : 0;
			break;
	}
}

/*
 * Keep the first row of each (user, item) in sorted rows: the pair with the
 * key of its first occurrence. Returns the number of pairs.
 */
static int64
ReduceToFirstOccurrence(TimedRow *rows, int64 n)
{
	int64		n_pairs = 0;

	for (int64 r = 0; r < n; r++)
	{
		if ((r & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (n_pairs > 0 && rows[r].user_id == rows[n_pairs - 1].user_id &&
			rows[r].item_id == rows[n_pairs - 1].item_id)
			continue;
		rows[n_pairs++] = rows[r];
	}
	return n_pairs;
}

/*
 * Find each user's range in the sorted distinct pairs
 */
static void
GroupByUser(TimedPairs *tp)
{
	int32		u = -1;
	int64		n_users = 0;

	for (int64 p = 0; p < tp->n_pairs; p++)
	{
		if ((p & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (p == 0 || tp->pairs[p].user_id != tp->pairs[p - 1].user_id)
			n_users++;
	}
	if (n_users > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct users: %lld", (long long) n_users)));
	tp->n_users = (int32) n_users;
	tp->user_start = UnkdAllocHuge((Size) n_users + 1, sizeof(int64));
	for (int64 p = 0; p < tp->n_pairs; p++)
	{
		if ((p & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (p == 0 || tp->pairs[p].user_id != tp->pairs[p - 1].user_id)
			tp->user_start[++u] = p;
	}
	tp->user_start[n_users] = tp->n_pairs;
	tp->max_user_pairs = 0;
	for (int32 v = 0; v < tp->n_users; v++)
	{
		if ((v & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		tp->max_user_pairs = Max(tp->max_user_pairs,
								 tp->user_start[v + 1] - tp->user_start[v]);
	}
}

/*
 * Read the distinct pairs of a relation with the key of their first
 * occurrence; key_expr is the SQL of the key (a column, cast or compared)
 *
 * NULL ids and NULL keys are skipped with a NOTICE each; a relation left
 * without any row is an error.
 */
static void
ReadTimedPairs(Oid relid, const char *user_column, const char *item_column,
			   const char *order_column, const char *key_expr, TimedKeyKind kind,
			   int nargs, Oid *argtypes, Datum *args, TimedPairs *tp)
{
	char	   *relname = UnkdRelationName(relid);
	StringInfoData query;
	TimedRowBuffer buf;

	initStringInfo(&query);
	appendStringInfo(&query, "SELECT %s::pg_catalog.int8, %s::pg_catalog.int8, %s FROM %s",
					 quote_identifier(user_column), quote_identifier(item_column),
					 key_expr, relname);
	buf.capacity = 65536;
	buf.count = 0;
	buf.n_null_id = 0;
	buf.n_null_order = 0;
	buf.kind = kind;
	buf.rows = palloc_extended(buf.capacity * sizeof(TimedRow), MCXT_ALLOC_HUGE);
	UnkdScanQuery(query.data, nargs, argtypes, args, CollectTimedRow, &buf);

	if (buf.n_null_id > 0)
		ereport(NOTICE,
				(errmsg("skipped %lld rows of %s with a NULL user or item id",
						(long long) buf.n_null_id, relname)));
	if (buf.n_null_order > 0)
		ereport(NOTICE,
				(errmsg("skipped %lld rows of %s with a NULL \"%s\"",
						(long long) buf.n_null_order, relname, order_column)));
	if (buf.count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("relation %s has no interactions", relname),
				 errdetail("Every row needs a non-NULL \"%s\", \"%s\" and \"%s\".",
						   user_column, item_column, order_column)));

	SortTimedRows(buf.rows, buf.count);
	tp->pairs = buf.rows;
	tp->n_pairs = ReduceToFirstOccurrence(buf.rows, buf.count);
	GroupByUser(tp);
	pfree(query.data);
}

/*
 * The SQL of a split's order key for a column of the given type, and how
 * its value becomes an int64 key
 *
 * Timestamps, dates and integers are exact int64 keys; floats map to an
 * order-preserving int64; numeric, which has no exact int64 image, is
 * ranked in the query.
 */
static char *
OrderKeyExpr(const char *order_column, Oid type, TimedKeyKind *kind)
{
	const char *col = quote_identifier(order_column);

	switch (type)
	{
		case TIMESTAMPTZOID:
			*kind = KEY_INT8;
			return psprintf("%s::pg_catalog.timestamptz", col);
		case TIMESTAMPOID:
			*kind = KEY_INT8;
			return psprintf("%s::pg_catalog.timestamp", col);
		case DATEOID:
			*kind = KEY_DATE;
			return psprintf("%s::pg_catalog.date", col);
		case FLOAT4OID:
		case FLOAT8OID:
			*kind = KEY_FLOAT8;
			return psprintf("%s::pg_catalog.float8", col);
		case NUMERICOID:
			*kind = KEY_INT8;
			return psprintf("CASE WHEN %s IS NULL THEN NULL ELSE pg_catalog.dense_rank() OVER (ORDER BY %s::pg_catalog.numeric) END",
							col, col);
		default:
			*kind = KEY_INT8;
			return psprintf("%s::pg_catalog.int8", col);
	}
}

/*
 * Emit a user's pairs as (user_id, item_id, is_test) rows, in item order
 */
static void
EmitUser(ReturnSetInfo *rsinfo, const TimedPairs *tp, int32 u, const bool *is_test)
{
	int64		start = tp->user_start[u];
	int64		n = tp->user_start[u + 1] - start;

	for (int64 j = 0; j < n; j++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if ((j & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
		values[0] = Int64GetDatum(tp->pairs[start + j].user_id);
		values[1] = Int64GetDatum(tp->pairs[start + j].item_id);
		values[2] = BoolGetDatum(is_test[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * unkd.split with an order column: per user, the latest test_fraction of the
 * distinct pairs (by first occurrence, ties broken by item id) are test
 *
 * The caller has checked the arguments that are not about columns.
 */
void
UnkdSplitByTime(FunctionCallInfo fcinfo, Oid relid, double fraction,
				const char *user_column, const char *item_column,
				const char *order_column)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimedKeyKind kind;
	char	   *key_expr;
	TimedPairs	tp;
	int32	   *order;
	bool	   *is_test;
	Oid			type;

	UnkdCheckIdColumn(relid, user_column);
	UnkdCheckIdColumn(relid, item_column);
	type = UnkdCheckOrderColumn(relid, order_column);
	key_expr = OrderKeyExpr(order_column, type, &kind);
	ReadTimedPairs(relid, user_column, item_column, order_column, key_expr, kind,
				   0, NULL, NULL, &tp);
	UnkdCheckMemoryBudget((double) tp.max_user_pairs * (sizeof(int32) + sizeof(bool)),
						  "splitting interactions");
	order = UnkdAllocHuge(tp.max_user_pairs, sizeof(int32));
	is_test = UnkdAllocHuge(tp.max_user_pairs, sizeof(bool));

	InitMaterializedSRF(fcinfo, 0);
	for (int32 u = 0; u < tp.n_users; u++)
	{
		int64		start = tp.user_start[u];
		int64		n = tp.user_start[u + 1] - start;
		int64		n_test = UnkdSplitTestCount(n, fraction);

		CHECK_FOR_INTERRUPTS();
		for (int64 j = 0; j < n; j++)
		{
			if ((j & 0xFFFF) == 0xFFFF)
				CHECK_FOR_INTERRUPTS();
			order[j] = (int32) j;
			is_test[j] = false;
		}
		if (n_test > 0)
			SortByTime(order, n, &tp.pairs[start]);
		for (int64 j = n - n_test; j < n; j++)
		{
			if ((j & 0xFFFF) == 0xFFFF)
				CHECK_FOR_INTERRUPTS();
			is_test[order[j]] = true;
		}
		EmitUser(rsinfo, &tp, u, is_test);
	}
}

/*
 * The parameter split_at compares the column with: a string cut is read as
 * the column's type; any other type needs a pg_catalog >= operator between
 * the two types (exact, no rounding), or it is an error
 */
static void
PrepareCut(Oid relid, const char *order_column, Oid col_type, Oid cut_type,
		   Datum cut, Oid *param_type, Datum *param)
{
	List	   *opname = list_make2(makeString("pg_catalog"), makeString(">="));
	Operator	op;
	bool		usable = false;

	if (TypeCategory(cut_type) == TYPCATEGORY_STRING)
	{
		Oid			output;
		bool		varlena;
		Oid			input;
		Oid			ioparam;

		getTypeOutputInfo(cut_type, &output, &varlena);
		getTypeInputInfo(col_type, &input, &ioparam);
		*param_type = col_type;
		*param = OidInputFunctionCall(input, OidOutputFunctionCall(output, cut),
									  ioparam, -1);
		return;
	}
	op = oper(NULL, opname, col_type, cut_type, true, -1);
	if (op != NULL)
	{
		usable = ((Form_pg_operator) GETSTRUCT(op))->oprresult == BOOLOID;
		ReleaseSysCache(op);
	}
	if (!usable)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cut of type %s cannot be compared with column \"%s\" of relation %s, of type %s",
						format_type_be(cut_type), order_column,
						UnkdRelationName(relid), format_type_be(col_type)),
				 errhint("Pass the cut as a %s, or as text in its input format.",
						 format_type_be(col_type))));
	*param_type = cut_type;
	*param = cut;
}

/*
 * unkd.split_at(interactions, order_column, cut, user_column, item_column)
 *
 * A pair is test when its first occurrence is at or after the cut: a pair
 * seen before the cut is a training item, which evaluation would exclude
 * from the user's ranking anyway.
 */
Datum
unkd_split_at(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"interactions", "order_column", "cut",
	"user_column", "item_column"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	char	   *order_column;
	char	   *user_column;
	char	   *item_column;
	Oid			col_type;
	Oid			cut_type;
	Oid			param_type;
	Datum		param;
	TimedPairs	tp;
	bool	   *is_test;
	int64		n_test = 0;
	int64		n_cold = 0;

	UnkdCheckArgsNotNull(fcinfo, names, lengthof(names));
	relid = PG_GETARG_OID(0);
	order_column = text_to_cstring(PG_GETARG_TEXT_PP(1));
	user_column = text_to_cstring(PG_GETARG_TEXT_PP(3));
	item_column = text_to_cstring(PG_GETARG_TEXT_PP(4));
	cut_type = get_fn_expr_argtype(fcinfo->flinfo, 2);
	if (!OidIsValid(cut_type))
		elog(ERROR, "could not determine the type of cut");
	UnkdCheckIdColumn(relid, user_column);
	UnkdCheckIdColumn(relid, item_column);
	col_type = UnkdCheckOrderColumn(relid, order_column);
	PrepareCut(relid, order_column, col_type, cut_type, PG_GETARG_DATUM(2),
			   &param_type, &param);

	ReadTimedPairs(relid, user_column, item_column, order_column,
				   psprintf("(%s OPERATOR(pg_catalog.>=) $1)", quote_identifier(order_column)),
				   KEY_BOOL, 1, &param_type, &param, &tp);
	UnkdCheckMemoryBudget((double) tp.max_user_pairs * sizeof(bool),
						  "splitting interactions");
	is_test = UnkdAllocHuge(tp.max_user_pairs, sizeof(bool));

	InitMaterializedSRF(fcinfo, 0);
	for (int32 u = 0; u < tp.n_users; u++)
	{
		int64		start = tp.user_start[u];
		int64		n = tp.user_start[u + 1] - start;
		int64		user_test = 0;

		CHECK_FOR_INTERRUPTS();
		for (int64 j = 0; j < n; j++)
		{
			if ((j & 0xFFFF) == 0xFFFF)
				CHECK_FOR_INTERRUPTS();
			is_test[j] = tp.pairs[start + j].key == 1;
			user_test += is_test[j];
		}
		n_test += user_test;
		n_cold += (user_test == n);
		EmitUser(rsinfo, &tp, u, is_test);
	}
	if (n_test == 0)
		ereport(NOTICE,
				(errmsg("no interaction of %s is at or after the cut",
						UnkdRelationName(relid))));
	else if (n_cold > 0)
		ereport(NOTICE,
				(errmsg("%lld of %d users have test interactions but no training interactions",
						(long long) n_cold, tp.n_users),
				 errdetail("They are cold-start users at evaluation: a model trained on the rows before the cut has never seen them.")));
	return (Datum) 0;
}
