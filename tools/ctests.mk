# Official ZooKeeper C client test programs besides $(ZKC_TEST_BIN) (which
# the top Makefile builds): tests/integration/zk_c_client_acl.c (issue 3:
# ACLs, auth, containers, TTL, watch removal), run by test_c_client.py as
# $ZKC_ACL_TEST.  Included by the top Makefile; uses BUILD, CFLAGS_ALL,
# LDFLAGS_ALL from it.

ZKC_ACL_TEST_BIN := $(BUILD)/tests/zk_c_client_acl

EXTRA_BINS += $(ZKC_ACL_TEST_BIN)
INTEGRATION_ENV += ZKC_ACL_TEST=$(abspath $(ZKC_ACL_TEST_BIN))

$(BUILD)/obj/tests/integration/zk_c_client_acl.o: CFLAGS_ALL += -I/usr/include/zookeeper -Wno-strict-prototypes -Wno-missing-prototypes
$(ZKC_ACL_TEST_BIN): $(BUILD)/obj/tests/integration/zk_c_client_acl.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lzookeeper_mt -lpthread

# tests/integration/zk_c_failover.c (issue 11): a session of the official
# client rides out kill -9 of its member, watch included; run by
# test_ensemble_sessions.py as $ZKC_FAILOVER_TEST.
ZKC_FAILOVER_TEST_BIN := $(BUILD)/tests/zk_c_failover

EXTRA_BINS += $(ZKC_FAILOVER_TEST_BIN)
INTEGRATION_ENV += ZKC_FAILOVER_TEST=$(abspath $(ZKC_FAILOVER_TEST_BIN))

$(BUILD)/obj/tests/integration/zk_c_failover.o: CFLAGS_ALL += -I/usr/include/zookeeper -Wno-strict-prototypes -Wno-missing-prototypes
$(ZKC_FAILOVER_TEST_BIN): $(BUILD)/obj/tests/integration/zk_c_failover.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lzookeeper_mt -lpthread

# tests/integration/zk_c_readonly.c (issue 18): the official client with
# ZOO_READONLY on a member in read-only mode, then read-write again; run
# by test_read_only.py as $ZKC_READONLY_TEST.
ZKC_READONLY_TEST_BIN := $(BUILD)/tests/zk_c_readonly

EXTRA_BINS += $(ZKC_READONLY_TEST_BIN)
INTEGRATION_ENV += ZKC_READONLY_TEST=$(abspath $(ZKC_READONLY_TEST_BIN))

$(BUILD)/obj/tests/integration/zk_c_readonly.o: CFLAGS_ALL += -I/usr/include/zookeeper -Wno-strict-prototypes -Wno-missing-prototypes
$(ZKC_READONLY_TEST_BIN): $(BUILD)/obj/tests/integration/zk_c_readonly.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lzookeeper_mt -lpthread
