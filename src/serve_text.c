/*
 * serve_text.c
 *	  The text overloads of the serving functions, for models with text or
 *	  uuid ids: unkd.recommend(user_id text, ...) and
 *	  unkd.similar_items(item_id text, ...).
 *
 * Each maps its text ids to the model's codes (keys.c), runs the bigint
 * machinery (recommend.c, similar.c) on the same cache entry, and maps the
 * ranked item codes back to their keys from the entry. A side of the model
 * with integer ids takes and returns them as text ('42'), and so does a
 * model with integer ids only: an untyped parameter or quoted literal
 * (unkd.recommend($1, 10) with $1 of unknown type, as libpq and pgbench
 * send it, or unkd.recommend('42', 10)) resolves to this form, and must
 * keep working on the models it served before 0.2.0; a text that is not
 * an integer is then an error (22P02).
 *
 * The user's code is needed by the one catalog lookup that also resolves
 * the model, before its id types are known: it is computed for the type
 * the cached entry of that name (or the deployed model at the last call)
 * had, and the lookup runs again only when the model turns out to read the
 * id differently (an integer or a non-canonical uuid).
 */
#include "unkd.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "keys.h"
#include "serve.h"

PG_FUNCTION_INFO_V1(unkd_recommend_text);
PG_FUNCTION_INFO_V1(unkd_similar_items_text);

/* user id type of the deployed model at the last call without a model name */
static Oid	deployed_user_type = InvalidOid;

/*
 * Argument i, a text[] of ids, checked; NULL when it is NULL
 */
static ArrayType *
OptionalKeyArray(FunctionCallInfo fcinfo, int i, const char *name)
{
	ArrayType  *array;

	if (PG_ARGISNULL(i))
		return NULL;
	array = PG_GETARG_ARRAYTYPE_P(i);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array, got %d dimensions",
						name, ARR_NDIM(array))));
	if (ARR_ELEMTYPE(array) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a text[]", name)));
	return array;
}

/*
 * A text[] of ids as the bigint[] of their codes for a model side of the
 * given type (NULL elements dropped), for the bigint filters (filters.c)
 */
static ArrayType *
CodeArray(ArrayType *keys, Oid type)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			count = 0;
	Datum	   *codes;

	if (keys == NULL)
		return NULL;
	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	codes = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			continue;
		codes[count++] = Int64GetDatum(UnkdInputIdCode(type, TextDatumGetCString(elems[i]),
													   NULL));
	}
	return construct_array(codes, count, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
						   TYPALIGN_DOUBLE);
}

/*
 * The code of a user id for the user id type the model is expected to
 * have, never an error: an id that does not fit the type gets its text code
 */
static int64
GuessUserCode(Oid expected, const char *id)
{
	if (!UnkdIsKeyType(expected) && OidIsValid(expected))
	{
		char	   *end;
		int64		value;

		errno = 0;
		value = strtoi64(id, &end, 10);
		if (errno == 0 && end != id && *end == '\0')
			return value;
	}
	/* a uuid not in canonical form is looked up again once normalised */
	return UnkdKeyCode(id, strlen(id));
}

/*
 * The code of a user id as a pinned entry reads it, with its canonical
 * text in *key; on error the entry is unpinned
 */
static pg_noinline int64
ReadUserId(ServeModel *m, const char *id, char **key)
{
	int64		code = 0;

	PG_TRY();
	{
		code = UnkdInputIdCode(m->user_type, id, key);
	}
	PG_CATCH();
	{
		UnkdServeClose(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return code;
}

/*
 * Resolve the call's model and the user's vector by the user's code, and
 * pin the entry; *code and call->user_key get the id as the model reads it
 */
static pg_noinline ServeModel *
OpenForUser(const char *model, const char *id, MemoryContext outer, ServeCall *call,
			int64 *code)
{
	Oid			expected = model ? UnkdServeCachedUserType(model) : deployed_user_type;
	int64		guess = GuessUserCode(expected, id);

	for (int attempt = 0;; attempt++)
	{
		ServeModel *m = UnkdServeOpen(model, true, guess, outer, call);
		char	   *key = NULL;

		*code = ReadUserId(m, id, &key);
		if (model == NULL)
			deployed_user_type = m->user_type;
		call->user_key = UnkdIsKeyType(m->user_type) ? key : NULL;
		if (*code == guess)
			return m;
		UnkdServeClose(m);
		if (attempt > 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("model \"%s\" was replaced while the call was reading it", call->name),
					 errhint("Run the query again.")));
		guess = *code;
	}
}

/* The ranked item codes of a result as their text ids, in outer */
static char **
ResultKeys(const ServeModel *m, const ServeResult *result, MemoryContext outer)
{
	char	  **keys = MemoryContextAlloc(outer, sizeof(char *) * Max(result->count, 1));

	for (int i = 0; i < result->count; i++)
	{
		int32		idx = UnkdIdMapLookup(m->item_map, result->ids[i]);
		const char *key = (m->item_keys && idx >= 0) ? m->item_keys[idx] : NULL;

		keys[i] = MemoryContextStrdup(outer, UnkdCodeText(m->item_type, key, result->ids[i]));
	}
	return keys;
}

/* Return ranked (item_id text, score, rank) rows through the materialized SRF */
static void
EmitKeys(FunctionCallInfo fcinfo, const ServeResult *result, char **keys)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	for (int i = 0; i < result->count; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(keys[i]);
		values[1] = Float4GetDatum(result->scores[i]);
		values[2] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * unkd.recommend(user_id text, k int, model text, items text[],
 *				  exclude text[], fold_in boolean)
 *	  unkd.recommend for a model with text or uuid ids.
 */
Datum
unkd_recommend_text(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	char	   *id;
	int32		k;
	char	   *model;
	ArrayType  *items_arg;
	ArrayType  *exclude_arg;
	UnkdFoldIn	fold_in;
	ServeCall	call;
	ServeModel *m;
	ServeResult result;
	char	  **volatile keys = NULL;
	int64		code;

	UnkdCheckServeArgs(fcinfo, "user_id", NULL, &k, &model);
	id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	items_arg = OptionalKeyArray(fcinfo, 3, "items");
	exclude_arg = OptionalKeyArray(fcinfo, 4, "exclude");
	fold_in = UnkdFoldInArg(fcinfo, 5);
	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	m = OpenForUser(model, id, outer, &call, &code);
	PG_TRY();
	{
		UnkdRecommendFromEntry(m, &call, code, k, CodeArray(items_arg, m->item_type),
							   CodeArray(exclude_arg, m->item_type), fold_in, outer, &result);
		keys = ResultKeys(m, &result, outer);
	}
	PG_FINALLY();
	{
		UnkdServeClose(m);
	}
	PG_END_TRY();
	SPI_finish();

	EmitKeys(fcinfo, &result, keys);
	return (Datum) 0;
}

/*
 * unkd.similar_items(item_id text, k int, model text, items text[])
 *	  unkd.similar_items for a model with text or uuid ids.
 */
Datum
unkd_similar_items_text(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	char	   *id;
	int32		k;
	char	   *model;
	ArrayType  *items_arg;
	ServeCall	call;
	ServeModel *m;
	ServeResult result;
	char	  **volatile keys = NULL;

	UnkdCheckServeArgs(fcinfo, "item_id", NULL, &k, &model);
	id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	items_arg = OptionalKeyArray(fcinfo, 3, "items");
	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	m = UnkdServeOpen(model, false, 0, outer, &call);
	PG_TRY();
	{
		UnkdSimilarFromEntry(m, UnkdInputIdCode(m->item_type, id, NULL), k,
							 CodeArray(items_arg, m->item_type), outer, &result);
		keys = ResultKeys(m, &result, outer);
	}
	PG_FINALLY();
	{
		UnkdServeClose(m);
	}
	PG_END_TRY();
	SPI_finish();

	EmitKeys(fcinfo, &result, keys);
	return (Datum) 0;
}
