/*
 * scoring.h
 *	  Blocks of users scored against a whole item matrix with one BLAS
 *	  product (OpenBLAS, serial build), for the paths that score many users:
 *	  validation, evaluate and the teacher's candidate lists. One user's
 *	  ranking (recommend, similar_items) keeps the hand loop of topk.c.
 */
#ifndef UNKD_SCORING_H
#define UNKD_SCORING_H

#include "unkd.h"

/*
 * Users per block: enough rows for sgemm to reach its speed (measured best
 * at 64 on this machine class, bench/README.md), fewer for catalogues so
 * large that a block of score rows would pass UNKD_SCORE_BLOCK_FLOATS.
 */
#define UNKD_SCORE_BLOCK_USERS	64
#define UNKD_SCORE_BLOCK_FLOATS	(8 * 1024 * 1024)

/*
 * Items per sgemm call: a call is at most 64 x 4096 x dim multiply-adds
 * (a few milliseconds at dim 1024), and interrupts are checked between calls.
 */
#define UNKD_SCORE_TILE_ITEMS	4096

/* A block of user vectors and their scores against every item */
typedef struct UnkdScoreBlock
{
	int32		max_users;		/* rows the buffers hold */
	int32		n_items;
	int32		dim;
	int32		n_users;		/* rows filled */
	float	   *users;			/* [max_users * dim] row-major */
	float	   *scores;			/* [max_users * n_items] row-major */
} UnkdScoreBlock;

extern void UnkdScoringInit(void);
extern int32 UnkdScoreBlockUsers(int32 n_items);
extern double UnkdScoreBlockBytes(int32 n_items, int32 dim);
extern void UnkdScoreBlockInit(UnkdScoreBlock *block, int32 n_items, int32 dim);
extern void UnkdScoreBlockFree(UnkdScoreBlock *block);
extern float *UnkdScoreBlockAddUser(UnkdScoreBlock *block);
extern void UnkdScoreBlockRun(UnkdScoreBlock *block, const float *item_emb);
extern void UnkdScoreBlockReset(UnkdScoreBlock *block);

/* The scores of row r of the last run */
static inline const float *
UnkdScoreBlockRow(const UnkdScoreBlock *block, int32 r)
{
	return block->scores + (Size) r * block->n_items;
}

#endif							/* UNKD_SCORING_H */
