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
