/*
 * sgd.h
 *	  The BPR stochastic-gradient step shared by the training loops
 *	  (trainer.c) and the standalone throughput reference (bench/sgd_loop.c).
 *
 * Plain C without PostgreSQL headers so that the benchmark compiles the very
 * same step with the same flags: whatever the in-database loop costs beyond
 * this is overhead of ours, not of the arithmetic.
 */
#ifndef UNKD_SGD_H
#define UNKD_SGD_H

#include <math.h>

/* keeps the first AdaGrad step of a row finite */
#define UNKD_ADAGRAD_EPS 1e-8f

/* log(1 + exp(x)) without overflow for large x */
static inline double
UnkdSoftplus(double x)
{
	if (x > 30.0)
		return x;
	if (x < -30.0)
		return exp(x);
	return log1p(exp(x));
}

/* <u, p - q>: one pass, vectorised as a single reduction */
static inline float
UnkdPairMargin(const float *restrict u, const float *restrict p, const float *restrict q,
			   int dim)
{
	float		x = 0.0f;

	for (int k = 0; k < dim; k++)
		x += u[k] * (p[k] - q[k]);
	return x;
}

/*
 * One weighted BPR step on -log sigmoid(<u,p> - <u,q>) + decay/2 * |touched|^2
 * (scaled by weight), updating u, p and q in place; returns the pair's loss.
 * p and q are distinct rows, so restrict holds.
 */
static inline double
UnkdBprStep(float *restrict u, float *restrict p, float *restrict q,
			int dim, float lr, float decay, float weight)
{
	float		x = UnkdPairMargin(u, p, q, dim);
	float		step = lr * weight;

	/* d/dx of -log sigmoid(x) is -sigmoid(-x) */
	float		g = 1.0f / (1.0f + expf(x));

	for (int k = 0; k < dim; k++)
	{
		float		uk = u[k];
		float		pk = p[k];
		float		qk = q[k];

		u[k] = uk + step * (g * (pk - qk) - decay * uk);
		p[k] = pk + step * (g * uk - decay * pk);
		q[k] = qk + step * (-g * uk - decay * qk);
	}
	return (double) weight * UnkdSoftplus(-(double) x);
}

/*
 * The same weighted BPR step with row-wise AdaGrad: each row (a user or an
 * item) keeps one accumulator of its mean squared gradient, and moves by
 * lr / sqrt(accumulator) times its gradient. Rare items, whose accumulators
 * stay small, keep large steps while frequent ones settle, and the decaying
 * steps let training converge instead of circling at a fixed step size.
 */
static inline double
UnkdBprStepAdagrad(float *restrict u, float *restrict p, float *restrict q,
				   float *acc_u, float *acc_p, float *acc_q,
				   int dim, float lr, float decay, float weight)
{
	float		x = UnkdPairMargin(u, p, q, dim);
	float		g = 1.0f / (1.0f + expf(x));
	float		su = 0.0f;
	float		sp = 0.0f;
	float		sq = 0.0f;
	float		w2 = weight * weight / (float) dim;
	float		step_u,
				step_p,
				step_q;

	/* squared gradient norms first: the step of each row depends on them */
	for (int k = 0; k < dim; k++)
	{
		float		gu = g * (p[k] - q[k]) - decay * u[k];
		float		gp = g * u[k] - decay * p[k];
		float		gq = -g * u[k] - decay * q[k];

		su += gu * gu;
		sp += gp * gp;
		sq += gq * gq;
	}
	*acc_u += w2 * su;
	*acc_p += w2 * sp;
	*acc_q += w2 * sq;
	step_u = lr * weight / sqrtf(*acc_u + UNKD_ADAGRAD_EPS);
	step_p = lr * weight / sqrtf(*acc_p + UNKD_ADAGRAD_EPS);
	step_q = lr * weight / sqrtf(*acc_q + UNKD_ADAGRAD_EPS);

	for (int k = 0; k < dim; k++)
	{
		float		uk = u[k];
		float		pk = p[k];
		float		qk = q[k];

		u[k] = uk + step_u * (g * (pk - qk) - decay * uk);
		p[k] = pk + step_p * (g * uk - decay * pk);
		q[k] = qk + step_q * (-g * uk - decay * qk);
	}
	return (double) weight * UnkdSoftplus(-(double) x);
}

/* Whether sorted items[0..n) contains item (binary search) */
static inline int
UnkdSortedContains(const int *items, long n, int item)
{
	long		lo = 0;
	long		hi = n;

	while (lo < hi)
	{
		long		mid = (lo + hi) >> 1;

		if (items[mid] < item)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && items[lo] == item;
}

/* Map a uniform 32-bit value onto 0..n-1 by multiply-shift (bias < n/2^32) */
static inline int
UnkdScaleBelow(unsigned int r, int n)
{
	return (int) (((unsigned long long) r * (unsigned long long) n) >> 32);
}

#endif							/* UNKD_SGD_H */
