/*
 * similar.c
 *	  unkd.similar_items(): the exact top k items most similar to an item,
 *	  by cosine similarity of the item embeddings.
 *
 * Served from the same per-backend cache entry as unkd.recommend (serve.h):
 * one catalog lookup (version, owner, grants), then one pass over the
 * cached item matrix scaled by the per-item inverse norms computed at load.
 * The seen relation is never read. The query item itself and items whose
 * vector is zero (no direction, so no cosine) are never returned; an item
 * the model does not know, or whose own vector is zero, has no similar
 * items: the result is empty.
 */
#include "unkd.h"

#include "miscadmin.h"

#include "serve.h"

PG_FUNCTION_INFO_V1(unkd_similar_items);

#define SCALE_BLOCK 65536		/* items between interrupt checks */

/*
 * Divide inner products with the query by the items' norms: scores[j]
 * belongs to item subset[j], or to item j when subset is NULL. The query's
 * own norm, the same for every item, is applied to the k results only
 * (QueryScale), so that both paths rank on one identically rounded product.
 */
static void
NormScale(float *scores, const float *inv_norm, const int32 *subset, int64 n)
{
	for (int64 start = 0; start < n; start += SCALE_BLOCK)
	{
		int64		end = Min(n, start + SCALE_BLOCK);

		CHECK_FOR_INTERRUPTS();
		if (subset == NULL)
			for (int64 i = start; i < end; i++)
				scores[i] = scores[i] * inv_norm[i];
		else
			for (int64 j = start; j < end; j++)
				scores[j] = scores[j] * inv_norm[subset[j]];
	}
}

/* Turn the ranked scores into cosines; returns count */
static int
QueryScale(float *scores, int count, float query_inv_norm)
{
	for (int i = 0; i < count; i++)
		scores[i] = scores[i] * query_inv_norm;
	return count;
}

/* Cosine top k over the whole catalogue, without the skipped items */
static int
SimilarInCatalogue(ServeModel *m, int32 query, const int32 *skipped, int64 n_skipped,
				   int k, int32 *items, float *scores)
{
	UnkdTopK	topk;

	UnkdScoreItems(m->item_emb + (Size) query * m->dim, m->item_emb, m->n_items, m->dim,
				   m->scores);
	NormScale(m->scores, m->inv_norm, NULL, m->n_items);
	UnkdTopKInit(&topk, k);
	return QueryScale(scores, UnkdRankUser(m->scores, m->n_items, skipped, n_skipped,
										   &topk, items, scores),
					  m->inv_norm[query]);
}

/* Cosine top k among the allowed items (a sorted set, reused) only */
static int
SimilarInSet(ServeModel *m, int32 query, int32 *allowed, int64 n_allowed,
			 const int32 *skipped, int64 n_skipped, int k, int32 *items, float *scores)
{
	UnkdTopK	topk;
	float	   *allowed_scores;

	n_allowed = UnkdSortedSubtract(allowed, n_allowed, skipped, n_skipped);
	if (n_allowed == 0)
		return 0;
	allowed_scores = palloc(sizeof(float) * n_allowed);
	UnkdScoreSubset(m->item_emb + (Size) query * m->dim, m->item_emb, m->dim,
					allowed, n_allowed, allowed_scores);
	NormScale(allowed_scores, m->inv_norm, allowed, n_allowed);
	UnkdTopKInit(&topk, (int) Min(n_allowed, (int64) k));
	return QueryScale(scores, UnkdRankSubset(allowed_scores, allowed, n_allowed, &topk,
											 items, scores),
					  m->inv_norm[query]);
}

/*
 * The ranking of one call on a pinned entry into result (allocated in
 * outer); empty for an unknown item or one with a zero vector
 */
void
UnkdSimilarFromEntry(ServeModel *m, int64 item_id, int k, ArrayType *items_arg,
					 MemoryContext outer, ServeResult *result)
{
	int32		query = UnkdIdMapLookup(m->item_map, item_id);
	int32	   *skipped;
	int64		n_skipped;
	int32	   *items;

	result->count = 0;
	if (query < 0 || m->inv_norm[query] == 0.0f)
		return;
	skipped = UnkdSortedUnion(m->zero_norm, m->n_zero_norm, &query, 1, &n_skipped);

	items = UnkdServeResultInit(m, &k, outer, result);
	if (items_arg == NULL)
		result->count = SimilarInCatalogue(m, query, skipped, n_skipped, k, items,
										   result->scores);
	else
	{
		int64		n_allowed;
		int32	   *allowed = UnkdServeItemSet(items_arg, "items", m, &n_allowed);

		result->count = SimilarInSet(m, query, allowed, n_allowed, skipped, n_skipped,
									 k, items, result->scores);
	}
	UnkdServeResultIds(m, items, result);
}

/*
 * unkd.similar_items(item_id bigint, k int, model text, items bigint[])
 *	  The k items most similar to an item, best first, by cosine similarity.
 */
Datum
unkd_similar_items(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	int64		item_id;
	int32		k;
	char	   *model;
	ArrayType  *items_arg;
	ServeCall	call;
	ServeModel *m;
	ServeResult result;

	UnkdCheckServeArgs(fcinfo, "item_id", &item_id, &k, &model);
	items_arg = UnkdOptionalItemArray(fcinfo, 3, "items");
	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	m = UnkdServeOpen(model, false, 0, outer, &call);
	PG_TRY();
	{
		if (unlikely(m->keyed))
			UnkdCheckIntegerModel(m, "similar_items");
		UnkdSimilarFromEntry(m, item_id, k, items_arg, outer, &result);
	}
	PG_FINALLY();
	{
		UnkdServeClose(m);
	}
	PG_END_TRY();
	SPI_finish();

	UnkdServeEmit(fcinfo, &result);
	return (Datum) 0;
}
