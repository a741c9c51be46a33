/*
 * tight_loop.c
 *	  The floor for unkd.recommend(): score one user against an in-memory
 *	  n_items x dim float matrix and keep the best k in a bounded heap, with
 *	  no database around it. Built with the extension's compiler flags by
 *	  bench/serve.sh; prints p50/p99 latency and queries per second.
 *
 * usage: tight_loop n_items dim k queries
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall-clock microseconds */
static double
NowMicros(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* xorshift64*: a fixed pseudo-random stream so runs are comparable */
static unsigned long long rng_state = 88172645463325252ULL;

static float
RandomFloat(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (float) ((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0f - 0.5f;
}

/* Sift the worst-on-top heap down from position i */
static void
SiftDown(float *hs, int *hi, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			w = i;

		if (l < n && hs[l] < hs[w])
			w = l;
		if (l + 1 < n && hs[l + 1] < hs[w])
			w = l + 1;
		if (w == i)
			return;
		{
			float		s = hs[i];
			int			t = hi[i];

			hs[i] = hs[w];
			hi[i] = hi[w];
			hs[w] = s;
			hi[w] = t;
		}
		i = w;
	}
}

/* Score every item and keep the k best: the whole work of one query */
static float
Query(const float *items, const float *user, int n, int dim, int k,
	  float *scores, float *hs, int *hi)
{
	int			count = 0;

	for (int i = 0; i < n; i++)
	{
		const float *v = items + (size_t) i * dim;
		float		s = 0.0f;

		for (int d = 0; d < dim; d++)
			s += user[d] * v[d];
		scores[i] = s;
	}
	for (int i = 0; i < n; i++)
	{
		if (count < k)
		{
			hs[count] = scores[i];
			hi[count] = i;
			count++;
			if (count == k)
				for (int j = k / 2 - 1; j >= 0; j--)
					SiftDown(hs, hi, k, j);
		}
		else if (scores[i] > hs[0])
		{
			hs[0] = scores[i];
			hi[0] = i;
			SiftDown(hs, hi, k, 0);
		}
	}
	return hs[0];
}

static int
CompareDouble(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	int			n = argc > 1 ? atoi(argv[1]) : 100000;
	int			dim = argc > 2 ? atoi(argv[2]) : 32;
	int			k = argc > 3 ? atoi(argv[3]) : 10;
	int			queries = argc > 4 ? atoi(argv[4]) : 2000;
	float	   *items = malloc(sizeof(float) * (size_t) n * dim);
	float	   *users = malloc(sizeof(float) * (size_t) 64 * dim);
	float	   *scores = malloc(sizeof(float) * n);
	float		hs[1024];
	int			hi[1024];
	double	   *lat = malloc(sizeof(double) * queries);
	double		total = 0.0;
	volatile float sink = 0.0f;

	for (size_t i = 0; i < (size_t) n * dim; i++)
		items[i] = RandomFloat();
	for (int i = 0; i < 64 * dim; i++)
		users[i] = RandomFloat();
	for (int q = 0; q < queries; q++)
	{
		double		t0 = NowMicros();

		sink += Query(items, users + (q % 64) * dim, n, dim, k, scores, hs, hi);
		lat[q] = NowMicros() - t0;
		total += lat[q];
	}
	qsort(lat, queries, sizeof(double), CompareDouble);
	printf("tight C loop   n_items=%d dim=%d k=%d: p50 %.0f us, p99 %.0f us, min %.0f us, %.0f queries/s (1 core)\n",
		   n, dim, k, lat[queries / 2], lat[queries * 99 / 100], lat[0], queries / (total / 1e6));
	return sink == 12345.0f;
}
