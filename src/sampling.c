/*
 * sampling.c
 *	  The rank-aware pair sampler of spec/METHOD.md section 5: per-group pair
 *	  quotas and rank pairs drawn from the candidate lists of candidates.c.
 *
 * Pairs are drawn every epoch with no allocation, so the training loop
 * stays a plain loop over arrays.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "unkd.h"
#include "sampling.h"

/*
 * Redraws of a tied rank pair: interrupts are checked every
 * RANK_REDRAW_CHECK of them, and RANK_REDRAW_LIMIT is never reached for a
 * mu in range (a tie has probability at most 0.79 there, so even 1000
 * redraws in a row have probability below 1e-100).
 */
#define RANK_REDRAW_CHECK	1024
#define RANK_REDRAW_LIMIT	(1024 * 1024)

PG_FUNCTION_INFO_V1(unkd_sample_ranks);

/*
 * Ensure mu is in the range where the rank sampler is fast and exact
 */
void
UnkdCheckMu(double mu)
{
	if (!(mu >= UNKD_MU_MIN && mu <= UNKD_MU_MAX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mu must be between %g and %.0f, not %.15g",
						UNKD_MU_MIN, UNKD_MU_MAX, mu),
				 errdetail("Below %g nearly every draw is rank 0, so distinct rank pairs take very many redraws; above %.0f the rank distribution cannot be computed precisely.",
						   UNKD_MU_MIN, UNKD_MU_MAX)));
}

/* Precompute the constants of P(r) ~ exp(-(r+1)/mu) */
void
UnkdRankSamplerInit(UnkdRankSampler *sampler, double mu)
{
	UnkdCheckMu(mu);
	sampler->log_q = -1.0 / mu;
	sampler->q = exp(sampler->log_q);
}

/*
 * One rank of 0..n-1 by inverting the truncated geometric CDF: P(r) is
 * (1-q) q^r / (1-q^n), so r = floor(log(1 - U (1 - q^n)) / log q).
 */
static inline int32
DrawRank(const UnkdRankSampler *sampler, int32 n, pg_prng_state *rng)
{
	double		tail = 1.0 - exp(n * sampler->log_q);
	double		r = floor(log(1.0 - pg_prng_double(rng) * tail) / sampler->log_q);

	if (r < 0)
		return 0;
	return r >= n ? n - 1 : (int32) r;
}

/* Two distinct ranks of 0..n-1 (n >= 2), the better (smaller) one first */
void
UnkdSampleRankPair(const UnkdRankSampler *sampler, int32 n, pg_prng_state *rng,
				   int32 *better, int32 *worse)
{
	int32		a,
				b;

	for (int redraws = 1;; redraws++)
	{
		a = DrawRank(sampler, n, rng);
		b = DrawRank(sampler, n, rng);
		if (a != b)
			break;
		if (redraws % RANK_REDRAW_CHECK == 0)
			CHECK_FOR_INTERRUPTS();
		if (redraws >= RANK_REDRAW_LIMIT)
			elog(ERROR, "rank sampler drew no distinct pair of %d ranks in %d tries (mu %g)",
				 n, redraws, -1.0 / sampler->log_q);
	}
	*better = Min(a, b);
	*worse = Max(a, b);
}

/*
 * Spread samples evenly over the groups with at least 2 candidates, the
 * remainder to the most popular of them first; all zero if none qualifies
 */
static void
EvenGroupQuota(const int32 *len, int n_groups, int samples, int *quota)
{
	int			eligible = 0;
	int			rest;

	for (int g = 0; g < n_groups; g++)
		eligible += (len[g] >= 2);
	rest = eligible > 0 ? samples % eligible : 0;
	for (int g = 0; g < n_groups; g++)
	{
		quota[g] = 0;
		if (len[g] < 2)
			continue;
		quota[g] = samples / eligible + (rest > 0 ? 1 : 0);
		if (rest > 0)
			rest--;
	}
}

/*
 * Per-user pair quotas over the groups with at least 2 candidates
 *
 * With weights, group g gets samples * weight[g] / (sum over eligible
 * groups), rounded by largest remainder (ties to the more popular group), so
 * the quotas always add up to samples exactly.
 */
void
UnkdGroupQuota(const int32 *len, int n_groups, int samples,
			   const double *weight, int *quota)
{
	double		total = 0.0;
	double		remainder[UNKD_MAX_GROUPS];
	int			given = 0;

	if (weight == NULL)
	{
		EvenGroupQuota(len, n_groups, samples, quota);
		return;
	}
	for (int g = 0; g < n_groups; g++)
		total += (len[g] >= 2) ? weight[g] : 0.0;
	for (int g = 0; g < n_groups; g++)
	{
		double		share = (len[g] >= 2 && total > 0) ? samples * weight[g] / total : 0.0;

		quota[g] = (int) floor(share);
		remainder[g] = (len[g] >= 2) ? share - quota[g] : -1.0;
		given += quota[g];
	}
	while (total > 0 && given < samples)
	{
		int			best = -1;

		for (int g = 0; g < n_groups; g++)
			if (remainder[g] >= 0 && (best < 0 || remainder[g] > remainder[best]))
				best = g;
		quota[best]++;
		remainder[best] = -1.0;
		given++;
	}
}

/*
 * Pair-quota weight of each group: its mean item popularity to the power
 * -exponent (METHOD.md section 5); NULL for exponent 0, the paper's even split
 *
 * A positive exponent gives less popular groups more pairs, a negative one
 * the more popular groups.
 */
double *
UnkdGroupWeights(const UnkdInteractions *data, const int *item_group, int n_groups,
				 double exponent)
{
	double	   *mass;
	int64	   *count;
	double	   *weight;

	if (exponent == 0.0)
		return NULL;
	mass = palloc0(sizeof(double) * n_groups);
	count = palloc0(sizeof(int64) * n_groups);
	weight = palloc(sizeof(double) * n_groups);
	for (int32 i = 0; i < data->n_items; i++)
	{
		mass[item_group[i]] += (double) data->item_pop[i];
		count[item_group[i]]++;
	}
	for (int g = 0; g < n_groups; g++)
		weight[g] = pow(Max(mass[g], 1.0) / Max(count[g], 1), -exponent);
	pfree(mass);
	pfree(count);
	return weight;
}

/*
 * Draw one epoch's pairs of user u into pos/neg (and, when not NULL, their
 * ranks and group); returns the number drawn: samples, or 0 when no group has
 * 2 candidates. The quota array lives on the stack: n_groups is bounded.
 */
int
UnkdSampleUserPairs(const UnkdCandidates *cand, int32 user, int samples,
					const UnkdRankSampler *sampler, pg_prng_state *rng,
					int32 *pos, int32 *neg, int32 *pos_rank, int32 *neg_rank,
					int *group)
{
	const int32 *len = cand->len + (int64) user * cand->n_groups;
	int			quota[UNKD_MAX_GROUPS];
	int			n = 0;

	UnkdGroupQuota(len, cand->n_groups, samples, cand->group_weight, quota);
	for (int g = 0; g < cand->n_groups; g++)
	{
		const int32 *list = cand->items + ((int64) user * cand->n_groups + g) * cand->max_len;

		for (int k = 0; k < quota[g]; k++)
		{
			int32		better,
						worse;

			UnkdSampleRankPair(sampler, len[g], rng, &better, &worse);
			pos[n] = list[better];
			neg[n] = list[worse];
			if (pos_rank)
			{
				pos_rank[n] = better;
				neg_rank[n] = worse;
				group[n] = g;
			}
			n++;
		}
	}
	return n;
}

/*
 * unkd.sample_ranks(n_candidates, n, mu, seed): n pairs of ranks drawn as
 * the distillation draws them, to test the sampler's distribution from SQL.
 */
Datum
unkd_sample_ranks(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"n_candidates", "n", "mu", "seed"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		n_candidates;
	int32		n;
	double		mu;
	int64		seed;
	UnkdRankSampler sampler;
	pg_prng_state rng;

	UnkdCheckArgsNotNull(fcinfo, names, lengthof(names));
	n_candidates = PG_GETARG_INT32(0);
	n = PG_GETARG_INT32(1);
	mu = PG_GETARG_FLOAT8(2);
	seed = PG_GETARG_INT64(3);

	if (n_candidates < 2 || n_candidates > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_candidates must be between 2 and 1000000")));
	if (n < 0 || n > 100000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 0 and 100000000")));
	UnkdCheckMu(mu);

	InitMaterializedSRF(fcinfo, 0);
	UnkdRankSamplerInit(&sampler, mu);
	pg_prng_seed(&rng, (uint64) seed);
	for (int32 k = 0; k < n; k++)
	{
		int32		better,
					worse;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if ((k & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		UnkdSampleRankPair(&sampler, n_candidates, &rng, &better, &worse);
		values[0] = Int32GetDatum(better);
		values[1] = Int32GetDatum(worse);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
