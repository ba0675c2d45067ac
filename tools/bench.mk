# roost-bench (tools/roost-bench.c) and `make bench`.  Included by the top
# Makefile; uses BUILD, CFLAGS_ALL, LDFLAGS_ALL, LIBPROTO from it.

BENCH_SRC := tools/roost-bench.c tools/bench_report.c tools/bench_hist.c
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_BIN := $(BUILD)/roost-bench

EXTRA_BINS += $(BENCH_BIN)
INTEGRATION_ENV += ROOST_BENCH=$(abspath $(BENCH_BIN))

# tls/ (tools/tls.mk, included after this file: named, not $(LIBTLS)).
$(BENCH_BIN): $(BENCH_OBJ) $(LIBPROTO) $(BUILD)/libroost_tls.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -luv -lssl -lcrypto

# Roost against Apache ZooKeeper 3.8, side by side; writes
# docs/benchmarks.md.  BENCH_QUICK=1 for a ~2 minute smoke version.
# Always release binaries (SAN=0), whatever this make was called with.
.PHONY: bench
bench:
	@$(MAKE) --no-print-directory SAN=0 build/roost-server build/roost-bench
	BENCH_QUICK=$(BENCH_QUICK) sh tools/scripts/bench.sh

# Unit test of the histogram (cmocka), run by `make unit`.
BENCH_HIST_TEST := $(BUILD)/tests/test_bench_hist
EXTRA_UNIT_BINS += $(BENCH_HIST_TEST)

$(BENCH_HIST_TEST): $(BUILD)/obj/tools/test_bench_hist.o $(BUILD)/obj/tools/bench_hist.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka

# A 3-server Roost ensemble against a 3-server ZooKeeper 3.8 ensemble on
# this machine, plus leader fail-over; writes docs/benchmarks-ensemble.md.
# BENCH_QUICK=1 for a ~1 minute smoke version.  Release binaries, as bench.
.PHONY: bench-ensemble
bench-ensemble:
	@$(MAKE) --no-print-directory SAN=0 build/roost-server build/roost-bench
	BENCH_QUICK=$(BENCH_QUICK) sh tools/scripts/bench_ensemble.sh
