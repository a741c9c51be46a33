/*
 * citus.c
 *	  Running unkd on a Citus cluster (docs/citus.md, issue 10).
 *
 * unkd never links against Citus: everything here goes through Citus's SQL
 * functions and catalogs by SPI, and only when the citus extension exists
 * in the database. unkd.citus_setup turns the registry into reference
 * tables (every node holds all models and item vectors), distributes the
 * user vectors colocated with the interactions, and registers the per-user
 * serving function with Citus so a call runs on the node holding the user.
 * Models are written only on the coordinator: a worker's copy of a
 * reference table is Citus's to maintain.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(unkd_citus_setup);
PG_FUNCTION_INFO_V1(unkd_can_read_model);

/* the per-user serving functions delegated to the node holding the user */
static const char *const delegated_functions[] = {
	"unkd.recommend(bigint, integer, text, bigint[], bigint[], boolean)",
};

/* seen relations already warned about in this backend */
static List *colocation_warned = NIL;

/* Whether the citus extension is installed in this database */
bool
UnkdCitusInstalled(void)
{
	return OidIsValid(get_extension_oid("citus", true));
}

/* Run a query that returns one value; false when it returns no row or NULL */
static bool
QueryValue(const char *sql, int nargs, Oid *types, Datum *values, Datum *result)
{
	bool		isnull = true;
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 1);

	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, "unkd citus: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	*result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull;
}

/* This node's Citus group: 0 on the coordinator (or a single Citus node) */
static int32
LocalGroupId(void)
{
	Datum		v;

	if (!QueryValue("SELECT groupid FROM pg_catalog.pg_dist_local_group", 0, NULL, NULL, &v))
		return 0;
	return DatumGetInt32(v);
}

/*
 * Refuse to write the registry on a Citus worker: its copies of the
 * registry tables are replicas that only the coordinator may change
 */
void
UnkdCheckCitusCoordinator(const char *command)
{
	int32		group;

	if (!UnkdCitusInstalled())
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	group = LocalGroupId();
	SPI_finish();
	if (group != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s must run on the Citus coordinator", command),
				 errdetail("This node is a Citus worker (group %d); models are written only on the coordinator, which copies them to every node.", group),
				 errhint("Connect to the coordinator and run it there.")));
}

/*
 * Let a serving call's own lookups run where Citus pushed the call: inside
 * a query on a shard (a batch over a distributed users table, LATERAL
 * unkd.recommend) Citus refuses further distributed queries by default.
 * The lookups are reads of the reference tables (local on every node) and
 * of the user's rows in tables colocated with that shard (local too).
 * Returns the GUC nest level to pass to UnkdCitusEndLocalReads, or -1.
 */
int
UnkdCitusBeginLocalReads(void)
{
	int			level;

	if (!UnkdCitusInstalled())
		return -1;
	level = NewGUCNestLevel();
	(void) set_config_option("citus.allow_nested_distributed_execution", "on",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/* Undo UnkdCitusBeginLocalReads */
void
UnkdCitusEndLocalReads(int level)
{
	if (level >= 0)
		AtEOXact_GUC(true, level);
}

/* A column of a relation's pg_dist_partition row; false for a local table */
static bool
DistPartitionValue(Oid relid, const char *column, Datum *value)
{
	Oid			type = OIDOID;
	Datum		arg = ObjectIdGetDatum(relid);

	return QueryValue(psprintf("SELECT %s FROM pg_catalog.pg_dist_partition "
							   "WHERE logicalrelid OPERATOR(pg_catalog.=) $1", column),
					  1, &type, &arg, value);
}

/* How Citus places a relation: 'h' hash, 'n' reference, 0 for a local table */
static char
PartitionMethod(Oid relid)
{
	Datum		v;

	return DistPartitionValue(relid, "partmethod", &v) ? DatumGetChar(v) : 0;
}

/* Colocation group of a Citus table (0 for a local one) */
static int32
ColocationId(Oid relid)
{
	Datum		v;

	return DistPartitionValue(relid, "colocationid", &v) ? DatumGetInt32(v) : 0;
}

/* The registry table unkd.<name> */
static Oid
RegistryTable(const char *name)
{
	return get_relname_relid(name, get_namespace_oid("unkd", false));
}

/* Owner of a relation that exists */
static Oid
RelationOwner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Warn, once per backend per relation, when serving a model whose seen
 * relation is not colocated with the distributed user vectors: each call
 * then reads it on every shard instead of the user's one.
 */
void
UnkdCitusCheckSeenColocated(const char *model, Oid seen_relid)
{
	Oid			users;
	char		users_method;
	char		seen_method;
	ListCell   *lc;

	bool		colocated;

	if (!UnkdCitusInstalled())
		return;
	foreach(lc, colocation_warned)
		if (lfirst_oid(lc) == seen_relid)
			return;
	users = RegistryTable("user_embeddings");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	users_method = PartitionMethod(users);
	seen_method = PartitionMethod(seen_relid);
	/* a reference table is local on every node */
	colocated = users_method != 'h' || seen_method == 'n' ||
		(seen_method == 'h' && ColocationId(seen_relid) == ColocationId(users));
	SPI_finish();
	if (colocated)
		return;
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		colocation_warned = lappend_oid(colocation_warned, seen_relid);
		MemoryContextSwitchTo(old);
	}
	ereport(WARNING,
			(errmsg("seen relation %s of model \"%s\" is not colocated with unkd.user_embeddings",
					UnkdRelationName(seen_relid), model),
			 errdetail(seen_method == 'h' ?
					   "Every call reads the user's seen items from all its shards instead of the one on the user's node." :
					   "It is not a distributed table: a call served on a worker cannot read it locally."),
			 errhint("Distribute it by the user column, colocated with the interactions given to unkd.citus_setup.")));
}

/* Run a Citus function as a statement and return nothing */
static void
RunCitus(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc < 0)
		elog(ERROR, "unkd citus: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/* Add one row to citus_setup's result */
static void
Report(ReturnSetInfo *rsinfo, const char *object, const char *action)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = CStringGetTextDatum(object);
	values[1] = CStringGetTextDatum(action);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The interactions table to colocate with: hash-distributed by a bigint
 * column, as unkd.user_embeddings.user_id is; returns its distribution column
 */
static char *
CheckInteractions(Oid relid)
{
	char		method = PartitionMethod(relid);
	Oid			type = OIDOID;
	Datum		arg = ObjectIdGetDatum(relid);
	Datum		v;
	char	   *column;
	Oid			coltype;

	if (method != 'h')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not a hash-distributed Citus table", UnkdRelationName(relid)),
				 errhint("Distribute it by its user column first: SELECT create_distributed_table('%s', 'user_id');",
						 UnkdRelationName(relid))));
	if (!QueryValue("SELECT pg_catalog.column_to_column_name(logicalrelid, partkey) "
					"FROM pg_catalog.pg_dist_partition WHERE logicalrelid OPERATOR(pg_catalog.=) $1",
					1, &type, &arg, &v))
		elog(ERROR, "distribution column of %s not found", UnkdRelationName(relid));
	column = TextDatumGetCString(v);
	coltype = get_atttype(relid, get_attnum(relid, column));
	if (coltype != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("distribution column %s of %s is of type %s, not bigint",
						quote_identifier(column), UnkdRelationName(relid), format_type_be(coltype)),
				 errdetail("User vectors are distributed by unkd.user_embeddings.user_id, a bigint, and Citus colocates only columns of one type."),
				 errhint("ALTER TABLE %s ALTER COLUMN %s TYPE bigint;",
						 UnkdRelationName(relid), quote_identifier(column))));
	return column;
}

/* Make unkd.<name> a reference table unless it is one already */
static void
MakeReference(ReturnSetInfo *rsinfo, const char *name)
{
	Oid			relid = RegistryTable(name);
	char		method = PartitionMethod(relid);
	char	   *qualified = psprintf("unkd.%s", name);
	Oid			type = REGCLASSOID;
	Datum		arg = ObjectIdGetDatum(relid);

	if (method == 'n')
	{
		Report(rsinfo, qualified, "already a reference table");
		return;
	}
	if (method != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is already a Citus table of another kind", qualified),
				 errhint("Undo it with SELECT undistribute_table('%s'); and run unkd.citus_setup again.", qualified)));
	RunCitus("SELECT pg_catalog.create_reference_table($1)", 1, &type, &arg);
	Report(rsinfo, qualified, "reference table");
}

/*
 * unkd.citus_setup(interactions): replicate the registry, distribute the
 * user vectors colocated with interactions, delegate per-user serving
 */
Datum
unkd_citus_setup(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			interactions;
	Oid			users;
	char	   *interactions_name;
	char		method;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("interactions must not be NULL")));
	interactions = PG_GETARG_OID(0);
	if (!UnkdCitusInstalled())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("unkd.citus_setup needs the citus extension in this database"),
				 errhint("Run CREATE EXTENSION citus on the coordinator (with citus in shared_preload_libraries), add the workers, then call it again.")));
	UnkdCheckCanWriteRegistry("unkd.citus_setup()");
	users = RegistryTable("user_embeddings");
	if (!has_privs_of_role(GetUserId(), RelationOwner(users)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of the unkd registry (role %s) or a superuser may run unkd.citus_setup",
						GetUserNameFromId(RelationOwner(users), false))));

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (LocalGroupId() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unkd.citus_setup must run on the Citus coordinator"),
				 errhint("Connect to the coordinator and run it there.")));
	interactions_name = UnkdRelationName(interactions);
	CheckInteractions(interactions);

	/* Citus refuses tables with triggers; unkd's functions do the cascade */
	if (OidIsValid(get_trigger_oid(RegistryTable("models"), "models_embeddings_cascade", true)))
	{
		RunCitus("DROP TRIGGER models_embeddings_cascade ON unkd.models", 0, NULL, NULL);
		Report(rsinfo, "unkd.models", "cascade trigger dropped (unkd's functions keep the embeddings in step)");
	}
	MakeReference(rsinfo, "models");
	MakeReference(rsinfo, "item_embeddings");

	method = PartitionMethod(users);
	if (method == 0)
	{
		Oid			types[2] = {REGCLASSOID, TEXTOID};
		Datum		values[2] = {ObjectIdGetDatum(users), CStringGetTextDatum(interactions_name)};

		RunCitus("SELECT pg_catalog.create_distributed_table($1, 'user_id', colocate_with => $2)",
				 2, types, values);
		Report(rsinfo, "unkd.user_embeddings", psprintf("distributed by user_id, colocated with %s", interactions_name));
	}
	else if (method == 'h' && ColocationId(users) == ColocationId(interactions))
		Report(rsinfo, "unkd.user_embeddings", psprintf("already colocated with %s", interactions_name));
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("unkd.user_embeddings is already distributed, but not colocated with %s", interactions_name),
				 errhint("Colocate it with SELECT update_distributed_table_colocation('unkd.user_embeddings', colocate_with => '%s'); (same shard count), or undistribute it first.",
						 interactions_name)));

	for (int i = 0; i < lengthof(delegated_functions); i++)
	{
		Oid			types[2] = {REGPROCEDUREOID, TEXTOID};
		Datum		values[2];

		values[0] = DirectFunctionCall1(regprocedurein, CStringGetDatum(delegated_functions[i]));
		values[1] = CStringGetTextDatum(interactions_name);
		RunCitus("SELECT pg_catalog.create_distributed_function($1, 'user_id', colocate_with => $2)",
				 2, types, values);
		Report(rsinfo, delegated_functions[i], psprintf("delegated by user_id, colocated with %s", interactions_name));
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * unkd.can_read_model(name): whether the current role sees the model's
 * registry row, for the embeddings tables' row-level security. Citus
 * refuses policies with subqueries on distributed tables, so the lookup is
 * a function; the answer is cached for the rest of the query, per name.
 */
Datum
unkd_can_read_model(PG_FUNCTION_ARGS)
{
	typedef struct ReadCache
	{
		char		name[NAMEDATALEN];
		bool		readable;
		bool		valid;
	} ReadCache;
	text	   *name = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(name);
	ReadCache  *cache = (ReadCache *) fcinfo->flinfo->fn_extra;
	Oid			type = TEXTOID;
	Datum		arg = PointerGetDatum(name);
	Datum		v;
	bool		readable;
	int			nest_level;

	if (cache != NULL && cache->valid && len < NAMEDATALEN &&
		strncmp(cache->name, VARDATA_ANY(name), len) == 0 && cache->name[len] == '\0')
		PG_RETURN_BOOL(cache->readable);

	/* on a Citus node this runs inside a query on a shard */
	nest_level = UnkdCitusBeginLocalReads();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	readable = QueryValue("SELECT true FROM unkd.models m WHERE m.name OPERATOR(pg_catalog.=) $1",
						  1, &type, &arg, &v);
	SPI_finish();
	UnkdCitusEndLocalReads(nest_level);

	if (len < NAMEDATALEN)
	{
		if (cache == NULL)
			cache = fcinfo->flinfo->fn_extra =
				MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ReadCache));
		memcpy(cache->name, VARDATA_ANY(name), len);
		cache->name[len] = '\0';
		cache->readable = readable;
		cache->valid = true;
	}
	PG_RETURN_BOOL(readable);
}
