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

/* Whether entry a ranks above entry b (score desc, item asc) */
static inline bool
Better(const UnkdScored *a, const UnkdScored *b)
{
	return a->score > b->score || (a->score == b->score && a->item < b->item);
}

/* Order of entries best first, for the final sort */
static inline int
CompareScored(const UnkdScored *a, const UnkdScored *b)
{
	return Better(a, b) ? -1 : (Better(b, a) ? 1 : 0);
}

#define ST_SORT SortScored
#define ST_ELEMENT_TYPE UnkdScored
#define ST_COMPARE(a, b) CompareScored(a, b)
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* Exchange two entries */
static inline void
SwapScored(UnkdScored *a, UnkdScored *b)
{
	UnkdScored	t = *a;

	*a = *b;
	*b = t;
}

/*
 * Move the k best of e[0..n) to e[0..k), in no particular order
 * (quickselect, median-of-three pivot; entries are distinct items, so the
 * order is strict)
 */
static void
SelectBest(UnkdScored *e, int n, int k)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			i = lo;
		int			j = hi;
		UnkdScored	pivot;

		if (Better(&e[mid], &e[lo]))
			SwapScored(&e[mid], &e[lo]);
		if (Better(&e[hi], &e[lo]))
			SwapScored(&e[hi], &e[lo]);
		if (Better(&e[hi], &e[mid]))
			SwapScored(&e[hi], &e[mid]);
		pivot = e[mid];
		while (i <= j)
		{
			while (Better(&e[i], &pivot))
				i++;
			while (Better(&pivot, &e[j]))
				j--;
			if (i <= j)
				SwapScored(&e[i++], &e[j--]);
		}
		/* e[lo..j] rank at least as high as the pivot, e[i..hi] at most */
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			return;
	}
}

/*
 * Prepare an empty selection of the best k in the current memory context;
 * it buffers up to UnkdSelectCapacity(k) entries
 */
void
UnkdSelectInit(UnkdSelect *sel, int k)
{
	sel->k = k;
	sel->capacity = UnkdSelectCapacity(k);
	sel->entries = palloc(sizeof(UnkdScored) * sel->capacity);
	sel->sample = NULL;
	sel->sample_capacity = 0;
	UnkdSelectReset(sel);
}

/* Empty a selection for reuse */
void
UnkdSelectReset(UnkdSelect *sel)
{
	sel->count = 0;
	sel->worst = -INFINITY;
}

/* Keep the k best of the buffer and raise the threshold to the worst of them */
static void
SelectCompact(UnkdSelect *sel)
{
	float		worst;

	SelectBest(sel->entries, sel->count, sel->k);
	sel->count = sel->k;
	worst = sel->entries[0].score;
	for (int j = 1; j < sel->k; j++)
		worst = Min(worst, sel->entries[j].score);
	sel->worst = worst;
}

/*
 * Buffer one entry that passed the threshold. The buffer always holds every
 * offered item that can still be among the best k: one scoring below the
 * k-th best of the kept ones cannot; one tying it may (a lower item wins
 * the tie), so ties are kept and the final cut decides. Hence items may
 * come in any order.
 */
static inline void
SelectAdd(UnkdSelect *sel, int32 item, float score)
{
	if (sel->count == sel->capacity)
		SelectCompact(sel);
	sel->entries[sel->count].score = score;
	sel->entries[sel->count].item = item;
	sel->count++;
}

/* Offer one item (NaN scores never enter) */
void
UnkdSelectAdd(UnkdSelect *sel, int32 item, float score)
{
	if (sel->k == 0 || !(score >= sel->worst))
		return;
	SelectAdd(sel, item, score);
}

/* Greatest common divisor, for a stride that visits every block once */
static int64
Gcd(int64 a, int64 b)
{
	while (b != 0)
	{
		int64		t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * How many of 16 scores reach the threshold: a count over a fixed trip
 * count, which gcc turns into one or two vector compares (kept out of line
 * of the caller's loop, where it would not)
 */
static pg_noinline int
CountAtLeast16(const float *scores, float worst)
{
	int			passing = 0;

	for (int c = 0; c < 16; c++)
		passing += (scores[c] >= worst);
	return passing;
}

/*
 * Offer positions [from, to) of a score row, item items[j] (or j when items
 * is NULL) at position j. Blocks of 16 scores are visited in a spread
 * order (block r * stride mod n_blocks, the stride near n_blocks times the
 * golden ratio and coprime to it), so the threshold soon reflects the whole
 * range even when scores follow the item order (popular items, low ids);
 * a block is tested against the threshold in vectorisable code, and only a
 * block with a candidate is looked at item by item.
 */
static void
SelectOfferRange(UnkdSelect *sel, const float *scores, const int32 *items,
				 int64 from, int64 to)
{
	int64		n_blocks = (to - from + 15) / 16;
	int64		stride;
	int64		b = 0;

	if (sel->k == 0 || to <= from)
		return;
	stride = Max(1, (int64) (n_blocks * 0.6180339887));
	while (Gcd(stride, n_blocks) != 1)
		stride++;
	for (int64 r = 0; r < n_blocks; r++)
	{
		int64		j = from + b * 16;
		int64		end = Min(j + 16, to);
		float		worst = sel->worst;
		int			passing = 0;

		if (end - j == 16)
			passing = CountAtLeast16(scores + j, worst);
		else
			for (int64 c = j; c < end; c++)
				passing += (scores[c] >= worst);
		if (passing > 0)
			for (int64 c = j; c < end; c++)
				if (scores[c] >= sel->worst)
					SelectAdd(sel, items ? items[c] : (int32) c, scores[c]);
		b += stride;
		if (b >= n_blocks)
			b -= n_blocks;
	}
}

/* Offer positions [0, n) but the skipped ones, at the current threshold */
static void
SelectOfferAll(UnkdSelect *sel, const float *scores, const int32 *items,
			   int64 n, const int32 *skip, int64 n_skip)
{
	int64		from = 0;

	for (int64 e = 0; e < n_skip; e++)
	{
		SelectOfferRange(sel, scores, items, from, skip[e]);
		from = (int64) skip[e] + 1;
	}
	SelectOfferRange(sel, scores, items, from, n);
}

/* The q-th largest (1-based) of x[0..n), no NaN among them, reordering x */
static float
LargestAt(float *x, int n, int q)
{
	int			lo = 0;
	int			hi = n - 1;
	int			want = q - 1;

	while (lo < hi)
	{
		float		pivot = x[lo + (hi - lo) / 2];
		int			i = lo;
		int			j = hi;

		while (i <= j)
		{
			while (x[i] > pivot)
				i++;
			while (x[j] < pivot)
				j--;
			if (i <= j)
			{
				float		t = x[i];

				x[i++] = x[j];
				x[j--] = t;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			break;
	}
	return x[want];
}

/*
 * An estimate of a threshold about 2k items of the row reach, from an even
 * sample of 8 n / k scores (about its 16th largest); -inf when k is too
 * small for a sample to pay (the running threshold then rises fast enough)
 * or a sampled score is NaN
 */
static float
SampleThreshold(UnkdSelect *sel, const float *scores, int64 n)
{
	int64		size = 8 * n / Max(sel->k, 1);
	int64		step;
	int			q;

	if (sel->k < 64 || size > n / 4 || size < 64 || size > PG_INT32_MAX / 2)
		return -INFINITY;
	if (size > sel->sample_capacity)
	{
		if (sel->sample)
			pfree(sel->sample);
		sel->sample = palloc(sizeof(float) * size);
		sel->sample_capacity = (int) size;
	}
	/* every step-th score: size * step <= n, and no division per element */
	step = n / size;
	for (int64 r = 0; r < size; r++)
	{
		sel->sample[r] = scores[r * step];
		if (isnan(sel->sample[r]))
			return -INFINITY;
	}
	q = (int) Max(1, 2 * (int64) sel->k * size / n);
	return LargestAt(sel->sample, (int) size, q);
}

/*
 * Offer positions [0, n) of a score row but the skipped ones (ascending,
 * distinct, each in [0, n)); see SelectOfferRange. A large selection
 * starts from a sampled threshold (SampleThreshold), which is exact as long
 * as k offered items reach it: otherwise the row is offered again from an
 * empty selection, all of it (rarely: the sample aims at 2k).
 */
void
UnkdSelectOfferSkipping(UnkdSelect *sel, const float *scores, const int32 *items,
						int64 n, const int32 *skip, int64 n_skip)
{
	if (sel->count == 0 && sel->worst == -INFINITY)
	{
		float		start = SampleThreshold(sel, scores, n);

		if (start > -INFINITY)
		{
			sel->worst = start;
			SelectOfferAll(sel, scores, items, n, skip, n_skip);
			if (sel->count >= sel->k)
				return;
			UnkdSelectReset(sel);
		}
	}
	SelectOfferAll(sel, scores, items, n, skip, n_skip);
}

/*
 * Drain the selection into arrays, best first (score desc, item asc), and
 * reset it; returns the count
 */
int
UnkdSelectSorted(UnkdSelect *sel, int32 *items, float *scores)
{
	int			n;

	if (sel->count > sel->k)
		SelectCompact(sel);
	n = sel->count;
	SortScored(sel->entries, n);
	for (int j = 0; j < n; j++)
	{
		items[j] = sel->entries[j].item;
		if (scores)
			scores[j] = sel->entries[j].score;
	}
	UnkdSelectReset(sel);
	return n;
}

/*
 * Top-k of a score row, skipping the excluded (sorted ascending) items:
 * UnkdRankUser's result for scores that are not NaN, by a buffered
 * threshold selection, for rows scored in blocks
 */
int
UnkdRankScores(const float *scores, int32 n_items, const int32 *excluded,
			   int64 n_excluded, UnkdSelect *sel, int32 *items, float *out_scores)
{
	UnkdSelectReset(sel);
	UnkdSelectOfferSkipping(sel, scores, NULL, n_items, excluded, n_excluded);
	return UnkdSelectSorted(sel, items, out_scores);
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
