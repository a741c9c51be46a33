/*
 * model_store.c
 *	  The model registry: saving a trained model as a new version and loading
 *	  a model into contiguous memory.
 *
 * A save runs entirely in the caller's transaction: the registry row is
 * upserted (new version_id), the old version's embeddings are deleted and the
 * new ones inserted. Until commit, other sessions keep seeing the old version
 * under MVCC; a failed or cancelled run rolls everything back. Readers are
 * never blocked: only the registry row is locked, by the writer.
 *
 * Every statement here runs as the registry's owner (security.c), after the
 * caller's right to the model was checked; the SQL is fixed, fully qualified
 * text with the values passed as parameters.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "unkd.h"
#include "keys.h"

/* rows per multi-row INSERT when writing embeddings */
#define SAVE_BATCH 500

/* Connect to SPI and act as the registry's owner */
static void
StoreBegin(UnkdUserSwitch *sw)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	UnkdBecomeRegistryOwner(sw);
}

/* Back to the caller's role, and out of SPI */
static void
StoreEnd(UnkdUserSwitch *sw)
{
	UnkdRestoreUser(sw);
	SPI_finish();
}

/* Run a parameterised statement, checking its result code */
static void
StoreExecute(const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls, bool read_only, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls,
										   read_only, 0);

	if (rc != expected)
		elog(ERROR, "unkd model store: \"%s\" failed: %s", sql,
			 SPI_result_code_string(rc));
}

/* Error for a model name that is not in the registry */
static void
ReportUnknownModel(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", name),
			 errhint("See SELECT name FROM unkd.models for the trained models.")));
}

/* Copy a bigint[] into a palloc'd int64 array; returns its length */
static int
Int64ArrayContents(ArrayType *array, int64 **out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(array, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, &n);
	*out = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*out)[i] = nulls[i] ? 0 : DatumGetInt64(elems[i]);
	return n;
}

/* Copy one stored embedding into dst, checking its shape */
static void
CopyEmbedding(Datum datum, int32 dim, float *dst, const char *name, int64 id)
{
	ArrayType  *array = DatumGetArrayTypeP(datum);

	if (ARR_NDIM(array) != 1 || ARR_DIMS(array)[0] != dim ||
		ARR_HASNULL(array) || ARR_ELEMTYPE(array) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("embedding of id %lld in model \"%s\" does not have %d non-NULL elements",
						(long long) id, name, dim)));
	memcpy(dst, ARR_DATA_PTR(array), sizeof(float) * dim);
}

/* Text value of a column of an SPI result row, copied into ctx */
static char *
RowText(HeapTuple tuple, TupleDesc desc, int col, MemoryContext ctx)
{
	char	   *value = SPI_getvalue(tuple, desc, col);

	return value ? MemoryContextStrdup(ctx, value) : NULL;
}

/*
 * Load the embeddings of one table (users or items) of a model
 *
 * Rows come ordered by id, which is the dense index order.
 */
static void
LoadEmbeddings(UnkdModel *model, bool users, MemoryContext ctx)
{
	const char *sql = users ?
		"SELECT user_id, 0::pg_catalog.int8, embedding, user_key FROM unkd.user_embeddings "
		"WHERE model OPERATOR(pg_catalog.=) $1 ORDER BY user_id" :
		"SELECT item_id, popularity, embedding, item_key FROM unkd.item_embeddings "
		"WHERE model OPERATOR(pg_catalog.=) $1 ORDER BY item_id";
	int32		expected = users ? model->n_users : model->n_items;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(model->name)};
	SPIPlanPtr	plan = SPI_prepare(sql, 1, argtypes);
	Portal		portal;
	int64	   *ids;
	float	   *emb;
	int64	   *pop = NULL;
	char	  **keys = NULL;
	int64		n = 0;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	ids = MemoryContextAllocHuge(ctx, sizeof(int64) * Max(expected, 1));
	emb = MemoryContextAllocHuge(ctx, sizeof(float) * Max(expected, 1) * model->dim);
	if (!users)
		pop = MemoryContextAllocHuge(ctx, sizeof(int64) * Max(expected, 1));
	if (UnkdIsKeyType(users ? model->user_type : model->item_type))
		keys = MemoryContextAllocHuge(ctx, sizeof(char *) * Max(expected, 1));

	portal = SPI_cursor_open(NULL, plan, args, NULL, true);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, UNKD_FETCH_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			if (n >= expected)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("model \"%s\" has more %s embeddings than its registry row says",
								model->name, users ? "user" : "item")));
			ids[n] = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
			if (pop)
				pop[n] = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
			CopyEmbedding(SPI_getbinval(tuple, desc, 3, &isnull), model->dim,
						  emb + (Size) n * model->dim, model->name, ids[n]);
			if (keys && (keys[n] = RowText(tuple, desc, 4, ctx)) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("id " INT64_FORMAT " of model \"%s\" has no key",
								ids[n], model->name)));
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	if (n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" has %lld %s embeddings, its registry row says %d",
						model->name, (long long) n, users ? "user" : "item", expected)));
	if (users)
	{
		model->user_ids = ids;
		model->user_emb = emb;
		model->user_keys = keys;
	}
	else
	{
		model->item_ids = ids;
		model->item_emb = emb;
		model->item_pop = pop;
		model->item_keys = keys;
	}
}

/*
 * What the registry says about a name; meta->exists is false for an unknown
 * name. Strings are allocated in the caller's memory context.
 */
void
UnkdModelMetaLookup(const char *name, UnkdModelMeta *meta)
{
	MemoryContext ctx = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	UnkdUserSwitch sw;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;

	memset(meta, 0, sizeof(UnkdModelMeta));
	StoreBegin(&sw);
	StoreExecute("SELECT version_id, owner, readers, kind, method, COALESCE(seen, interactions), user_column, "
				 "item_column, params::pg_catalog.text, "
				 "COALESCE(user_key_type, 'pg_catalog.int8'::pg_catalog.regtype)::pg_catalog.oid, "
				 "COALESCE(item_key_type, 'pg_catalog.int8'::pg_catalog.regtype)::pg_catalog.oid "
				 "FROM unkd.models WHERE name OPERATOR(pg_catalog.=) $1",
				 1, argtypes, args, NULL, true, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		MemoryContext old;

		tuple = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		meta->exists = true;
		meta->version_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		meta->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &isnull));
		old = MemoryContextSwitchTo(ctx);
		meta->n_readers = UnkdRoleArray(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 3, &isnull)),
										&meta->readers);
		MemoryContextSwitchTo(old);
		meta->kind = RowText(tuple, desc, 4, ctx);
		meta->method = RowText(tuple, desc, 5, ctx);
		meta->seen = RowText(tuple, desc, 6, ctx);
		meta->user_column = RowText(tuple, desc, 7, ctx);
		meta->item_column = RowText(tuple, desc, 8, ctx);
		meta->params = RowText(tuple, desc, 9, ctx);
		meta->user_type = DatumGetObjectId(SPI_getbinval(tuple, desc, 10, &isnull));
		meta->item_type = DatumGetObjectId(SPI_getbinval(tuple, desc, 11, &isnull));
	}
	StoreEnd(&sw);
}

/*
 * Load a model's registry row and item embeddings (and users if asked),
 * after checking that the caller may read it
 *
 * Everything is allocated in the caller's memory context, in one snapshot.
 */
UnkdModel *
UnkdLoadModel(const char *name, bool with_users)
{
	MemoryContext ctx = CurrentMemoryContext;
	UnkdModel  *model = palloc0(sizeof(UnkdModel));
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	UnkdModelMeta meta;
	UnkdUserSwitch sw;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	double		bytes;

	UnkdModelMetaLookup(name, &meta);
	if (!meta.exists)
		ReportUnknownModel(name);
	UnkdCheckCanRead(name, meta.owner, meta.readers, meta.n_readers);

	StoreBegin(&sw);
	StoreExecute("SELECT version_id, kind, method, dim, n_users, n_items, "
				 "n_interactions, strata, interactions, user_column, item_column, "
				 "COALESCE(seen, interactions), owner, "
				 "COALESCE((params OPERATOR(pg_catalog.->>) 'lr')::pg_catalog.float8, 0.05), "
				 "COALESCE((params OPERATOR(pg_catalog.->>) 'decay')::pg_catalog.float8, 0.01), "
				 "COALESCE(user_key_type, 'pg_catalog.int8'::pg_catalog.regtype)::pg_catalog.oid, "
				 "COALESCE(item_key_type, 'pg_catalog.int8'::pg_catalog.regtype)::pg_catalog.oid "
				 "FROM unkd.models WHERE name OPERATOR(pg_catalog.=) $1",
				 1, argtypes, args, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ReportUnknownModel(name);
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	model->name = MemoryContextStrdup(ctx, name);
	model->version_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	model->kind = RowText(tuple, desc, 2, ctx);
	model->method = RowText(tuple, desc, 3, ctx);
	model->dim = DatumGetInt32(SPI_getbinval(tuple, desc, 4, &isnull));
	model->n_users = DatumGetInt32(SPI_getbinval(tuple, desc, 5, &isnull));
	model->n_items = DatumGetInt32(SPI_getbinval(tuple, desc, 6, &isnull));
	model->n_interactions = DatumGetInt64(SPI_getbinval(tuple, desc, 7, &isnull));
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);

		model->n_strata = Int64ArrayContents(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 8, &isnull)),
											 &model->strata);
		MemoryContextSwitchTo(old);
	}
	model->interactions = RowText(tuple, desc, 9, ctx);
	model->user_column = RowText(tuple, desc, 10, ctx);
	model->item_column = RowText(tuple, desc, 11, ctx);
	model->seen = RowText(tuple, desc, 12, ctx);
	model->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 13, &isnull));
	model->lr = DatumGetFloat8(SPI_getbinval(tuple, desc, 14, &isnull));
	model->decay = DatumGetFloat8(SPI_getbinval(tuple, desc, 15, &isnull));
	model->user_type = DatumGetObjectId(SPI_getbinval(tuple, desc, 16, &isnull));
	model->item_type = DatumGetObjectId(SPI_getbinval(tuple, desc, 17, &isnull));

	bytes = ((double) model->n_items * (model->dim * sizeof(float) + 2 * sizeof(int64)) +
			 (with_users ? (double) model->n_users * (model->dim * sizeof(float) + sizeof(int64)) : 0));
	/* keys: a pointer and a short string each, about */
	if (UnkdIsKeyType(model->item_type))
		bytes += (double) model->n_items * (sizeof(char *) + 48);
	if (with_users && UnkdIsKeyType(model->user_type))
		bytes += (double) model->n_users * (sizeof(char *) + 48);
	UnkdCheckMemoryBudget(bytes, "loading the model");
	LoadEmbeddings(model, false, ctx);
	if (with_users)
		LoadEmbeddings(model, true, ctx);
	StoreEnd(&sw);
	return model;
}

/*
 * Name of the deployed model, or NULL when none is deployed
 */
char *
UnkdDeployedModelName(void)
{
	MemoryContext ctx = CurrentMemoryContext;
	char	   *name = NULL;
	UnkdUserSwitch sw;

	StoreBegin(&sw);
	StoreExecute("SELECT name FROM unkd.models WHERE deployed", 0, NULL, NULL,
				 NULL, true, SPI_OK_SELECT);
	if (SPI_processed > 0)
		name = RowText(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, ctx);
	StoreEnd(&sw);
	return name;
}

/* Ensure every parameter is finite before anything is written */
static void
CheckFiniteEmbeddings(const float *emb, Size n, const char *name)
{
	for (Size i = 0; i < n; i++)
		if (!isfinite(emb[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("model \"%s\" has a non-finite parameter and was not saved", name),
					 errhint("Lower the learning rate or raise the decay.")));
}

/* A real[] of one embedding row */
static Datum
EmbeddingDatum(const float *row, int32 dim)
{
	Datum	   *elems = palloc(sizeof(Datum) * dim);

	for (int32 d = 0; d < dim; d++)
		elems[d] = Float4GetDatum(row[d]);
	return PointerGetDatum(construct_array(elems, dim, FLOAT4OID, sizeof(float4),
										   true, TYPALIGN_INT));
}

/*
 * Multi-row INSERT text for n rows of the given embeddings table
 *
 * $1 is the model name; each row then takes its id, (popularity,)
 * embedding and key (NULL for integer ids).
 */
static char *
InsertSql(bool users, int n)
{
	StringInfoData sql;
	int			per_row = users ? 3 : 4;

	initStringInfo(&sql);
	appendStringInfoString(&sql, users ?
						   "INSERT INTO unkd.user_embeddings (model, user_id, embedding, user_key) VALUES " :
						   "INSERT INTO unkd.item_embeddings (model, item_id, popularity, embedding, item_key) VALUES ");
	for (int r = 0; r < n; r++)
	{
		int			p = 2 + r * per_row;

		if (users)
			appendStringInfo(&sql, "%s($1, $%d, $%d, $%d)", r ? ", " : "", p, p + 1, p + 2);
		else
			appendStringInfo(&sql, "%s($1, $%d, $%d, $%d, $%d)", r ? ", " : "", p, p + 1, p + 2,
							 p + 3);
	}
	return sql.data;
}

/*
 * Insert the rows of one embeddings table in batches of SAVE_BATCH
 */
static void
SaveEmbeddings(const UnkdModel *model, bool users)
{
	int32		n = users ? model->n_users : model->n_items;
	const int64 *ids = users ? model->user_ids : model->item_ids;
	const float *emb = users ? model->user_emb : model->item_emb;
	char	  **keys = users ? model->user_keys : model->item_keys;
	int			per_row = users ? 3 : 4;
	int			nargs_max = 1 + SAVE_BATCH * per_row;
	Oid		   *types = palloc(sizeof(Oid) * nargs_max);
	Datum	   *values = palloc(sizeof(Datum) * nargs_max);
	char	   *nulls = palloc(nargs_max + 1);
	SPIPlanPtr	full_plan = NULL;
	MemoryContext batchCtx = AllocSetContextCreate(CurrentMemoryContext,
												   "unkd save batch",
												   ALLOCSET_DEFAULT_SIZES);

	types[0] = TEXTOID;
	values[0] = CStringGetTextDatum(model->name);
	memset(nulls, ' ', nargs_max);
	nulls[nargs_max] = '\0';
	for (int r = 0; r < SAVE_BATCH; r++)
	{
		types[1 + r * per_row] = INT8OID;
		if (!users)
			types[2 + r * per_row] = INT8OID;
		types[per_row - 1 + r * per_row] = FLOAT4ARRAYOID;
		types[per_row + r * per_row] = TEXTOID;
		if (keys == NULL)
			nulls[per_row + r * per_row] = 'n';
	}

	for (int32 start = 0; start < n; start += SAVE_BATCH)
	{
		int			rows = Min(SAVE_BATCH, n - start);
		MemoryContext old = MemoryContextSwitchTo(batchCtx);
		SPIPlanPtr	plan;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < rows; r++)
		{
			int32		i = start + r;

			values[1 + r * per_row] = Int64GetDatum(ids[i]);
			if (!users)
				values[2 + r * per_row] = Int64GetDatum(model->item_pop[i]);
			values[per_row - 1 + r * per_row] = EmbeddingDatum(emb + (Size) i * model->dim,
															   model->dim);
			values[per_row + r * per_row] = keys ? CStringGetTextDatum(keys[i]) : (Datum) 0;
		}
		MemoryContextSwitchTo(old);

		/* the full-batch plan is prepared once; only the tail gets its own */
		if (rows == SAVE_BATCH && full_plan != NULL)
			plan = full_plan;
		else
		{
			plan = SPI_prepare(InsertSql(users, rows), 1 + rows * per_row, types);
			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
			if (rows == SAVE_BATCH)
				full_plan = plan;
		}
		rc = SPI_execute_plan(plan, values, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "inserting embeddings failed: %s", SPI_result_code_string(rc));
		MemoryContextReset(batchCtx);
	}
	MemoryContextDelete(batchCtx);
}

/*
 * Save a model as the new version of its name; returns the unkd.models row
 *
 * The model must carry users, items, popularity, strata, its training and
 * seen relations. A new name is owned by the caller; a retrained one keeps
 * its owner, grants and deployment, and the caller must be able to manage
 * it (checked up front by the callers, and again here under the row lock).
 * params_json and metrics_json are jsonb text.
 */
Datum
UnkdSaveModel(const UnkdModel *model, const char *params_json,
			  const char *metrics_json, double train_seconds)
{
	Oid			types[19] = {TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID,
		INT8OID, INT8ARRAYOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID,
	TEXTOID, REGROLEOID, INT8OID, REGTYPEOID, REGTYPEOID};
	Datum		values[19];
	Datum		row;
	Datum	   *strata = palloc(sizeof(Datum) * Max(model->n_strata, 1));
	Oid			nametype[1] = {TEXTOID};
	Datum		name[1];
	UnkdUserSwitch sw;
	Oid			owner;
	bool		isnull;

	UnkdCheckCitusCoordinator("saving a model");
	CheckFiniteEmbeddings(model->user_emb, (Size) model->n_users * model->dim, model->name);
	CheckFiniteEmbeddings(model->item_emb, (Size) model->n_items * model->dim, model->name);

	for (int g = 0; g < model->n_strata; g++)
		strata[g] = Int64GetDatum(model->strata[g]);
	values[0] = CStringGetTextDatum(model->name);
	values[1] = CStringGetTextDatum(model->kind);
	values[2] = CStringGetTextDatum(model->method);
	values[3] = Int32GetDatum(model->dim);
	values[4] = Int32GetDatum(model->n_users);
	values[5] = Int32GetDatum(model->n_items);
	values[6] = Int64GetDatum(model->n_interactions);
	values[7] = PointerGetDatum(construct_array(strata, model->n_strata, INT8OID,
												sizeof(int64), FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[8] = CStringGetTextDatum(model->interactions);
	values[9] = CStringGetTextDatum(model->user_column);
	values[10] = CStringGetTextDatum(model->item_column);
	values[11] = CStringGetTextDatum(params_json ? params_json : "{}");
	values[12] = CStringGetTextDatum(metrics_json ? metrics_json : "{}");
	values[13] = Float8GetDatum(train_seconds);
	values[14] = CStringGetTextDatum(model->seen ? model->seen : model->interactions);
	values[15] = ObjectIdGetDatum(GetUserId());
	values[17] = ObjectIdGetDatum(OidIsValid(model->user_type) ? model->user_type : INT8OID);
	values[18] = ObjectIdGetDatum(OidIsValid(model->item_type) ? model->item_type : INT8OID);
	name[0] = values[0];

	StoreBegin(&sw);

	/*
	 * The version id is taken before the upsert, as a plain value: no
	 * volatile function in the DO UPDATE clause (which Citus refuses on a
	 * reference table), and one sequence value per save
	 */
	StoreExecute("SELECT pg_catalog.nextval('unkd.model_version_seq')", 0, NULL, NULL, NULL,
				 false, SPI_OK_SELECT);
	values[16] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

	/* upsert first: it locks the name against a concurrent save */
	StoreExecute("INSERT INTO unkd.models AS m (name, kind, method, dim, n_users, n_items, "
				 "n_interactions, strata, interactions, user_column, item_column, params, "
				 "metrics, train_seconds, trained_at, seen, owner, version_id, "
				 "user_key_type, item_key_type) "
				 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
				 "$12::pg_catalog.jsonb, $13::pg_catalog.jsonb, $14, pg_catalog.clock_timestamp(), "
				 "$15, $16, $17, $18, $19) "
				 "ON CONFLICT (name) DO UPDATE SET "
				 "version_id = EXCLUDED.version_id, "
				 "version = m.version OPERATOR(pg_catalog.+) 1, "
				 "kind = EXCLUDED.kind, method = EXCLUDED.method, dim = EXCLUDED.dim, "
				 "n_users = EXCLUDED.n_users, n_items = EXCLUDED.n_items, "
				 "n_interactions = EXCLUDED.n_interactions, strata = EXCLUDED.strata, "
				 "interactions = EXCLUDED.interactions, user_column = EXCLUDED.user_column, "
				 "item_column = EXCLUDED.item_column, params = EXCLUDED.params, "
				 "metrics = EXCLUDED.metrics, train_seconds = EXCLUDED.train_seconds, "
				 "trained_at = EXCLUDED.trained_at, seen = EXCLUDED.seen, "
				 "user_key_type = EXCLUDED.user_key_type, item_key_type = EXCLUDED.item_key_type "
				 "RETURNING m.*",
				 19, types, values, NULL, false, SPI_OK_INSERT_RETURNING);
	/* copied into the caller's context, so it outlives SPI_finish */
	row = PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   SPI_fnumber(SPI_tuptable->tupdesc, "owner"), &isnull));

	/* a concurrent session may have created the name since the caller checked */
	UnkdRestoreUser(&sw);
	UnkdCheckCanManage(model->name, owner);
	UnkdBecomeRegistryOwner(&sw);

	StoreExecute("DELETE FROM unkd.user_embeddings WHERE model OPERATOR(pg_catalog.=) $1",
				 1, nametype, name, NULL, false, SPI_OK_DELETE);
	StoreExecute("DELETE FROM unkd.item_embeddings WHERE model OPERATOR(pg_catalog.=) $1",
				 1, nametype, name, NULL, false, SPI_OK_DELETE);
	SaveEmbeddings(model, true);
	SaveEmbeddings(model, false);
	StoreEnd(&sw);
	return row;
}
