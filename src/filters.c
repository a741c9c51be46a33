/*
 * filters.c
 *	  The item filters of the serving functions: a bigint[] of item ids
 *	  (the items or exclude argument) as the sorted, distinct model item
 *	  indices it names, and the set operations that combine it with the
 *	  seen items.
 *
 * Ids the model does not know, NULL elements and duplicates are ignored:
 * a filter describes a set of items, and an id not in the model cannot be
 * recommended anyway. Only the shape of the array is an error.
 */
#include "unkd.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"

#include "serve.h"

/* Refuse arrays that are not a flat list of bigint */
void
UnkdCheckItemArray(ArrayType *array, const char *name)
{
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array, got %d dimensions",
						name, ARR_NDIM(array))));
	if (ARR_ELEMTYPE(array) != INT8OID)
		elog(ERROR, "%s must be a bigint[]", name);
}

/*
 * Argument i of a serving function, an item id array, checked; NULL when it
 * is NULL or absent (a 0.1.0 SQL definition calls with three arguments)
 */
ArrayType *
UnkdOptionalItemArray(FunctionCallInfo fcinfo, int i, const char *name)
{
	ArrayType  *array;

	if (PG_NARGS() <= i || PG_ARGISNULL(i))
		return NULL;
	array = PG_GETARG_ARRAYTYPE_P(i);
	UnkdCheckItemArray(array, name);
	return array;
}

/* Sort indices ascending and drop duplicates; returns the new count */
static int64
SortDistinct(int32 *set, int64 n)
{
	int64		w = 1;

	if (n < 2)
		return n;
	UnkdSortInt32(set, n);
	for (int64 r = 1; r < n; r++)
		if (set[r] != set[w - 1])
			set[w++] = set[r];
	return w;
}

/*
 * The model item indices of an item id array, ascending and distinct, in
 * the current memory context; *n gets their count (0 for an empty array)
 */
int32 *
UnkdServeItemSet(ArrayType *array, const char *name, const ServeModel *m, int64 *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n_elems;
	int32	   *set;
	int64		count = 0;

	UnkdCheckItemArray(array, name);
	deconstruct_array(array, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n_elems);
	set = palloc(sizeof(int32) * Max(n_elems, 1));
	for (int i = 0; i < n_elems; i++)
	{
		int32		idx;

		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			continue;
		idx = UnkdIdMapLookup(m->item_map, DatumGetInt64(elems[i]));
		if (idx >= 0)
			set[count++] = idx;
	}
	pfree(elems);
	pfree(nulls);
	*n = SortDistinct(set, count);
	return set;
}

/*
 * The union of two sorted, distinct index arrays, sorted and distinct,
 * in a new array; *n gets its length
 */
int32 *
UnkdSortedUnion(const int32 *a, int64 na, const int32 *b, int64 nb, int64 *n)
{
	int32	   *out = palloc(sizeof(int32) * Max(na + nb, 1));
	int64		i = 0;
	int64		j = 0;
	int64		w = 0;

	while (i < na || j < nb)
	{
		if (j >= nb || (i < na && a[i] < b[j]))
			out[w++] = a[i++];
		else if (i >= na || b[j] < a[i])
			out[w++] = b[j++];
		else
		{
			out[w++] = a[i++];
			j++;
		}
	}
	*n = w;
	return out;
}

/*
 * Remove from the sorted array a, in place, every element of the sorted
 * array b; returns how many elements of a are left
 */
int64
UnkdSortedSubtract(int32 *a, int64 na, const int32 *b, int64 nb)
{
	int64		j = 0;
	int64		w = 0;

	for (int64 i = 0; i < na; i++)
	{
		while (j < nb && b[j] < a[i])
			j++;
		if (j < nb && b[j] == a[i])
			continue;
		a[w++] = a[i];
	}
	return w;
}
