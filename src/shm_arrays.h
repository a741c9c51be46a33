/*
 * shm_arrays.h
 *	  A list of arrays copied into (or allocated in) the dynamic shared
 *	  memory segment of a ParallelContext, shared by unkd's parallel loops.
 */
#ifndef UNKD_SHM_ARRAYS_H
#define UNKD_SHM_ARRAYS_H

#include "access/parallel.h"
#include "storage/shm_toc.h"

#define UNKD_SHM_MAX_ARRAYS	48

/* What the leader does with an array when it publishes the segment */
typedef enum UnkdShmMode
{
	UNKD_SHM_IN,				/* copied in; the leader keeps its own */
	UNKD_SHM_OUT,				/* zeroed; the leader is pointed at it */
	UNKD_SHM_SHARED				/* copied in; the leader is pointed at it and
								 * copies it back with UnkdShmCopyBack */
} UnkdShmMode;

/* One array: where its pointer lives, its size, and the leader's own copy */
typedef struct UnkdShmArray
{
	void	  **ptr;
	Size		bytes;
	UnkdShmMode mode;
	void	   *own;			/* the leader's buffer of a SHARED array */
} UnkdShmArray;

/* The arrays of one segment, in the order both sides list them */
typedef struct UnkdShmArrays
{
	int			n;
	uint64		key_base;		/* shm_toc key of the first array */
	UnkdShmArray a[UNKD_SHM_MAX_ARRAYS];
} UnkdShmArrays;

#define UNKD_SHM_ADD(set, p, count, type, mode) \
	UnkdShmAdd((set), (void **) &(p), sizeof(type) * (Size) (count), (mode))

extern int	UnkdPlannedWorkers(int32 requested);
extern ParallelContext *UnkdParallelCreate(const char *entry, int n_workers, Size header_bytes,
										   const UnkdShmArrays *arrays, bool private_ok);
extern void UnkdShmInit(UnkdShmArrays *set, uint64 key_base);
extern void UnkdShmAdd(UnkdShmArrays *set, void **ptr, Size bytes, UnkdShmMode mode);
extern double UnkdShmBytes(const UnkdShmArrays *set);
extern void UnkdShmEstimate(ParallelContext *pcxt, const UnkdShmArrays *set);
extern void UnkdShmPublish(ParallelContext *pcxt, UnkdShmArrays *set);
extern void UnkdShmAttach(shm_toc *toc, UnkdShmArrays *set);
extern void UnkdShmCopyBack(UnkdShmArrays *set);

#endif							/* UNKD_SHM_ARRAYS_H */
