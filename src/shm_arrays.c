/*
 * shm_arrays.c
 *	  The arrays of a parallel loop in a ParallelContext's dynamic shared
 *	  memory: the leader lists them, estimates and publishes the segment, and
 *	  each worker lists the same arrays (sized from the shared scalars) and
 *	  attaches its pointers to the leader's copies.
 */
#include "unkd.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "postmaster/bgworker_internals.h"

#include "shm_arrays.h"

/*
 * Parallel workers a loop is to ask for: `requested`, or when it is negative
 * max_parallel_maintenance_workers (as CREATE INDEX); none outside a
 * postmaster child or in a parallel worker. The leader of one context may
 * create another (validation runs while the epoch loop's workers wait), so
 * parallel mode itself is no reason for none. The caller lowers the count
 * further to fit its memory budget.
 */
int
UnkdPlannedWorkers(int32 requested)
{
	int			n = requested < 0 ? max_parallel_maintenance_workers : requested;

	if (!IsUnderPostmaster || IsParallelWorker())
		return 0;
	return Min(n, MAX_PARALLEL_WORKER_LIMIT);
}

/*
 * Enter parallel mode and create the context of `entry` for n_workers, its
 * segment sized for a header of header_bytes and the arrays. Without dynamic
 * shared memory (single-user mode, or none left) PostgreSQL puts the table
 * of contents in private memory and starts no worker: with private_ok the
 * caller gets that context and runs all the work itself, otherwise NULL,
 * parallel mode left again.
 */
ParallelContext *
UnkdParallelCreate(const char *entry, int n_workers, Size header_bytes,
				   const UnkdShmArrays *arrays, bool private_ok)
{
	ParallelContext *pcxt;

	EnterParallelMode();
	pcxt = CreateParallelContext("unkd", entry, n_workers);
	shm_toc_estimate_chunk(&pcxt->estimator, header_bytes);
	shm_toc_estimate_keys(&pcxt->estimator, 1);
	UnkdShmEstimate(pcxt, arrays);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL && !private_ok)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return NULL;
	}
	return pcxt;
}

/* An empty list whose arrays take shm_toc keys from key_base on */
void
UnkdShmInit(UnkdShmArrays *set, uint64 key_base)
{
	set->n = 0;
	set->key_base = key_base;
}

/* Add one array; ptr is where the loop keeps its pointer */
void
UnkdShmAdd(UnkdShmArrays *set, void **ptr, Size bytes, UnkdShmMode mode)
{
	UnkdShmArray *a;

	if (set->n >= UNKD_SHM_MAX_ARRAYS)
		elog(ERROR, "too many shared arrays: %d", set->n + 1);
	a = &set->a[set->n++];
	a->ptr = ptr;
	a->bytes = bytes;
	a->mode = mode;
	a->own = NULL;
}

/* Bytes the arrays take in the segment */
double
UnkdShmBytes(const UnkdShmArrays *set)
{
	double		bytes = 0;

	for (int i = 0; i < set->n; i++)
		bytes += BUFFERALIGN(set->a[i].bytes);
	return bytes;
}

/* Reserve the arrays' chunks and keys in the context's estimator */
void
UnkdShmEstimate(ParallelContext *pcxt, const UnkdShmArrays *set)
{
	for (int i = 0; i < set->n; i++)
		shm_toc_estimate_chunk(&pcxt->estimator, set->a[i].bytes);
	shm_toc_estimate_keys(&pcxt->estimator, set->n);
}

/* Allocate every array in the segment and fill it as its mode says */
void
UnkdShmPublish(ParallelContext *pcxt, UnkdShmArrays *set)
{
	for (int i = 0; i < set->n; i++)
	{
		UnkdShmArray *a = &set->a[i];
		char	   *dst = shm_toc_allocate(pcxt->toc, a->bytes);

		if (a->mode == UNKD_SHM_OUT)
			memset(dst, 0, a->bytes);
		else
		{
			/* copy in pieces: a copy of gigabytes stays cancellable */
			for (Size off = 0; off < a->bytes; off += 64 * 1024 * 1024)
			{
				CHECK_FOR_INTERRUPTS();
				memcpy(dst + off, (char *) *a->ptr + off,
					   Min(a->bytes - off, (Size) 64 * 1024 * 1024));
			}
		}
		if (a->mode == UNKD_SHM_SHARED)
			a->own = *a->ptr;
		if (a->mode != UNKD_SHM_IN)
			*a->ptr = dst;
		shm_toc_insert(pcxt->toc, set->key_base + i, dst);
	}
}

/* Point a worker's arrays at the leader's copies */
void
UnkdShmAttach(shm_toc *toc, UnkdShmArrays *set)
{
	for (int i = 0; i < set->n; i++)
		*set->a[i].ptr = shm_toc_lookup(toc, set->key_base + i, false);
}

/* Copy the SHARED arrays back into the leader's buffers and point at those */
void
UnkdShmCopyBack(UnkdShmArrays *set)
{
	for (int i = 0; i < set->n; i++)
	{
		UnkdShmArray *a = &set->a[i];

		if (a->mode != UNKD_SHM_SHARED || a->own == NULL)
			continue;
		CHECK_FOR_INTERRUPTS();
		memcpy(a->own, *a->ptr, a->bytes);
		*a->ptr = a->own;
		a->own = NULL;
	}
}
