# tools/snapshot.mk — the snapshot/ module (transaction log, snapshots,
# recovery, purge) as $(BUILD)/libroost_snapshot.a, linked into
# roost-server through SERVER_EXTRA_LIBS; its cmocka test
# tests/unit/test_snapshot.c (run by `make unit`); the libFuzzer harness
# tests/fuzz/fuzz_storage.c (`make fuzz-storage`); and `make soak`, the
# kill -9 durability test with many rounds (SOAK_ROUNDS, default 200).
# The fragment lives in tools/ because the top Makefile includes only
# client/*.mk and tools/*.mk.  Uses BUILD, CFLAGS_ALL, LDFLAGS_ALL,
# LIBTREE, LIBPROTO, PYTHON from the top Makefile.

SNAPSHOT_SRC := $(wildcard snapshot/*.c)
SNAPSHOT_OBJ := $(SNAPSHOT_SRC:%.c=$(BUILD)/obj/%.o)
LIBSNAPSHOT := $(BUILD)/libroost_snapshot.a

SERVER_EXTRA_LIBS += $(LIBSNAPSHOT)

$(LIBSNAPSHOT): $(SNAPSHOT_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

SNAPSHOT_TEST := $(BUILD)/tests/test_snapshot
EXTRA_UNIT_BINS += $(SNAPSHOT_TEST)

$(SNAPSHOT_TEST): $(BUILD)/obj/tests/unit/test_snapshot.o $(LIBSNAPSHOT) $(LIBTREE) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka -lz -llz4

# libFuzzer harness for the log and snapshot readers (clang).
.PHONY: fuzz-storage soak
fuzz-storage:
	@mkdir -p build-fuzz/corpus_storage
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/fuzz_storage.c $(SNAPSHOT_SRC) $(TREE_SRC) $(PROTO_SRC) -lz -llz4 \
	  -o build-fuzz/fuzz_storage
	build-fuzz/fuzz_storage -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus_storage

# Many rounds of kill -9 at random moments against a writer (see
# tests/integration/test_durability.py, test_crash_kill9).
SOAK_ROUNDS ?= 200
soak:
	@$(MAKE) --no-print-directory all
	ROOST_SOAK_ROUNDS=$(SOAK_ROUNDS) $(INTEGRATION_ENV) \
	  ROOST_SERVER=$(abspath $(SERVER_BIN)) ZKC_TEST=$(abspath $(ZKC_TEST_BIN)) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration/test_durability.py \
	  -k crash --target roost
