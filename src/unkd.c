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

/*
 * Initialize the module
 */
void
_PG_init(void)
{
	MarkGUCPrefixReserved("unkd");
}
