# tools/shell.mk — `roost`, the interactive shell (tools/roost.c,
# tools/shell_*.c).  Included by the top Makefile after client/client.mk,
# whose $(LIBROOST_A) it links; uses BUILD, CFLAGS_ALL, LDFLAGS_ALL.
# Needs libedit (Debian: libedit-dev) for line editing and history.

ROOST_SH_SRC := tools/roost.c $(wildcard tools/shell_*.c)
ROOST_SH_OBJ := $(ROOST_SH_SRC:%.c=$(BUILD)/obj/%.o)
ROOST_SH_BIN := $(BUILD)/roost

EXTRA_BINS += $(ROOST_SH_BIN)
INTEGRATION_ENV += ROOST_SHELL=$(abspath $(ROOST_SH_BIN))

$(ROOST_SH_BIN): $(ROOST_SH_OBJ) $(LIBROOST_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -ledit $(LIBROOST_LIBS)
