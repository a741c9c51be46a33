# unkd: PGXS build (make && make install && make installcheck)
EXTENSION = unkd
EXTVERSION = 0.2.0

MODULE_big = unkd
OBJS = \
	src/candidates.o \
	src/citus.o \
	src/evaluate.o \
	src/foldin.o \
	src/filters.o \
	src/input.o \
	src/keys.o \
	src/model_store.o \
	src/parallel_candidates.o \
	src/parallel_eval.o \
	src/parallel_train.o \
	src/parallel_validation.o \
	src/popularity.o \
	src/recommend.o \
	src/registry.o \
	src/security.o \
	src/serve_text.o \
	src/sampling.o \
	src/scoring.o \
	src/shm_arrays.o \
	src/similar.o \
	src/split.o \
	src/split_time.o \
	src/strata_state.o \
	src/synthetic.o \
	src/topk.o \
	src/train.o \
	src/trainer.o \
	src/unkd.o \
	src/validation.o

# Released scripts are never edited: 0.1.0 is the base, each release adds an
# upgrade script, and the current version's install script is generated as
# the base followed by the upgrade chain (so a fresh install and an upgraded
# one run the same statements).
UPGRADES = unkd--0.1.0--0.2.0.sql
DATA = unkd--0.1.0.sql $(UPGRADES)
DATA_built = unkd--$(EXTVERSION).sql
PGFILEDESC = "unkd - recommender with unbiased knowledge distillation"

# pg_regress suite: every sql/*.sql, in name order
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=unkd

# isolation tests (concurrent sessions): every specs/*.spec, output in expected/
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --load-extension=unkd

# Relaxed floating point lets gcc vectorise the dot-product and SGD loops
# (as pgvector does); results stay deterministic for one build.
OPTFLAGS ?= -march=native
PG_CPPFLAGS += -DUNKD_VERSION=\"$(EXTVERSION)\"
PG_CFLAGS += $(OPTFLAGS) -ftree-vectorize -fassociative-math -fno-signed-zeros -fno-trapping-math -ffp-contract=fast -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

# Dense products (scoring.c) go through OpenBLAS's serial build, Debian's
# libopenblas-serial-dev, linked by its own directory and found there at run
# time (rpath), so that a threaded OpenBLAS chosen by the alternatives system
# is never what a backend loads: parallelism comes from processes.
BLAS_MULTIARCH = $(shell $(CC) -print-multiarch)
BLAS_INCLUDE ?= /usr/include/$(BLAS_MULTIARCH)/openblas-serial
BLAS_LIBDIR ?= /usr/lib/$(BLAS_MULTIARCH)/openblas-serial
PG_CPPFLAGS += -I$(BLAS_INCLUDE)
SHLIB_LINK += -L$(BLAS_LIBDIR) -Wl,-rpath,$(BLAS_LIBDIR) -lopenblas

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header changes
$(OBJS): $(wildcard src/*.h)

unkd--$(EXTVERSION).sql: unkd--0.1.0.sql $(UPGRADES)
	{ echo '\\echo Use "CREATE EXTENSION unkd" to load this file. \\quit'; \
	  for f in $^; do echo "-- from $$f"; grep -v '^\\echo' $$f; done; } > $@

# Serving benchmarks: prints figures, asserts nothing (see bench/serve.sh)
bench/out/tight_loop: bench/tight_loop.c
	@mkdir -p bench/out
	$(CC) $(CFLAGS) -o $@ $< -lm

.PHONY: bench-serve
bench-serve:
	./bench/serve.sh

# Training benchmark (run as root: it starts its own throw-away cluster).
# The standalone loop is compiled with the extension's flags for a fair ceiling.
EXTRA_CLEAN = bench/out
bench/out/sgd_loop: bench/sgd_loop.c src/sgd.h
	@mkdir -p bench/out
	$(CC) $(CFLAGS) -I src -o $@ bench/sgd_loop.c -lm

bench-train: bench/out/sgd_loop
	bench/train.sh

.PHONY: bench-train

# Single node against a local Citus cluster (run as root; see bench/citus.sh)
.PHONY: bench-citus
bench-citus:
	./bench/citus.sh
