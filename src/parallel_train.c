/*
 * parallel_train.c
 *	  The epoch loop of unkd.train and unkd.distill in parallel workers:
 *	  user-partitioned local SGD with item-parameter merging, deterministic
 *	  for (seed, workers).
 *
 * The users are cut into 1 + workers slices of consecutive users with about
 * the same number of interactions. Every slice has its own PRNG (seeded from
 * the run's), visiting order and copy of the item parameters. An epoch is a
 * few rounds; in each, every slice starts from the shared item matrix,
 * visits its share of its interactions (its users' rows are its own, in the
 * shared user matrix), and then the item matrix becomes itself plus the sum
 * of the slices' changes, added in slice order. Which process runs a slice
 * does not matter (the leader and the workers take slices from a counter),
 * so the model depends on the seed and the number of slices only, even when
 * fewer workers start than were asked for. Phases are separated by a
 * barrier; the leader writes each phase's command before the barrier that
 * opens it, into the slot of that phase's parity, so a worker that joins
 * late reads the command of the phase it joins.
 *
 * Early stopping's validation passes run in the same workers, which wait
 * idle while the leader validates otherwise: every participant takes blocks
 * of validation users and writes each user's terms into the user's slot,
 * and the leader adds them in user order, as the serial pass does.
 */
#include "unkd.h"

#include <math.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/barrier.h"
#include "utils/wait_event.h"

#include "shm_arrays.h"
#include "trainer.h"
#include "validation.h"

PGDLLEXPORT void unkd_train_worker_main(dsm_segment *seg, shm_toc *toc);

#define TRAIN_KEY_SHARED	UINT64CONST(0xE7A1000000000002)
#define TRAIN_KEY_ARRAYS	UINT64CONST(0xE7A1000000000200)

#define MAX_SLICES			(UNKD_MAX_TRAIN_WORKERS + 1)
#define MAX_ROUNDS			16
#define MERGE_CHUNK_ITEMS	256
/* a slice round visits at least this many interactions per item copied */
#define ROUND_VISITS_PER_ITEM 8
/* interactions per slice before max_parallel_maintenance_workers adds one */
#define MIN_SLICE_PAIRS		65536

/* What the participants do in one phase */
typedef enum TrainCommand
{
	TRAIN_IDLE,					/* wait for the leader */
	TRAIN_WORK,					/* run slices of one round */
	TRAIN_MERGE,				/* add the slices' item changes */
	TRAIN_VALIDATE,				/* score blocks of validation users */
	TRAIN_STOP					/* leave */
} TrainCommand;

/* A phase's command; slots alternate by phase parity */
typedef struct TrainPhase
{
	TrainCommand command;
	int32		round;			/* TRAIN_WORK: round of the epoch */
	pg_atomic_uint32 next;		/* next slice or merge chunk to take */
} TrainPhase;

/* One slice's state, kept across rounds and epochs */
typedef struct TrainSlice
{
	int32		user_from;
	int32		user_to;
	int64		pair_from;
	int64		pair_to;
	pg_prng_state rng;
	UnkdEpochSums sums;			/* of the current epoch */
} TrainSlice;

/* The scalars a worker needs to rebuild the trainer */
typedef struct TrainShared
{
	Barrier		barrier;
	TrainPhase	phase[2];
	int32		n_slices;
	int32		rounds;
	/* TrainOptions the steps read */
	int32		dim;
	double		lr;
	double		decay;
	double		kd_decay;
	double		kd_weight;
	int32		samples;
	double		mu;
	UnkdOptimizer optimizer;
	/* sizes */
	int32		n_users;
	int32		n_items;
	int64		n_pairs;
	bool		distill;
	int32		n_groups;
	int32		max_len;
	bool		group_weight;
	/* validation, when the run has it */
	bool		validate;
	int32		val_users;
	int64		val_pairs;
	int32		val_block_users;
	int32		bias_strata;
	TrainSlice	slice[MAX_SLICES];
} TrainShared;

/* The leader's handle on the parallel run */
struct TrainParallel
{
	ParallelContext *pcxt;
	TrainShared *sh;
	UnkdShmArrays arrays;
	float	   *local_emb;		/* [n_slices * n_items * dim] */
	float	   *local_acc;		/* [n_slices * n_items], or NULL */
	UnkdValidationTerms *val_terms; /* [val_users] each user's slot */
	int			phase;
};

/* ---------- sizes ---------- */

/* Rounds per epoch: enough merges that no slice drifts far, few enough copies */
static int32
RoundsPerEpoch(int64 n_pairs, int32 n_items, int n_slices)
{
	double		rounds = (double) n_pairs / n_slices / ((double) ROUND_VISITS_PER_ITEM * n_items);

	return (int32) Max(1.0, Min((double) MAX_ROUNDS, floor(rounds)));
}

/* Bytes of the shared segment of a run of n_slices slices */
double
UnkdParallelBytes(const TrainOptions *opt, const UnkdInteractions *data, int n_slices)
{
	double		rows = (double) data->n_users + data->n_items;
	double		bytes = sizeof(TrainShared);

	bytes += rows * opt->dim * sizeof(float);
	bytes += (double) n_slices * data->n_items * opt->dim * sizeof(float);
	if (opt->optimizer == UNKD_OPTIMIZER_ADAGRAD)
		bytes += rows * sizeof(float) + (double) n_slices * data->n_items * sizeof(float);
	bytes += (double) (data->n_users + 1) * sizeof(int64);
	bytes += (double) data->n_pairs * 3 * sizeof(int32);
	if (opt->distill && opt->kd_weight > 0)
	{
		bytes += UnkdCandidatesBytes(data->n_users, opt->n_groups, opt->candidates);
		bytes += (double) data->n_users * (2.0 * opt->samples + 2) * sizeof(int32);
	}
	return bytes;
}

/*
 * Bytes the workers add for validation: the slice and the slots in the
 * segment, and a score block of its own in every worker
 */
static double
ValidationBytes(const Trainer *t, int n_slices)
{
	const Validation *val = t->val;
	double		bytes;

	if (val == NULL)
		return 0.0;
	bytes = (double) val->n_users * (sizeof(int32) + sizeof(int64) + sizeof(UnkdValidationTerms));
	bytes += (double) val->start[val->n_users] * sizeof(int32);
	bytes += (double) t->data->n_items * sizeof(int);
	return bytes + (n_slices - 1) * UnkdValidationBytes(t->data->n_items, t->opt->dim);
}

/* Bytes of a run of n_slices slices beside the serial run's own */
static double
RunBytes(const Trainer *t, int n_slices)
{
	return UnkdParallelBytes(t->opt, t->data, n_slices) + ValidationBytes(t, n_slices);
}

/*
 * Slices of the run: 1 + the workers argument when given; otherwise 1 +
 * max_parallel_maintenance_workers, fewer on small inputs (a slice of fewer
 * than MIN_SLICE_PAIRS interactions costs more in merging than it gains)
 * and within maintenance_work_mem beside the serial run's own memory
 */
static int
PlanSlices(const Trainer *t)
{
	const TrainOptions *opt = t->opt;
	double		serial_bytes = t->memory_bytes;
	int			workers = opt->workers;
	double		budget = (double) maintenance_work_mem * 1024.0;

	/* an explicit count is kept even where no worker can start: it makes the model */
	if (opt->workers >= 0)
	{
		if (workers > 0 && serial_bytes + RunBytes(t, workers + 1) > budget)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("training with %d parallel workers needs %.0f MB of memory, maintenance_work_mem is %d MB",
							workers,
							ceil((serial_bytes + RunBytes(t, workers + 1)) / (1024.0 * 1024.0)),
							maintenance_work_mem / 1024),
					 errhint("Use fewer workers, or increase maintenance_work_mem for this session.")));
		return Min(workers, MAX_SLICES - 1) + 1;
	}
	workers = UnkdPlannedWorkers(-1);
	workers = Min(workers, (int) Min((int64) MAX_SLICES, t->data->n_pairs / MIN_SLICE_PAIRS) - 1);
	while (workers > 0 && serial_bytes + RunBytes(t, workers + 1) > budget)
		workers--;
	return Max(workers, 0) + 1;
}

/* ---------- the shared state ---------- */

/* Cut the users into slices of about equal interaction counts */
static void
CutSlices(TrainShared *sh, const UnkdInteractions *data, pg_prng_state *rng)
{
	int32		u = 0;

	for (int s = 0; s < sh->n_slices; s++)
	{
		TrainSlice *slice = &sh->slice[s];
		int64		end = data->n_pairs * (s + 1) / sh->n_slices;

		slice->user_from = u;
		while (u < data->n_users && (s == sh->n_slices - 1 || data->user_start[u + 1] <= end))
			u++;
		slice->user_to = u;
		slice->pair_from = data->user_start[slice->user_from];
		slice->pair_to = data->user_start[slice->user_to];
		pg_prng_seed(&slice->rng, pg_prng_uint64(rng));
		memset(&slice->sums, 0, sizeof(slice->sums));
	}
}

/* List the arrays the slices read and write, sized from sh */
static void
TrainArrays(Trainer *t, TrainParallel *par, TrainShared *sh, UnkdShmArrays *set)
{
	UnkdInteractions *data = (UnkdInteractions *) t->data;
	Size		items = (Size) sh->n_items;

	UnkdShmInit(set, TRAIN_KEY_ARRAYS);
	UNKD_SHM_ADD(set, t->user_emb, (Size) sh->n_users * sh->dim, float, UNKD_SHM_SHARED);
	UNKD_SHM_ADD(set, t->item_emb, items * sh->dim, float, UNKD_SHM_SHARED);
	UNKD_SHM_ADD(set, par->local_emb, sh->n_slices * items * sh->dim, float, UNKD_SHM_OUT);
	if (sh->optimizer == UNKD_OPTIMIZER_ADAGRAD)
	{
		UNKD_SHM_ADD(set, t->user_acc, sh->n_users, float, UNKD_SHM_SHARED);
		UNKD_SHM_ADD(set, t->item_acc, items, float, UNKD_SHM_SHARED);
		UNKD_SHM_ADD(set, par->local_acc, sh->n_slices * items, float, UNKD_SHM_OUT);
	}
	UNKD_SHM_ADD(set, data->user_start, (Size) sh->n_users + 1, int64, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, data->user_items, sh->n_pairs, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, t->pair_user, sh->n_pairs, int32, UNKD_SHM_IN);
	UNKD_SHM_ADD(set, t->order, sh->n_pairs, int32, UNKD_SHM_SHARED);
	if (sh->distill)
	{
		Size		lists = (Size) sh->n_users * sh->n_groups;

		UNKD_SHM_ADD(set, t->cand->items, lists * sh->max_len, int32, UNKD_SHM_IN);
		UNKD_SHM_ADD(set, t->cand->len, lists, int32, UNKD_SHM_IN);
		if (sh->group_weight)
			UNKD_SHM_ADD(set, t->cand->group_weight, sh->n_groups, double, UNKD_SHM_IN);
		UNKD_SHM_ADD(set, t->kd_pos, (Size) sh->n_users * sh->samples, int32, UNKD_SHM_SHARED);
		UNKD_SHM_ADD(set, t->kd_neg, (Size) sh->n_users * sh->samples, int32, UNKD_SHM_SHARED);
		UNKD_SHM_ADD(set, t->kd_count, sh->n_users, int32, UNKD_SHM_SHARED);
		UNKD_SHM_ADD(set, t->kd_step, sh->n_users, int32, UNKD_SHM_SHARED);
	}
	if (sh->validate)
	{
		UNKD_SHM_ADD(set, t->val->user, sh->val_users, int32, UNKD_SHM_IN);
		UNKD_SHM_ADD(set, t->val->start, (Size) sh->val_users + 1, int64, UNKD_SHM_IN);
		UNKD_SHM_ADD(set, t->val->items, sh->val_pairs, int32, UNKD_SHM_IN);
		UNKD_SHM_ADD(set, t->bias_group, items, int, UNKD_SHM_IN);
		UNKD_SHM_ADD(set, par->val_terms, sh->val_users, UnkdValidationTerms, UNKD_SHM_OUT);
	}
}

/* Fill the scalars from the leader's trainer */
static void
InitShared(TrainShared *sh, const Trainer *t, int n_slices)
{
	const TrainOptions *opt = t->opt;

	memset(sh, 0, sizeof(*sh));
	sh->n_slices = n_slices;
	sh->rounds = RoundsPerEpoch(t->data->n_pairs, t->data->n_items, n_slices);
	sh->dim = opt->dim;
	sh->lr = opt->lr;
	sh->decay = opt->decay;
	sh->kd_decay = opt->kd_decay;
	sh->kd_weight = opt->kd_weight;
	sh->samples = opt->samples;
	sh->mu = opt->mu;
	sh->optimizer = opt->optimizer;
	sh->n_users = t->data->n_users;
	sh->n_items = t->data->n_items;
	sh->n_pairs = t->data->n_pairs;
	sh->distill = t->cand != NULL;
	if (sh->distill)
	{
		sh->n_groups = t->cand->n_groups;
		sh->max_len = t->cand->max_len;
		sh->group_weight = t->cand->group_weight != NULL;
	}
	sh->validate = t->val != NULL;
	if (sh->validate)
	{
		sh->val_users = t->val->n_users;
		sh->val_pairs = t->val->start[t->val->n_users];
		sh->val_block_users = t->val->block.max_users;
		sh->bias_strata = t->bias_strata;
	}
}

/* The barrier and the phase slots, initialised in place in the segment */
static void
InitPhases(TrainShared *sh)
{
	BarrierInit(&sh->barrier, 0);
	for (int p = 0; p < 2; p++)
	{
		sh->phase[p].command = TRAIN_IDLE;
		sh->phase[p].round = 0;
		pg_atomic_init_u32(&sh->phase[p].next, 0);
	}
}

/* ---------- the phases ---------- */

/* One round of one slice: its share of its visits on its own item copy */
static void
RunSliceRound(const Trainer *t, TrainParallel *par, int s, int32 round)
{
	TrainShared *sh = par->sh;
	TrainSlice *slice = &sh->slice[s];
	Size		item_floats = (Size) sh->n_items * sh->dim;
	int64		n = slice->pair_to - slice->pair_from;
	Trainer		local = *t;

	local.item_emb = par->local_emb + s * item_floats;
	memcpy(local.item_emb, t->item_emb, item_floats * sizeof(float));
	if (par->local_acc)
	{
		local.item_acc = par->local_acc + (Size) s * sh->n_items;
		memcpy(local.item_acc, t->item_acc, (Size) sh->n_items * sizeof(float));
	}
	local.rng = slice->rng;
	if (round == 0)
	{
		UnkdShuffleRange(t->order + slice->pair_from, n, &local.rng);
		if (local.cand)
			UnkdSampleRangePairs(&local, slice->user_from, slice->user_to);
	}
	UnkdRunSteps(&local, t->order, slice->pair_from + n * round / sh->rounds,
				 slice->pair_from + n * (round + 1) / sh->rounds, &slice->sums);
	slice->rng = local.rng;
}

/* Add the slices' changes of items [from, to) to the shared matrix */
static void
MergeRows(float *base, const float *local, int n_slices, Size stride, Size from, Size to)
{
	for (Size k = from; k < to; k++)
	{
		float		b = base[k];
		float		sum = b;

		for (int s = 0; s < n_slices; s++)
			sum += local[s * stride + k] - b;
		base[k] = sum;
	}
}

/* The units of a phase: slices, merge chunks or blocks of validation users */
static uint32
PhaseUnits(const TrainShared *sh, TrainCommand command)
{
	if (command == TRAIN_WORK)
		return (uint32) sh->n_slices;
	if (command == TRAIN_VALIDATE)
		return (uint32) ((sh->val_users + sh->val_block_users - 1) / sh->val_block_users);
	return (uint32) ((sh->n_items + MERGE_CHUNK_ITEMS - 1) / MERGE_CHUNK_ITEMS);
}

/* Take slices, merge chunks or validation blocks until none is left */
static void
Participate(const Trainer *t, TrainParallel *par, TrainPhase *phase)
{
	TrainShared *sh = par->sh;
	uint32		n = PhaseUnits(sh, phase->command);

	for (;;)
	{
		uint32		k = pg_atomic_fetch_add_u32(&phase->next, 1);

		CHECK_FOR_INTERRUPTS();
		if (k >= n)
			break;
		if (phase->command == TRAIN_WORK)
			RunSliceRound(t, par, (int) k, phase->round);
		else if (phase->command == TRAIN_VALIDATE)
		{
			int32		first = (int32) k * sh->val_block_users;

			UnkdValidationScoreBlock(t, first, par->val_terms + first);
		}
		else
		{
			Size		from = (Size) k * MERGE_CHUNK_ITEMS;
			Size		to = Min(from + MERGE_CHUNK_ITEMS, (Size) sh->n_items);
			Size		items = sh->n_items;

			MergeRows(t->item_emb, par->local_emb, sh->n_slices, items * sh->dim,
					  from * sh->dim, to * sh->dim);
			if (par->local_acc)
				MergeRows(t->item_acc, par->local_acc, sh->n_slices, items, from, to);
		}
	}
}

/* Leader: set the next phase's command, end this phase, and do its part */
static void
Advance(const Trainer *t, TrainCommand command, int32 round)
{
	TrainParallel *par = t->par;
	TrainPhase *next = &par->sh->phase[(par->phase + 1) % 2];

	next->command = command;
	next->round = round;
	pg_atomic_write_u32(&next->next, 0);
	BarrierArriveAndWait(&par->sh->barrier, PG_WAIT_EXTENSION);
	par->phase++;
	if (command != TRAIN_IDLE && command != TRAIN_STOP)
		Participate(t, par, next);
}

/* ---------- leader entry points ---------- */

/*
 * Start the workers of a run when it is to have more than one slice; NULL
 * (the serial loop) otherwise
 */
TrainParallel *
UnkdParallelBegin(Trainer *t)
{
	int			n_slices = PlanSlices(t);
	TrainShared proto;
	TrainParallel *par;
	ParallelContext *pcxt;

	if (n_slices <= 1)
		return NULL;
	par = palloc0(sizeof(TrainParallel));
	InitShared(&proto, t, n_slices);
	TrainArrays(t, par, &proto, &par->arrays);
	pcxt = UnkdParallelCreate("unkd_train_worker_main", n_slices - 1,
							  sizeof(TrainShared), &par->arrays, true);
	par->pcxt = pcxt;
	par->sh = shm_toc_allocate(pcxt->toc, sizeof(TrainShared));
	memcpy(par->sh, &proto, sizeof(TrainShared));
	InitPhases(par->sh);
	CutSlices(par->sh, t->data, &t->rng);
	shm_toc_insert(pcxt->toc, TRAIN_KEY_SHARED, par->sh);
	UnkdShmPublish(pcxt, &par->arrays);
	t->memory_bytes += RunBytes(t, n_slices);
	par->phase = BarrierAttach(&par->sh->barrier);
	t->par = par;
	LaunchParallelWorkers(pcxt);
	elog(DEBUG1, "unkd: model \"%s\": %d slices, %d rounds per epoch, %d of %d workers launched",
		 t->opt->name, n_slices, par->sh->rounds, pcxt->nworkers_launched, n_slices - 1);
	return par;
}

/* One epoch of every slice, ending with the workers waiting */
void
UnkdParallelEpoch(Trainer *t)
{
	TrainShared *sh = t->par->sh;
	UnkdEpochSums total = {0};

	for (int32 round = 0; round < sh->rounds; round++)
	{
		Advance(t, TRAIN_WORK, round);
		Advance(t, TRAIN_MERGE, round);
	}
	Advance(t, TRAIN_IDLE, 0);
	for (int s = 0; s < sh->n_slices; s++)
	{
		total.bpr_loss += sh->slice[s].sums.bpr_loss;
		total.kd_loss += sh->slice[s].sums.kd_loss;
		total.updates += sh->slice[s].sums.updates;
		memset(&sh->slice[s].sums, 0, sizeof(UnkdEpochSums));
	}
	t->updates += total.updates;
	t->bpr_loss = total.bpr_loss / t->data->n_pairs;
	t->kd_loss = total.kd_loss / t->data->n_pairs;
}

/*
 * One validation pass in the run's workers, false (sums untouched) when the
 * run has none: every participant scores blocks of users, the leader then
 * adds the users' terms in validation order
 */
bool
UnkdValidateInTrainWorkers(const Trainer *t, UnkdValidationSums *sums)
{
	TrainParallel *par = t->par;

	if (par == NULL || !par->sh->validate)
		return false;
	Advance(t, TRAIN_VALIDATE, 0);
	Advance(t, TRAIN_IDLE, 0);
	UnkdValidationAddAll(sums, par->val_terms, par->sh->val_users);
	return true;
}

/* Stop the workers and take the parameters back into the leader's memory */
void
UnkdParallelEnd(Trainer *t)
{
	TrainParallel *par = t->par;

	if (par == NULL)
		return;
	Advance(t, TRAIN_STOP, 0);
	BarrierDetach(&par->sh->barrier);
	WaitForParallelWorkersToFinish(par->pcxt);
	t->workers_launched = par->pcxt->nworkers_launched;
	t->n_slices = par->sh->n_slices;
	UnkdShmCopyBack(&par->arrays);
	DestroyParallelContext(par->pcxt);
	ExitParallelMode();
	t->par = NULL;
}

/* ---------- workers ---------- */

/* Rebuild the trainer in a worker from the segment */
static void
AttachTrainer(shm_toc *toc, TrainShared *sh, Trainer *t, TrainParallel *par)
{
	TrainOptions *opt = palloc0(sizeof(TrainOptions));
	UnkdInteractions *data = palloc0(sizeof(UnkdInteractions));

	memset(t, 0, sizeof(*t));
	memset(par, 0, sizeof(*par));
	par->sh = sh;
	opt->name = "worker";
	opt->dim = sh->dim;
	opt->lr = sh->lr;
	opt->decay = sh->decay;
	opt->kd_decay = sh->kd_decay;
	opt->kd_weight = sh->kd_weight;
	opt->samples = sh->samples;
	opt->mu = sh->mu;
	opt->optimizer = sh->optimizer;
	data->n_users = sh->n_users;
	data->n_items = sh->n_items;
	data->n_pairs = sh->n_pairs;
	t->opt = opt;
	t->data = t->all = data;
	if (sh->distill)
	{
		UnkdCandidates *cand = palloc0(sizeof(UnkdCandidates));

		cand->n_users = sh->n_users;
		cand->n_groups = sh->n_groups;
		cand->max_len = sh->max_len;
		t->cand = cand;
		UnkdRankSamplerInit(&t->sampler, sh->mu);
	}
	if (sh->validate)
	{
		t->val = palloc0(sizeof(Validation));
		t->val->n_users = sh->val_users;
		t->bias_strata = sh->bias_strata;
	}
	TrainArrays(t, par, sh, &par->arrays);
	UnkdShmAttach(toc, &par->arrays);
	if (sh->validate)
		UnkdValidationInitScratch(t->val, sh->n_items, sh->dim);
}

/*
 * Parallel worker entry point: take slices and merge chunks, phase after
 * phase, until the leader says stop. It reads no table.
 */
void
unkd_train_worker_main(dsm_segment *seg, shm_toc *toc)
{
	TrainShared *sh = shm_toc_lookup(toc, TRAIN_KEY_SHARED, false);
	Trainer		t;
	TrainParallel par;
	int			phase;

	AttachTrainer(toc, sh, &t, &par);
	phase = BarrierAttach(&sh->barrier);
	for (;;)
	{
		TrainPhase *current = &sh->phase[phase % 2];

		if (current->command == TRAIN_STOP)
			break;
		if (current->command != TRAIN_IDLE)
			Participate(&t, &par, current);
		BarrierArriveAndWait(&sh->barrier, PG_WAIT_EXTENSION);
		phase++;
	}
	BarrierDetach(&sh->barrier);
}
