/*
 * evaluate.h
 *	  What unkd.evaluate's per-user loop reads and writes, shared by the
 *	  serial loop (evaluate.c) and the parallel one (parallel_eval.c).
 */
#ifndef UNKD_EVALUATE_H
#define UNKD_EVALUATE_H

#include "unkd.h"
#include "scoring.h"

/* Everything the per-user loop reads, in model item indices */
typedef struct EvalData
{
	UnkdModel  *model;
	UnkdInteractions *train;
	UnkdInteractions *test;
	int			k;
	int			n_strata;
	int64	   *bounds;			/* [n_strata] */
	int32	   *item_group;		/* [n_items] group of each model item */
	int32	   *train_to_model;	/* [train->n_items] model index or -1 */
	int32	   *test_to_model;	/* [test->n_items] model index or -1 */
	int32	   *by_popularity;	/* [n_items] ranking of unknown users */
	UnkdIdMap  *user_map;		/* model user id -> model user index */
	UnkdFoldIn	fold_in;		/* which users get a vector from their seen items */
} EvalData;

/* Sums over users, turned into the result rows at the end */
typedef struct EvalSums
{
	int64		users;
	double		recall;
	double		precision;
	double		ndcg;
	int64		slots;			/* top-k slots filled, over all users */
	int64	   *group_users;	/* [n_strata] users with held-out items in g */
	double	   *group_recall;
	double	   *group_precision;
	int64	   *group_slots;
} EvalSums;

/* Per-user working memory of the evaluation loop */
typedef struct EvalScratch
{
	UnkdScoreBlock block;		/* model-scored users of the current block */
	int32	   *row;			/* [block users] score row per block user, -1: popularity */
	bool	   *is_test;		/* [n_items] */
	int32	   *excluded;		/* [n_items] */
	int32	   *test_items;		/* [test n_items] */
	int32	   *ranked;			/* [k] */
	float	   *ranked_scores;	/* [k] */
	int64	   *test_per_group; /* [n_strata] */
	int64	   *hits_per_group; /* [n_strata] */
	UnkdSelect	topk;
} EvalScratch;

extern void UnkdEvalInitScratch(const EvalData *ev, EvalScratch *sc);
extern int32 UnkdEvalFillBlock(const EvalData *ev, EvalScratch *sc, int32 next);
extern void UnkdEvalUser(const EvalData *ev, EvalScratch *sc, EvalSums *sums, int32 u,
						 int32 row);

/* parallel_eval.c */
extern bool UnkdEvaluateParallel(EvalData *ev, EvalSums *sums);

#endif							/* UNKD_EVALUATE_H */
