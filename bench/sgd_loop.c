/*
 * sgd_loop.c
 *	  The throughput ceiling of the BPR training loop: the same SGD step
 *	  (src/sgd.h), the same shuffled visiting order and the same rejection
 *	  sampling of unseen negatives as src/trainer.c, on random data of a given
 *	  shape, with nothing else around it. Built with the extension's flags
 *	  by `make bench-train`.
 *
 * usage: sgd_loop n_users n_items per_user dim epochs
 * prints: pair updates per second
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sgd.h"

/* xoroshiro128**, the generator behind PostgreSQL's pg_prng */
typedef struct Rng
{
	uint64_t	s0,
				s1;
} Rng;

/* Rotate left */
static inline uint64_t
Rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Next 64 random bits */
static inline uint64_t
Next(Rng *rng)
{
	uint64_t	s0 = rng->s0;
	uint64_t	s1 = rng->s1 ^ s0;
	uint64_t	result = Rotl(s0 * 5, 7) * 9;

	rng->s0 = Rotl(s0, 24) ^ s1 ^ (s1 << 16);
	rng->s1 = Rotl(s1, 37);
	return result;
}

/* Uniform in [0, 1) */
static inline double
NextDouble(Rng *rng)
{
	return (Next(rng) >> 11) * 0x1.0p-53;
}

/* Sort ints ascending */
static int
CompareInt(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/* Seconds on a monotonic clock */
static double
Now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
	int			n_users,
				n_items,
				per_user,
				dim,
				epochs;
	long		n_pairs;
	long	   *start;
	int		   *items,
			   *pair_user,
			   *order;
	float	   *user_emb,
			   *item_emb;
	Rng			rng = {0x9E3779B97F4A7C15ULL, 0xD1B54A32D192ED03ULL};
	double		t0,
				seconds,
				loss = 0;
	long		updates = 0;

	if (argc != 6)
	{
		fprintf(stderr, "usage: %s n_users n_items per_user dim epochs\n", argv[0]);
		return 2;
	}
	n_users = atoi(argv[1]);
	n_items = atoi(argv[2]);
	per_user = atoi(argv[3]);
	dim = atoi(argv[4]);
	epochs = atoi(argv[5]);
	if (n_users < 1 || n_items < 2 || per_user < 1 || per_user >= n_items || dim < 1 || epochs < 1)
	{
		fprintf(stderr, "bad arguments\n");
		return 2;
	}

	/* a random CSR: per_user distinct items per user, ascending */
	n_pairs = (long) n_users * per_user;
	start = malloc((n_users + 1) * sizeof(long));
	items = malloc(n_pairs * sizeof(int));
	pair_user = malloc(n_pairs * sizeof(int));
	order = malloc(n_pairs * sizeof(int));
	for (int u = 0; u < n_users; u++)
	{
		int		   *row = items + (long) u * per_user;
		int			n = 0;

		start[u] = (long) u * per_user;
		while (n < per_user)
		{
			int			i = UnkdScaleBelow((unsigned int) (Next(&rng) >> 32), n_items);
			int			dup = 0;

			for (int k = 0; k < n; k++)
				dup |= row[k] == i;
			if (!dup)
				row[n++] = i;
		}
		qsort(row, per_user, sizeof(int), CompareInt);
		for (int k = 0; k < per_user; k++)
			pair_user[start[u] + k] = u;
	}
	start[n_users] = n_pairs;
	for (long e = 0; e < n_pairs; e++)
		order[e] = (int) e;
	user_emb = malloc((long) n_users * dim * sizeof(float));
	item_emb = malloc((long) n_items * dim * sizeof(float));
	for (long k = 0; k < (long) n_users * dim; k++)
		user_emb[k] = (float) (NextDouble(&rng) - 0.5) * 0.2f;
	for (long k = 0; k < (long) n_items * dim; k++)
		item_emb[k] = (float) (NextDouble(&rng) - 0.5) * 0.2f;

	t0 = Now();
	for (int epoch = 0; epoch < epochs; epoch++)
	{
		for (long k = n_pairs - 1; k > 0; k--)
		{
			int			j = UnkdScaleBelow((unsigned int) (Next(&rng) >> 32), (int) (k + 1));
			int			tmp = order[k];

			order[k] = order[j];
			order[j] = tmp;
		}
		for (long s = 0; s < n_pairs; s++)
		{
			int			e = order[s];
			int			u = pair_user[e];
			long		first = start[u];
			long		n_u = start[u + 1] - first;
			int			j;

			do
				j = UnkdScaleBelow((unsigned int) (Next(&rng) >> 32), n_items);
			while (UnkdSortedContains(items + first, n_u, j));
			loss += UnkdBprStep(user_emb + (long) u * dim, item_emb + (long) items[e] * dim,
								item_emb + (long) j * dim, dim, 0.05f, 0.01f, 1.0f);
			updates++;
		}
	}
	seconds = Now() - t0;
	printf("%.0f\n", updates / seconds);
	/* the loss keeps the compiler from discarding the loop */
	fprintf(stderr, "mean loss %.4f over %ld updates in %.2f s\n", loss / updates, updates, seconds);
	return 0;
}
