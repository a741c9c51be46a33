/*
 * parallel_candidates.c
 *	  The teacher-model candidate lists of unkd.distill in parallel workers,
 *	  governed by max_parallel_maintenance_workers (or the run's workers
 *	  option), as parallel index builds are.
 *
 * The leader has loaded and realigned the teacher (candidates.c); it copies
 * the teacher's rows, the training CSR and the item groups into a dynamic
 * shared memory segment, with the candidate arrays themselves. Each process
 * (the leader too) takes the next chunk of known users (one score block, the
 * blocks of the serial loop) from an atomic counter and writes those users'
 * lists straight into the shared arrays; a user's lists depend on nothing
 * but its own score row and training items, and users are disjoint between
 * chunks, so the lists are exactly the serial ones for any number of
 * workers. The leader copies them back after the workers finish. Only
 * teacher models come here: a score table is read through SPI, serially.
 */
#include "unkd.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shm_toc.h"

#include "candidates.h"
#include "sampling.h"
#include "shm_arrays.h"

PGDLLEXPORT void unkd_candidates_worker_main(dsm_segment *seg, shm_toc *toc);

/* shm_toc key of the header; the arrays follow it */
#define CAND_KEY_SHARED		UINT64CONST(0xCA4D000000000001)
#define CAND_KEY_ARRAYS		UINT64CONST(0xCA4D000000000100)

/* The scalars of the build and the chunk counter */
typedef struct CandShared
{
	pg_atomic_uint32 next_chunk;
	int32		n_chunks;
	int32		chunk_users;
	int32		n_users;		/* training data */
	int32		n_items;
	int64		n_pairs;
	int32		n_groups;
	int32		max_len;
	int32		dim;			/* teacher */
	int32		known_items;
	int32		known_users;
	int32		teacher_users;
	Size		name_bytes;
} CandShared;

/*
 * List the arrays the chunks read and write, sized from the scalars; the
 * candidate arrays are shared, so the leader writes its own chunks there too
 */
static void
CandArrays(UnkdInteractions *data, int **item_group, UnkdCandidates *cand,
		   UnkdTeacherScoring *ts, Size name_bytes, UnkdShmArrays *set)
{
	Size		lists = (Size) cand->n_users * cand->n_groups;

	UnkdShmInit(set, CAND_KEY_ARRAYS);
	UNKD_SHM_ADD(set, data->user_start, (Size) data->n_users + 1, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, data->user_items, data->n_pairs, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, *item_group, data->n_items, int, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ts->item_emb, (Size) ts->n_items * ts->dim, float, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ts->item, ts->n_items, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ts->pos, data->n_items, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ts->group_start, cand->n_groups + 1, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ts->user, ts->n_users, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ts->row, ts->n_users, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ts->user_emb, (Size) ts->teacher_users * ts->dim, float, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ts->name, name_bytes, char, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, cand->items, lists * cand->max_len, int32, UNKD_SHM_SHARED);
	UNKD_SHM_ADD(set, cand->len, lists, int32, UNKD_SHM_SHARED);
}

/* Take chunks of users until none is left (leader and workers) */
static void
CandParticipate(UnkdCandidateBuilder *b, CandShared *sh,
				const UnkdTeacherScoring *ts, UnkdCandidates *cand)
{
	for (;;)
	{
		uint32		chunk = pg_atomic_fetch_add_u32(&sh->next_chunk, 1);

		CHECK_FOR_INTERRUPTS();
		if (chunk >= (uint32) sh->n_chunks)
			break;
		UnkdScoreCandidateChunk(b, ts, cand, (int32) chunk);
	}
}

/* Fill the header from the leader's data */
static void
InitShared(CandShared *sh, const UnkdInteractions *data, const UnkdCandidates *cand,
		   const UnkdTeacherScoring *ts, Size name_bytes)
{
	memset(sh, 0, sizeof(*sh));
	pg_atomic_init_u32(&sh->next_chunk, 0);
	sh->n_chunks = ts->n_chunks;
	sh->chunk_users = ts->chunk_users;
	sh->n_users = data->n_users;
	sh->n_items = data->n_items;
	sh->n_pairs = data->n_pairs;
	sh->n_groups = cand->n_groups;
	sh->max_len = cand->max_len;
	sh->dim = ts->dim;
	sh->known_items = ts->n_items;
	sh->known_users = ts->n_users;
	sh->teacher_users = ts->teacher_users;
	sh->name_bytes = name_bytes;
}

/*
 * Workers the build may use: the planned number (UnkdPlannedWorkers), fewer
 * when there are fewer chunks or when the leader's memory, the segment and
 * the workers' builders would pass maintenance_work_mem
 */
static int
CandidateWorkers(int32 requested, double base, double per_worker, int32 n_chunks)
{
	double		budget = (double) maintenance_work_mem * 1024.0;
	int			n = Min(UnkdPlannedWorkers(requested), n_chunks - 1);

	while (n > 0 && base + n * per_worker > budget)
		n--;
	return Max(n, 0);
}

/*
 * Build the lists of the known users in parallel; false, writing nothing,
 * when no worker is to be used (the caller scores the chunks itself).
 * leader_bytes is what the leader holds already, for the memory budget.
 */
bool
UnkdCandidatesParallel(UnkdCandidateBuilder *leader, const UnkdInteractions *data,
					   const int *item_group, UnkdCandidates *cand,
					   UnkdTeacherScoring *ts, double leader_bytes, int32 workers)
{
	Size		name_bytes = strlen(ts->name) + 1;
	UnkdShmArrays arrays;
	double		segment;
	int			n_workers;
	ParallelContext *pcxt;
	CandShared *sh;

	if (workers == 0)
		return false;
	CandArrays((UnkdInteractions *) data, (int **) &item_group, cand, ts, name_bytes,
			   &arrays);
	segment = sizeof(CandShared) + UnkdShmBytes(&arrays);
	n_workers = CandidateWorkers(workers, leader_bytes + segment,
								 UnkdCandidateBuilderBytes(data->n_items, cand->n_groups,
														   cand->max_len, ts),
								 ts->n_chunks);
	if (n_workers <= 0)
		return false;

	pcxt = UnkdParallelCreate("unkd_candidates_worker_main", n_workers,
							  sizeof(CandShared), &arrays, false);
	if (pcxt == NULL)
		return false;			/* no dynamic shared memory: score serially */

	sh = shm_toc_allocate(pcxt->toc, sizeof(CandShared));
	InitShared(sh, data, cand, ts, name_bytes);
	shm_toc_insert(pcxt->toc, CAND_KEY_SHARED, sh);
	UnkdShmPublish(pcxt, &arrays);

	LaunchParallelWorkers(pcxt);
	elog(DEBUG1, "unkd candidates: %d of %d parallel workers launched",
		 pcxt->nworkers_launched, n_workers);
	CandParticipate(leader, sh, ts, cand);
	WaitForParallelWorkersToFinish(pcxt);
	UnkdShmCopyBack(&arrays);

	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return true;
}

/* Rebuild the chunks' data in a worker from the segment */
static void
AttachCandData(shm_toc *toc, const CandShared *sh, UnkdInteractions *data,
			   int **item_group, UnkdCandidates *cand, UnkdTeacherScoring *ts)
{
	UnkdShmArrays arrays;

	memset(data, 0, sizeof(*data));
	memset(cand, 0, sizeof(*cand));
	memset(ts, 0, sizeof(*ts));
	data->n_users = sh->n_users;
	data->n_items = sh->n_items;
	data->n_pairs = sh->n_pairs;
	cand->n_users = sh->n_users;
	cand->n_groups = sh->n_groups;
	cand->max_len = sh->max_len;
	ts->dim = sh->dim;
	ts->n_items = sh->known_items;
	ts->n_users = sh->known_users;
	ts->teacher_users = sh->teacher_users;
	ts->chunk_users = sh->chunk_users;
	ts->n_chunks = sh->n_chunks;

	CandArrays(data, item_group, cand, ts, sh->name_bytes, &arrays);
	UnkdShmAttach(toc, &arrays);
}

/*
 * Parallel worker entry point: score chunks of users. It reads no table,
 * only the leader's copies in the segment; an error (a teacher score that
 * is not finite) reaches the leader as the worker raised it.
 */
void
unkd_candidates_worker_main(dsm_segment *seg, shm_toc *toc)
{
	CandShared *sh = shm_toc_lookup(toc, CAND_KEY_SHARED, false);
	UnkdInteractions data;
	int		   *item_group;
	UnkdCandidates cand;
	UnkdTeacherScoring ts;
	UnkdCandidateBuilder *b;

	AttachCandData(toc, sh, &data, &item_group, &cand, &ts);
	b = UnkdCandidateBuilderCreate(&data, item_group, cand.n_groups, cand.max_len, &ts);
	CandParticipate(b, sh, &ts, &cand);
}
