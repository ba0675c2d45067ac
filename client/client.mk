# client/client.mk — libroost, its examples, tests and install.
# Included by the top Makefile (which defines BUILD, CFLAGS_ALL,
# LDFLAGS_ALL, LIBPROTO, EXTRA_BINS, EXTRA_UNIT_BINS, INTEGRATION_ENV).

# This fragment is included before the top Makefile's first rule; keep
# `make` with no goal meaning `all`.
.DEFAULT_GOAL := all

PREFIX ?= /usr/local
LIBROOST_VERSION := 0.1.0
LIBROOST_SOMAJOR := 0

CLIENT_SRC := $(wildcard client/*.c)
# The library is position independent and exports only ROOST_API symbols;
# proto/ and tls/ are compiled again as PIC into it (the main build's
# objects are not PIC).
CLIENT_PIC_SRC := $(CLIENT_SRC) $(wildcard proto/*.c) $(wildcard tls/*.c)
CLIENT_PIC_OBJ := $(CLIENT_PIC_SRC:%.c=$(BUILD)/pic/%.o)
CLIENT_PIC_CFLAGS := -fPIC -fvisibility=hidden -DROOST_BUILDING

LIBROOST_A := $(BUILD)/libroost.a
LIBROOST_SO := $(BUILD)/libroost.so
LIBROOST_PC := $(BUILD)/roost.pc
LIBROOST_LIBS := -luv -ljansson -lpthread -lssl -lcrypto

# Wildcards: a missing source (work in progress) must not break `make`.
CLIENT_TEST_BIN := $(patsubst tests/unit/client/%.c,$(BUILD)/tests/%,\
                     $(wildcard tests/unit/client/test_*.c))
CLIENT_EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,\
                     $(wildcard examples/*.c))
CLIENT_IT_SRC := $(wildcard tests/integration/libroost_*.c)
CLIENT_IT_BIN := $(CLIENT_IT_SRC:tests/integration/%.c=$(BUILD)/tests/%)

EXTRA_BINS += $(LIBROOST_A) $(LIBROOST_SO) $(LIBROOST_PC) \
              $(CLIENT_EXAMPLES) $(CLIENT_IT_BIN)
EXTRA_UNIT_BINS += $(CLIENT_TEST_BIN)
INTEGRATION_ENV += LIBROOST_BIN_DIR=$(abspath $(BUILD)/tests) \
                   LIBROOST_EXAMPLES_DIR=$(abspath $(BUILD)/examples)

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CLIENT_PIC_CFLAGS) -MMD -MP -c $< -o $@

$(LIBROOST_A): $(CLIENT_PIC_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(LIBROOST_SO): $(CLIENT_PIC_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS_ALL) -Wl,-soname,libroost.so.$(LIBROOST_SOMAJOR) \
	  -o $@ $^ $(LIBROOST_LIBS)

$(LIBROOST_PC): client/client.mk
	@mkdir -p $(dir $@)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' \
	  'includedir=$${prefix}/include' '' 'Name: roost' \
	  'Description: C client library for Roost and Apache ZooKeeper' \
	  'Version: $(LIBROOST_VERSION)' 'Requires.private: libuv jansson libssl libcrypto' \
	  'Libs: -L$${libdir} -lroost' 'Libs.private: -luv -ljansson -lpthread -lssl -lcrypto' \
	  'Cflags: -I$${includedir}' > $@

# Tests and examples link the static library: the unit tests reach the
# internal (hidden) symbols, which static linking still resolves.
$(CLIENT_TEST_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/unit/client/%.o $(LIBROOST_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka $(LIBROOST_LIBS)

# Examples include <roost.h> as an installed program would.
$(BUILD)/obj/examples/%.o: CFLAGS_ALL += -Iclient

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIBROOST_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBROOST_LIBS)

$(BUILD)/tests/libroost_%: $(BUILD)/obj/tests/integration/libroost_%.o $(LIBROOST_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBROOST_LIBS)

-include $(shell find $(BUILD)/pic -name '*.d' 2>/dev/null)

.PHONY: install-libroost uninstall-libroost libroost
libroost: $(LIBROOST_A) $(LIBROOST_SO) $(LIBROOST_PC)

# Part of the top Makefile's `make install PREFIX=/opt/roost [DESTDIR=...]`.
install-libroost: $(LIBROOST_A) $(LIBROOST_SO) $(LIBROOST_PC)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include
	install -m 644 client/roost.h $(DESTDIR)$(PREFIX)/include/roost.h
	install -m 644 $(LIBROOST_A) $(DESTDIR)$(PREFIX)/lib/libroost.a
	install -m 755 $(LIBROOST_SO) \
	  $(DESTDIR)$(PREFIX)/lib/libroost.so.$(LIBROOST_VERSION)
	ln -sf libroost.so.$(LIBROOST_VERSION) \
	  $(DESTDIR)$(PREFIX)/lib/libroost.so.$(LIBROOST_SOMAJOR)
	ln -sf libroost.so.$(LIBROOST_SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libroost.so
	sed 's|^prefix=.*|prefix=$(PREFIX)|' $(LIBROOST_PC) \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/roost.pc

uninstall-libroost:
	rm -f $(DESTDIR)$(PREFIX)/include/roost.h $(DESTDIR)$(PREFIX)/lib/libroost.a \
	  $(DESTDIR)$(PREFIX)/lib/libroost.so.$(LIBROOST_VERSION) \
	  $(DESTDIR)$(PREFIX)/lib/libroost.so.$(LIBROOST_SOMAJOR) \
	  $(DESTDIR)$(PREFIX)/lib/libroost.so $(DESTDIR)$(PREFIX)/lib/pkgconfig/roost.pc

# Keep the objects of pattern-built programs (not intermediate files).
.PRECIOUS: $(BUILD)/obj/examples/%.o $(BUILD)/obj/tests/integration/libroost_%.o
