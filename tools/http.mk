# tools/http.mk — the http/ module (HTTP/1.1 server on a libuv loop,
# parsing by Debian's libhttp-parser; README "HTTP") as
# $(BUILD)/libroost_http.a, linked into roost-server through
# SERVER_EXTRA_LIBS; its cmocka test tests/unit/test_http.c runs with
# `make unit`.  HTTPS through tls/.  Uses BUILD, CFLAGS_ALL, LDFLAGS_ALL from the top Makefile.

HTTP_SRC := $(wildcard http/*.c)
HTTP_OBJ := $(HTTP_SRC:%.c=$(BUILD)/obj/%.o)
LIBHTTP := $(BUILD)/libroost_http.a

SERVER_EXTRA_LIBS += $(LIBHTTP)
SERVER_LDLIBS += -lhttp_parser

$(LIBHTTP): $(HTTP_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

HTTP_TEST := $(BUILD)/tests/test_http
EXTRA_UNIT_BINS += $(HTTP_TEST)

# HTTPS goes through tls/ (tools/tls.mk, included after this file: its
# library is named here, not through $(LIBTLS)).
$(HTTP_TEST): $(BUILD)/obj/tests/unit/test_http.o $(LIBHTTP) $(BUILD)/libroost_tls.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka -lhttp_parser -luv -lssl -lcrypto

# The web console's assets (server/console/*: HTML, CSS, JS) compiled into
# roost-server as C arrays (server/console.c serves them; no CDN).
CONSOLE_ASSETS := $(sort $(wildcard server/console/*))
CONSOLE_GEN := $(BUILD)/gen/console_assets.c
CONSOLE_OBJ := $(BUILD)/obj/gen/console_assets.o
LIBCONSOLE := $(BUILD)/libroost_console.a
SERVER_EXTRA_LIBS += $(LIBCONSOLE)

$(CONSOLE_GEN): $(CONSOLE_ASSETS) tools/scripts/embed.sh
	@mkdir -p $(dir $@)
	sh tools/scripts/embed.sh $@ $(CONSOLE_ASSETS)

$(CONSOLE_OBJ): $(CONSOLE_GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIBCONSOLE): $(CONSOLE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# The console's browser test (tests/integration/test_console.py): Debian's
# chromium driven by puppeteer-core from npm (tests/console/package.json;
# puppeteer-core downloads no browser).  `make integration` installs them.
.PHONY: console-deps console-screenshots
console-deps:
	@sh tools/scripts/deps.sh chromium nodejs
	@command -v npm >/dev/null 2>&1 || sh tools/scripts/deps.sh npm
	@test -d tests/console/node_modules/puppeteer-core || \
	  (cd tests/console && npm ci --no-audit --no-fund)
integration: console-deps

# Retake the screenshots docs/console.md shows.
console-screenshots: console-deps $(SERVER_BIN)
	CHART_SAMPLES=20 ROOST_CONSOLE_SHOTS=$(CURDIR)/docs/img ROOST_SERVER=$(abspath $(SERVER_BIN)) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration/test_console.py --target roost
