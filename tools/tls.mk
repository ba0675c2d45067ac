# tools/tls.mk — the tls/ module (OpenSSL 3 through memory BIOs, ZooKeeper's
# ssl.* settings; README.md "TLS") as $(BUILD)/libroost_tls.a, linked into
# roost-server through SERVER_EXTRA_LIBS with -lssl -lcrypto; libroost
# compiles it again as PIC (client/client.mk).  Its cmocka test
# tests/unit/test_tls.c makes its certificates with tests/tls/mkcerts.sh.
# Uses BUILD, CFLAGS_ALL, LDFLAGS_ALL from the top Makefile.

TLS_SRC := $(wildcard tls/*.c)
TLS_OBJ := $(TLS_SRC:%.c=$(BUILD)/obj/%.o)
LIBTLS := $(BUILD)/libroost_tls.a
TLS_LDLIBS := -lssl -lcrypto

SERVER_EXTRA_LIBS += $(LIBTLS)
SERVER_LDLIBS += $(TLS_LDLIBS)

$(LIBTLS): $(TLS_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

TLS_TEST := $(BUILD)/tests/test_tls
EXTRA_UNIT_BINS += $(TLS_TEST)

$(TLS_TEST): $(BUILD)/obj/tests/unit/test_tls.o $(LIBTLS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka $(TLS_LDLIBS)

# Roost and ZooKeeper 3.8, plain and over TLS: handshake rate, create/get
# throughput, get latency, server CPU per op; writes docs/benchmarks-tls.md.
# BENCH_QUICK=1 for one short round.  Release binaries, as `make bench`.
.PHONY: bench-tls
bench-tls:
	@$(MAKE) --no-print-directory SAN=0 build/roost-server build/roost-bench
	BENCH_QUICK=$(BENCH_QUICK) sh tools/scripts/bench_tls.sh
