# tools/zab.mk — the zab/ module (atomic broadcast as a pure state machine)
# as $(BUILD)/libroost_zab.a; its cmocka test tests/unit/test_zab.c and the
# deterministic cluster simulator tests/sim (both run by `make unit`, so by
# `make test`); `make soak-sim` (many seeds, SIM_SEEDS) and `make fuzz-zab`
# (libFuzzer on the peer message decoder).  Uses BUILD, CFLAGS_ALL,
# LDFLAGS_ALL, LIBPROTO, FUZZ_SECONDS from the top Makefile.  The name
# `soak` belongs to tools/snapshot.mk (kill -9 durability), hence soak-sim.

ZAB_SRC := $(wildcard zab/*.c)
ZAB_OBJ := $(ZAB_SRC:%.c=$(BUILD)/obj/%.o)
LIBZAB := $(BUILD)/libroost_zab.a

$(LIBZAB): $(ZAB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

ZAB_TEST := $(BUILD)/tests/test_zab
SIM_BIN := $(BUILD)/tests/sim
SIM_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/sim/*.c))
EXTRA_UNIT_BINS += $(ZAB_TEST) $(SIM_BIN)

$(ZAB_TEST): $(BUILD)/obj/tests/unit/test_zab.o $(LIBZAB) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka

$(SIM_BIN): $(SIM_OBJ) $(LIBZAB) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^

# Many thousands of seeds, each with its own fault schedule; a failure
# prints the command that replays it.  SIM_SEEDS=20000 SIM_FIRST=1000 ...
SIM_SEEDS ?= 10000
SIM_FIRST ?= 1
SIM_ARGS ?=
.PHONY: soak-sim fuzz-zab
soak-sim: $(SIM_BIN)
	$(SIM_BIN) --random-only --first $(SIM_FIRST) --seeds $(SIM_SEEDS) $(SIM_ARGS)

# `make soak` (tools/snapshot.mk) runs the simulator's seeds first.
soak: soak-sim

fuzz-zab:
	@mkdir -p build-fuzz/corpus_zab
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/fuzz_zab_msg.c $(ZAB_SRC) $(PROTO_SRC) -o build-fuzz/fuzz_zab_msg
	build-fuzz/fuzz_zab_msg -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus_zab tests/fuzz/corpus_zab
