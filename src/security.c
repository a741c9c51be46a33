/*
 * security.c
 *	  Who may do what with a model, and whose rights a read runs with.
 *
 * A model has an owner. Managing it (retraining, deploying, renaming,
 * granting, dropping) needs the owner's privileges; reading it (serving,
 * evaluating, distilling from it) needs those or a grant. unkd's functions
 * check these rules and then read and write the registry as its owner, so
 * no other role needs, or gets, write access to the registry tables.
 *
 * A model's stored relations (its seen relation, and for unkd.retrain its
 * training tables) are read as the model's owner inside a
 * security-restricted operation, as REFRESH MATERIALIZED VIEW reads a view:
 * code in those relations (view bodies, RLS policies, functions in column
 * expressions) runs with its owner's rights, never with the caller's, and
 * cannot change the session's role or settings behind the caller's back.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(unkd_can_read);

/* Owner of a relation, or InvalidOid when it does not exist */
static Oid
RelationOwner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * The role that owns unkd.models: the registry's writer. A registry without
 * an owner column is still 0.1.0's: this library needs the 0.2.0 objects,
 * which ALTER EXTENSION brings (the new library is installed first).
 */
static Oid
RegistryOwner(void)
{
	Oid			schema = get_namespace_oid("unkd", false);
	Oid			relid = get_relname_relid("models", schema);
	Oid			owner = OidIsValid(relid) ? RelationOwner(relid) : InvalidOid;

	if (!OidIsValid(owner))
		elog(ERROR, "unkd.models is missing");
	if (get_attnum(relid, "owner") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the unkd library is version %s, but the extension's SQL objects in this database are older",
						UNKD_VERSION),
				 errhint("Run ALTER EXTENSION unkd UPDATE.")));
	return owner;
}

/*
 * Act as the registry's owner until UnkdRestoreUser. Only unkd's own,
 * fully qualified statements on the registry run in between.
 */
void
UnkdBecomeRegistryOwner(UnkdUserSwitch *sw)
{
	Oid			owner = RegistryOwner();

	GetUserIdAndSecContext(&sw->saved_user, &sw->saved_context);
	sw->guc_nest_level = -1;
	SetUserIdAndSecContext(owner, sw->saved_context | SECURITY_LOCAL_USERID_CHANGE);
}

/*
 * Act as a model's owner inside a security-restricted operation, with
 * settings changes undone at UnkdRestoreUser, as REFRESH MATERIALIZED VIEW
 * does for a view's owner.
 */
void
UnkdBecomeModelOwner(Oid owner, UnkdUserSwitch *sw)
{
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that owns the model no longer exists"),
				 errdetail("The model's relations are read with its owner's rights, and role OID %u was dropped.", owner),
				 errhint("A superuser can drop the model with unkd.drop_model and train it again.")));
	GetUserIdAndSecContext(&sw->saved_user, &sw->saved_context);
	SetUserIdAndSecContext(owner, sw->saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	sw->guc_nest_level = NewGUCNestLevel();
}

/* Back to the role and context saved by UnkdBecome... */
void
UnkdRestoreUser(UnkdUserSwitch *sw)
{
	if (sw->guc_nest_level >= 0)
		AtEOXact_GUC(false, sw->guc_nest_level);
	SetUserIdAndSecContext(sw->saved_user, sw->saved_context);
}

/* Whether the current role has the privileges of the model's owner */
bool
UnkdCanManage(Oid owner)
{
	return has_privs_of_role(GetUserId(), owner);
}

/* Whether the current role may read a model: owner's privileges or a grant */
bool
UnkdCanRead(Oid owner, const Oid *readers, int n_readers)
{
	Oid			user = GetUserId();

	if (has_privs_of_role(user, owner))
		return true;
	for (int i = 0; i < n_readers; i++)
		if (readers[i] == InvalidOid || has_privs_of_role(user, readers[i]))
			return true;
	return false;
}

/* The OIDs of a regrole[] (NULL elements are ignored); returns how many */
int
UnkdRoleArray(ArrayType *array, Oid **roles)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			count = 0;

	deconstruct_array(array, REGROLEOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	*roles = palloc(sizeof(Oid) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			(*roles)[count++] = DatumGetObjectId(elems[i]);
	return count;
}

/* The error for a model the current role may not change */
void
UnkdCheckCanManage(const char *name, Oid owner)
{
	if (!UnkdCanManage(owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of model \"%s\"", name),
				 errdetail("Model \"%s\" is owned by role %s.", name,
						   GetUserNameFromId(owner, true) ? GetUserNameFromId(owner, true) : "(dropped)")));
}

/* The error for a model the current role may not read */
void
UnkdCheckCanRead(const char *name, Oid owner, const Oid *readers, int n_readers)
{
	if (!UnkdCanRead(owner, readers, n_readers))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for model \"%s\"", name),
				 errhint("The model's owner can allow it with unkd.grant_model('%s', role).", name)));
}

/*
 * unkd.can_read(owner regrole, readers regrole[]): the row-level security
 * rule of the registry tables.
 */
Datum
unkd_can_read(PG_FUNCTION_ARGS)
{
	Oid		   *readers;
	int			n = UnkdRoleArray(PG_GETARG_ARRAYTYPE_P(1), &readers);

	PG_RETURN_BOOL(UnkdCanRead(PG_GETARG_OID(0), readers, n));
}

/*
 * Fail before any work when the transaction cannot write a model: a
 * read-only transaction or a hot standby.
 */
void
UnkdCheckCanWriteRegistry(const char *command)
{
	PreventCommandIfReadOnly(command);
	PreventCommandIfParallelMode(command);
	PreventCommandDuringRecovery(command);
	UnkdCheckCitusCoordinator(command);
}

/* A model name: not empty, and short enough for the registry's index */
void
UnkdCheckModelName(const char *name)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	if (strlen(name) > UNKD_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name is %zu bytes long, the limit is %d",
						strlen(name), UNKD_MAX_NAME_BYTES)));
}

/*
 * A relation a stored model refers to: not temporary, since another session
 * would later resolve its name to its own temporary table
 */
void
UnkdCheckStorableRelation(Oid relid, const char *role)
{
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s relation %s is temporary", role, quote_identifier(get_rel_name(relid))),
				 errdetail("A stored model refers to its relations by name, and a temporary relation's name means another table in every other session."),
				 errhint("Use a regular or unlogged table, or a view on one.")));
}
