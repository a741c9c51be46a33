/*
 * unkd.c
 *	  Module entry point of the unkd extension.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "unkd.h"

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
}
