# tools/dump.mk — roost-dump (tools/roost-dump.c), the log and snapshot
# inspector: `roost-dump log|snapshot FILE`, `verify DIR`, `truncate FILE`.
# Included by the top Makefile; uses BUILD, CFLAGS_ALL, LDFLAGS_ALL,
# LIBTREE, LIBPROTO, and the snapshot library rule of tools/snapshot.mk.

DUMP_BIN := $(BUILD)/roost-dump
EXTRA_BINS += $(DUMP_BIN)
INTEGRATION_ENV += ROOST_DUMP=$(abspath $(DUMP_BIN))

$(DUMP_BIN): $(BUILD)/obj/tools/roost-dump.o $(BUILD)/libroost_snapshot.a $(LIBTREE) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lz -llz4
