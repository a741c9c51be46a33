/*
 * topk.c
 *	  Scoring and ranking kernels shared by recommend, evaluate and the
 *	  validation step of training.
 *
 * Ranking order everywhere: score descending, then dense item index
 * ascending (= item id ascending), so equal scores never make a result
 * depend on anything but the data.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "unkd.h"
#include "sgd.h"

/*
 * Inner products of one user vector with every item vector (row-major)
 */
void
UnkdScoreItems(const float *user_vec, const float *item_emb, int32 n_items,
			   int32 dim, float *scores)
{
	for (int32 i = 0; i < n_items; i++)
	{
		const float *v = item_emb + (Size) i * dim;
		float		s = 0.0f;

		/* millions of items at dim 1024 take seconds for one user */
		if ((i & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();

		/* relaxed FP flags let gcc vectorise this reduction */
		for (int32 d = 0; d < dim; d++)
			s += user_vec[d] * v[d];
		scores[i] = s;
	}
}

/*
 * Inner products of one vector with the listed item vectors only:
 * scores[j] = <vec, item subset[j]>
 */
void
UnkdScoreSubset(const float *vec, const float *item_emb, int32 dim,
				const int32 *subset, int64 n, float *scores)
{
	for (int64 j = 0; j < n; j++)
	{
		const float *v = item_emb + (Size) subset[j] * dim;
		float		s = 0.0f;

		if ((j & 0xFFFF) == 0xFFFF)
			CHECK_FOR_INTERRUPTS();
		for (int32 d = 0; d < dim; d++)
			s += vec[d] * v[d];
		scores[j] = s;
	}
}

/* Whether (score a, item ia) ranks below (score b, item ib) */
static inline bool
RanksBelow(float a, int32 ia, float b, int32 ib)
{
	return a < b || (a == b && ia > ib);
}

/*
 * Prepare an empty top-k selection in the current memory context
 */
void
UnkdTopKInit(UnkdTopK *topk, int k)
{
	topk->k = k;
	topk->count = 0;
	topk->scores = palloc(sizeof(float) * Max(k, 1));
	topk->items = palloc(sizeof(int32) * Max(k, 1));
}

/*
 * Empty a top-k selection for reuse
 */
void
UnkdTopKReset(UnkdTopK *topk)
{
	topk->count = 0;
}

/* Restore the heap property downwards from position i (worst on top) */
static void
TopKSiftDown(UnkdTopK *topk, int i)
{
	int			n = topk->count;

	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			worst = i;

		if (l < n && RanksBelow(topk->scores[l], topk->items[l],
								topk->scores[worst], topk->items[worst]))
			worst = l;
		if (r < n && RanksBelow(topk->scores[r], topk->items[r],
								topk->scores[worst], topk->items[worst]))
			worst = r;
		if (worst == i)
			return;
		{
			float		s = topk->scores[i];
			int32		it = topk->items[i];

			topk->scores[i] = topk->scores[worst];
			topk->items[i] = topk->items[worst];
			topk->scores[worst] = s;
			topk->items[worst] = it;
		}
		i = worst;
	}
}

/*
 * Offer one item to the selection
 */
void
UnkdTopKAdd(UnkdTopK *topk, int32 item, float score)
{
	if (topk->count < topk->k)
	{
		int			i = topk->count++;

		/* sift up: the new entry rises while it ranks below its parent */
		while (i > 0)
		{
			int			parent = (i - 1) / 2;

			if (!RanksBelow(score, item, topk->scores[parent], topk->items[parent]))
				break;
			topk->scores[i] = topk->scores[parent];
			topk->items[i] = topk->items[parent];
			i = parent;
		}
		topk->scores[i] = score;
		topk->items[i] = item;
		return;
	}
	if (topk->k == 0 || RanksBelow(score, item, topk->scores[0], topk->items[0]))
		return;
	topk->scores[0] = score;
	topk->items[0] = item;
	TopKSiftDown(topk, 0);
}

/*
 * Drain the selection into arrays, best first; returns the count
 */
int
UnkdTopKSorted(UnkdTopK *topk, int32 *items, float *scores)
{
	int			n = topk->count;

	/* popping the worst repeatedly fills the output from the back */
	for (int pos = n - 1; pos >= 0; pos--)
	{
		items[pos] = topk->items[0];
		if (scores)
			scores[pos] = topk->scores[0];
		topk->count--;
		topk->scores[0] = topk->scores[topk->count];
		topk->items[0] = topk->items[topk->count];
		TopKSiftDown(topk, 0);
	}
	topk->count = 0;
	return n;
}

/*
 * Top-k of a score vector, skipping the excluded (sorted ascending) items
 */
int
UnkdRankUser(const float *scores, int32 n_items, const int32 *excluded,
			 int64 n_excluded, UnkdTopK *topk, int32 *items, float *out_scores)
{
	int64		e = 0;

	UnkdTopKReset(topk);
	for (int32 i = 0; i < n_items; i++)
	{
		if (e < n_excluded && excluded[e] == i)
		{
			e++;
			continue;
		}
		/* cheap rejection keeps the common case branch-light */
		if (topk->count == topk->k &&
			RanksBelow(scores[i], i, topk->scores[0], topk->items[0]))
			continue;
		UnkdTopKAdd(topk, i, scores[i]);
	}
	return UnkdTopKSorted(topk, items, out_scores);
}

/*
 * Offer positions [from, to) of a score row, item items[j] (or j when items
 * is NULL) at position j. Items must reach a selection in ascending order
 * from its reset on: then an item that ties the worst entry of a full heap
 * loses to it, so a full heap needs only "score > worst", a running
 * threshold tested 16 scores at a time in vectorisable code. Same result as
 * UnkdTopKAdd for every item, NaN scores aside (they never pass the test).
 */
static void
TopKOfferRange(UnkdTopK *topk, const float *scores, const int32 *items,
			   int64 from, int64 to)
{
	int64		j = from;
	float		worst;

	/* until the heap is full every item enters */
	for (; j < to && topk->count < topk->k; j++)
		UnkdTopKAdd(topk, items ? items[j] : (int32) j, scores[j]);
	if (topk->k == 0 || j == to)
		return;
	worst = topk->scores[0];
	while (j < to)
	{
		int64		end = Min(j + 16, to);
		bool		any = false;

		for (int64 c = j; c < end; c++)
			any |= (scores[c] > worst);
		if (any)
		{
			for (int64 c = j; c < end; c++)
			{
				if (!(scores[c] > worst))
					continue;
				UnkdTopKAdd(topk, items ? items[c] : (int32) c, scores[c]);
				worst = topk->scores[0];
			}
		}
		j = end;
	}
}

/*
 * Offer positions [0, n) of a score row but the skipped ones (ascending,
 * distinct, each in [0, n)), in ascending item order (see TopKOfferRange)
 */
void
UnkdTopKOfferSkipping(UnkdTopK *topk, const float *scores, const int32 *items,
					  int64 n, const int32 *skip, int64 n_skip)
{
	int64		from = 0;

	for (int64 e = 0; e < n_skip; e++)
	{
		TopKOfferRange(topk, scores, items, from, skip[e]);
		from = (int64) skip[e] + 1;
	}
	TopKOfferRange(topk, scores, items, from, n);
}

/*
 * Top-k of a score row, skipping the excluded (sorted ascending) items:
 * UnkdRankUser's result by a running threshold, for rows scored in blocks
 */
int
UnkdRankScores(const float *scores, int32 n_items, const int32 *excluded,
			   int64 n_excluded, UnkdTopK *topk, int32 *items, float *out_scores)
{
	UnkdTopKReset(topk);
	UnkdTopKOfferSkipping(topk, scores, NULL, n_items, excluded, n_excluded);
	return UnkdTopKSorted(topk, items, out_scores);
}

/*
 * Top-k of the listed items, scores[j] being the score of item subset[j]
 */
int
UnkdRankSubset(const float *scores, const int32 *subset, int64 n,
			   UnkdTopK *topk, int32 *items, float *out_scores)
{
	UnkdTopKReset(topk);
	for (int64 j = 0; j < n; j++)
	{
		if (topk->count == topk->k &&
			RanksBelow(scores[j], subset[j], topk->scores[0], topk->items[0]))
			continue;
		UnkdTopKAdd(topk, subset[j], scores[j]);
	}
	return UnkdTopKSorted(topk, items, out_scores);
}

/*
 * Recall, precision and NDCG at k of one ranked list (METHOD.md section 7)
 *
 * test_items must be sorted ascending and non-empty.
 */
void
UnkdUserMetrics(const int32 *ranked, int n_ranked, int k,
				const int32 *test_items, int n_test,
				double *recall, double *precision, double *ndcg)
{
	int			hits = 0;
	double		dcg = 0.0;
	double		idcg = 0.0;
	int			n = Min(n_ranked, k);

	for (int j = 0; j < n; j++)
	{
		if (UnkdSortedContains(test_items, n_test, ranked[j]))
		{
			hits++;
			dcg += 1.0 / log2(j + 2.0);
		}
	}
	for (int j = 0; j < Min(k, n_test); j++)
		idcg += 1.0 / log2(j + 2.0);
	*recall = (double) hits / n_test;
	*precision = (double) hits / k;
	*ndcg = idcg > 0 ? dcg / idcg : 0.0;
}
