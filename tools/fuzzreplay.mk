# tools/fuzzreplay.mk — the checked-in fuzz corpora replayed by `make unit`
# (so by `make test`): each libFuzzer harness linked with
# tests/fuzz/replay.c instead of libFuzzer, built with the build's flags
# (sanitizers under SAN=1).  Seconds, not minutes.  Uses BUILD,
# CFLAGS_ALL, LDFLAGS_ALL, LIBPROTO, LIBTREE from the top Makefile and
# libroost_zab.a (tools/zab.mk, included after this file).

REPLAY_REQUEST := $(BUILD)/tests/fuzz_request_replay
REPLAY_ZAB := $(BUILD)/tests/fuzz_zab_msg_replay
EXTRA_UNIT_BINS += $(REPLAY_REQUEST) $(REPLAY_ZAB)

$(BUILD)/obj/tests/fuzz/replay_%.o: tests/fuzz/replay.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DREPLAY_NAME='"fuzz_$*"' \
	  -DREPLAY_CORPUS='"tests/fuzz/corpus_$*"' -c $< -o $@

$(REPLAY_REQUEST): $(BUILD)/obj/tests/fuzz/fuzz_request.o \
                   $(BUILD)/obj/tests/fuzz/replay_request.o $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^

$(REPLAY_ZAB): $(BUILD)/obj/tests/fuzz/fuzz_zab_msg.o \
               $(BUILD)/obj/tests/fuzz/replay_zab.o $(BUILD)/libroost_zab.a $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^
