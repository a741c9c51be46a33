/*
 * unkd.c
 *	  Module entry point of the unkd extension, and the argument checks
 *	  every SQL entry point shares.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "unkd.h"
#include "scoring.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);

bool		unkd_drop_models = false;

/*
 * Initialize the module
 */
void
_PG_init(void)
{
	DefineCustomBoolVariable("unkd.drop_models",
							 "Lets DROP EXTENSION unkd drop the extension while models exist.",
							 "Dropping the extension drops every model with it.",
							 &unkd_drop_models, false, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("unkd");
	UnkdScoringInit();
}

/*
 * Ensure none of the first n_args arguments is NULL; names[i] names
 * argument i in the error (22004), as every function of the extension does
 */
void
UnkdCheckArgsNotNull(FunctionCallInfo fcinfo, const char *const *names, int n_args)
{
	for (int i = 0; i < n_args; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names[i])));
}
