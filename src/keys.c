/*
 * keys.c
 *	  Text and uuid ids: their codes, and the dictionary of a model's keys.
 *
 * The code of a key is a fixed 63-bit hash of its canonical text (what
 * col::text gives: a uuid in lower-case hyphenated form), computed byte by
 * byte so that it is the same on every platform and release. It never
 * depends on the order of rows, so neither do the dense indices built from
 * it, and every relation and model agrees on it without a lookup table. Two
 * distinct keys of one training table with the same code (about one chance
 * in 10^5 for ten million keys) are refused at training time; a key outside
 * the model is then unknown with the same near certainty.
 *
 * A model stores its keys beside the codes (user_key and item_key in the
 * embeddings tables); serving maps item codes back to them.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "keys.h"

/* Entry of the code -> key dictionary */
typedef struct UnkdKeyEntry
{
	int64		code;
	char	   *key;
	char		status;
} UnkdKeyEntry;

#define SH_PREFIX		unkdkey
#define SH_ELEMENT_TYPE	UnkdKeyEntry
#define SH_KEY_TYPE		int64
#define SH_KEY			code
#define SH_HASH_KEY(tb, key)	UnkdHash64((uint64) (key))
#define SH_EQUAL(tb, a, b)		((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct UnkdKeyDict
{
	MemoryContext cxt;
	unkdkey_hash *hash;
	double		bytes;			/* keys and entries, for the memory budget */
};

/* Whether ids of this type are keys (hashed) rather than integers */
bool
UnkdIsKeyType(Oid type)
{
	return type == TEXTOID || type == VARCHAROID || type == UUIDOID;
}

/*
 * The type of an id column (a domain's base type), which must be an
 * integer or a key type; any other type is an error naming both
 */
Oid
UnkdIdColumnType(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);
	Oid			type;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in relation %s",
						column, UnkdRelationName(relid))));
	type = getBaseType(get_atttype(relid, attnum));
	if (type != INT2OID && type != INT4OID && type != INT8OID && !UnkdIsKeyType(type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation %s must be smallint, integer, bigint, text, varchar or uuid, not %s",
						column, UnkdRelationName(relid), format_type_be(type))));
	return type;
}

/* "integer" or "text" (uuid ids are read as text) */
const char *
UnkdIdKindName(Oid type)
{
	return UnkdIsKeyType(type) ? "text" : "integer";
}

/*
 * Ensure an id column holds the same kind of ids (integer or key) as the
 * ones it is matched with (expected: the training table's or the model's)
 */
void
UnkdCheckIdKind(Oid relid, const char *column, Oid expected, const char *whose)
{
	Oid			type = UnkdIdColumnType(relid, column);

	if (UnkdIsKeyType(type) != UnkdIsKeyType(expected))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation %s holds %s ids (%s), %s holds %s ids (%s)",
						column, UnkdRelationName(relid), UnkdIdKindName(type),
						format_type_be(type), whose, UnkdIdKindName(expected),
						format_type_be(expected)),
				 errhint("Ids are matched by value: use integer ids throughout, or text or uuid ids throughout.")));
}

/* The pg_catalog type an id column is read as: its code's source */
const char *
UnkdIdCast(Oid type)
{
	return UnkdIsKeyType(type) ? "text" : "int8";
}

/*
 * The code of a key: FNV-1a over its bytes, mixed by the splitmix64
 * finalizer, top bit cleared (codes are non-negative)
 */
int64
UnkdKeyCode(const char *key, Size len)
{
	uint64		h = UINT64CONST(0xcbf29ce484222325);

	for (Size i = 0; i < len; i++)
	{
		h ^= (unsigned char) key[i];
		h *= UINT64CONST(0x100000001b3);
	}
	return (int64) (UnkdHash64(h ^ (uint64) len) >> 1);
}

/* The code of an id read as UnkdIdCast(type) gives it */
int64
UnkdIdDatumCode(Oid type, Datum value)
{
	text	   *t;

	if (!UnkdIsKeyType(type))
		return DatumGetInt64(value);
	t = DatumGetTextPP(value);
	return UnkdKeyCode(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * The code of an id given as text to a serving function, for a model side
 * of the given type; *canonical (when wanted) gets the form the model's
 * tables hold: an integer parsed (22P02 if it is none), a uuid normalised
 * (22P02 if it is none), other text as it is
 */
int64
UnkdInputIdCode(Oid type, const char *id, char **canonical)
{
	char	   *form = (char *) id;

	if (!UnkdIsKeyType(type))
	{
		int64		value = pg_strtoint64(id);

		if (canonical)
			*canonical = form;
		return value;
	}
	if (type == UUIDOID)
		form = DatumGetCString(DirectFunctionCall1(uuid_out,
												   DirectFunctionCall1(uuid_in, CStringGetDatum(id))));
	if (canonical)
		*canonical = form;
	return UnkdKeyCode(form, strlen(form));
}

/* An id as serving returns it: the key, or an integer side's id as text */
char *
UnkdCodeText(Oid type, const char *key, int64 code)
{
	if (UnkdIsKeyType(type) && key != NULL)
		return (char *) key;
	return psprintf(INT64_FORMAT, code);
}

/* An empty dictionary in its own memory context */
UnkdKeyDict *
UnkdKeyDictCreate(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "unkd key dictionary",
											  ALLOCSET_DEFAULT_SIZES);
	UnkdKeyDict *dict = MemoryContextAlloc(cxt, sizeof(UnkdKeyDict));

	dict->cxt = cxt;
	dict->hash = unkdkey_create(cxt, 1024, NULL);
	dict->bytes = 0;
	return dict;
}

/*
 * Add the key of a text value; returns its code. A second key with the
 * same code is an error: the codes of one table must be distinct.
 */
int64
UnkdKeyDictAdd(UnkdKeyDict *dict, Datum value)
{
	text	   *t = DatumGetTextPP(value);
	const char *key = VARDATA_ANY(t);
	Size		len = VARSIZE_ANY_EXHDR(t);
	int64		code = UnkdKeyCode(key, len);
	bool		found;
	UnkdKeyEntry *entry = unkdkey_insert(dict->hash, code, &found);

	if (found)
	{
		if (strlen(entry->key) != len || memcmp(entry->key, key, len) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("ids \"%s\" and \"%.*s\" have the same 63-bit code",
							entry->key, (int) len, key),
					 errdetail("unkd identifies a text or uuid id by a hash of it; two distinct ids of one table must not share it.")));
		return code;
	}
	entry->key = MemoryContextAlloc(dict->cxt, len + 1);
	memcpy(entry->key, key, len);
	entry->key[len] = '\0';
	dict->bytes += len + 1 + 2 * sizeof(UnkdKeyEntry);
	return code;
}

/* The key of a code added before, or NULL */
char *
UnkdKeyDictGet(const UnkdKeyDict *dict, int64 code)
{
	UnkdKeyEntry *entry = unkdkey_lookup(dict->hash, code);

	return entry ? entry->key : NULL;
}

/* Memory the dictionary holds, about */
double
UnkdKeyDictBytes(const UnkdKeyDict *dict)
{
	return dict ? dict->bytes : 0;
}
