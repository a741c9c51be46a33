#!/usr/bin/env bash
# The test command: set up (see lib.sh), run every pg_regress and pgTAP test
# against a throw-away cluster, remove it, and print "N passed, N failed".
source "$(dirname "$0")/lib.sh"
unkd_setup
cd "$UNKD_ROOT"

passed=0
failed=0

# pg_regress: one test per sql/*.sql file
set +e
make -s installcheck PG_CONFIG="$PG_BIN/pg_config" > regression.out.log 2>&1
regress_rc=$?
set -e
cat regression.out.log
p=$(grep -cE '^(test| )? *[a-z0-9_]+ +\.\.\. ok' regression.out.log || true)
f=$(grep -cE '\.\.\. FAILED' regression.out.log || true)
if [ "$p" = 0 ] && [ "$f" = 0 ]; then f=1; echo "pg_regress did not run"; fi
# pg_regress stops at a missing expected file without printing FAILED
if [ $regress_rc != 0 ] && [ "$f" = 0 ]; then f=1; echo "pg_regress failed outside a test"; fi
[ -f regression.diffs ] && head -200 regression.diffs
passed=$((passed + p)); failed=$((failed + f))

# pgTAP: every assertion of every test/pgtap/*.sql file counts
psql -q -d postgres -c 'DROP DATABASE IF EXISTS unkd_tap' -c 'CREATE DATABASE unkd_tap'
psql -q -d unkd_tap -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION unkd'
set +e
pg_prove -v -d unkd_tap test/pgtap/*.sql > pgtap.out.log 2>&1
prove_rc=$?
set -e
cat pgtap.out.log
p=$(grep -cE '^ok [0-9]+' pgtap.out.log || true)
f=$(grep -cE '^not ok [0-9]+' pgtap.out.log || true)
if [ $prove_rc != 0 ] && [ "$f" = 0 ]; then f=1; echo "pg_prove failed outside an assertion"; fi
passed=$((passed + p)); failed=$((failed + f))
rm -f regression.out.log pgtap.out.log

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
