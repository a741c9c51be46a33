-- unkd.strata_state, popularity_strata's state type: text form, checks,
-- and partial states combined as Citus and parallel workers combine them
BEGIN;
SELECT plan(9);

SELECT is('4:7=2,3=1'::unkd.strata_state::text, '4:7=2,3=1', 'text form reads back');
SELECT is('0:'::unkd.strata_state::text, '0:', 'an empty state');
SELECT is('2:5=1,5=2'::unkd.strata_state::text, '2:5=3', 'an item listed twice counts twice');
SELECT throws_ok($$SELECT '4:7=0'::unkd.strata_state$$, '22P02', NULL, 'counts must be positive');
SELECT throws_ok($$SELECT '1001:7=1'::unkd.strata_state$$, '22P02', NULL, 'n_groups is bounded');
SELECT throws_ok($$SELECT '4:7=1,'::unkd.strata_state$$, '22P02', NULL, 'no trailing comma');
SELECT throws_ok($$SELECT '4:99999999999999999999=1'::unkd.strata_state$$, '22P02', NULL, 'ids must fit a bigint');
SELECT throws_ok($$SELECT unkd.strata_state_transfn(NULL, 1, 4)$$, '0A000', NULL,
				 'support functions run only inside the aggregate');
-- the serial aggregate and one over a union of partial scans agree
SELECT is((SELECT unkd.popularity_strata(i % 37, 3) FROM generate_series(1, 5000) i),
		  (SELECT unkd.popularity_strata(x, 3) FROM (
			 SELECT i % 37 AS x FROM generate_series(1, 2500) i
			 UNION ALL SELECT i % 37 FROM generate_series(2501, 5000) i) s),
		  'same strata over any split of the rows');

SELECT * FROM finish();
ROLLBACK;
