/*
 * registry.c
 *	  unkd.deploy and unkd.drop_model: managing named models in the
 *	  registry. Both are plain row changes in the caller's transaction, so
 *	  they take effect atomically at commit.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(unkd_deploy);
PG_FUNCTION_INFO_V1(unkd_drop_model);

/* The model name argument, which must be given */
static char *
CheckModelName(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be NULL")));
	return text_to_cstring(PG_GETARG_TEXT_PP(0));
}

/* Run one statement on the model name; returns the rows it touched */
static uint64
ExecuteOnName(const char *sql, const char *name, int expected)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	int			rc = SPI_execute_with_args(sql, 1, types, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "unkd registry: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	return SPI_processed;
}

/* The error for a name that is not in the registry */
static void
ReportUnknown(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", name),
			 errhint("See SELECT name FROM unkd.models for the trained models.")));
}

/*
 * unkd.deploy(name): make name the model recommend() uses when none is
 * named. The row lock on the target comes first, so two concurrent deploys
 * serialise instead of tripping over the one-deployed unique index.
 */
Datum
unkd_deploy(PG_FUNCTION_ARGS)
{
	char	   *name = CheckModelName(fcinfo);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ExecuteOnName("SELECT 1 FROM unkd.models WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					  name, SPI_OK_SELECT) == 0)
		ReportUnknown(name);
	/* clear the old flag before setting the new: the index allows one */
	ExecuteOnName("UPDATE unkd.models SET deployed = false "
				  "WHERE deployed AND name OPERATOR(pg_catalog.<>) $1",
				  name, SPI_OK_UPDATE);
	ExecuteOnName("UPDATE unkd.models SET deployed = true "
				  "WHERE name OPERATOR(pg_catalog.=) $1 AND NOT deployed",
				  name, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * unkd.drop_model(name): remove a model and, by cascade, its embeddings.
 * Dropping the deployed model leaves no model deployed.
 */
Datum
unkd_drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = CheckModelName(fcinfo);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ExecuteOnName("DELETE FROM unkd.models WHERE name OPERATOR(pg_catalog.=) $1",
					  name, SPI_OK_DELETE) == 0)
		ReportUnknown(name);
	SPI_finish();
	PG_RETURN_VOID();
}
