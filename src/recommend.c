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
 * A call pins the entry it uses: the seen-items query runs code of the seen
 * relation's owner, which may call recommend again or retrain the model, and
 * a replaced entry that is still pinned is only unlinked, then freed by the
 * first call that finds it unpinned. The seen relation is read as the
 * model's owner inside a security-restricted operation (security.c), with
 * its id column types checked again at every call.
 */
#include "unkd.h"

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

PG_FUNCTION_INFO_V1(unkd_recommend);

/* The item side of one model version, owned by its own memory context */
typedef struct ServeModel
{
	struct ServeModel *next;
	MemoryContext cxt;
	char	   *name;
	Oid			registry;		/* OID of unkd.models when it was loaded */
	int64		version_id;
	int32		dim;
	int32		n_items;
	int64	   *item_ids;		/* [n_items] ascending */
	float	   *item_emb;		/* [n_items * dim] row-major */
	int64	   *item_pop;		/* [n_items] training popularity */
	int32	   *by_popularity;	/* [n_items] most popular first, ties id asc */
	float	   *scores;			/* [n_items] scratch for one call */
	UnkdIdMap  *item_map;
	char	   *seen;			/* quoted qualified name of the seen relation */
	char	   *user_column;
	char	   *item_column;
	SPIPlanPtr	seen_plan;		/* kept: item ids of one user */
	int			pins;			/* calls using the entry now */
} ServeModel;

/* What the catalog says about the requested model for this call */
typedef struct ServeCall
{
	char	   *name;
	Oid			registry;		/* OID of unkd.models */
	int64		version_id;
	Oid			owner;
	Oid		   *readers;
	int			n_readers;
	bool		has_user;
	float	   *user_vec;		/* [dim] when has_user */
	int32		user_dim;
} ServeCall;

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

/* Validate the arguments; NULLs are errors because they would hide typos */
static void
CheckRecommendArgs(FunctionCallInfo fcinfo, int64 *user_id, int32 *k, char **model)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user_id must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be NULL")));
	*user_id = PG_GETARG_INT64(0);
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
 */
static void
LookupCall(const char *model, int64 user_id, MemoryContext outer, ServeCall *call)
{
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
	ret = SPI_execute_plan(model ? call_by_name_plan : call_deployed_plan,
						   values, model ? NULL : "n ", true, 1);
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
 * The seen relation as it is now, with its id columns still of an integer
 * type: a column altered to another type since training would make the
 * lookup round ids, or run a type's code.
 */
static Oid
CheckSeenRelation(const char *seen, const char *user_column, const char *item_column)
{
	Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(seen)),
										 AccessShareLock, false);

	UnkdCheckStorableRelation(relid, "seen");
	UnkdCheckIdColumn(relid, user_column);
	UnkdCheckIdColumn(relid, item_column);
	return relid;
}

/*
 * Prepare the seen-items lookup of a model, as the model's owner
 *
 * The stored name is resolved and quoted afresh: the registry row is data,
 * and only a name that denotes an existing relation reaches the SQL text.
 */
static SPIPlanPtr
PrepareSeenPlan(const UnkdModel *model)
{
	Oid			type = INT8OID;
	Oid			relid;
	char	   *sql;
	UnkdUserSwitch sw;
	SPIPlanPtr	plan;

	UnkdBecomeModelOwner(model->owner, &sw);
	relid = CheckSeenRelation(model->seen, model->user_column, model->item_column);
	CheckSeenIndex(model->name, model->seen, model->user_column);
	sql = psprintf("SELECT %s::pg_catalog.int8 FROM %s WHERE %s OPERATOR(pg_catalog.=) $1",
				   quote_identifier(model->item_column), UnkdRelationName(relid),
				   quote_identifier(model->user_column));
	plan = KeepCallPlan(sql, 1, &type);
	UnkdRestoreUser(&sw);
	return plan;
}

/*
 * Build a cache entry for the current version of a model: load it, copy the
 * item side into one block of a fresh context, and prepare the seen plan.
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
				 sizeof(int32) + sizeof(float));
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
		m->n_items = model->n_items;
		m->seen = pstrdup(model->seen);
		m->user_column = pstrdup(model->user_column);
		m->item_column = pstrdup(model->item_column);

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

		memcpy(m->item_emb, model->item_emb, n * model->dim * sizeof(float));
		memcpy(m->item_ids, model->item_ids, n * sizeof(int64));
		memcpy(m->item_pop, model->item_pop, n * sizeof(int64));
		UnkdPopularityOrder(m->item_pop, m->n_items, m->by_popularity);
		m->item_map = UnkdBuildIdMap(m->item_ids, m->n_items);
		MemoryContextSwitchTo(old);

		m->seen_plan = PrepareSeenPlan(model);
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
 * The user's seen items as sorted, distinct model item indices, read as the
 * model's owner in a security-restricted operation
 */
static int32 *
SeenItems(ServeModel *m, Oid owner, int64 user_id, int64 *n_seen)
{
	Datum		arg = Int64GetDatum(user_id);
	int			ret;
	int32	   *seen;
	int64		n = 0;
	UnkdUserSwitch sw;

	UnkdBecomeModelOwner(owner, &sw);
	(void) CheckSeenRelation(m->seen, m->user_column, m->item_column);
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
		idx = UnkdIdMapLookup(m->item_map, DatumGetInt64(d));
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
 * unkd.recommend(user_id bigint, k int, model text)
 *	  The k best unseen items of a user, best first, by inner product.
 */
Datum
unkd_recommend(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext outer = CurrentMemoryContext;
	int64		user_id;
	int32		k;
	char	   *model;
	ServeCall	call;
	ServeModel *m;
	int32	   *seen;
	int64		n_seen;
	int32	   *items;
	float	   *scores;
	int64	   *ids;
	int			count;

	CheckRecommendArgs(fcinfo, &user_id, &k, &model);
	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	FreeRetiredModels();
	LookupCall(model, user_id, outer, &call);
	m = GetServeModel(&call);
	PG_TRY();
	{
		if (call.has_user && call.user_dim != m->dim)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("user embedding of user " INT64_FORMAT " has %d dimensions, model \"%s\" has %d",
							user_id, call.user_dim, m->name, m->dim)));
		seen = SeenItems(m, call.owner, user_id, &n_seen);

		k = Min(k, m->n_items);
		items = MemoryContextAlloc(outer, sizeof(int32) * Max(k, 1));
		scores = MemoryContextAlloc(outer, sizeof(float) * Max(k, 1));
		ids = MemoryContextAlloc(outer, sizeof(int64) * Max(k, 1));
		if (!call.has_user)
			count = UnkdRankByPopularity(m->by_popularity, m->item_pop, m->n_items,
										 seen, n_seen, k, items, scores);
		else if (k == 0)
			count = 0;
		else
		{
			UnkdTopK	topk;

			UnkdScoreItems(call.user_vec, m->item_emb, m->n_items, m->dim, m->scores);
			UnkdTopKInit(&topk, k);
			count = UnkdRankUser(m->scores, m->n_items, seen, n_seen, &topk, items, scores);
		}
		for (int i = 0; i < count; i++)
			ids[i] = m->item_ids[items[i]];
	}
	PG_FINALLY();
	{
		m->pins--;
	}
	PG_END_TRY();
	SPI_finish();

	for (int i = 0; i < count; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(ids[i]);
		values[1] = Float4GetDatum(scores[i]);
		values[2] = Int32GetDatum(i + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
