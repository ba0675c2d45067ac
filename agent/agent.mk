# agent/agent.mk — roost-agent (agent/), the health-checking sidecar that
# registers Consul-style service definitions in Roost (issue 16), and its
# cmocka test tests/unit/test_agent.c (definition and duration parsers).
# Included by the top Makefile after client/client.mk, whose $(LIBROOST_A)
# it links; uses BUILD, CFLAGS_ALL, LDFLAGS_ALL.
# Needs libcurl (libcurl4-openssl-dev: HTTP/2 for gRPC) and jansson
# (libjansson-dev).

AGENT_LIB_SRC := $(filter-out agent/main.c,$(wildcard agent/*.c))
AGENT_LIB_OBJ := $(AGENT_LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIBAGENT := $(BUILD)/libroost_agent.a
AGENT_BIN := $(BUILD)/roost-agent
AGENT_LIBS := -lcurl -ljansson -luv -lpthread -lssl -lcrypto

EXTRA_BINS += $(AGENT_BIN)
INTEGRATION_ENV += ROOST_AGENT=$(abspath $(AGENT_BIN))

$(LIBAGENT): $(AGENT_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(AGENT_BIN): $(BUILD)/obj/agent/main.o $(LIBAGENT) $(LIBROOST_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(AGENT_LIBS)

AGENT_TEST := $(BUILD)/tests/test_agent
EXTRA_UNIT_BINS += $(AGENT_TEST)

$(AGENT_TEST): $(BUILD)/obj/tests/unit/test_agent.o $(LIBAGENT) $(LIBROOST_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka $(AGENT_LIBS)

# libFuzzer harness of the definition and duration parsers (clang).
.PHONY: fuzz-agent
fuzz-agent:
	@mkdir -p build-fuzz/corpus_agent
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/fuzz_agent_defs.c agent/defs.c agent/duration.c agent/instance.c \
	  -ljansson -o build-fuzz/fuzz_agent_defs
	build-fuzz/fuzz_agent_defs -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus_agent tests/fuzz/corpus_agent

# make install: the program and its man page (man/roost-agent.8.scd).
INSTALL_SBINS += $(AGENT_BIN)
MAN_PAGES += roost-agent.8
