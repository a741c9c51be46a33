/*
 * parallel_validation.c
 *	  Early stopping's validation passes (NDCG@20 and the bias figures of
 *	  the same rankings) in parallel workers, as unkd.evaluate's loop is in
 *	  parallel_eval.c, for runs whose epoch loop is serial (a parallel run
 *	  validates in its own training workers, parallel_train.c).
 *
 * Each pass gets a fresh ParallelContext: the embeddings change between
 * passes, and a pass scores for seconds where a context costs milliseconds
 * (bench/README.md). The leader copies the item vectors, the validation
 * users' vectors (gathered in validation order), the validation CSR, the
 * training CSR whose items are excluded and the items' groups into the
 * segment; every process, the leader included, takes the next block of
 * consecutive validation users (the serial pass's blocks) from an atomic
 * counter and writes each user's terms into the user's slot. The leader
 * then adds the slots in validation-user order through the serial pass's
 * own adder, so the figures are bit-identical to it for any worker count.
 */
#include "unkd.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "portability/instr_time.h"
#include "storage/shm_toc.h"
#include "utils/snapmgr.h"

#include "shm_arrays.h"
#include "validation.h"

PGDLLEXPORT void unkd_validation_worker_main(dsm_segment *seg, shm_toc *toc);

/* shm_toc key of the header; the arrays follow it */
#define VAL_KEY_SHARED		UINT64CONST(0xE7A2000000000001)
#define VAL_KEY_ARRAYS		UINT64CONST(0xE7A2000000000100)

/*
 * Work each process must have at least for workers to pay: two score
 * blocks, and 128M multiply-adds, about as long as a worker takes to start
 * (20-30 ms on a busy 2-core machine, bench/README.md)
 */
#define VAL_MIN_BLOCKS_PER_PROCESS	2
#define VAL_MIN_MADDS_PER_PROCESS	(128.0 * 1024 * 1024)

/* The scalars of the pass and the block counter */
typedef struct ValShared
{
	pg_atomic_uint32 next_chunk;
	int32		chunk_users;	/* users per chunk: one score block */
	int32		n_chunks;
	int32		dim;
	int32		n_strata;
	int32		train_users;
	int32		n_items;
	int64		train_pairs;
	int32		val_users;
	int64		val_pairs;
} ValShared;

/* Where the pass's arrays are, in the leader's memory or the segment */
typedef struct ValArrays
{
	float	   *item_emb;		/* [n_items * dim] */
	float	   *user_rows;		/* [val_users * dim] filled by the leader */
	int32	   *user;			/* [val_users] */
	int64	   *start;			/* [val_users + 1] */
	int32	   *items;			/* [val_pairs] */
	int64	   *user_start;		/* [train_users + 1] training CSR */
	int32	   *user_items;		/* [train_pairs] */
	int		   *item_group;		/* [n_items] */
	UnkdValidationTerms *terms; /* [val_users] each user's slot */
} ValArrays;

/* List the arrays, sized from sh's scalars, in the same order on both sides */
static void
ListArrays(const ValShared *sh, ValArrays *arr, UnkdShmArrays *set)
{
	UnkdShmInit(set, VAL_KEY_ARRAYS);
	UNKD_SHM_ADD(set, arr->item_emb, (Size) sh->n_items * sh->dim, float, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, arr->user_rows, (Size) sh->val_users * sh->dim, float, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, arr->user, sh->val_users, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, arr->start, (Size) sh->val_users + 1, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, arr->items, sh->val_pairs, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, arr->user_start, (Size) sh->train_users + 1, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, arr->user_items, sh->train_pairs, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, arr->item_group, sh->n_items, int, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, arr->terms, sh->val_users, UnkdValidationTerms, UNKD_SHM_OUT);
}

/* Fill the header from the leader's run */
static void
InitShared(ValShared *sh, const Trainer *t)
{
	const Validation *val = t->val;

	memset(sh, 0, sizeof(*sh));
	pg_atomic_init_u32(&sh->next_chunk, 0);
	sh->chunk_users = val->block.max_users;
	sh->n_chunks = (val->n_users + sh->chunk_users - 1) / sh->chunk_users;
	sh->dim = t->opt->dim;
	sh->n_strata = t->bias_strata;
	sh->train_users = t->data->n_users;
	sh->n_items = t->data->n_items;
	sh->train_pairs = t->data->n_pairs;
	sh->val_users = val->n_users;
	sh->val_pairs = val->start[val->n_users];
}

/* Point the leader's list at its own arrays (copied in when published) */
static void
LeaderArrays(const Trainer *t, ValArrays *arr)
{
	const Validation *val = t->val;

	memset(arr, 0, sizeof(*arr));
	arr->item_emb = t->item_emb;
	arr->user = val->user;
	arr->start = val->start;
	arr->items = val->items;
	arr->user_start = t->data->user_start;
	arr->user_items = t->data->user_items;
	arr->item_group = t->bias_group;
}

/* Copy the validation users' vectors into the segment in validation order */
static void
GatherUserRows(const Trainer *t, float *rows)
{
	const Validation *val = t->val;
	int32		dim = t->opt->dim;

	for (int32 v = 0; v < val->n_users; v++)
	{
		if ((v & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		memcpy(rows + (Size) v * dim, t->user_emb + (Size) val->user[v] * dim,
			   dim * sizeof(float));
	}
}

/* Processes the pass's work fills: each with the minimum blocks and work */
static int
ProcessesWorthIt(const Trainer *t, int n_chunks)
{
	double		madds = (double) t->val->n_users * t->data->n_items * t->opt->dim;

	return (int) Min(n_chunks / VAL_MIN_BLOCKS_PER_PROCESS,
					 madds / VAL_MIN_MADDS_PER_PROCESS);
}

/*
 * Workers a pass may use: TrainOptions.workers (-1:
 * max_parallel_maintenance_workers), fewer so that every process has
 * enough work to pay for a worker (ProcessesWorthIt), and fewer while the
 * run, the segment and the workers' score blocks would pass
 * maintenance_work_mem. A parallel epoch loop keeps its own context (and
 * so parallel mode) alive while the leader validates; the leader may still
 * create this second one (UnkdPlannedWorkers refuses only in a worker).
 */
static int
ValidationWorkers(const Trainer *t, double segment_bytes, int n_chunks)
{
	int32		n_items = t->data->n_items;
	double		per_worker = UnkdValidationBytes(n_items, t->opt->dim) +
		(double) UnkdSelectCapacity(VALIDATION_K) * sizeof(UnkdScored);
	double		base = t->memory_bytes + segment_bytes;
	double		budget = (double) maintenance_work_mem * 1024.0;
	int			n = UnkdPlannedWorkers(t->opt->workers);

	if (!ActiveSnapshotSet())
		return 0;
	n = Min(n, ProcessesWorthIt(t, n_chunks) - 1);
	while (n > 0 && base + n * per_worker > budget)
		n--;
	return Max(n, 0);
}

/* Take blocks of validation users until none is left (leader and workers) */
static void
Participate(const Trainer *t, ValShared *sh, UnkdValidationTerms *terms)
{
	if (t->val->block.max_users != sh->chunk_users)
		elog(ERROR, "validation chunk of %d users, score block of %d",
			 sh->chunk_users, t->val->block.max_users);
	for (;;)
	{
		uint32		chunk = pg_atomic_fetch_add_u32(&sh->next_chunk, 1);
		int32		first;

		CHECK_FOR_INTERRUPTS();
		if (chunk >= (uint32) sh->n_chunks)
			break;
		first = (int32) chunk * sh->chunk_users;
		UnkdValidationScoreBlock(t, first, terms + first);
	}
}

/* The pass's costs at DEBUG1: set-up (segment, copies, launch) and waits */
static void
ReportTimes(ParallelContext *pcxt, int n_workers, instr_time start, instr_time launched,
			instr_time participated, instr_time finished)
{
	instr_time	total = finished;

	INSTR_TIME_SUBTRACT(total, start);
	INSTR_TIME_SUBTRACT(finished, participated);
	INSTR_TIME_SUBTRACT(launched, start);
	elog(DEBUG1, "unkd validation: %d of %d parallel workers launched, "
		 "%.1f ms to set up, %.1f ms waiting for workers, %.1f ms in all",
		 pcxt->nworkers_launched, n_workers, INSTR_TIME_GET_MILLISEC(launched),
		 INSTR_TIME_GET_MILLISEC(finished), INSTR_TIME_GET_MILLISEC(total));
}

/*
 * Run one validation pass in parallel; false, leaving sums alone, when no
 * worker is to be used (the caller runs the serial pass)
 */
bool
UnkdValidateParallel(const Trainer *t, UnkdValidationSums *sums)
{
	ValShared	plan;
	ValArrays	arr;
	UnkdShmArrays arrays;
	int			n_workers;
	ParallelContext *pcxt;
	ValShared  *sh;
	instr_time	start,
				launched,
				participated,
				finished;

	INSTR_TIME_SET_CURRENT(start);
	InitShared(&plan, t);
	LeaderArrays(t, &arr);
	ListArrays(&plan, &arr, &arrays);
	n_workers = ValidationWorkers(t, sizeof(ValShared) + UnkdShmBytes(&arrays),
								  plan.n_chunks);
	if (n_workers <= 0)
		return false;

	pcxt = UnkdParallelCreate("unkd_validation_worker_main", n_workers,
							  sizeof(ValShared), &arrays, false);
	if (pcxt == NULL)
		return false;			/* no dynamic shared memory: run serially */

	sh = shm_toc_allocate(pcxt->toc, sizeof(ValShared));
	*sh = plan;
	pg_atomic_init_u32(&sh->next_chunk, 0);
	shm_toc_insert(pcxt->toc, VAL_KEY_SHARED, sh);
	UnkdShmPublish(pcxt, &arrays);
	GatherUserRows(t, arr.user_rows);

	LaunchParallelWorkers(pcxt);
	INSTR_TIME_SET_CURRENT(launched);
	Participate(t, sh, arr.terms);
	INSTR_TIME_SET_CURRENT(participated);
	WaitForParallelWorkersToFinish(pcxt);
	UnkdValidationAddAll(sums, arr.terms, sh->val_users);
	INSTR_TIME_SET_CURRENT(finished);
	ReportTimes(pcxt, n_workers, start, launched, participated, finished);

	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return true;
}

/* Rebuild a trainer of the pass in a worker, its arrays in the segment */
static void
AttachTrainer(shm_toc *toc, const ValShared *sh, Trainer *t, ValArrays *arr)
{
	TrainOptions *opt = palloc0(sizeof(TrainOptions));
	UnkdInteractions *data = palloc0(sizeof(UnkdInteractions));
	Validation *val = palloc0(sizeof(Validation));
	UnkdShmArrays arrays;

	memset(arr, 0, sizeof(*arr));
	ListArrays(sh, arr, &arrays);
	UnkdShmAttach(toc, &arrays);

	opt->dim = sh->dim;
	data->n_users = sh->train_users;
	data->n_items = sh->n_items;
	data->n_pairs = sh->train_pairs;
	data->user_start = arr->user_start;
	data->user_items = arr->user_items;
	val->n_users = sh->val_users;
	val->user = arr->user;
	val->start = arr->start;
	val->items = arr->items;
	val->user_rows = arr->user_rows;
	UnkdValidationInitScratch(val, sh->n_items, sh->dim);

	memset(t, 0, sizeof(*t));
	t->opt = opt;
	t->data = data;
	t->all = data;
	t->item_emb = arr->item_emb;
	t->bias_strata = sh->n_strata;
	t->bias_group = arr->item_group;
	t->val = val;
}

/*
 * Parallel worker entry point: score blocks of validation users. It reads
 * no table, only the leader's copies in the segment.
 */
void
unkd_validation_worker_main(dsm_segment *seg, shm_toc *toc)
{
	ValShared  *sh = shm_toc_lookup(toc, VAL_KEY_SHARED, false);
	Trainer		t;
	ValArrays	arr;

	AttachTrainer(toc, sh, &t, &arr);
	Participate(&t, sh, arr.terms);
}
