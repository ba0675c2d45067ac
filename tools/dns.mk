# tools/dns.mk — the dns/ module (DNS codec and the mapping from service
# instances to SRV/A/AAAA, docs/dns.md) as $(BUILD)/libroost_dns.a, linked
# into roost-server through SERVER_EXTRA_LIBS (with jansson); its cmocka
# test tests/unit/test_dns.c and the replay of the fuzz corpus
# tests/fuzz/corpus_dns through tests/fuzz/fuzz_dns.c (both run by
# `make unit`, so by `make test`); `make fuzz-dns` (libFuzzer) and
# `make bench-dns` (dnsperf against roost-server and NSD, writes
# docs/benchmarks-dns.md).  Uses BUILD, CFLAGS_ALL, LDFLAGS_ALL, LIBTREE,
# LIBPROTO, FUZZ_SECONDS from the top Makefile.

DNS_SRC := $(wildcard dns/*.c)
DNS_OBJ := $(DNS_SRC:%.c=$(BUILD)/obj/%.o)
LIBDNS := $(BUILD)/libroost_dns.a

SERVER_EXTRA_LIBS += $(LIBDNS)
SERVER_LDLIBS += -ljansson

$(LIBDNS): $(DNS_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

DNS_TEST := $(BUILD)/tests/test_dns
DNS_REPLAY := $(BUILD)/tests/fuzz_dns_replay
EXTRA_UNIT_BINS += $(DNS_TEST) $(DNS_REPLAY)

$(DNS_TEST): $(BUILD)/obj/tests/unit/test_dns.o $(LIBDNS) $(LIBTREE) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka -ljansson

# The libFuzzer harness linked with tests/fuzz/replay.c (tools/fuzzreplay.mk
# builds replay_dns.o) replays the checked-in corpus on every make unit.
$(DNS_REPLAY): $(BUILD)/obj/tests/fuzz/fuzz_dns.o \
               $(BUILD)/obj/tests/fuzz/replay_dns.o $(LIBDNS) $(LIBTREE) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -ljansson

.PHONY: fuzz-dns bench-dns
fuzz-dns:
	@mkdir -p build-fuzz/corpus_dns
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/fuzz_dns.c $(DNS_SRC) $(TREE_SRC) $(PROTO_SRC) -ljansson \
	  -o build-fuzz/fuzz_dns
	build-fuzz/fuzz_dns -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus_dns tests/fuzz/corpus_dns

# Release binaries, whatever this make was called with.  Needs dnsperf and
# nsd (installed if missing, as root).
bench-dns:
	@sh tools/scripts/deps.sh dnsperf nsd
	@$(MAKE) --no-print-directory SAN=0 build/roost-server
	BENCH_QUICK=$(BENCH_QUICK) $(PYTHON) tools/scripts/bench_dns.py
