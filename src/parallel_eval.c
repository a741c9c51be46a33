/*
 * parallel_eval.c
 *	  unkd.evaluate's per-user loop in parallel workers, governed by
 *	  max_parallel_maintenance_workers, as parallel index builds are.
 *
 * The leader has read every table (evaluate.c, the seen relation as the
 * model owner); it copies the model's embeddings, both interaction CSRs and
 * the item maps into a dynamic shared memory segment, and the workers only
 * compute: each takes the next chunk of consecutive test users (one score
 * block, aligned as the serial loop's blocks are) from an atomic counter and
 * writes each user's metric terms into the user's slot of the segment. The
 * leader takes chunks too, then adds the users' terms in test-user order,
 * the order and the arithmetic of the serial loop, so the result is
 * bit-identical to it for any number of workers.
 */
#include "unkd.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shm_toc.h"
#include "utils/memutils.h"

#include "evaluate.h"
#include "scoring.h"
#include "shm_arrays.h"

PGDLLEXPORT void unkd_evaluate_worker_main(dsm_segment *seg, shm_toc *toc);

/* shm_toc key of the header; the arrays follow it */
#define EVAL_KEY_SHARED		UINT64CONST(0xE7A1000000000001)
#define EVAL_KEY_ARRAYS		UINT64CONST(0xE7A1000000000100)

/* The scalars of the evaluation and the chunk counter */
typedef struct EvalShared
{
	pg_atomic_uint32 next_chunk;
	int32		chunk_users;	/* users per chunk: one score block */
	int32		n_chunks;
	int32		k;
	int32		n_strata;
	UnkdFoldIn	fold_in;
	int32		dim;
	int32		n_users;		/* model */
	int32		n_items;
	double		lr;
	double		decay;
	int32		train_users;
	int32		train_items;
	int64		train_pairs;
	int32		test_users;
	int32		test_items;
	int64		test_pairs;
} EvalShared;

/* Each test user's metric terms, in shared memory */
typedef struct EvalResults
{
	int64	   *users;			/* [test users] 1 for a user evaluated */
	double	   *recall;
	double	   *precision;
	double	   *ndcg;
	int64	   *slots;
	int64	   *group_users;	/* [test users * n_strata] */
	double	   *group_recall;
	double	   *group_precision;
	int64	   *group_slots;
} EvalResults;

/* List the arrays the loop reads and writes, sized from ev's scalars */
static void
EvalArrays(EvalData *ev, EvalResults *res, UnkdShmArrays *set)
{
	UnkdModel  *m = ev->model;
	UnkdInteractions *tr = ev->train;
	UnkdInteractions *te = ev->test;
	Size		cells = (Size) te->n_users * ev->n_strata;

	UnkdShmInit(set, EVAL_KEY_ARRAYS);
	UNKD_SHM_ADD(set, m->item_emb, (Size) m->n_items * m->dim, float, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, m->user_emb, (Size) m->n_users * m->dim, float, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, m->user_ids, m->n_users, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, m->item_pop, m->n_items, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, tr->user_ids, tr->n_users, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, tr->user_start, (Size) tr->n_users + 1, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, tr->user_items, tr->n_pairs, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, te->user_ids, te->n_users, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, te->user_start, (Size) te->n_users + 1, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, te->user_items, te->n_pairs, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ev->train_to_model, tr->n_items, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ev->test_to_model, te->n_items, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ev->item_group, m->n_items, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, ev->by_popularity, m->n_items, int32, UNKD_SHM_IN);
	/* the leader writes its users' terms there too */
	UNKD_SHM_ADD(set, res->users, te->n_users, int64, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, res->recall, te->n_users, double, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, res->precision, te->n_users, double, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, res->ndcg, te->n_users, double, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, res->slots, te->n_users, int64, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, res->group_users, cells, int64, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, res->group_recall, cells, double, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, res->group_precision, cells, double, UNKD_SHM_OUT);
	UNKD_SHM_ADD(set, res->group_slots, cells, int64, UNKD_SHM_OUT);
}

/* Allocate the per-user sums of one user */
static void
InitUserSums(EvalSums *one, int n_strata)
{
	memset(one, 0, sizeof(*one));
	one->group_users = palloc0(sizeof(int64) * n_strata);
	one->group_recall = palloc0(sizeof(double) * n_strata);
	one->group_precision = palloc0(sizeof(double) * n_strata);
	one->group_slots = palloc0(sizeof(int64) * n_strata);
}

/* Store one user's terms in its slot and zero them for the next user */
static void
StoreUser(EvalResults *res, EvalSums *one, int32 u, int n_strata)
{
	Size		base = (Size) u * n_strata;

	res->users[u] = one->users;
	res->recall[u] = one->recall;
	res->precision[u] = one->precision;
	res->ndcg[u] = one->ndcg;
	res->slots[u] = one->slots;
	memcpy(res->group_users + base, one->group_users, sizeof(int64) * n_strata);
	memcpy(res->group_recall + base, one->group_recall, sizeof(double) * n_strata);
	memcpy(res->group_precision + base, one->group_precision, sizeof(double) * n_strata);
	memcpy(res->group_slots + base, one->group_slots, sizeof(int64) * n_strata);
	one->users = one->slots = 0;
	one->recall = one->precision = one->ndcg = 0.0;
	memset(one->group_users, 0, sizeof(int64) * n_strata);
	memset(one->group_recall, 0, sizeof(double) * n_strata);
	memset(one->group_precision, 0, sizeof(double) * n_strata);
	memset(one->group_slots, 0, sizeof(int64) * n_strata);
}

/* Take chunks of test users until none is left (leader and workers) */
static void
EvalParticipate(const EvalData *ev, EvalShared *sh, EvalResults *res)
{
	const UnkdInteractions *test = ev->test;
	EvalScratch sc;
	EvalSums	one;

	UnkdEvalInitScratch(ev, &sc);
	if (sc.block.max_users != sh->chunk_users)
		elog(ERROR, "evaluate chunk of %d users, score block of %d",
			 sh->chunk_users, sc.block.max_users);
	InitUserSums(&one, ev->n_strata);
	for (;;)
	{
		uint32		chunk = pg_atomic_fetch_add_u32(&sh->next_chunk, 1);
		int32		next;
		int32		end;

		CHECK_FOR_INTERRUPTS();
		if (chunk >= (uint32) sh->n_chunks)
			break;
		next = (int32) chunk * sh->chunk_users;
		end = UnkdEvalFillBlock(ev, &sc, next);
		UnkdScoreBlockRun(&sc.block, ev->model->item_emb);
		for (int32 u = next; u < end; u++)
		{
			CHECK_FOR_INTERRUPTS();
			if (test->user_start[u + 1] == test->user_start[u])
				continue;
			UnkdEvalUser(ev, &sc, &one, u, sc.row[u - next]);
			StoreUser(res, &one, u, ev->n_strata);
		}
	}
}

/* Add the users' terms to the sums in test-user order, as the serial loop does */
static void
SumUsers(const EvalData *ev, const EvalResults *res, EvalSums *sums)
{
	const UnkdInteractions *test = ev->test;
	int			ns = ev->n_strata;

	for (int32 u = 0; u < test->n_users; u++)
	{
		Size		base = (Size) u * ns;

		if ((u & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (test->user_start[u + 1] == test->user_start[u])
			continue;
		sums->users += res->users[u];
		sums->slots += res->slots[u];
		sums->recall += res->recall[u];
		sums->precision += res->precision[u];
		sums->ndcg += res->ndcg[u];
		for (int g = 0; g < ns; g++)
		{
			sums->group_slots[g] += res->group_slots[base + g];
			sums->group_precision[g] += res->group_precision[base + g];
			sums->group_users[g] += res->group_users[base + g];
			sums->group_recall[g] += res->group_recall[base + g];
		}
	}
}

/* Fill the header from the leader's data */
static void
InitShared(EvalShared *sh, const EvalData *ev, int32 chunk_users)
{
	memset(sh, 0, sizeof(*sh));
	pg_atomic_init_u32(&sh->next_chunk, 0);
	sh->chunk_users = chunk_users;
	sh->n_chunks = (ev->test->n_users + chunk_users - 1) / chunk_users;
	sh->k = ev->k;
	sh->n_strata = ev->n_strata;
	sh->fold_in = ev->fold_in;
	sh->dim = ev->model->dim;
	sh->n_users = ev->model->n_users;
	sh->n_items = ev->model->n_items;
	sh->lr = ev->model->lr;
	sh->decay = ev->model->decay;
	sh->train_users = ev->train->n_users;
	sh->train_items = ev->train->n_items;
	sh->train_pairs = ev->train->n_pairs;
	sh->test_users = ev->test->n_users;
	sh->test_items = ev->test->n_items;
	sh->test_pairs = ev->test->n_pairs;
}

/*
 * Workers the evaluation may use: max_parallel_maintenance_workers, fewer
 * when there are fewer chunks or when the segment and the workers' score
 * blocks would pass maintenance_work_mem; none in a parallel worker
 */
static int
EvalWorkers(const EvalData *ev, double segment_bytes, int n_chunks)
{
	int32		n_items = ev->model->n_items;
	double		base = (double) n_items * (2 * sizeof(int32) + sizeof(float)) +
		(double) (ev->train->n_items + ev->test->n_items) * sizeof(int32) +
		UnkdScoreBlockBytes(n_items, ev->model->dim) + segment_bytes;
	double		per_worker = UnkdScoreBlockBytes(n_items, ev->model->dim) +
		(double) n_items * (sizeof(int32) + sizeof(bool));
	double		budget = (double) maintenance_work_mem * 1024.0;
	int			n = Min(UnkdPlannedWorkers(-1), n_chunks - 1);

	while (n > 0 && base + n * per_worker > budget)
		n--;
	return Max(n, 0);
}

/*
 * Run the per-user loop in parallel; false, leaving sums alone, when no
 * worker is to be used (the caller runs the serial loop)
 */
bool
UnkdEvaluateParallel(EvalData *ev, EvalSums *sums)
{
	int32		chunk_users = UnkdScoreBlockUsers(ev->model->n_items);
	int			n_chunks = (ev->test->n_users + chunk_users - 1) / chunk_users;
	EvalResults res;
	UnkdShmArrays arrays;
	int			n_workers;
	ParallelContext *pcxt;
	EvalShared *sh;

	memset(&res, 0, sizeof(res));
	EvalArrays(ev, &res, &arrays);
	n_workers = EvalWorkers(ev, sizeof(EvalShared) + UnkdShmBytes(&arrays), n_chunks);
	if (n_workers <= 0)
		return false;

	pcxt = UnkdParallelCreate("unkd_evaluate_worker_main", n_workers,
							  sizeof(EvalShared), &arrays, false);
	if (pcxt == NULL)
		return false;			/* no dynamic shared memory: run serially */

	sh = shm_toc_allocate(pcxt->toc, sizeof(EvalShared));
	InitShared(sh, ev, chunk_users);
	shm_toc_insert(pcxt->toc, EVAL_KEY_SHARED, sh);
	UnkdShmPublish(pcxt, &arrays);

	LaunchParallelWorkers(pcxt);
	elog(DEBUG1, "unkd.evaluate: %d of %d parallel workers launched",
		 pcxt->nworkers_launched, n_workers);
	EvalParticipate(ev, sh, &res);
	WaitForParallelWorkersToFinish(pcxt);
	SumUsers(ev, &res, sums);

	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return true;
}

/* Rebuild the loop's data in a worker from the segment */
static void
AttachEvalData(shm_toc *toc, EvalShared *sh, EvalData *ev, EvalResults *res)
{
	UnkdShmArrays arrays;

	memset(ev, 0, sizeof(*ev));
	memset(res, 0, sizeof(*res));
	ev->model = palloc0(sizeof(UnkdModel));
	ev->train = palloc0(sizeof(UnkdInteractions));
	ev->test = palloc0(sizeof(UnkdInteractions));
	ev->k = sh->k;
	ev->n_strata = sh->n_strata;
	ev->fold_in = sh->fold_in;
	ev->model->dim = sh->dim;
	ev->model->n_users = sh->n_users;
	ev->model->n_items = sh->n_items;
	ev->model->lr = sh->lr;
	ev->model->decay = sh->decay;
	ev->train->n_users = sh->train_users;
	ev->train->n_items = sh->train_items;
	ev->train->n_pairs = sh->train_pairs;
	ev->test->n_users = sh->test_users;
	ev->test->n_items = sh->test_items;
	ev->test->n_pairs = sh->test_pairs;

	EvalArrays(ev, res, &arrays);
	UnkdShmAttach(toc, &arrays);
	ev->user_map = UnkdBuildIdMap(ev->model->user_ids, ev->model->n_users);
	ev->train->user_map = UnkdBuildIdMap(ev->train->user_ids, ev->train->n_users);
}

/*
 * Parallel worker entry point: compute chunks of test users. It reads no
 * table, only the leader's copies in the segment.
 */
void
unkd_evaluate_worker_main(dsm_segment *seg, shm_toc *toc)
{
	EvalShared *sh = shm_toc_lookup(toc, EVAL_KEY_SHARED, false);
	EvalData	ev;
	EvalResults res;

	AttachEvalData(toc, sh, &ev, &res);
	EvalParticipate(&ev, sh, &res);
}
