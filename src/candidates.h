/*
 * candidates.h
 *	  The teacher-model scoring of candidates.c, split into chunks of users
 *	  that parallel_candidates.c hands to parallel workers.
 */
#ifndef UNKD_CANDIDATES_H
#define UNKD_CANDIDATES_H

#include "unkd.h"
#include "sampling.h"

/*
 * A teacher model realigned on the training data, read-only while scoring:
 * its rows of the training items it knows, grouped (the items of group 0
 * ascending, then those of group 1, ...), so that each (user, group)
 * selection reads one contiguous stretch of a score row; and the training
 * users it knows, in chunks of one score block each.
 */
typedef struct UnkdTeacherScoring
{
	const char *name;			/* teacher model, for error messages */
	int32		dim;
	int32		n_items;		/* training items the teacher knows */
	float	   *item_emb;		/* [n_items * dim] */
	int32	   *item;			/* [n_items] training item at each position */
	int32	   *pos;			/* [training items] position, -1: unknown */
	int32	   *group_start;	/* [n_groups + 1] first position of each group */
	int32		n_users;		/* training users the teacher knows */
	int32	   *user;			/* [n_users] training user, ascending */
	int32	   *row;			/* [n_users] the user's teacher row */
	int32		teacher_users;
	float	   *user_emb;		/* [teacher_users * dim] the teacher's rows */
	int32		chunk_users;	/* users per chunk: one score block */
	int32		n_chunks;
} UnkdTeacherScoring;

/* One participant's working memory (candidates.c) */
typedef struct CandidateBuilder UnkdCandidateBuilder;

extern double UnkdCandidateBuilderBytes(int32 n_items, int n_groups, int32 max_len,
										const UnkdTeacherScoring *ts);
extern UnkdCandidateBuilder *UnkdCandidateBuilderCreate(const UnkdInteractions *data,
														const int *item_group,
														int n_groups, int32 max_len,
														const UnkdTeacherScoring *ts);
extern void UnkdScoreCandidateChunk(UnkdCandidateBuilder *b,
									const UnkdTeacherScoring *ts,
									UnkdCandidates *cand, int32 chunk);

/* parallel_candidates.c */
extern bool UnkdCandidatesParallel(UnkdCandidateBuilder *leader,
								   const UnkdInteractions *data,
								   const int *item_group, UnkdCandidates *cand,
								   UnkdTeacherScoring *ts, double leader_bytes,
								   int32 workers);

#endif							/* UNKD_CANDIDATES_H */
