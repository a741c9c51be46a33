/*
 * evaluate.c
 *	  unkd.evaluate(): full-ranking evaluation with popularity-group metrics
 *	  (spec/METHOD.md section 7).
 *
 * Every test user is ranked against the whole catalogue of the model, minus
 * the user's items in the model's training interactions table as it is now.
 * Test items outside the catalogue cannot be recommended: they stay in the
 * user's held-out set, so they count as misses, and they belong to the last
 * (least popular) group, as any item of training popularity 0 does.
 */
#include "unkd.h"
#include "keys.h"

#include <math.h>

#include "catalog/namespace.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/regproc.h"

#include "evaluate.h"
#include "scoring.h"

PG_FUNCTION_INFO_V1(unkd_evaluate);

/* Validate the arguments before reading anything */
static void
CheckEvaluateArgs(FunctionCallInfo fcinfo)
{
	static const char *const names[] = {"model", "test", "k", "n_groups",
	"user_column", "item_column"};
	int32		k;

	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names[i])));
	k = PG_GETARG_INT32(2);
	if (k <= 0 || k > UNKD_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d, got %d", UNKD_MAX_K, k)));
	UnkdCheckGroups(PG_GETARG_INT32(3));
	(void) UnkdIdColumnType(PG_GETARG_OID(1), text_to_cstring(PG_GETARG_TEXT_PP(4)));
	(void) UnkdIdColumnType(PG_GETARG_OID(1), text_to_cstring(PG_GETARG_TEXT_PP(5)));
}

/* Map the dense items of a data set to model item indices (-1: not in the model) */
static int32 *
MapItems(const UnkdInteractions *data, const UnkdIdMap *item_map)
{
	int32	   *map = palloc(sizeof(int32) * Max(data->n_items, 1));

	for (int32 i = 0; i < data->n_items; i++)
	{
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		map[i] = UnkdIdMapLookup(item_map, data->item_ids[i]);
	}
	return map;
}

/*
 * Warn when test rows are in the seen relation: they are excluded from the
 * ranking, so they can never be hits, and the metrics are silently low.
 */
static void
WarnSeenTestRows(const EvalData *ev, const char *name)
{
	const UnkdInteractions *test = ev->test;
	const UnkdInteractions *seen = ev->train;
	int64		overlap = 0;

	for (int32 u = 0; u < test->n_users; u++)
	{
		int32		su = UnkdLookupUser(seen, test->user_ids[u]);

		if ((u & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (su < 0)
			continue;
		for (int64 p = test->user_start[u]; p < test->user_start[u + 1]; p++)
		{
			int32		si = UnkdLookupItem(seen, test->item_ids[test->user_items[p]]);

			if (si >= 0 && UnkdUserHasItem(seen, su, si))
				overlap++;
		}
	}
	if (overlap > 0)
		ereport(WARNING,
				(errmsg("%lld of the %lld test interactions are in the seen relation %s of model \"%s\"",
						(long long) overlap, (long long) test->n_pairs, ev->model->seen, name),
				 errdetail("Seen items are never recommended, so these can never be hits: recall, precision and NDCG are understated."),
				 errhint("Evaluate on interactions held out from training, e.g. with unkd.split.")));
}

/* Load the model, both tables and the groups */
static void
LoadEvalData(EvalData *ev, const char *name, Oid test_relid, const char *user_column,
			 const char *item_column, int k, int n_groups)
{
	UnkdModel  *model = UnkdLoadModel(name, true);
	Oid			train_relid;
	UnkdIdMap  *item_map;
	UnkdUserSwitch sw;
	char	   *whose;

	ev->model = model;
	ev->k = k;
	UnkdBecomeModelOwner(model->owner, &sw);
	train_relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(model->seen)),
								   AccessShareLock, false);
	whose = psprintf("model \"%s\"", name);
	UnkdCheckIdKind(train_relid, model->user_column, model->user_type, whose);
	UnkdCheckIdKind(train_relid, model->item_column, model->item_type, whose);
	ev->train = UnkdReadKeyedInteractions(train_relid, model->user_column, model->item_column);
	UnkdRestoreUser(&sw);
	/* a text test table on an integer model, or the reverse, cannot match */
	UnkdCheckIdKind(test_relid, user_column, model->user_type, whose);
	UnkdCheckIdKind(test_relid, item_column, model->item_type, whose);
	ev->test = UnkdReadKeyedInteractions(test_relid, user_column, item_column);
	WarnSeenTestRows(ev, name);

	UnkdCheckMemoryBudget((double) model->n_items * (2 * sizeof(int32) + sizeof(float)) +
						  (double) (ev->train->n_items + ev->test->n_items) * sizeof(int32) +
						  UnkdScoreBlockBytes(model->n_items, model->dim),
						  "the evaluation");
	if (model->n_items == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("model \"%s\" has no items", name)));
	ev->bounds = palloc(sizeof(int64) * n_groups);
	ev->item_group = UnkdItemGroups(model->item_pop, model->n_items, n_groups, ev->bounds,
									&ev->n_strata);

	item_map = UnkdBuildIdMap(model->item_ids, model->n_items);
	ev->train_to_model = MapItems(ev->train, item_map);
	ev->test_to_model = MapItems(ev->test, item_map);
	ev->user_map = UnkdBuildIdMap(model->user_ids, model->n_users);
	ev->by_popularity = palloc(sizeof(int32) * Max(model->n_items, 1));
	UnkdPopularityOrder(model->item_pop, model->n_items, ev->by_popularity);
}

/*
 * The user's training items as ascending model indices. Both index spaces
 * ascend with the item id, so mapping keeps the order.
 */
static int64
TrainItems(const EvalData *ev, int64 user_id, int32 *out)
{
	int32		u = UnkdLookupUser(ev->train, user_id);
	int64		n = 0;

	if (u < 0)
		return 0;
	for (int64 p = ev->train->user_start[u]; p < ev->train->user_start[u + 1]; p++)
	{
		int32		item = ev->train_to_model[ev->train->user_items[p]];

		if (item >= 0)
			out[n++] = item;
	}
	return n;
}

/*
 * The vector a test user is ranked by, written to vec; false for a user
 * ranked by popularity (unknown, with nothing to fold in from)
 */
static bool
UserVector(const EvalData *ev, int64 user_id, const int32 *excluded, int64 n_excluded,
		   float *vec)
{
	const UnkdModel *model = ev->model;
	int32		u = UnkdIdMapLookup(ev->user_map, user_id);

	if (u < 0 && (n_excluded == 0 || ev->fold_in == UNKD_FOLD_IN_NEVER))
		return false;
	if (u < 0 || (ev->fold_in == UNKD_FOLD_IN_ALL && n_excluded > 0))
		/* a vector from the user's seen items, the item embeddings fixed */
		UnkdFoldInUser(model->item_emb, model->n_items, model->dim, excluded, n_excluded,
					   model->lr, model->decay, user_id, vec);
	else
		memcpy(vec, model->user_emb + (Size) u * model->dim, model->dim * sizeof(float));
	return true;
}

/*
 * Add one test user's metrics to the sums. test_items holds the held-out
 * items ascending, those outside the catalogue as distinct negative
 * placeholders, so the shared kernel counts them in |T_u| but never as hits;
 * is_test[] marks the ones in the catalogue, and test_per_group counts every
 * held-out item (unknown ones in the last group).
 */
static void
AddUserMetrics(const EvalData *ev, EvalSums *sums, const int32 *ranked, int n_ranked,
			   const int32 *test_items, int n_test, const bool *is_test,
			   const int64 *test_per_group, int64 *hits_per_group)
{
	int			k = ev->k;
	double		recall;
	double		precision;
	double		ndcg;

	UnkdUserMetrics(ranked, n_ranked, k, test_items, n_test, &recall, &precision, &ndcg);
	sums->users++;
	sums->slots += n_ranked;
	sums->recall += recall;
	sums->precision += precision;
	sums->ndcg += ndcg;

	for (int g = 0; g < ev->n_strata; g++)
		hits_per_group[g] = 0;
	for (int j = 0; j < n_ranked; j++)
	{
		int			g = ev->item_group[ranked[j]];

		sums->group_slots[g]++;
		if (is_test[ranked[j]])
			hits_per_group[g]++;
	}
	for (int g = 0; g < ev->n_strata; g++)
	{
		sums->group_precision[g] += (double) hits_per_group[g] / k;
		if (test_per_group[g] > 0)
		{
			sums->group_users[g]++;
			sums->group_recall[g] += (double) hits_per_group[g] / test_per_group[g];
		}
	}
}

/*
 * Collect one test user's held-out items for AddUserMetrics; returns how
 * many. Known items keep the ascending order of the test data (both index
 * spaces ascend with the id); the unknown ones go first as -m..-1.
 */
static int
CollectTestItems(const EvalData *ev, int32 u, int32 *test_items, bool *is_test,
				 int64 *test_per_group)
{
	const UnkdInteractions *test = ev->test;
	int64		start = test->user_start[u];
	int64		end = test->user_start[u + 1];
	int			n_unknown = 0;
	int			n = 0;

	memset(test_per_group, 0, sizeof(int64) * ev->n_strata);
	for (int64 p = start; p < end; p++)
		if (ev->test_to_model[test->user_items[p]] < 0)
			n_unknown++;
	for (int i = 0; i < n_unknown; i++)
		test_items[n++] = i - n_unknown;
	test_per_group[ev->n_strata - 1] += n_unknown;
	for (int64 p = start; p < end; p++)
	{
		int32		item = ev->test_to_model[test->user_items[p]];

		if (item < 0)
			continue;
		test_items[n++] = item;
		is_test[item] = true;
		test_per_group[ev->item_group[item]]++;
	}
	return n;
}

/* Allocate the loop's scratch */
void
UnkdEvalInitScratch(const EvalData *ev, EvalScratch *sc)
{
	int32		n_items = ev->model->n_items;

	UnkdScoreBlockInit(&sc->block, n_items, ev->model->dim);
	sc->row = palloc(sizeof(int32) * sc->block.max_users);
	sc->is_test = palloc0(sizeof(bool) * n_items);
	sc->excluded = palloc(sizeof(int32) * n_items);
	sc->test_items = palloc(sizeof(int32) * Max(ev->test->n_items, 1));
	sc->ranked = palloc(sizeof(int32) * ev->k);
	sc->ranked_scores = palloc(sizeof(float) * ev->k);
	sc->test_per_group = palloc(sizeof(int64) * ev->n_strata);
	sc->hits_per_group = palloc(sizeof(int64) * ev->n_strata);
	UnkdSelectInit(&sc->topk, Min(ev->k, n_items));
}

/*
 * Fill the score block with test users from *next on (those with held-out
 * items), noting each one's row; returns the end of the block's user range
 */
int32
UnkdEvalFillBlock(const EvalData *ev, EvalScratch *sc, int32 next)
{
	const UnkdInteractions *test = ev->test;
	int32		u = next;

	UnkdScoreBlockReset(&sc->block);
	for (; u < test->n_users; u++)
	{
		int32		r = u - next;
		int64		n_excluded;

		if (r == sc->block.max_users)
			break;
		CHECK_FOR_INTERRUPTS();
		sc->row[r] = -1;
		if (test->user_start[u + 1] == test->user_start[u])
			continue;
		n_excluded = TrainItems(ev, test->user_ids[u], sc->excluded);
		/* the block has a row for every user of its range */
		if (UserVector(ev, test->user_ids[u], sc->excluded, n_excluded,
					   sc->block.users + (Size) sc->block.n_users * ev->model->dim))
			sc->row[r] = sc->block.n_users++;
	}
	return u;
}

/* Rank test user u (row r of the block, or by popularity) and add its metrics */
void
UnkdEvalUser(const EvalData *ev, EvalScratch *sc, EvalSums *sums, int32 u, int32 row)
{
	const UnkdModel *model = ev->model;
	const UnkdInteractions *test = ev->test;
	int64		n_excluded;
	int			n_test;
	int			n_ranked;

	n_test = CollectTestItems(ev, u, sc->test_items, sc->is_test, sc->test_per_group);
	n_excluded = TrainItems(ev, test->user_ids[u], sc->excluded);
	if (row < 0)
		n_ranked = UnkdRankByPopularity(ev->by_popularity, model->item_pop, model->n_items,
										sc->excluded, n_excluded, ev->k, sc->ranked,
										sc->ranked_scores);
	else
		n_ranked = UnkdRankScores(UnkdScoreBlockRow(&sc->block, row), model->n_items,
								  sc->excluded, n_excluded, &sc->topk, sc->ranked,
								  sc->ranked_scores);
	AddUserMetrics(ev, sums, sc->ranked, n_ranked, sc->test_items, n_test, sc->is_test,
				   sc->test_per_group, sc->hits_per_group);
	for (int i = 0; i < n_test; i++)
		if (sc->test_items[i] >= 0)
			sc->is_test[sc->test_items[i]] = false;
}

/*
 * Rank every test user and accumulate the metrics, in test-user order; the
 * model-scored users of each block of consecutive test users are scored by
 * one matrix product (scoring.c)
 */
static void
EvaluateUsers(const EvalData *ev, EvalSums *sums)
{
	const UnkdInteractions *test = ev->test;
	EvalScratch sc;
	int32		next = 0;

	UnkdEvalInitScratch(ev, &sc);
	while (next < test->n_users)
	{
		int32		end = UnkdEvalFillBlock(ev, &sc, next);

		UnkdScoreBlockRun(&sc.block, ev->model->item_emb);
		for (int32 u = next; u < end; u++)
		{
			CHECK_FOR_INTERRUPTS();
			if (test->user_start[u + 1] == test->user_start[u])
				continue;
			UnkdEvalUser(ev, &sc, sums, u, sc.row[u - next]);
		}
		next = end;
	}
}

/* Emit one row per group and the overall row */
static void
EmitRows(FunctionCallInfo fcinfo, const EvalData *ev, const EvalSums *sums)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[6];
	bool		nulls[6];

	for (int g = 0; g < ev->n_strata; g++)
	{
		int64		users = sums->group_users[g];

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(g);
		values[1] = Int64GetDatum(users);
		values[2] = Float8GetDatum(users > 0 ? sums->group_recall[g] / users : 0.0);
		nulls[2] = (users == 0);
		values[3] = Float8GetDatum(sums->users > 0 ? sums->group_precision[g] / sums->users : 0.0);
		nulls[3] = (sums->users == 0);
		nulls[4] = true;
		values[4] = (Datum) 0;
		values[5] = Float8GetDatum(sums->slots > 0 ? (double) sums->group_slots[g] / sums->slots : 0.0);
		nulls[5] = (sums->slots == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	memset(nulls, 0, sizeof(nulls));
	nulls[0] = true;
	values[0] = (Datum) 0;
	values[1] = Int64GetDatum(sums->users);
	values[2] = Float8GetDatum(sums->users > 0 ? sums->recall / sums->users : 0.0);
	values[3] = Float8GetDatum(sums->users > 0 ? sums->precision / sums->users : 0.0);
	values[4] = Float8GetDatum(sums->users > 0 ? sums->ndcg / sums->users : 0.0);
	nulls[2] = nulls[3] = nulls[4] = (sums->users == 0);
	values[5] = Float8GetDatum(1.0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * unkd.evaluate(model text, test regclass, k int, n_groups int,
 *				 user_column text, item_column text)
 *	  Recall, precision, NDCG at k overall, and recall and top-k share per
 *	  popularity group of the model's training data.
 */
Datum
unkd_evaluate(PG_FUNCTION_ARGS)
{
	EvalData	ev;
	EvalSums	sums;
	int			n_groups;

	memset(&ev, 0, sizeof(ev));
	CheckEvaluateArgs(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	n_groups = PG_GETARG_INT32(3);
	/* 0.1.0's declaration has six arguments */
	ev.fold_in = UnkdFoldInArg(fcinfo, 6);

	LoadEvalData(&ev, text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_OID(1),
				 text_to_cstring(PG_GETARG_TEXT_PP(4)),
				 text_to_cstring(PG_GETARG_TEXT_PP(5)),
				 PG_GETARG_INT32(2), n_groups);

	memset(&sums, 0, sizeof(sums));
	sums.group_users = palloc0(sizeof(int64) * ev.n_strata);
	sums.group_recall = palloc0(sizeof(double) * ev.n_strata);
	sums.group_precision = palloc0(sizeof(double) * ev.n_strata);
	sums.group_slots = palloc0(sizeof(int64) * ev.n_strata);
	if (!UnkdEvaluateParallel(&ev, &sums))
		EvaluateUsers(&ev, &sums);

	EmitRows(fcinfo, &ev, &sums);
	return (Datum) 0;
}
