#!/usr/bin/env bash
# Fold-in quality on MovieLens 1M (test/quality/foldin.sql): prints recall@20
# of held-out users folded in, trained on, and served the popularity list.
# Usage (as root): test/quality/foldin.sh [dataset] (default ml-1m). Not part
# of the test command: it needs ../shared/data and takes about a minute.
source "$(dirname "$0")/../../scripts/lib.sh"

DATA_DIR=${UNKD_DATA_DIR:-$UNKD_ROOT/../shared/data}
ds=${1:-ml-1m}
csv="$DATA_DIR/$ds/interactions.csv"
if [ ! -r "$csv" ]; then
	echo "fold-in quality skipped: $csv is absent (the real data sets are not part of the repository)"
	exit 0
fi
unkd_setup
# the server runs as postgres: give it a copy it can read
copy=$(mktemp -d)
chmod 755 "$copy"
cp "$csv" "$copy/interactions.csv"
chmod 644 "$copy/interactions.csv"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS quality_foldin" -c "CREATE DATABASE quality_foldin"
psql -X -q -d quality_foldin -c 'CREATE EXTENSION unkd'
echo "fold-in on $ds: 80/20 split (seed 1), users with id = 0 mod 10 left out of training, dim 64, default epochs"
psql -X -q -d quality_foldin -v csv="$copy/interactions.csv" -v dim=64 -f "$UNKD_ROOT/test/quality/foldin.sql"
rm -rf "$copy"
