/*
 * mu_range.c
 *	  The measurement behind the accepted range of mu (docs/distill.md, "The
 *	  range of mu"): redraws per rank pair at small mu, and the precision of
 *	  the truncated geometric CDF at large mu. The draw is a copy of DrawRank
 *	  in src/sampling.c, built with the extension's floating-point flags:
 *
 *	  gcc -O2 -march=native -ftree-vectorize -fassociative-math -fno-signed-zeros \
 *		-fno-trapping-math -ffp-contract=fast -I$(pg_config --includedir-server) \
 *		-I$(pg_config --includedir) bench/mu_range.c -o mu_range \
 *		$(pg_config --pkglibdir)/libpgcommon.a $(pg_config --pkglibdir)/libpgport.a -lm
 *
 *	  Prints figures, asserts nothing; a setting that cannot draw a distinct
 *	  pair gives up after 20 million redraws.
 */
#include "postgres_fe.h"

#include <math.h>

#include "common/pg_prng.h"

#define PAIRS			200000
#define REDRAW_LIMIT	20000000L

/* A rank of 0..n-1 from P(r) ~ exp(-(r+1)/mu), as src/sampling.c draws it */
static inline int
DrawRank(double log_q, int n, pg_prng_state *rng)
{
	double		tail = 1.0 - exp(n * log_q);
	double		r = floor(log(1.0 - pg_prng_double(rng) * tail) / log_q);

	if (r < 0)
		return 0;
	return r >= n ? n - 1 : (int) r;
}

/* Redraws per distinct pair, and how often rank 0 comes, for one setting */
static void
MeasureRedraws(double mu, int n)
{
	double		log_q = -1.0 / mu;
	pg_prng_state rng;
	long		pairs = 0;
	long		redraws = 0;
	long		longest = 0;
	long		draws = 0;
	long		zeros = 0;

	pg_prng_seed(&rng, 1);
	while (pairs < PAIRS && redraws < REDRAW_LIMIT)
	{
		long		run = 0;
		int			a,
					b;

		for (;;)
		{
			a = DrawRank(log_q, n, &rng);
			b = DrawRank(log_q, n, &rng);
			draws += 2;
			zeros += (a == 0) + (b == 0);
			if (a != b || redraws + run >= REDRAW_LIMIT)
				break;
			run++;
		}
		redraws += run;
		longest = Max(longest, run);
		if (a != b)
			pairs++;
	}
	printf("mu %-8g n %-7d pairs %-7ld redraws/pair %-10.4g longest run %-8ld "
		   "P(rank 0) %.5f, exact %.5f\n",
		   mu, n, pairs, pairs ? (double) redraws / pairs : INFINITY, longest,
		   (double) zeros / draws, expm1(-1.0 / mu) / expm1(-n / mu));
}

int
main(void)
{
	static const double mus[] = {0.03, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 1, 20, 1e3,
	1e6, 1e9, 1e12, 1e14, 1e15, 1e16, 1e17};
	static const int lengths[] = {2, 3, 200, 1000000};

	for (int m = 0; m < lengthof(mus); m++)
		for (int k = 0; k < lengthof(lengths); k++)
			MeasureRedraws(mus[m], lengths[k]);

	/* 1 - exp(-n/mu) against the exact -expm1(-n/mu), n = 2 (the worst case) */
	for (int m = 0; m < lengthof(mus); m++)
	{
		double		tail = 1.0 - exp(-2.0 / mus[m]);
		double		exact = -expm1(-2.0 / mus[m]);

		if (mus[m] >= 1e6)
			printf("mu %-8g n 2: 1 - exp(-n/mu) = %.17g, exact %.17g, relative error %.3g\n",
				   mus[m], tail, exact, fabs(tail - exact) / exact);
	}
	return 0;
}
