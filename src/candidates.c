/*
 * candidates.c
 *	  Teacher candidate lists per (user, popularity group), spec/METHOD.md
 *	  section 4: each user's unseen items of each group, best teacher score
 *	  first, from a teacher model or a table of teacher scores.
 *
 * Candidates are built once per run (the teacher is frozen); the pair
 * sampler (sampling.c) draws from them every epoch with no allocation.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"

#include "unkd.h"
#include "keys.h"
#include "candidates.h"
#include "sampling.h"
#include "scoring.h"
#include "sgd.h"

/* stamp of an item every user has a score for (a teacher model's items) */
#define SCORED_FOR_ALL (-1)

/* A teacher score of one (user, item), collected from a score table */
typedef struct ScoreRow
{
	int32		user;
	int32		item;
	double		score;
} ScoreRow;

/* Collector state of the score-table scan */
typedef struct ScoreScan
{
	const UnkdInteractions *data;
	ScoreRow   *rows;
	int64		n_rows;
	int64		capacity;
	int64		n_skipped;		/* rows whose user or item is not in training */
	int64		n_null;
	const char *relname;
	Oid			user_type;		/* id column types (keys.h) */
	Oid			item_type;
} ScoreScan;

/* Per-user working memory shared by both teacher sources (candidates.h) */
struct CandidateBuilder
{
	const UnkdInteractions *data;
	const int  *item_group;
	int32	  **group_items;	/* [n_groups] items of each group, ascending */
	int32	   *group_size;
	UnkdSelect *topk;			/* [n_groups] */
	int32	   *sorted_items;	/* [max_len] */
	float	   *sorted_scores;	/* [max_len] */
	int32	   *stamp;			/* [n_items] user + 1 where scored, or
								 * SCORED_FOR_ALL */
	/* teacher-model scoring only */
	int32	   *skip;			/* [n_items] seen positions by group */
	int32	   *skip_start;		/* [n_groups + 1] */
	UnkdScoreBlock block;
};
typedef struct CandidateBuilder CandidateBuilder;

/* Bytes of the candidate lists, for the memory budget */
double
UnkdCandidatesBytes(int32 n_users, int n_groups, int32 max_len)
{
	return (double) n_users * n_groups * ((double) max_len + 1) * sizeof(int32);
}

/* An error for a NaN or infinite teacher score: never distil garbage */
static void
ReportBadScore(const char *where, double score)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("teacher score is not finite: %g", score),
			 errdetail("Found in %s.", where),
			 errhint("Remove NaN and infinite scores, or retrain the teacher with a lower lr.")));
}

/* Set up the per-group item lists and top-k selections */
static void
InitBuilder(CandidateBuilder *b, const UnkdInteractions *data,
			const int *item_group, int n_groups, int32 max_len)
{
	b->data = data;
	b->item_group = item_group;
	b->group_items = palloc(n_groups * sizeof(int32 *));
	b->group_size = palloc0(n_groups * sizeof(int32));
	for (int32 i = 0; i < data->n_items; i++)
		b->group_size[item_group[i]]++;
	for (int g = 0; g < n_groups; g++)
	{
		b->group_items[g] = palloc((b->group_size[g] + 1) * sizeof(int32));
		b->group_size[g] = 0;
	}
	for (int32 i = 0; i < data->n_items; i++)
	{
		int			g = item_group[i];

		b->group_items[g][b->group_size[g]++] = i;
	}
	b->topk = palloc(n_groups * sizeof(UnkdSelect));
	for (int g = 0; g < n_groups; g++)
		UnkdSelectInit(&b->topk[g], max_len);
	b->sorted_items = palloc(max_len * sizeof(int32));
	b->sorted_scores = palloc(max_len * sizeof(float));
	b->stamp = UnkdAllocHuge(data->n_items, sizeof(int32));
	memset(b->stamp, 0, data->n_items * sizeof(int32));
}

/*
 * Finish user u's lists: the scored candidates of each group (already in the
 * selections), then the group's unscored unseen items in id order, since a
 * missing score ranks after every present one.
 */
static void
FinishUser(CandidateBuilder *b, UnkdCandidates *cand, int32 u)
{
	const UnkdInteractions *data = b->data;
	const int32 *seen = data->user_items + data->user_start[u];
	int64		n_seen = data->user_start[u + 1] - data->user_start[u];

	for (int g = 0; g < cand->n_groups; g++)
	{
		int32	   *list = cand->items + ((int64) u * cand->n_groups + g) * cand->max_len;
		int32		n = UnkdSelectSorted(&b->topk[g], b->sorted_items, b->sorted_scores);

		memcpy(list, b->sorted_items, n * sizeof(int32));
		for (int32 k = 0; k < b->group_size[g] && n < cand->max_len; k++)
		{
			int32		i = b->group_items[g][k];

			if (b->stamp[i] == u + 1 || b->stamp[i] == SCORED_FOR_ALL ||
				UnkdSortedContains(seen, n_seen, i))
				continue;
			list[n++] = i;
		}
		cand->len[(int64) u * cand->n_groups + g] = n;
	}
}

/*
 * Offer user u's scored items (ascending item order) to the group selections;
 * stamp marks them as scored unless the caller did so for all users.
 */
static void
OfferScored(CandidateBuilder *b, int32 u, const int32 *items,
			const float *scores, int32 n, bool stamp)
{
	const UnkdInteractions *data = b->data;
	const int32 *seen = data->user_items + data->user_start[u];
	const int32 *seen_end = data->user_items + data->user_start[u + 1];

	for (int32 k = 0; k < n; k++)
	{
		int32		i = items[k];

		/* both lists ascend, so one merge walk skips the training positives */
		while (seen < seen_end && *seen < i)
			seen++;
		if (stamp)
			b->stamp[i] = u + 1;
		if (seen < seen_end && *seen == i)
			continue;

		UnkdSelectAdd(&b->topk[b->item_group[i]], i, scores[k]);
	}
}

/* Index of id in the ascending ids[0..n), or -1 */
static int32
FindId(const int64 *ids, int32 n, int64 id)
{
	int32		lo = 0;
	int32		hi = n;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < n && ids[lo] == id) ? lo : -1;
}

/*
 * Bytes of the realigned teacher besides the group offsets, for the memory
 * budget: its item rows, item and position maps, and the known users
 */
static double
TeacherScoringBytes(int32 n_items, int32 n_users, int32 dim)
{
	return (double) n_items * ((double) dim + 2) * sizeof(float) +
		(double) n_users * 2 * sizeof(int32);
}

/* Realign the teacher's item rows on the training items, grouped */
static void
LoadTeacherItems(CandidateBuilder *b, int n_groups, const UnkdModel *teacher,
				 UnkdTeacherScoring *ts)
{
	const UnkdInteractions *data = b->data;
	int32		dim = teacher->dim;

	ts->dim = dim;
	ts->n_items = 0;
	ts->item_emb = UnkdAllocHuge((Size) data->n_items * dim, sizeof(float));
	ts->item = UnkdAllocHuge(data->n_items, sizeof(int32));
	ts->pos = UnkdAllocHuge(data->n_items, sizeof(int32));
	ts->group_start = palloc((n_groups + 1) * sizeof(int32));
	for (int g = 0; g < n_groups; g++)
	{
		ts->group_start[g] = ts->n_items;
		for (int32 k = 0; k < b->group_size[g]; k++)
		{
			int32		i = b->group_items[g][k];
			int32		t;

			if ((k & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			ts->pos[i] = -1;
			t = FindId(teacher->item_ids, teacher->n_items, data->item_ids[i]);
			if (t < 0)
				continue;
			memcpy(ts->item_emb + (int64) ts->n_items * dim,
				   teacher->item_emb + (int64) t * dim, dim * sizeof(float));
			ts->item[ts->n_items] = i;
			ts->pos[i] = ts->n_items++;
			b->stamp[i] = SCORED_FOR_ALL;
		}
	}
	ts->group_start[n_groups] = ts->n_items;
}

/*
 * The training users the teacher knows, with their teacher rows, cut into
 * chunks of one score block: the blocks of the serial loop, whoever
 * scores them; a user the teacher never saw has no preference to distil
 */
static void
LoadTeacherUsers(const UnkdInteractions *data, const UnkdModel *teacher,
				 UnkdTeacherScoring *ts)
{
	ts->n_users = 0;
	ts->user = UnkdAllocHuge(data->n_users, sizeof(int32));
	ts->row = UnkdAllocHuge(data->n_users, sizeof(int32));
	for (int32 u = 0; u < data->n_users; u++)
	{
		int32		t;

		if ((u & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		t = FindId(teacher->user_ids, teacher->n_users, data->user_ids[u]);
		if (t < 0)
			continue;
		ts->user[ts->n_users] = u;
		ts->row[ts->n_users++] = t;
	}
	ts->teacher_users = teacher->n_users;
	ts->user_emb = teacher->user_emb;
	ts->chunk_users = UnkdScoreBlockUsers(ts->n_items);
	ts->n_chunks = (ts->n_users + ts->chunk_users - 1) / ts->chunk_users;
}

/* Set up a builder's scoring scratch: skipped positions and one score block */
static void
InitScoring(CandidateBuilder *b, int n_groups, const UnkdTeacherScoring *ts)
{
	b->skip = UnkdAllocHuge(b->data->n_items, sizeof(int32));
	b->skip_start = palloc((n_groups + 1) * sizeof(int32));
	UnkdScoreBlockInit(&b->block, ts->n_items, ts->dim);
	if (b->block.max_users < ts->chunk_users)
		elog(ERROR, "candidate chunk of %d users, score block of %d",
			 ts->chunk_users, b->block.max_users);
}

/* Bytes of one participant's builder and scoring scratch, for the budget */
double
UnkdCandidateBuilderBytes(int32 n_items, int n_groups, int32 max_len,
						  const UnkdTeacherScoring *ts)
{
	return UnkdScoreBlockBytes(ts->n_items, ts->dim) +
		(double) n_groups * UnkdSelectCapacity(max_len) * sizeof(UnkdScored) +
		(double) max_len * (sizeof(int32) + sizeof(float)) +
		(double) n_items * 3 * sizeof(int32);
}

/*
 * A builder for a parallel worker, its stamps set from the shared positions
 * as LoadTeacherItems sets the leader's
 */
UnkdCandidateBuilder *
UnkdCandidateBuilderCreate(const UnkdInteractions *data, const int *item_group,
						   int n_groups, int32 max_len, const UnkdTeacherScoring *ts)
{
	CandidateBuilder *b = palloc0(sizeof(CandidateBuilder));

	InitBuilder(b, data, item_group, n_groups, max_len);
	for (int32 i = 0; i < data->n_items; i++)
		if (ts->pos[i] >= 0)
			b->stamp[i] = SCORED_FOR_ALL;
	InitScoring(b, n_groups, ts);
	return b;
}

/*
 * Whether every score of a row is finite: no exponent of all ones (integer
 * tests, which gcc vectorises whatever the floating-point flags)
 */
static bool
AllFinite(const float *scores, int32 n)
{
	const uint32 *bits = (const uint32 *) scores;
	uint32		bad = 0;

	for (int32 k = 0; k < n; k++)
		bad |= ((bits[k] & 0x7f800000) == 0x7f800000);
	return bad == 0;
}

/* Refuse a score row with a NaN or infinite score (its first one) */
static void
CheckRowFinite(const UnkdTeacherScoring *ts, const float *row)
{
	if (AllFinite(row, ts->n_items))
		return;
	for (int32 k = 0; k < ts->n_items; k++)
		if (!isfinite(row[k]))
			ReportBadScore(psprintf("teacher model \"%s\"", ts->name), row[k]);
}

/*
 * Offer user u's score row (in UnkdTeacherScoring order) to the group
 * selections, skipping the user's training items: their positions are
 * bucketed by group (a counting sort, which keeps them ascending within a
 * group), then each group's stretch goes to its selection by a running
 * threshold (topk.c).
 */
static void
OfferUserRow(CandidateBuilder *b, const UnkdTeacherScoring *ts, int n_groups,
			 int32 u, const float *row)
{
	const UnkdInteractions *data = b->data;
	int64		first = data->user_start[u];
	int64		last = data->user_start[u + 1];

	memset(b->skip_start, 0, (n_groups + 1) * sizeof(int32));
	for (int64 e = first; e < last; e++)
		if (ts->pos[data->user_items[e]] >= 0)
			b->skip_start[b->item_group[data->user_items[e]] + 1]++;
	for (int g = 0; g < n_groups; g++)
		b->skip_start[g + 1] += b->skip_start[g];
	for (int64 e = first; e < last; e++)
	{
		int32		i = data->user_items[e];
		int			g = b->item_group[i];

		if (ts->pos[i] >= 0)
			b->skip[b->skip_start[g]++] = ts->pos[i] - ts->group_start[g];
	}
	/* the fill moved each start to the next group's: step back */
	for (int g = n_groups; g > 0; g--)
		b->skip_start[g] = b->skip_start[g - 1];
	b->skip_start[0] = 0;
	for (int g = 0; g < n_groups; g++)
	{
		int32		from = ts->group_start[g];

		UnkdSelectOfferSkipping(&b->topk[g], row + from, ts->item + from,
								ts->group_start[g + 1] - from,
								b->skip + b->skip_start[g],
								b->skip_start[g + 1] - b->skip_start[g]);
	}
}

/*
 * Score one chunk of known users against the teacher's item rows by one
 * matrix product (scoring.c) and write their lists; the lists of a user
 * depend on nothing else, so any process may score any chunk.
 */
void
UnkdScoreCandidateChunk(UnkdCandidateBuilder *b, const UnkdTeacherScoring *ts,
						UnkdCandidates *cand, int32 chunk)
{
	int32		first = chunk * ts->chunk_users;
	int32		end = Min(first + ts->chunk_users, ts->n_users);

	UnkdScoreBlockReset(&b->block);
	for (int32 k = first; k < end; k++)
		memcpy(UnkdScoreBlockAddUser(&b->block),
			   ts->user_emb + (int64) ts->row[k] * ts->dim, ts->dim * sizeof(float));
	UnkdScoreBlockRun(&b->block, ts->item_emb);
	for (int32 r = 0; r < b->block.n_users; r++)
	{
		const float *row = UnkdScoreBlockRow(&b->block, r);

		CHECK_FOR_INTERRUPTS();
		CheckRowFinite(ts, row);
		OfferUserRow(b, ts, cand->n_groups, ts->user[first + r], row);
		FinishUser(b, cand, ts->user[first + r]);
	}
}

/*
 * Candidates from a teacher model's inner products, chunk by chunk: in
 * parallel workers when the caller allows them and the memory budget has
 * room (parallel_candidates.c), else in this process in chunk order
 */
static void
CandidatesFromModel(CandidateBuilder *b, UnkdCandidates *cand, const char *name,
					int32 workers)
{
	const UnkdInteractions *data = b->data;
	UnkdModel  *teacher = UnkdLoadModel(name, true);
	UnkdTeacherScoring ts;
	double		bytes;

	/* the lists, the teacher realigned, and one builder's scratch */
	memset(&ts, 0, sizeof(ts));
	ts.name = name;
	ts.dim = teacher->dim;
	ts.n_items = data->n_items;
	bytes = UnkdCandidatesBytes(data->n_users, cand->n_groups, cand->max_len) +
		TeacherScoringBytes(data->n_items, data->n_users, teacher->dim) +
		UnkdCandidateBuilderBytes(data->n_items, cand->n_groups, cand->max_len, &ts);
	UnkdCheckMemoryBudget(bytes, "scoring with the teacher");
	LoadTeacherItems(b, cand->n_groups, teacher, &ts);
	/* a model without a single training item has nothing to distil */
	if (ts.n_items == 0)
		return;
	LoadTeacherUsers(data, teacher, &ts);
	InitScoring(b, cand->n_groups, &ts);

	if (!UnkdCandidatesParallel(b, data, b->item_group, cand, &ts, bytes, workers))
	{
		for (int32 c = 0; c < ts.n_chunks; c++)
			UnkdScoreCandidateChunk(b, &ts, cand, c);
	}
	UnkdScoreBlockFree(&b->block);
	pfree(b->skip);
	pfree(ts.item_emb);
	pfree(ts.item);
	pfree(ts.pos);
	pfree(ts.user);
	pfree(ts.row);
}

/* Scan callback: map one score row to training indices and keep it */
static void
CollectScore(void *arg, Datum *values, bool *nulls)
{
	ScoreScan  *scan = (ScoreScan *) arg;
	double		score;
	int32		u,
				i;

	if (nulls[0] || nulls[1] || nulls[2])
	{
		scan->n_null++;
		return;
	}
	score = DatumGetFloat8(values[2]);
	if (!isfinite(score))
		ReportBadScore(psprintf("teacher-score relation %s", scan->relname), score);
	u = UnkdLookupUser(scan->data, UnkdIdDatumCode(scan->user_type, values[0]));
	i = UnkdLookupItem(scan->data, UnkdIdDatumCode(scan->item_type, values[1]));
	if (u < 0 || i < 0)
	{
		scan->n_skipped++;
		return;
	}
	if (scan->n_rows == scan->capacity)
	{
		int64		grown = scan->capacity * 2;

		UnkdCheckMemoryBudget((double) grown * sizeof(ScoreRow), "teacher scores");
		scan->rows = repalloc_huge(scan->rows, grown * sizeof(ScoreRow));
		scan->capacity = grown;
	}
	scan->rows[scan->n_rows].user = u;
	scan->rows[scan->n_rows].item = i;
	scan->rows[scan->n_rows].score = score;
	scan->n_rows++;
}

/* Order score rows by user, item, then score descending */
static int
CompareScoreRows(const void *a, const void *b)
{
	const ScoreRow *x = a;
	const ScoreRow *y = b;

	if (x->user != y->user)
		return x->user < y->user ? -1 : 1;
	if (x->item != y->item)
		return x->item < y->item ? -1 : 1;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return 0;
}

/* An interruptible sort of score rows (many millions in a full score table) */
#define ST_SORT SortScoreRows
#define ST_ELEMENT_TYPE ScoreRow
#define ST_COMPARE(a, b) CompareScoreRows(a, b)
#define ST_SCOPE static
#define ST_CHECK_FOR_INTERRUPTS
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* Candidates from a (possibly sparse) table of teacher scores */
static void
CandidatesFromTable(CandidateBuilder *b, UnkdCandidates *cand,
					const UnkdTeacherSource *source)
{
	const UnkdInteractions *data = b->data;
	const char *columns[3] = {source->user_column, source->item_column, source->score_column};
	const char *casts[3] = {NULL, NULL, "float8"};
	ScoreScan	scan = {0};
	int32	   *items;
	float	   *scores;
	int64		r = 0;

	scan.user_type = UnkdIdColumnType(source->scores, source->user_column);
	scan.item_type = UnkdIdColumnType(source->scores, source->item_column);
	UnkdCheckIdKind(source->scores, source->user_column, data->user_type, "the interactions");
	UnkdCheckIdKind(source->scores, source->item_column, data->item_type, "the interactions");
	UnkdCheckScoreColumn(source->scores, source->score_column);
	casts[0] = UnkdIdCast(scan.user_type);
	casts[1] = UnkdIdCast(scan.item_type);
	scan.data = data;
	scan.relname = UnkdRelationName(source->scores);
	scan.capacity = 1024;
	scan.rows = palloc(scan.capacity * sizeof(ScoreRow));
	UnkdScanRelation(source->scores, 3, columns, casts, CollectScore, &scan);
	if (scan.n_null > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " teacher-score rows with a NULL user, item or score",
						scan.n_null)));
	if (scan.n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("teacher-score relation %s has no scores for the training users and items",
						scan.relname)));

	/* duplicates of one (user, item) keep their highest score */
	SortScoreRows(scan.rows, scan.n_rows);
	items = UnkdAllocHuge(data->n_items, sizeof(int32));
	scores = UnkdAllocHuge(data->n_items, sizeof(float));
	while (r < scan.n_rows)
	{
		int32		u = scan.rows[r].user;
		int32		n = 0;

		CHECK_FOR_INTERRUPTS();
		for (; r < scan.n_rows && scan.rows[r].user == u; r++)
		{
			if (n > 0 && items[n - 1] == scan.rows[r].item)
				continue;
			items[n] = scan.rows[r].item;
			scores[n] = (float) scan.rows[r].score;
			n++;
		}
		OfferScored(b, u, items, scores, n, true);
		FinishUser(b, cand, u);
	}
	pfree(items);
	pfree(scores);
	pfree(scan.rows);
}

/* Refuse a teacher that yields not a single pair: that would train silently without it */
static void
CheckSomethingToDistil(const UnkdCandidates *cand, const UnkdTeacherSource *source)
{
	for (int64 k = 0; k < (int64) cand->n_users * cand->n_groups; k++)
	{
		if ((k & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (cand->len[k] >= 2)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the teacher gives no distillation pairs for these interactions"),
			 errdetail("No user has two unseen items with teacher scores in any popularity group of %s.",
					   source->model ? psprintf("model \"%s\"", source->model) :
					   UnkdRelationName(source->scores)),
			 errhint("Check that the teacher was trained on the same user and item ids, or use kd_weight => 0.")));
}

/*
 * The candidate lists of every (user, group) from one teacher source; users
 * without any teacher score get empty lists (no pairs, no distillation).
 *
 * A teacher model is scored in up to `workers` parallel workers (-1:
 * max_parallel_maintenance_workers, 0: none), with lists identical to the
 * serial ones; a score table is read serially, through SPI, which a worker
 * could only do on a snapshot and relation locks of its own.
 */
UnkdCandidates *
UnkdBuildCandidates(const UnkdInteractions *data, const int *item_group,
					int n_groups, int32 max_len, const UnkdTeacherSource *source,
					int32 workers)
{
	UnkdCandidates *cand = palloc0(sizeof(UnkdCandidates));
	CandidateBuilder b;
	instr_time	start,
				now;

	INSTR_TIME_SET_CURRENT(start);

	cand->n_users = data->n_users;
	cand->n_groups = n_groups;
	cand->max_len = max_len;
	cand->group_weight = NULL;
	cand->items = UnkdAllocHuge((Size) data->n_users * n_groups * max_len, sizeof(int32));
	cand->len = UnkdAllocHuge((Size) data->n_users * n_groups, sizeof(int32));
	memset(cand->len, 0, (Size) data->n_users * n_groups * sizeof(int32));

	InitBuilder(&b, data, item_group, n_groups, max_len);
	if (source->model != NULL)
		CandidatesFromModel(&b, cand, source->model, workers);
	else
		CandidatesFromTable(&b, cand, source);
	CheckSomethingToDistil(cand, source);
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	cand->seconds = INSTR_TIME_GET_DOUBLE(now);
	return cand;
}
