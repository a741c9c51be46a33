#!/usr/bin/env bash
# The main job: set up (see lib.sh), then run docs/demo.sql, the end-to-end
# demo on built-in synthetic data, in a throw-away cluster.
source "$(dirname "$0")/lib.sh"
unkd_setup
psql -X -q -d postgres -v ON_ERROR_STOP=1 -f "$UNKD_ROOT/docs/demo.sql"
