/*
 * unkd.h
 *	  Shared declarations of the unkd extension: the dense interaction data
 *	  every algorithm works on, popularity strata, model storage and limits.
 *
 * Conventions: users and items are mapped to dense indices 0..n-1 in
 * ascending order of their 64-bit ids (for text and uuid ids, their codes:
 * keys.h), so every result is independent of the physical order of the
 * input table. Embeddings are row-major float arrays
 * (row = user or item, dim floats per row).
 */
#ifndef UNKD_H
#define UNKD_H

#include "postgres.h"

#include "fmgr.h"
#include "common/pg_prng.h"
#include "utils/array.h"

#if PG_VERSION_NUM < 150000
#error "unkd requires PostgreSQL 15 or later"
#endif

#ifndef UNKD_VERSION
#error "UNKD_VERSION (the library version) is set by the Makefile"
#endif
#define UNKD_MAX_GROUPS		1000
#define UNKD_FOLD_IN_EPOCHS	50	/* passes of fold-in over a new user's items */
#define UNKD_MAX_DIM		1024
#define UNKD_MAX_K			100000
#define UNKD_FETCH_BATCH	10000
#define UNKD_MAX_NAME_BYTES	63	/* NAMEDATALEN - 1, as for any SQL name */

/*
 * Mix the bits of a 64-bit value (the splitmix64 finalizer); PostgreSQL 15
 * has no 64-bit murmur hash
 */
static inline uint64
UnkdHash64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* qsort order of int32 values, ascending */
static inline int
UnkdCompareInt32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/* qsort order of int64 values, ascending */
static inline int
UnkdCompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* unkd.c: argument checks shared by the SQL entry points */
extern void UnkdCheckArgsNotNull(FunctionCallInfo fcinfo, const char *const *names,
								 int n_args);

/* input.c: in-place ascending sorts that honour query cancellation */
extern void UnkdSortInt32(int32 *values, size_t n);
extern void UnkdSortInt64(int64 *values, size_t n);

/* Opaque 64-bit id -> dense index hash map (input.c) */
typedef struct UnkdIdMap UnkdIdMap;

/*
 * Distinct (user, item) interactions in CSR form, user -> ascending items.
 */
typedef struct UnkdInteractions
{
	int32		n_users;
	int32		n_items;
	int64		n_pairs;		/* distinct (user, item) pairs */
	int64		n_rows;			/* rows read, duplicates included */
	int64		n_null;			/* rows skipped for a NULL id */
	int64	   *user_ids;		/* [n_users] external ids, ascending */
	int64	   *item_ids;		/* [n_items] external ids, ascending */
	int64	   *user_start;		/* [n_users + 1] offsets into user_items */
	int32	   *user_items;		/* [n_pairs] item indices, ascending per user */
	int64	   *item_pop;		/* [n_items] distinct users per item */
	UnkdIdMap  *user_map;
	UnkdIdMap  *item_map;
	Oid			user_type;		/* id column types; key types' ids are codes (keys.h) */
	Oid			item_type;
	char	  **user_keys;		/* [n_users] keys of a key column, else NULL */
	char	  **item_keys;		/* [n_items] */
} UnkdInteractions;

/* input.c: reading user tables through SPI */
typedef void (*UnkdRowCallback) (void *arg, Datum *values, bool *nulls);

extern char *UnkdRelationName(Oid relid);
extern void UnkdCheckIdColumn(Oid relid, const char *column);
extern void UnkdCheckScoreColumn(Oid relid, const char *column);
extern Oid	UnkdCheckOrderColumn(Oid relid, const char *column);
extern void UnkdScanQuery(const char *query, int nargs, Oid *argtypes, Datum *args,
						  UnkdRowCallback callback, void *arg);
extern void UnkdScanRelation(Oid relid, int ncolumns, const char *const *columns,
							 const char *const *casts, UnkdRowCallback callback,
							 void *arg);
extern UnkdInteractions *UnkdReadInteractions(Oid relid, const char *user_column,
											  const char *item_column);
extern UnkdInteractions *UnkdReadKeyedInteractions(Oid relid, const char *user_column,
												   const char *item_column);
extern int32 UnkdLookupUser(const UnkdInteractions *data, int64 user_id);
extern int32 UnkdLookupItem(const UnkdInteractions *data, int64 item_id);
extern bool UnkdUserHasItem(const UnkdInteractions *data, int32 user, int32 item);
extern UnkdIdMap *UnkdBuildIdMap(const int64 *ids, int32 n);
extern int32 UnkdIdMapLookup(const UnkdIdMap *map, int64 id);
extern void UnkdCheckMemoryBudget(double bytes, const char *what);
extern void *UnkdAllocHuge(Size count, Size size);

/* split.c and split_time.c: train/test splits */
extern int64 UnkdSplitTestCount(int64 n, double fraction);
extern void UnkdDrawSubset(int32 *scratch, bool *chosen, int64 n, int64 n_chosen,
						   pg_prng_state *rng);
extern void UnkdSplitByTime(FunctionCallInfo fcinfo, Oid relid, double fraction,
							const char *user_column, const char *item_column,
							const char *order_column);

/* popularity.c: popularity strata of METHOD.md section 3 */
extern int	UnkdComputeStrata(const int64 *popularity, int32 n_items, int n_groups,
							  int64 *bounds);
extern int	UnkdGroupOf(int64 popularity, const int64 *bounds, int n_strata);
extern int *UnkdItemGroups(const int64 *popularity, int32 n_items, int n_groups,
						   int64 *bounds, int *n_strata);
extern void UnkdCheckGroups(int n_groups);

/* topk.c: scoring and ranking kernels shared by recommend, evaluate, training */

/* A bounded top-k selection: best k (score desc, item index asc) */
typedef struct UnkdTopK
{
	int			k;
	int			count;
	float	   *scores;			/* [k] heap, worst at [0] */
	int32	   *items;			/* [k] */
} UnkdTopK;

/*
 * The best k of many offered items (score desc, item asc), in any order of
 * offering: a buffer of candidates at or above a running threshold, cut
 * back to the best k by quickselect whenever it fills (the paths that score
 * in blocks; UnkdTopK's heap serves one user's ranking)
 */
typedef struct UnkdScored
{
	float		score;
	int32		item;
} UnkdScored;

typedef struct UnkdSelect
{
	int			k;
	int			capacity;		/* UnkdSelectCapacity(k) */
	int			count;
	float		worst;			/* k-th best at the last cut; -inf before */
	UnkdScored *entries;		/* [capacity] */
	float	   *sample;			/* scratch of the sampled threshold */
	int			sample_capacity;
} UnkdSelect;

/* Entries a selection of k buffers: a cut every k (at least 16) new ones */
static inline int
UnkdSelectCapacity(int k)
{
	return 2 * k + 16;
}

extern void UnkdScoreItems(const float *user_vec, const float *item_emb,
						   int32 n_items, int32 dim, float *scores);
extern void UnkdTopKInit(UnkdTopK *topk, int k);
extern void UnkdTopKReset(UnkdTopK *topk);
extern void UnkdTopKAdd(UnkdTopK *topk, int32 item, float score);
extern int	UnkdTopKSorted(UnkdTopK *topk, int32 *items, float *scores);
extern int	UnkdRankUser(const float *scores, int32 n_items, const int32 *excluded,
						 int64 n_excluded, UnkdTopK *topk, int32 *items,
						 float *out_scores);
extern void UnkdSelectInit(UnkdSelect *sel, int k);
extern void UnkdSelectReset(UnkdSelect *sel);
extern void UnkdSelectAdd(UnkdSelect *sel, int32 item, float score);
extern void UnkdSelectOfferSkipping(UnkdSelect *sel, const float *scores,
									const int32 *items, int64 n, const int32 *skip,
									int64 n_skip);
extern int	UnkdSelectSorted(UnkdSelect *sel, int32 *items, float *scores);
extern int	UnkdRankScores(const float *scores, int32 n_items, const int32 *excluded,
						   int64 n_excluded, UnkdSelect *sel, int32 *items,
						   float *out_scores);
extern void UnkdScoreSubset(const float *vec, const float *item_emb, int32 dim,
							const int32 *subset, int64 n, float *scores);
extern int	UnkdRankSubset(const float *scores, const int32 *subset, int64 n,
						   UnkdTopK *topk, int32 *items, float *out_scores);
extern void UnkdUserMetrics(const int32 *ranked, int n_ranked, int k,
							const int32 *test_items, int n_test,
							double *recall, double *precision, double *ndcg);

/* recommend.c: serving; the popularity ranking of users a model has not seen */
extern void UnkdPopularityOrder(const int64 *item_pop, int32 n_items, int32 *order);
extern int	UnkdRankByPopularity(const int32 *order, const int64 *item_pop, int32 n_items,
								 const int32 *excluded, int64 n_excluded, int k,
								 int32 *items, float *scores);

/* unkd.c: settings */
extern bool unkd_drop_models;

/* security.c: model ownership and grants, and whose rights a read runs with */
typedef struct UnkdUserSwitch
{
	Oid			saved_user;
	int			saved_context;
	int			guc_nest_level; /* -1: no settings nest level opened */
} UnkdUserSwitch;

extern void UnkdBecomeRegistryOwner(UnkdUserSwitch *sw);
extern void UnkdBecomeModelOwner(Oid owner, UnkdUserSwitch *sw);
extern void UnkdRestoreUser(UnkdUserSwitch *sw);
extern bool UnkdCanManage(Oid owner);
extern bool UnkdCanRead(Oid owner, const Oid *readers, int n_readers);
extern int	UnkdRoleArray(ArrayType *array, Oid **roles);
extern void UnkdCheckCanManage(const char *name, Oid owner);
extern void UnkdCheckCanRead(const char *name, Oid owner, const Oid *readers, int n_readers);
extern void UnkdCheckCanWriteRegistry(const char *command);

/* citus.c: running on a Citus cluster */
extern bool UnkdCitusInstalled(void);
extern void UnkdCheckCitusCoordinator(const char *command);
extern void UnkdCitusCheckSeenColocated(const char *model, Oid seen_relid);
extern int	UnkdCitusBeginLocalReads(void);
extern void UnkdCitusEndLocalReads(int level);
extern void UnkdCheckModelName(const char *name);
extern void UnkdCheckStorableRelation(Oid relid, const char *role);

/* foldin.c: user vectors computed at call time from a user's items */
typedef enum UnkdFoldIn
{
	UNKD_FOLD_IN_NEW,			/* fold_in NULL: users the model was not trained on */
	UNKD_FOLD_IN_ALL,			/* fold_in true: every user, from the seen items now */
	UNKD_FOLD_IN_NEVER			/* fold_in false: unknown users get the popularity list */
} UnkdFoldIn;

extern UnkdFoldIn UnkdFoldInArg(FunctionCallInfo fcinfo, int arg);
extern void UnkdFoldInUser(const float *item_emb, int32 n_items, int32 dim,
						   const int32 *items, int64 n, double lr, double decay,
						   int64 user_id, float *user_vec);

/* model_store.c: the model registry and its embeddings */

/* What the registry says about a name, without loading the model */
typedef struct UnkdModelMeta
{
	bool		exists;
	int64		version_id;
	Oid			owner;
	Oid		   *readers;
	int			n_readers;
	char	   *kind;
	char	   *method;
	char	   *seen;			/* quoted qualified name of the seen relation */
	char	   *user_column;
	char	   *item_column;
	char	   *params;			/* jsonb text */
	Oid			user_type;		/* id types (keys.h); int8 for a model from before 0.2.0 */
	Oid			item_type;
} UnkdModelMeta;


/*
 * A trained model in memory. Rows of user_emb and item_emb follow the
 * ascending order of user_ids and item_ids.
 */
typedef struct UnkdModel
{
	int64		version_id;		/* unkd.models.version_id, new per version */
	char	   *name;
	char	   *kind;			/* 'teacher' or 'student' */
	char	   *method;			/* 'bpr', 'kd' or 'unkd' */
	int32		dim;
	int32		n_users;
	int32		n_items;
	int64		n_interactions; /* distinct training pairs */
	int64	   *user_ids;		/* NULL when users were not loaded */
	float	   *user_emb;
	int64	   *item_ids;
	float	   *item_emb;
	int64	   *item_pop;		/* training popularity per item */
	int			n_strata;
	int64	   *strata;
	char	   *interactions;	/* quoted qualified name of the training table */
	char	   *seen;			/* quoted qualified name of the seen relation */
	Oid			owner;			/* InvalidOid when saving: the current owner or the caller */
	double		lr;				/* training step size and decay, for fold-in */
	double		decay;
	char	   *user_column;
	char	   *item_column;
	Oid			user_type;		/* id types (keys.h): for key types ids are codes */
	Oid			item_type;
	char	  **user_keys;		/* [n_users] keys when saving a key model, else NULL */
	char	  **item_keys;		/* [n_items] keys of a key item side, else NULL */
} UnkdModel;

extern UnkdModel *UnkdLoadModel(const char *name, bool with_users);
extern void UnkdModelMetaLookup(const char *name, UnkdModelMeta *meta);
extern Datum UnkdSaveModel(const UnkdModel *model, const char *params_json,
						   const char *metrics_json, double train_seconds);
extern char *UnkdDeployedModelName(void);

#endif							/* UNKD_H */
