/*
 * sampling.h
 *	  Teacher candidate lists (candidates.c) and the rank-aware pair sampler
 *	  (sampling.c) of spec/METHOD.md sections 4 and 5, shared by trainer.c
 *	  and train.c.
 */
#ifndef UNKD_SAMPLING_H
#define UNKD_SAMPLING_H

#include "unkd.h"

#include "common/pg_prng.h"
#include "portability/instr_time.h"

/*
 * Per (user, group) candidate lists: the group's unseen items, best teacher
 * score first, at most max_len each; list (u, g) starts at
 * items[(u * n_groups + g) * max_len] and holds len[u * n_groups + g] items.
 */
typedef struct UnkdCandidates
{
	int32		n_users;
	int			n_groups;
	int32		max_len;
	int32	   *items;
	int32	   *len;
	const double *group_weight; /* [n_groups] pair-quota weights; NULL: even */
	double		seconds;		/* time taken to build the lists */
} UnkdCandidates;

/* Where teacher scores come from: exactly one of model / score table */
typedef struct UnkdTeacherSource
{
	const char *model;			/* teacher model name, or NULL */
	Oid			scores;			/* teacher-score relation, or InvalidOid */
	const char *user_column;
	const char *item_column;
	const char *score_column;
} UnkdTeacherSource;

/*
 * The range of mu (see UnkdCheckMu and docs/distill.md): below the low end a
 * pair needs many redraws to get two distinct ranks (at 0.5 about 3.8 at
 * worst, at 0.1 about 11000, under 0.03 never); above the high end
 * 1 - exp(-n/mu) loses its precision (at 1e6 a relative error of 5e-12, at
 * 1e16 of 11%, at 1e17 every draw is rank 0).
 */
#define UNKD_MU_MIN			0.5
#define UNKD_MU_MAX			1000000.0

/* The rank-aware distribution P(r) ~ exp(-(r+1)/mu), ready to sample */
typedef struct UnkdRankSampler
{
	double		log_q;			/* -1/mu */
	double		q;				/* exp(-1/mu) */
} UnkdRankSampler;

extern double UnkdCandidatesBytes(int32 n_users, int n_groups, int32 max_len);
extern UnkdCandidates *UnkdBuildCandidates(const UnkdInteractions *data,
										   const int *item_group, int n_groups,
										   int32 max_len,
										   const UnkdTeacherSource *source,
										   int32 workers);
extern void UnkdCheckMu(double mu);
extern void UnkdRankSamplerInit(UnkdRankSampler *sampler, double mu);
extern void UnkdSampleRankPair(const UnkdRankSampler *sampler, int32 n,
							   pg_prng_state *rng, int32 *better, int32 *worse);
extern void UnkdGroupQuota(const int32 *len, int n_groups, int samples,
						   const double *weight, int *quota);
extern double *UnkdGroupWeights(const UnkdInteractions *data, const int *item_group,
								int n_groups, double exponent);
extern int	UnkdSampleUserPairs(const UnkdCandidates *cand, int32 user,
								int samples, const UnkdRankSampler *sampler,
								pg_prng_state *rng, int32 *pos, int32 *neg,
								int32 *pos_rank, int32 *neg_rank,
								int *group);

#endif							/* UNKD_SAMPLING_H */
