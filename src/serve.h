/*
 * serve.h
 *	  The per-backend serving cache shared by unkd.recommend (recommend.c)
 *	  and unkd.similar_items (similar.c), and the item filters both take
 *	  (filters.c).
 *
 * A serving call resolves its model and pins the cache entry of the
 * version it saw (UnkdServeOpen), works on the entry, and unpins it
 * (UnkdServeClose) in a PG_FINALLY, so that an entry replaced meanwhile is
 * freed only once no call uses it.
 */
#ifndef UNKD_SERVE_H
#define UNKD_SERVE_H

#include "unkd.h"

#include "executor/spi.h"
#include "funcapi.h"

/* The item side of one model version, owned by its own memory context */
typedef struct ServeModel
{
	struct ServeModel *next;
	MemoryContext cxt;
	char	   *name;
	Oid			registry;		/* OID of unkd.models when it was loaded */
	int64		version_id;
	int32		dim;
	int32		n_items;
	double		lr;				/* the model's step size and decay, for fold-in */
	double		decay;
	int64	   *item_ids;		/* [n_items] ascending */
	float	   *item_emb;		/* [n_items * dim] row-major */
	int64	   *item_pop;		/* [n_items] training popularity */
	int32	   *by_popularity;	/* [n_items] most popular first, ties id asc */
	float	   *scores;			/* [n_items] scratch for one call */
	float	   *inv_norm;		/* [n_items] 1 / |item vector|, 0 for a zero vector */
	int32	   *zero_norm;		/* [n_zero_norm] items with a zero vector, ascending */
	int32		n_zero_norm;
	UnkdIdMap  *item_map;
	char	   *seen;			/* quoted qualified name of the seen relation */
	char	   *user_column;
	char	   *item_column;
	Oid			user_type;		/* id types (keys.h): for key types ids are codes */
	Oid			item_type;
	bool		keyed;			/* text or uuid users or items: the text overloads serve it */
	char	  **item_keys;		/* [n_items] keys of a key item side, else NULL */
	SPIPlanPtr	seen_plan;		/* kept: item ids of one user; NULL until needed */
	int			pins;			/* calls using the entry now */
} ServeModel;

/* What the catalog says about the requested model for this call */
typedef struct ServeCall
{
	char	   *name;
	Oid			registry;		/* OID of unkd.models */
	int64		version_id;
	Oid			owner;
	Oid		   *readers;
	int			n_readers;
	bool		has_user;
	float	   *user_vec;		/* [dim] when has_user */
	int32		user_dim;
	char	   *user_key;		/* the user's key as the seen relation holds it, for
								 * a key user side (NULL: the id is the user) */
} ServeCall;

/* The ranked rows of one call, in the caller's memory context */
typedef struct ServeResult
{
	int			count;
	int64	   *ids;			/* [count] item ids, best first */
	float	   *scores;			/* [count] */
} ServeResult;

/* recommend.c: the cache */
extern void UnkdCheckServeArgs(FunctionCallInfo fcinfo, const char *id_name,
							   int64 *id, int32 *k, char **model);
extern ServeModel *UnkdServeOpen(const char *model, bool with_user, int64 user_id,
								 MemoryContext outer, ServeCall *call);
extern void UnkdServeClose(ServeModel *m);
extern int32 *UnkdServeResultInit(const ServeModel *m, int *k, MemoryContext outer,
								  ServeResult *result);
extern void UnkdServeResultIds(const ServeModel *m, const int32 *items, ServeResult *result);
extern void UnkdServeEmit(FunctionCallInfo fcinfo, const ServeResult *result);
extern Oid	UnkdServeCachedUserType(const char *model);
extern void UnkdRecommendFromEntry(ServeModel *m, ServeCall *call, int64 user_id, int k,
								   ArrayType *items_arg, ArrayType *exclude_arg,
								   UnkdFoldIn fold_in, MemoryContext outer,
								   ServeResult *result);
extern void UnkdCheckIntegerModel(const ServeModel *m, const char *function);

/* similar.c */
extern void UnkdSimilarFromEntry(ServeModel *m, int64 item_id, int k, ArrayType *items_arg,
								 MemoryContext outer, ServeResult *result);

/* filters.c: item arrays as sorted sets of model item indices */
extern void UnkdCheckItemArray(ArrayType *array, const char *name);
extern ArrayType *UnkdOptionalItemArray(FunctionCallInfo fcinfo, int i, const char *name);
extern int32 *UnkdServeItemSet(ArrayType *array, const char *name,
							   const ServeModel *m, int64 *n);
extern int32 *UnkdSortedUnion(const int32 *a, int64 na, const int32 *b, int64 nb,
							  int64 *n);
extern int64 UnkdSortedSubtract(int32 *a, int64 na, const int32 *b, int64 nb);

#endif							/* UNKD_SERVE_H */
