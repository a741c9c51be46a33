/*
 * recommend.c
 *	  unkd.recommend(): exact top-k serving from a per-backend model cache.
 *
 * A call costs one catalog lookup (model version and user vector in one
 * indexed query), one indexed lookup of the user's seen items in the model's
 * interactions table, and one pass over the cached item matrix. The cache
 * holds, per model name, the item side of exactly one model version in
 * contiguous memory; a call that sees a different version_id builds a new
 * entry completely and only then replaces the old one, so an error while
 * loading leaves the previous entry intact and usable.
 *
 * unkd.similar_items (similar.c) serves from the same entries through
 * serve.h; it never reads the seen relation, so the seen-items plan is only
 * prepared by the first recommend call on an entry.
 *
 * A call pins the entry it uses: the seen-items query runs code of the seen
 * relation's owner, which may call recommend again or retrain the model, and
 * a replaced entry that is still pinned is only unlinked, then freed by the
 * first call that finds it unpinned. The seen relation is read as the
 * model's owner inside a security-restricted operation (security.c), with
 * its id column types checked again at every call.
 */
#include "unkd.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "keys.h"
#include "serve.h"

PG_FUNCTION_INFO_V1(unkd_recommend);

static ServeModel *serve_models = NULL;
static ServeModel *retired_models = NULL;	/* replaced, maybe still pinned */
static List *index_notified = NIL;	/* model names already warned about */
static SPIPlanPtr call_by_name_plan = NULL;
static SPIPlanPtr call_deployed_plan = NULL;

/* Sort helper for the popularity order: popularity desc, then index (= id) asc */
static int
ComparePopularity(const void *a, const void *b, void *arg)
{
	const int64 *pop = (const int64 *) arg;
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (pop[x] != pop[y])
		return pop[x] > pop[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/*
 * Fill order[] with the item indices, most popular first: the ranking given
 * to users a model has not seen.
 */
void
UnkdPopularityOrder(const int64 *item_pop, int32 n_items, int32 *order)
{
	for (int32 i = 0; i < n_items; i++)
		order[i] = i;
	qsort_arg(order, n_items, sizeof(int32), ComparePopularity, (void *) item_pop);
}

/*
 * The first k items of a popularity order that are not in excluded[] (sorted
 * ascending), with their popularity as score; returns how many were found.
 */
int
UnkdRankByPopularity(const int32 *order, const int64 *item_pop, int32 n_items,
					 const int32 *excluded, int64 n_excluded, int k,
					 int32 *items, float *scores)
{
	int			count = 0;

	for (int32 r = 0; r < n_items && count < k; r++)
	{
		int32		item = order[r];

		if (n_excluded > 0 &&
			bsearch(&item, excluded, n_excluded, sizeof(int32), UnkdCompareInt32) != NULL)
			continue;
		items[count] = item;
		scores[count] = (float) item_pop[item];
		count++;
	}
	return count;
}

/*
 * Validate the (id, k, model) arguments every serving function starts with;
 * NULLs are errors because they would hide typos. id is NULL for a text id,
 * which the caller reads itself.
 */
void
UnkdCheckServeArgs(FunctionCallInfo fcinfo, const char *id_name, int64 *id, int32 *k,
				   char **model)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", id_name)));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be NULL")));
	if (id != NULL)
		*id = PG_GETARG_INT64(0);
	*k = PG_GETARG_INT32(1);
	/* no upper bound: k is clamped to the catalogue, which bounds memory */
	if (*k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be positive, got %d", *k)));
	*model = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
}

/* Prepare and keep one catalog query; kept plans survive across calls */
static SPIPlanPtr
KeepCallPlan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* Copy a real[] user vector, refusing anything that is not a plain vector */
static float *
CopyUserVector(Datum value, int32 *dim)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	int			n;
	float	   *vec;

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("user embedding is not a one-dimensional real[] without nulls")));
	n = ARR_DIMS(arr)[0];
	vec = palloc(sizeof(float) * n);
	memcpy(vec, ARR_DATA_PTR(arr), sizeof(float) * n);
	*dim = n;
	return vec;
}

/*
 * Resolve the model (named or deployed), its current version, owner and
 * grants and the user's vector in one indexed query, all under the caller's
 * snapshot, as the registry's owner; then check that the caller may read it.
 * Without with_user the user id is passed as NULL, which matches no row.
 */
static void
LookupCall(const char *model, bool with_user, int64 user_id, MemoryContext outer,
		   ServeCall *call)
{
	char		nulls[3] = {' ', with_user ? ' ' : 'n', '\0'};

	Datum		values[2];
	bool		isnull;
	HeapTuple	tuple;
	TupleDesc	desc;
	int			ret;
	MemoryContext old;
	UnkdUserSwitch sw;

	UnkdBecomeRegistryOwner(&sw);

	if (call_deployed_plan == NULL)
	{
		Oid			types[2] = {TEXTOID, INT8OID};
		SPIPlanPtr	by_name;

		/* both or neither: the second is set last and tested above */
		by_name = KeepCallPlan(
			"SELECT m.name, m.version_id, u.embedding, m.tableoid, m.owner, m.readers"
			" FROM unkd.models m"
			" LEFT JOIN unkd.user_embeddings u ON u.model OPERATOR(pg_catalog.=) m.name"
			" AND u.user_id OPERATOR(pg_catalog.=) $2"
			" WHERE m.name OPERATOR(pg_catalog.=) $1", 2, types);
		if (call_by_name_plan != NULL)
			SPI_freeplan(call_by_name_plan);
		call_by_name_plan = by_name;
		call_deployed_plan = KeepCallPlan(
			"SELECT m.name, m.version_id, u.embedding, m.tableoid, m.owner, m.readers"
			" FROM unkd.models m"
			" LEFT JOIN unkd.user_embeddings u ON u.model OPERATOR(pg_catalog.=) m.name"
			" AND u.user_id OPERATOR(pg_catalog.=) $2"
			" WHERE m.deployed", 2, types);
	}

	values[0] = model ? CStringGetTextDatum(model) : (Datum) 0;
	values[1] = Int64GetDatum(user_id);
	nulls[0] = model ? ' ' : 'n';
	ret = SPI_execute_plan(model ? call_by_name_plan : call_deployed_plan,
						   values, nulls, true, 1);
	UnkdRestoreUser(&sw);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "model lookup failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		if (model)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" does not exist", model),
					 errhint("See SELECT name FROM unkd.models for the trained models.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no model is deployed"),
				 errhint("Name a model in the call, or deploy one with unkd.deploy(name).")));
	}

	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	old = MemoryContextSwitchTo(outer);
	call->name = TextDatumGetCString(SPI_getbinval(tuple, desc, 1, &isnull));
	call->version_id = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	call->registry = DatumGetObjectId(SPI_getbinval(tuple, desc, 4, &isnull));
	call->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 5, &isnull));
	call->n_readers = UnkdRoleArray(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 6, &isnull)),
									&call->readers);
	values[0] = SPI_getbinval(tuple, desc, 3, &isnull);
	call->has_user = !isnull;
	call->user_dim = 0;
	call->user_key = NULL;
	call->user_vec = isnull ? NULL : CopyUserVector(values[0], &call->user_dim);
	MemoryContextSwitchTo(old);
	UnkdCheckCanRead(call->name, call->owner, call->readers, call->n_readers);
}

/* Find the cached entry of a model name, whatever its version */
static ServeModel *
FindServeModel(const char *name)
{
	ServeModel *m;

	for (m = serve_models; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* Free an entry that is no longer linked into the cache and not pinned */
static void
FreeServeModel(ServeModel *m)
{
	Assert(m->pins == 0);
	if (m->seen_plan)
		SPI_freeplan(m->seen_plan);
	MemoryContextDelete(m->cxt);
}

/* Retire an unlinked entry: freed now, or once no call pins it */
static void
RetireServeModel(ServeModel *m)
{
	if (m->pins == 0)
	{
		FreeServeModel(m);
		return;
	}
	m->next = retired_models;
	retired_models = m;
}

/* Free the retired entries no call uses any more */
static void
FreeRetiredModels(void)
{
	ServeModel **link = &retired_models;

	while (*link != NULL)
	{
		ServeModel *m = *link;

		if (m->pins > 0)
		{
			link = &m->next;
			continue;
		}
		*link = m->next;
		FreeServeModel(m);
	}
}

/*
 * Tell the user, once per backend per model, that the seen-items lookup of
 * every call will scan the interactions table because no index leads with
 * the user column. Views are not checked: their base tables are unknown here.
 */
static void
CheckSeenIndex(const char *name, const char *seen, const char *user_column)
{
	ListCell   *lc;
	RangeVar   *rv;
	Oid			relid;
	Relation	rel;
	AttrNumber	attnum;
	bool		indexed = false;
	List	   *indexes;
	char		kind;

	foreach(lc, index_notified)
		if (strcmp((char *) lfirst(lc), name) == 0)
			return;

	rv = makeRangeVarFromNameList(stringToQualifiedNameList(seen));
	relid = RangeVarGetRelid(rv, AccessShareLock, true);
	if (!OidIsValid(relid))
		return;					/* the seen-items query reports it */
	kind = get_rel_relkind(relid);
	if (kind != RELKIND_RELATION && kind != RELKIND_MATVIEW &&
		kind != RELKIND_PARTITIONED_TABLE)
		return;
	attnum = get_attnum(relid, user_column);
	rel = relation_open(relid, NoLock);
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		if (index->indnatts > 0 && index->indkey.values[0] == attnum)
			indexed = true;
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	relation_close(rel, NoLock);

	if (!indexed)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		index_notified = lappend(index_notified, pstrdup(name));
		MemoryContextSwitchTo(old);
		ereport(NOTICE,
				(errmsg("seen relation %s of model \"%s\" has no index on column %s",
						seen, name, quote_identifier(user_column)),
				 errdetail("Every call of unkd.recommend() reads the user's seen items from it, which scans the whole table without such an index."),
				 errhint("Create one: CREATE INDEX ON %s (%s);",
						 seen, quote_identifier(user_column))));
	}
}

/*
 * The seen relation as it is now, with its id columns still of the kinds
 * (integer or key, keys.h) the plan reads them as: a column altered to
 * another type since training would make the lookup round ids, or run a
 * type's code.
 */
static Oid
CheckSeenRelation(const ServeModel *m)
{
	Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(m->seen)),
										 AccessShareLock, false);

	UnkdCheckStorableRelation(relid, "seen");
	if (!m->keyed)
	{
		UnkdCheckIdColumn(relid, m->user_column);
		UnkdCheckIdColumn(relid, m->item_column);
		return relid;
	}
	UnkdCheckIdKind(relid, m->user_column, m->user_type, psprintf("model \"%s\"", m->name));
	UnkdCheckIdKind(relid, m->item_column, m->item_type, psprintf("model \"%s\"", m->name));
	return relid;
}

/*
 * The parameter of the seen-items lookup compared with the user column:
 * an int8, or for a key column the key as text, cast to uuid for a uuid
 * column so that an index on it serves the lookup
 */
static const char *
SeenUserParam(Oid relid, const ServeModel *m, Oid *type)
{
	*type = UnkdIsKeyType(m->user_type) ? TEXTOID : INT8OID;
	if (*type == TEXTOID && UnkdIdColumnType(relid, m->user_column) == UUIDOID)
		return "$1::pg_catalog.uuid";
	return "$1";
}

/*
 * Prepare the seen-items lookup of a cache entry, as the model's owner
 *
 * The stored name is resolved and quoted afresh: the registry row is data,
 * and only a name that denotes an existing relation reaches the SQL text.
 */
static SPIPlanPtr
PrepareSeenPlan(const ServeModel *m, Oid owner)
{
	Oid			type;
	Oid			relid;
	const char *param;
	char	   *sql;
	UnkdUserSwitch sw;
	SPIPlanPtr	plan;

	UnkdBecomeModelOwner(owner, &sw);
	relid = CheckSeenRelation(m);
	CheckSeenIndex(m->name, m->seen, m->user_column);
	UnkdCitusCheckSeenColocated(m->name, relid);
	param = SeenUserParam(relid, m, &type);
	sql = psprintf("SELECT %s::pg_catalog.%s FROM %s WHERE %s OPERATOR(pg_catalog.=) %s",
				   quote_identifier(m->item_column), UnkdIdCast(m->item_type),
				   UnkdRelationName(relid), quote_identifier(m->user_column), param);
	plan = KeepCallPlan(sql, 1, &type);
	UnkdRestoreUser(&sw);
	return plan;
}

/*
 * 1 / norm of every item vector (0 for a zero vector), and the sorted list
 * of zero vectors, which cosine similarity leaves out
 */
static void
ComputeItemNorms(ServeModel *m, Size bytes)
{
	int32		n_zero = 0;

	for (int32 i = 0; i < m->n_items; i++)
	{
		const float *v = m->item_emb + (Size) i * m->dim;
		double		sq = 0.0;

		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		for (int32 d = 0; d < m->dim; d++)
			sq += (double) v[d] * v[d];
		m->inv_norm[i] = sq > 0.0 ? (float) (1.0 / sqrt(sq)) : 0.0f;
		if (m->inv_norm[i] == 0.0f)
			n_zero++;
	}
	m->n_zero_norm = n_zero;
	if (n_zero == 0)
		return;
	UnkdCheckMemoryBudget((double) bytes + (double) n_zero * sizeof(int32),
						  "the item embeddings of the model");
	m->zero_norm = palloc(sizeof(int32) * n_zero);
	n_zero = 0;
	for (int32 i = 0; i < m->n_items; i++)
		if (m->inv_norm[i] == 0.0f)
			m->zero_norm[n_zero++] = i;
}

/* Memory the item keys of a model take in a cache entry */
static Size
ItemKeyBytes(const UnkdModel *model)
{
	Size		bytes = 0;

	if (model->item_keys == NULL)
		return 0;
	for (int32 i = 0; i < model->n_items; i++)
		bytes += sizeof(char *) + strlen(model->item_keys[i]) + 1;
	return bytes;
}

/* Copy a model's item keys into the current (the entry's) memory context */
static char **
CopyItemKeys(const UnkdModel *model)
{
	char	  **keys;

	if (model->item_keys == NULL)
		return NULL;
	keys = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(char *) * Max(model->n_items, 1));
	for (int32 i = 0; i < model->n_items; i++)
	{
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		keys[i] = pstrdup(model->item_keys[i]);
	}
	return keys;
}

/*
 * Build a cache entry for the current version of a model: load it, copy the
 * item side into one block of a fresh context and compute the item norms.
 * Nothing is linked into the cache here, so an error leaves it unchanged.
 */
static ServeModel *
BuildServeModel(const char *name)
{
	UnkdModel  *model = UnkdLoadModel(name, false);
	MemoryContext cxt;
	MemoryContext old;
	ServeModel *m;
	Size		n = model->n_items;
	Size		bytes;
	char	   *block;

	bytes = n * (model->dim * sizeof(float) + 2 * sizeof(int64) +
				 sizeof(int32) + 2 * sizeof(float));
	bytes += ItemKeyBytes(model);
	UnkdCheckMemoryBudget((double) bytes, "the item embeddings of the model");

	cxt = AllocSetContextCreate(TopMemoryContext, "unkd serving model",
								ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		old = MemoryContextSwitchTo(cxt);
		m = palloc0(sizeof(ServeModel));
		m->cxt = cxt;
		m->name = pstrdup(name);
		m->version_id = model->version_id;
		m->dim = model->dim;
		m->lr = model->lr;
		m->decay = model->decay;
		m->n_items = model->n_items;
		m->seen = pstrdup(model->seen);
		m->user_column = pstrdup(model->user_column);
		m->item_column = pstrdup(model->item_column);
		m->user_type = model->user_type;
		m->item_type = model->item_type;
		m->keyed = UnkdIsKeyType(model->user_type) || UnkdIsKeyType(model->item_type);
		m->item_keys = CopyItemKeys(model);

		block = MemoryContextAllocHuge(cxt, Max(bytes, 1));
		m->item_emb = (float *) block;
		block += n * model->dim * sizeof(float);
		m->item_ids = (int64 *) block;
		block += n * sizeof(int64);
		m->item_pop = (int64 *) block;
		block += n * sizeof(int64);
		m->by_popularity = (int32 *) block;
		block += n * sizeof(int32);
		m->scores = (float *) block;
		block += n * sizeof(float);
		m->inv_norm = (float *) block;

		memcpy(m->item_emb, model->item_emb, n * model->dim * sizeof(float));
		memcpy(m->item_ids, model->item_ids, n * sizeof(int64));
		memcpy(m->item_pop, model->item_pop, n * sizeof(int64));
		UnkdPopularityOrder(m->item_pop, m->n_items, m->by_popularity);
		m->item_map = UnkdBuildIdMap(m->item_ids, m->n_items);
		ComputeItemNorms(m, bytes);
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return m;
}

/*
 * The cache entry for the version the call saw, pinned: reuse it, or build
 * the new one and then swap it in place of the old entry. The registry's OID
 * is part of the key because version_id restarts with the sequence when the
 * extension is dropped and created again in the same session.
 */
static pg_noinline ServeModel *
GetServeModel(const ServeCall *call)
{
	ServeModel *old = FindServeModel(call->name);
	ServeModel *m;
	ServeModel **link;

	if (old != NULL && old->version_id == call->version_id &&
		old->registry == call->registry)
	{
		old->pins++;
		return old;
	}

	m = BuildServeModel(call->name);
	m->registry = call->registry;
	if (m->version_id != call->version_id)
	{
		FreeServeModel(m);
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("model \"%s\" was replaced while the call was loading it", call->name),
				 errhint("Run the query again.")));
	}

	for (link = &serve_models; *link != NULL; link = &(*link)->next)
	{
		if (*link == old)
		{
			m->next = old->next;
			*link = m;
			RetireServeModel(old);
			m->pins++;
			return m;
		}
	}
	m->next = serve_models;
	serve_models = m;
	m->pins++;
	return m;
}

/*
 * Resolve the call's model and pin its cache entry; SPI must be connected.
 * The caller unpins it with UnkdServeClose, also on error.
 */
ServeModel *
UnkdServeOpen(const char *model, bool with_user, int64 user_id, MemoryContext outer,
			  ServeCall *call)
{
	FreeRetiredModels();
	LookupCall(model, with_user, user_id, outer, call);
	return GetServeModel(call);
}

/* Unpin an entry pinned by UnkdServeOpen */
void
UnkdServeClose(ServeModel *m)
{
	m->pins--;
}

/*
 * Room for the top k of a call (k clamped to the catalogue): result's
 * arrays in outer, and the item indices the ranking fills; returns them
 */
int32 *
UnkdServeResultInit(const ServeModel *m, int *k, MemoryContext outer, ServeResult *result)
{
	*k = Min(*k, m->n_items);
	result->count = 0;
	result->scores = MemoryContextAlloc(outer, sizeof(float) * Max(*k, 1));
	result->ids = MemoryContextAlloc(outer, sizeof(int64) * Max(*k, 1));
	return palloc(sizeof(int32) * Max(*k, 1));
}

/* The ranked item indices of a result as item ids */
void
UnkdServeResultIds(const ServeModel *m, const int32 *items, ServeResult *result)
{
	for (int i = 0; i < result->count; i++)
		result->ids[i] = m->item_ids[items[i]];
}

/* Return ranked (item_id, score, rank) rows through the materialized SRF */
void
UnkdServeEmit(FunctionCallInfo fcinfo, const ServeResult *result)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	for (int i = 0; i < result->count; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(result->ids[i]);
		values[1] = Float4GetDatum(result->scores[i]);
		values[2] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * The user id type of the cached entry of a model name, whatever its
 * version, or InvalidOid: what a text call expects before its lookup
 */
Oid
UnkdServeCachedUserType(const char *model)
{
	ServeModel *m = model ? FindServeModel(model) : NULL;

	return m ? m->user_type : InvalidOid;
}

/*
 * Refuse a bigint serving call on a model with text or uuid ids, naming
 * the call that serves it
 */
void
UnkdCheckIntegerModel(const ServeModel *m, const char *function)
{
	if (!m->keyed)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_FUNCTION),
			 errmsg("model \"%s\" has text or uuid ids (users %s, items %s), not bigint ones",
					m->name, format_type_be(m->user_type), format_type_be(m->item_type)),
			 errhint("Call the text form, unkd.%s(%s text, ...), e.g. unkd.%s('%s', 10, '%s'); pass a uuid as its ::text.",
					 function, strcmp(function, "recommend") == 0 ? "user_id" : "item_id",
					 function, strcmp(function, "recommend") == 0 ? "user-1" : "item-1",
					 m->name)));
}

/*
 * Unlink an entry from the cache (if a newer one has not replaced it
 * already) and retire it, so that the next call builds it again
 */
static void
DiscardServeModel(ServeModel *m)
{
	for (ServeModel **link = &serve_models; *link != NULL; link = &(*link)->next)
	{
		if (*link == m)
		{
			*link = m->next;
			RetireServeModel(m);
			return;
		}
	}
}

/*
 * Prepare the seen-items plan of an entry at its first recommend call. An
 * entry whose seen relation cannot be resolved is not kept: the registry
 * row may be corrected without a new version, as a failed load would be.
 */
static void
EnsureSeenPlan(ServeModel *m, Oid owner)
{
	SPIPlanPtr	plan;

	PG_TRY();
	{
		plan = PrepareSeenPlan(m, owner);
	}
	PG_CATCH();
	{
		DiscardServeModel(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	/* planning may have run code that served this entry re-entrantly */
	if (m->seen_plan != NULL)
		SPI_freeplan(plan);
	else
		m->seen_plan = plan;
}

/*
 * The user's seen items as sorted, distinct model item indices, read as the
 * model's owner in a security-restricted operation
 */
static int32 *
SeenItems(ServeModel *m, Oid owner, int64 user_id, const char *call_user_key, int64 *n_seen)
{
	Datum		arg = call_user_key ? CStringGetTextDatum(call_user_key) : Int64GetDatum(user_id);
	int			ret;
	int32	   *seen;
	int64		n = 0;
	UnkdUserSwitch sw;

	if (m->seen_plan == NULL)
		EnsureSeenPlan(m, owner);
	UnkdBecomeModelOwner(owner, &sw);
	(void) CheckSeenRelation(m);
	ret = SPI_execute_plan(m->seen_plan, &arg, NULL, true, 0);
	UnkdRestoreUser(&sw);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "seen-items lookup failed: %s", SPI_result_code_string(ret));
	seen = palloc(sizeof(int32) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
		int32		idx;

		if (isnull)
			continue;
		idx = UnkdIdMapLookup(m->item_map, UnkdIdDatumCode(m->item_type, d));
		if (idx >= 0)
			seen[n++] = idx;
	}
	if (n > 1)
	{
		int64		w = 1;

		qsort(seen, n, sizeof(int32), UnkdCompareInt32);
		for (int64 r = 1; r < n; r++)
			if (seen[r] != seen[w - 1])
				seen[w++] = seen[r];
		n = w;
	}
	*n_seen = n;
	return seen;
}

/*
 * The first k items of a sorted set by popularity (popularity desc, id asc),
 * with their popularity as score; the set is reordered
 */
static int
RankSetByPopularity(int32 *set, int64 n, const int64 *item_pop, int k, int32 *items,
					float *scores)
{
	int			count = (int) Min(n, (int64) k);

	qsort_arg(set, n, sizeof(int32), ComparePopularity, (void *) item_pop);
	for (int i = 0; i < count; i++)
	{
		items[i] = set[i];
		scores[i] = (float) item_pop[set[i]];
	}
	return count;
}

/* Top k over the whole catalogue, without the excluded items */
static int
RankCatalogue(ServeModel *m, const ServeCall *call, const int32 *excluded,
			  int64 n_excluded, int k, int32 *items, float *scores)
{
	UnkdTopK	topk;

	if (!call->has_user)
		return UnkdRankByPopularity(m->by_popularity, m->item_pop, m->n_items,
									excluded, n_excluded, k, items, scores);
	if (k == 0)
		return 0;
	UnkdScoreItems(call->user_vec, m->item_emb, m->n_items, m->dim, m->scores);
	UnkdTopKInit(&topk, k);
	return UnkdRankUser(m->scores, m->n_items, excluded, n_excluded, &topk, items, scores);
}

/* Top k among the allowed items (sorted set, reused) only, without the excluded */
static int
RankAllowed(ServeModel *m, const ServeCall *call, int32 *allowed, int64 n_allowed,
			const int32 *excluded, int64 n_excluded, int k, int32 *items, float *scores)
{
	UnkdTopK	topk;
	float	   *allowed_scores;

	n_allowed = UnkdSortedSubtract(allowed, n_allowed, excluded, n_excluded);
	if (n_allowed == 0)
		return 0;
	if (!call->has_user)
		return RankSetByPopularity(allowed, n_allowed, m->item_pop, k, items, scores);
	allowed_scores = palloc(sizeof(float) * n_allowed);
	UnkdScoreSubset(call->user_vec, m->item_emb, m->dim, allowed, n_allowed, allowed_scores);
	UnkdTopKInit(&topk, (int) Min(n_allowed, (int64) k));
	return UnkdRankSubset(allowed_scores, allowed, n_allowed, &topk, items, scores);
}

/*
 * Give the call a user vector folded in from the user's seen items
 * (foldin.c): for a user the model was not trained on, unless fold_in is
 * false; for every user when it is true. Without seen items nothing changes.
 */
static void
FoldInCall(const ServeModel *m, ServeCall *call, int64 user_id, const int32 *seen,
		   int64 n_seen, UnkdFoldIn mode)
{
	if (n_seen == 0 || mode == UNKD_FOLD_IN_NEVER)
		return;
	if (call->has_user && mode != UNKD_FOLD_IN_ALL)
		return;
	call->user_vec = palloc(sizeof(float) * m->dim);
	UnkdFoldInUser(m->item_emb, m->n_items, m->dim, seen, n_seen, m->lr, m->decay,
				   user_id, call->user_vec);
	call->has_user = true;
	call->user_dim = m->dim;
}

/*
 * The ranking of one call on a pinned entry into result (allocated in
 * outer): the seen items and exclude merged, then the whole catalogue or
 * only the allowed items scored
 */
void
UnkdRecommendFromEntry(ServeModel *m, ServeCall *call, int64 user_id, int k,
					   ArrayType *items_arg, ArrayType *exclude_arg, UnkdFoldIn fold_in,
					   MemoryContext outer, ServeResult *result)
{
	int32	   *excluded;
	int64		n_excluded;
	int32	   *items;

	if (call->has_user && call->user_dim != m->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("user embedding of user " INT64_FORMAT " has %d dimensions, model \"%s\" has %d",
						user_id, call->user_dim, m->name, m->dim)));
	excluded = SeenItems(m, call->owner, user_id, call->user_key, &n_excluded);
	FoldInCall(m, call, user_id, excluded, n_excluded, fold_in);
	if (exclude_arg != NULL)
	{
		int64		n_exclude;
		int32	   *exclude = UnkdServeItemSet(exclude_arg, "exclude", m, &n_exclude);

		excluded = UnkdSortedUnion(excluded, n_excluded, exclude, n_exclude, &n_excluded);
	}

	items = UnkdServeResultInit(m, &k, outer, result);
	if (items_arg == NULL)
		result->count = RankCatalogue(m, call, excluded, n_excluded, k, items,
									  result->scores);
	else
	{
		int64		n_allowed;
		int32	   *allowed = UnkdServeItemSet(items_arg, "items", m, &n_allowed);

		result->count = RankAllowed(m, call, allowed, n_allowed, excluded, n_excluded,
									k, items, result->scores);
	}
	UnkdServeResultIds(m, items, result);
}

/*
 * unkd.recommend(user_id bigint, k int, model text, items bigint[],
 *				  exclude bigint[], fold_in boolean)
 *	  The k best unseen items of a user, best first, by inner product; only
 *	  among items when given, never any of exclude; users the model was not
 *	  trained on folded in from their seen items.
 */
Datum
unkd_recommend(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	int64		user_id;
	int32		k;
	char	   *model;
	ArrayType  *items_arg;
	ArrayType  *exclude_arg;
	ServeCall	call;
	ServeModel *m;
	ServeResult result;
	UnkdFoldIn	fold_in;
	int			citus_level;

	UnkdCheckServeArgs(fcinfo, "user_id", &user_id, &k, &model);
	items_arg = UnkdOptionalItemArray(fcinfo, 3, "items");
	exclude_arg = UnkdOptionalItemArray(fcinfo, 4, "exclude");
	fold_in = UnkdFoldInArg(fcinfo, 5);
	InitMaterializedSRF(fcinfo, 0);

	citus_level = UnkdCitusBeginLocalReads();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	m = UnkdServeOpen(model, true, user_id, outer, &call);
	PG_TRY();
	{
		if (unlikely(m->keyed))
			UnkdCheckIntegerModel(m, "recommend");
		UnkdRecommendFromEntry(m, &call, user_id, k, items_arg, exclude_arg, fold_in, outer,
							   &result);
	}
	PG_FINALLY();
	{
		UnkdServeClose(m);
	}
	PG_END_TRY();
	SPI_finish();
	UnkdCitusEndLocalReads(citus_level);

	UnkdServeEmit(fcinfo, &result);
	return (Datum) 0;
}
