/*
 * registry.c
 *	  Managing named models: unkd.deploy, drop_model, rename_model,
 *	  grant_model, revoke_model, alter_model_owner, and the guard that keeps DROP EXTENSION
 *	  from dropping every model by accident. Each is a plain row change in
 *	  the caller's transaction, so it takes effect atomically at commit.
 *
 * The caller's right to the model is checked first (security.c); the rows
 * are then changed as the registry's owner.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "unkd.h"

PG_FUNCTION_INFO_V1(unkd_deploy);
PG_FUNCTION_INFO_V1(unkd_drop_model);
PG_FUNCTION_INFO_V1(unkd_rename_model);
PG_FUNCTION_INFO_V1(unkd_grant_model);
PG_FUNCTION_INFO_V1(unkd_revoke_model);
PG_FUNCTION_INFO_V1(unkd_keep_models_on_drop);
PG_FUNCTION_INFO_V1(unkd_alter_model_owner);

/* A text argument that must be given */
static char *
CheckTextArg(FunctionCallInfo fcinfo, int arg, const char *what)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(arg));
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
 * The registry entry of a model the caller may manage, in a transaction
 * that can write; anything else fails before a row is touched
 */
static void
CheckManagedModel(const char *name, const char *command, UnkdModelMeta *meta)
{
	UnkdCheckCanWriteRegistry(command);
	UnkdModelMetaLookup(name, meta);
	if (!meta->exists)
		ReportUnknown(name);
	UnkdCheckCanManage(name, meta->owner);
}

/* Run one statement with text arguments as the registry's owner; returns rows touched */
static uint64
ExecuteAsRegistry(const char *sql, int nargs, const char *const *args, int expected)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	UnkdUserSwitch sw;
	int			rc;
	uint64		processed;

	Assert(nargs <= 3);
	for (int i = 0; i < nargs; i++)
		values[i] = CStringGetTextDatum(args[i]);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	UnkdBecomeRegistryOwner(&sw);
	rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
	if (rc != expected)
		elog(ERROR, "unkd registry: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	processed = SPI_processed;
	UnkdRestoreUser(&sw);
	SPI_finish();
	return processed;
}

/*
 * unkd.deploy(name): make name the model recommend() uses when none is
 * named. Deploys serialise on a self-conflicting table lock that neither
 * serving nor training takes, so two concurrent deploys cannot both clear
 * and set the flag; each statement then sees the other's commit. Replacing
 * another role's deployed model needs the right to manage that one too.
 */
Datum
unkd_deploy(PG_FUNCTION_ARGS)
{
	char	   *name = CheckTextArg(fcinfo, 0, "name");
	const char *args[1] = {name};
	UnkdModelMeta meta;
	char	   *current;

	CheckManagedModel(name, "unkd.deploy()", &meta);
	ExecuteAsRegistry("LOCK TABLE unkd.models IN SHARE UPDATE EXCLUSIVE MODE",
					  0, NULL, SPI_OK_UTILITY);
	current = UnkdDeployedModelName();
	if (current != NULL && strcmp(current, name) != 0)
	{
		UnkdModelMeta deployed;

		UnkdModelMetaLookup(current, &deployed);
		if (deployed.exists && !UnkdCanManage(deployed.owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("must be owner of the deployed model \"%s\" to replace it", current)));
	}
	/* clear the old flag before setting the new: the index allows one */
	ExecuteAsRegistry("UPDATE unkd.models SET deployed = false "
					  "WHERE deployed AND name OPERATOR(pg_catalog.<>) $1",
					  1, args, SPI_OK_UPDATE);
	if (ExecuteAsRegistry("UPDATE unkd.models SET deployed = true "
						  "WHERE name OPERATOR(pg_catalog.=) $1",
						  1, args, SPI_OK_UPDATE) == 0)
		ReportUnknown(name);
	PG_RETURN_VOID();
}

/*
 * unkd.drop_model(name): remove a model and its embeddings (unkd keeps the
 * embeddings tables consistent itself: a foreign key would stop Citus from
 * replicating the registry). Dropping the deployed model leaves no model
 * deployed.
 */
Datum
unkd_drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = CheckTextArg(fcinfo, 0, "name");
	const char *args[1] = {name};
	UnkdModelMeta meta;

	CheckManagedModel(name, "unkd.drop_model()", &meta);
	if (ExecuteAsRegistry("DELETE FROM unkd.models WHERE name OPERATOR(pg_catalog.=) $1",
						  1, args, SPI_OK_DELETE) == 0)
		ReportUnknown(name);
	ExecuteAsRegistry("DELETE FROM unkd.user_embeddings WHERE model OPERATOR(pg_catalog.=) $1",
					  1, args, SPI_OK_DELETE);
	ExecuteAsRegistry("DELETE FROM unkd.item_embeddings WHERE model OPERATOR(pg_catalog.=) $1",
					  1, args, SPI_OK_DELETE);
	PG_RETURN_VOID();
}

/*
 * unkd.rename_model(name, new_name): the embeddings follow (moved here, as
 * drop_model removes them); the version, grants and deployment stay.
 */
Datum
unkd_rename_model(PG_FUNCTION_ARGS)
{
	char	   *name = CheckTextArg(fcinfo, 0, "name");
	char	   *new_name = CheckTextArg(fcinfo, 1, "new_name");
	const char *args[2] = {name, new_name};
	UnkdModelMeta meta;
	UnkdModelMeta taken;

	UnkdCheckModelName(new_name);
	CheckManagedModel(name, "unkd.rename_model()", &meta);
	UnkdModelMetaLookup(new_name, &taken);
	if (taken.exists)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" already exists", new_name)));
	if (ExecuteAsRegistry("UPDATE unkd.models SET name = $2 WHERE name OPERATOR(pg_catalog.=) $1",
						  2, args, SPI_OK_UPDATE) == 0)
		ReportUnknown(name);
	ExecuteAsRegistry("UPDATE unkd.user_embeddings SET model = $2 WHERE model OPERATOR(pg_catalog.=) $1",
					  2, args, SPI_OK_UPDATE);
	ExecuteAsRegistry("UPDATE unkd.item_embeddings SET model = $2 WHERE model OPERATOR(pg_catalog.=) $1",
					  2, args, SPI_OK_UPDATE);
	PG_RETURN_VOID();
}

/*
 * Run one statement on a model name ($1) and a role ($2) as the registry's
 * owner. The role goes in as a regrole value, not as an OID number: Citus
 * sends it to the other nodes by name, and a role's OID differs per node.
 */
static void
ExecuteRoleChange(const char *sql, const char *name, Oid role)
{
	Oid			types[2] = {TEXTOID, REGROLEOID};
	Datum		values[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(role)};
	UnkdUserSwitch sw;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	UnkdBecomeRegistryOwner(&sw);
	rc = SPI_execute_with_args(sql, 2, types, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "unkd registry: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	UnkdRestoreUser(&sw);
	SPI_finish();
}

/* The role a grant names: a role name, or PUBLIC (stored as 0) */
static Oid
GranteeRole(const char *grantee)
{
	if (pg_strcasecmp(grantee, "public") == 0)
		return InvalidOid;
	return get_role_oid(grantee, false);
}

/* Add (grant) or remove (revoke) a reader of a model */
static void
ChangeReaders(FunctionCallInfo fcinfo, bool grant)
{
	char	   *name = CheckTextArg(fcinfo, 0, "name");
	char	   *grantee = CheckTextArg(fcinfo, 1, "grantee");
	Oid			role = GranteeRole(grantee);
	UnkdModelMeta meta;

	CheckManagedModel(name, grant ? "unkd.grant_model()" : "unkd.revoke_model()", &meta);
	ExecuteRoleChange(grant ?
					  "UPDATE unkd.models SET readers = readers OPERATOR(pg_catalog.||) $2 "
					  "WHERE name OPERATOR(pg_catalog.=) $1 "
					  "AND NOT $2 OPERATOR(pg_catalog.=) ANY (readers)" :
					  "UPDATE unkd.models SET readers = pg_catalog.array_remove(readers, $2) "
					  "WHERE name OPERATOR(pg_catalog.=) $1",
					  name, role);
}

/* unkd.grant_model(name, grantee): let a role, or PUBLIC, read the model */
Datum
unkd_grant_model(PG_FUNCTION_ARGS)
{
	ChangeReaders(fcinfo, true);
	PG_RETURN_VOID();
}

/* unkd.revoke_model(name, grantee): take back a grant_model */
Datum
unkd_revoke_model(PG_FUNCTION_ARGS)
{
	ChangeReaders(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * unkd.alter_model_owner(name, new_owner): give a model to another role, as
 * ALTER ... OWNER TO does: the caller must manage the model and be a member
 * of the new owner (superusers may do anything). Serving then reads the
 * model's relations as the new owner.
 */
Datum
unkd_alter_model_owner(PG_FUNCTION_ARGS)
{
	char	   *name = CheckTextArg(fcinfo, 0, "name");
	char	   *new_owner = CheckTextArg(fcinfo, 1, "new_owner");
	Oid			role = get_role_oid(new_owner, false);
	UnkdModelMeta meta;

	CheckManagedModel(name, "unkd.alter_model_owner()", &meta);
	if (!is_member_of_role(GetUserId(), role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be member of role \"%s\" to give it model \"%s\"", new_owner, name)));
	ExecuteRoleChange("UPDATE unkd.models SET owner = $2 WHERE name OPERATOR(pg_catalog.=) $1",
					  name, role);
	PG_RETURN_VOID();
}

/* Whether a DROP statement drops the unkd extension */
static bool
DropsUnkd(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "unkd") == 0)
			return true;
	return false;
}

/*
 * Event trigger on DROP EXTENSION: the models are the extension's data, and
 * dropping it would drop them all without a word. Refuse while models
 * exist, unless unkd.drop_models is on.
 */
Datum
unkd_keep_models_on_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	uint64		n_models;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "unkd_keep_models_on_drop: not fired by the event trigger manager");
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!DropsUnkd(trigdata->parsetree) || unkd_drop_models)
		PG_RETURN_VOID();
	n_models = ExecuteAsRegistry("SELECT FROM unkd.models", 0, NULL, SPI_OK_SELECT);
	if (n_models > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop extension unkd because it holds %llu models",
						(unsigned long long) n_models),
				 errdetail("Dropping the extension drops every model with it."),
				 errhint("Keep them with pg_dump, drop them with unkd.drop_model, or SET unkd.drop_models = on to drop them with the extension.")));
	PG_RETURN_VOID();
}
