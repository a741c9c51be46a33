/*
 * keys.h
 *	  Ids of any type (keys.c): text and uuid user and item ids as 63-bit
 *	  codes, and the dictionary that maps a model's codes back to its keys.
 *
 * A column of user or item ids is either of an integer type (smallint,
 * integer, bigint: the id is its own code) or of a key type (text, varchar,
 * uuid: the code is a fixed hash of the key's canonical text, col::text).
 * Since the code depends on the key alone, every table and every model
 * agrees on it: interactions, validation, test, teacher-score and seen
 * relations, and teacher and student models, all meet on codes, and the rest
 * of the pipeline works on codes exactly as it works on integer ids.
 */
#ifndef UNKD_KEYS_H
#define UNKD_KEYS_H

#include "unkd.h"

/* The id column types */
extern bool UnkdIsKeyType(Oid type);
extern Oid	UnkdIdColumnType(Oid relid, const char *column);
extern void UnkdCheckIdKind(Oid relid, const char *column, Oid expected, const char *whose);
extern const char *UnkdIdCast(Oid type);
extern const char *UnkdIdKindName(Oid type);

/* Codes of keys */
extern int64 UnkdKeyCode(const char *key, Size len);
extern int64 UnkdIdDatumCode(Oid type, Datum value);
extern int64 UnkdInputIdCode(Oid type, const char *id, char **canonical);
extern char *UnkdCodeText(Oid type, const char *key, int64 code);

/* A dictionary of the keys read, code -> key */
typedef struct UnkdKeyDict UnkdKeyDict;

extern UnkdKeyDict *UnkdKeyDictCreate(void);
extern int64 UnkdKeyDictAdd(UnkdKeyDict *dict, Datum value);
extern char *UnkdKeyDictGet(const UnkdKeyDict *dict, int64 code);
extern double UnkdKeyDictBytes(const UnkdKeyDict *dict);

#endif							/* UNKD_KEYS_H */
