/*
 * validation.h
 *	  The validation set and its per-user scoring, shared by the serial
 *	  pass (validation.c) and the parallel one (parallel_validation.c).
 */
#ifndef UNKD_VALIDATION_H
#define UNKD_VALIDATION_H

#include "scoring.h"
#include "trainer.h"

/* Validation interactions mapped onto the training indices */
struct Validation
{
	int32		n_users;
	int32	   *user;			/* [n_users] training user index */
	int64	   *start;			/* [n_users + 1] offsets into items */
	int32	   *items;			/* training item index, -1 if never trained on */
	const float *user_rows;		/* [n_users * dim] the users' vectors in
								 * validation order (a worker's copy), or
								 * NULL: read them from the trainer */
	UnkdScoreBlock block;		/* users scored together by sgemm */
	int32	   *ranked;			/* [VALIDATION_K] scratch */
	UnkdSelect	topk;
};

/* One validation user's terms of the measures */
typedef struct UnkdValidationTerms
{
	double		ndcg;
	double		tail_recall;	/* when has_tail */
	int64		slots;			/* ranked items */
	int64		head_slots;		/* of them in the most popular group */
	bool		has_tail;		/* held-out items in the least popular group */
} UnkdValidationTerms;

/* The terms summed over the users, in validation-user order */
typedef struct UnkdValidationSums
{
	double		ndcg;
	double		tail_recall;
	int64		slots;
	int64		head_slots;
	int64		tail_users;
} UnkdValidationSums;

/* validation.c */
extern void UnkdValidationInitScratch(Validation *val, int32 n_items, int32 dim);
extern void UnkdValidationScoreBlock(const Trainer *t, int32 first, UnkdValidationTerms *terms);
extern void UnkdValidationAddAll(UnkdValidationSums *sums, const UnkdValidationTerms *terms,
								 int32 n);

/* parallel_validation.c */
extern bool UnkdValidateParallel(const Trainer *t, UnkdValidationSums *sums);

/* parallel_train.c */
extern bool UnkdValidateInTrainWorkers(const Trainer *t, UnkdValidationSums *sums);

#endif							/* UNKD_VALIDATION_H */
