/*
 * scoring.c
 *	  Blocked scoring of many users against all items through BLAS sgemm.
 *
 * Scoring every user against every item is a matrix product, and a tuned
 * sgemm does it faster than a hand-blocked loop (bench/README.md). The
 * library must be OpenBLAS's serial build: a backend never runs threads, so
 * parallelism comes from processes. The Makefile links that build by path;
 * UnkdScoringInit pins a threaded build to one thread should one be loaded
 * all the same.
 */
#include "postgres.h"

#include "miscadmin.h"

#include <cblas.h>
/* OpenBLAS's configuration header pulls in <complex.h>, which defines I */
#undef I

#include "scoring.h"

/*
 * Keep BLAS on the calling thread: OpenBLAS's serial build reports 0 from
 * openblas_get_parallel(); a threaded one is told to use one thread.
 */
void
UnkdScoringInit(void)
{
	if (openblas_get_parallel() != 0 || openblas_get_num_threads() != 1)
		openblas_set_num_threads(1);
}

/* Rows of a block for a catalogue of n_items */
int32
UnkdScoreBlockUsers(int32 n_items)
{
	int64		rows = UNKD_SCORE_BLOCK_FLOATS / Max(n_items, 1);

	return (int32) Max(1, Min(rows, UNKD_SCORE_BLOCK_USERS));
}

/* Bytes of one block's buffers, for the memory budget */
double
UnkdScoreBlockBytes(int32 n_items, int32 dim)
{
	double		rows = UnkdScoreBlockUsers(n_items);

	return rows * ((double) dim + n_items) * sizeof(float);
}

/* Allocate an empty block in the current memory context */
void
UnkdScoreBlockInit(UnkdScoreBlock *block, int32 n_items, int32 dim)
{
	block->max_users = UnkdScoreBlockUsers(n_items);
	block->n_items = n_items;
	block->dim = dim;
	block->n_users = 0;
	block->users = UnkdAllocHuge((Size) block->max_users * dim, sizeof(float));
	block->scores = UnkdAllocHuge((Size) block->max_users * Max(n_items, 1), sizeof(float));
}

/* Release a block's buffers */
void
UnkdScoreBlockFree(UnkdScoreBlock *block)
{
	pfree(block->users);
	pfree(block->scores);
	block->users = block->scores = NULL;
}

/*
 * The next free user row, for the caller to fill with dim floats; NULL when
 * the block is full (run it and start again)
 */
float *
UnkdScoreBlockAddUser(UnkdScoreBlock *block)
{
	if (block->n_users == block->max_users)
		return NULL;
	return block->users + (Size) block->n_users++ * block->dim;
}

/*
 * Score the filled rows against item_emb ([n_items * dim], row-major):
 * scores[r][i] = <users[r], items[i]>, one sgemm per tile of items, with
 * interrupts checked between tiles so cancellation takes milliseconds.
 * The rows stay filled: UnkdScoreBlockReset starts the next block.
 */
void
UnkdScoreBlockRun(UnkdScoreBlock *block, const float *item_emb)
{
	int32		n_items = block->n_items;
	int32		dim = block->dim;

	for (int32 first = 0; first < n_items && block->n_users > 0;
		 first += UNKD_SCORE_TILE_ITEMS)
	{
		int32		n = Min(UNKD_SCORE_TILE_ITEMS, n_items - first);

		CHECK_FOR_INTERRUPTS();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
					block->n_users, n, dim,
					1.0f, block->users, dim,
					item_emb + (Size) first * dim, dim,
					0.0f, block->scores + first, n_items);
	}
}

/* Empty the block's rows for the next users */
void
UnkdScoreBlockReset(UnkdScoreBlock *block)
{
	block->n_users = 0;
}
