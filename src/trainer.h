/*
 * trainer.h
 *	  The options and state of one training run, shared by the SQL entry
 *	  points (train.c), the epoch loop (trainer.c) and validation
 *	  (validation.c).
 */
#ifndef UNKD_TRAINER_H
#define UNKD_TRAINER_H

#include "common/pg_prng.h"
#include "portability/instr_time.h"

#include "unkd.h"
#include "sampling.h"

#define VALIDATION_K		20
#define TRAIN_STRATA		4	/* strata recorded for a plain train() model */
#define MAX_EPOCHS			100000
#define MAX_SAMPLES			10000
#define MAX_CANDIDATES		100000
#define UNKD_MAX_TRAIN_WORKERS	63	/* a run has at most 64 slices */

/* How SGD steps are sized */
typedef enum UnkdOptimizer
{
	UNKD_OPTIMIZER_SGD,			/* one learning rate for every step */
	UNKD_OPTIMIZER_ADAGRAD		/* row-wise AdaGrad */
} UnkdOptimizer;

/* Every option of one training run, as given (validated by Check...) */
typedef struct TrainOptions
{
	const char *name;
	Oid			interactions;
	int32		dim;
	int32		epochs;
	int64		seed;
	double		lr;
	double		decay;
	double		init_std;
	Oid			validation;		/* InvalidOid: fixed epochs */
	int32		eval_every;
	int32		patience;
	int32		notice_every;	/* 0: quiet */
	const char *user_column;
	const char *item_column;
	Oid			seen;			/* InvalidOid: the interactions relation */
	bool		replace;		/* may change the kind or method of a name */
	double		time_limit;		/* seconds; 0: none */
	UnkdOptimizer optimizer;
	double		validation_fraction;	/* held out when validation is not given; 0: none */
	int32		workers;		/* parallel workers; -1: max_parallel_maintenance_workers */
	/* distillation only */
	bool		distill;
	UnkdTeacherSource teacher;
	int32		n_groups;
	int32		samples;
	double		kd_weight;
	int32		candidates;
	double		mu;
	double		kd_decay;		/* decay of distillation steps */
	double		group_weight_exponent;	/* 0: even pair quotas */
} TrainOptions;

/* Losses and pair updates of some steps of an epoch */
typedef struct UnkdEpochSums
{
	double		bpr_loss;
	double		kd_loss;
	int64		updates;
} UnkdEpochSums;

/* The parallel epoch loop's shared state (parallel_train.c) */
typedef struct TrainParallel TrainParallel;

/* Validation interactions mapped onto the training indices (validation.c) */
typedef struct Validation Validation;

/* The state of one run */
typedef struct Trainer
{
	const TrainOptions *opt;
	const UnkdInteractions *data;	/* what the epochs train on */
	const UnkdInteractions *all;	/* all input: data plus any held-out slice */
	float	   *user_emb;
	float	   *item_emb;
	float	   *best_user_emb;	/* copies at the best validation NDCG */
	float	   *best_item_emb;
	float	   *user_acc;		/* [n_users] AdaGrad accumulators, or NULL */
	float	   *item_acc;		/* [n_items] */
	int32	   *order;			/* [n_pairs] this epoch's visiting order */
	int32	   *pair_user;		/* [n_pairs] user of each CSR position */
	pg_prng_state rng;
	/* popularity strata */
	int			n_strata;
	int64		strata[UNKD_MAX_GROUPS];
	int		   *item_group;
	/* the TRAIN_STRATA groups the validation bias figures use, whatever n_groups */
	int			bias_strata;
	int		   *bias_group;
	/* distillation */
	UnkdCandidates *cand;
	UnkdRankSampler sampler;
	int32	   *kd_pos;			/* [n_users * samples] this epoch's pairs */
	int32	   *kd_neg;
	int32	   *kd_count;		/* [n_users] pairs this epoch (samples or 0) */
	int32	   *kd_step;		/* [n_users] interactions visited this epoch */
	Validation *val;
	TrainParallel *par;			/* NULL: the serial epoch loop */
	double		memory_bytes;	/* counted against maintenance_work_mem */
	/* results */
	double		bpr_loss;
	double		kd_loss;
	int64		updates;
	int32		epochs_run;
	int32		best_epoch;
	double		best_ndcg;
	double		loop_seconds;
	double		validation_seconds;	/* of loop_seconds, spent validating */
	int32		validation_users;
	int64		validation_interactions;
	double		validation_head_share;	/* of the best parameters */
	double		validation_tail_recall;
	int32		n_slices;		/* of the parallel epoch loop; 1: serial */
	int32		workers_launched;
	const char *stop_reason;	/* "epochs", "patience" or "time_limit" */
	instr_time	run_start;		/* the time limit counts from here */
} Trainer;

/* trainer.c */
extern UnkdInteractions *UnkdReadTraining(const TrainOptions *opt);
extern void UnkdComputeGroups(Trainer *t, int n_groups);
extern Datum UnkdRunTraining(const TrainOptions *opt, const char *kind, const char *method);
extern void UnkdShuffleRange(int32 *order, int64 n, pg_prng_state *rng);
extern void UnkdSampleRangePairs(Trainer *t, int32 from, int32 to);
extern void UnkdRunSteps(Trainer *t, const int32 *order, int64 from, int64 to,
						 UnkdEpochSums *sums);

/* parallel_train.c */
extern TrainParallel *UnkdParallelBegin(Trainer *t);
extern void UnkdParallelEpoch(Trainer *t);
extern void UnkdParallelEnd(Trainer *t);
extern double UnkdParallelBytes(const TrainOptions *opt, const UnkdInteractions *data,
								int n_slices);

/* validation.c */
extern Validation *UnkdLoadValidation(const TrainOptions *opt, const UnkdInteractions *data);
extern Validation *UnkdHoldOutValidation(const UnkdInteractions *all, double fraction,
										 int64 seed, int32 dim, UnkdInteractions **rest);
extern void UnkdValidationSize(const Validation *val, int32 *users, int64 *interactions);
extern double UnkdValidate(const Trainer *t, double *head_share, double *tail_recall);
extern double UnkdValidationBytes(int32 n_items, int32 dim);

#endif							/* UNKD_TRAINER_H */
