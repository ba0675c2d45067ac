# Roost — one Makefile for everything.
#
#   make            build release binaries into build/
#   make run        install missing packages, build, start a standalone
#                   server on 127.0.0.1:2181 with data in ./data
#   make test       install missing packages, build with ASan+UBSan into
#                   build-san/, run unit and integration tests
#   make test-zk    run the protocol cases against Apache ZooKeeper 3.8
#   make install    every program, libroost, man pages, /etc/roost/roost.cfg
#                   (PREFIX=/usr) and the systemd units; make uninstall
#   make deb        Debian packages in build/deb/; make test-deb checks them
#   make format / make lint
#
# SAN=1 selects the sanitizer build directory and flags (and the test hooks
# that release builds leave out: -DROOST_TEST_HOOKS).  CC=clang works.

CC ?= cc
SAN ?= 0
PYTHON := /usr/bin/python3

ifeq ($(SAN),1)
BUILD := build-san
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
       -fno-sanitize-recover=undefined -DROOST_TEST_HOOKS
LDSAN := -fsanitize=address,undefined
else
BUILD := build
OPT := -O2 -g
LDSAN :=
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter -Werror
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -I. $(CPPFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(LDSAN) $(LDFLAGS)

# Packages the build and the tests need (Debian 12 names).
DEB_PKGS := build-essential pkg-config libuv1-dev zlib1g-dev liblz4-dev \
            libcmocka-dev python3-kazoo python3-pytest python3-pytest-xdist \
            libzookeeper-mt-dev zookeeper-bin \
            zookeeper default-jre-headless netcat-openbsd libedit-dev tmux scdoc systemd \
            libcurl4-openssl-dev libjansson-dev python3-grpcio dnsutils python3-dnspython \
            libhttp-parser-dev python3-prometheus-client curl \
            libssl-dev openssl default-jdk-headless libcurator-framework-java
DEB_DEV_PKGS := clang clang-format clang-tidy cppcheck
# `make deb` / `make test-deb` (debian/): the packaging tools.
DEB_BUILD_PKGS := debhelper dpkg-dev fakeroot lintian

# ---------------------------------------------------------------------
# Modules: one static library each.

PROTO_SRC := $(wildcard proto/*.c)
TREE_SRC := $(wildcard tree/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))

PROTO_OBJ := $(PROTO_SRC:%.c=$(BUILD)/obj/%.o)
TREE_OBJ := $(TREE_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o)

LIBPROTO := $(BUILD)/libroost_proto.a
LIBTREE := $(BUILD)/libroost_tree.a
LIBSERVER := $(BUILD)/libroost_server.a

SERVER_BIN := $(BUILD)/roost-server

UNIT_SRC := tests/unit/test_proto.c tests/unit/test_tree.c tests/unit/test_pending.c \
            tests/unit/test_server.c
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ZKC_TEST_BIN := $(BUILD)/tests/zk_c_client

# Modules other than proto/tree/server bring their own rules in a fragment
# (client/*.mk, tools/*.mk, agent/*.mk); they may append to EXTRA_BINS (built by `all`),
# EXTRA_UNIT_BINS (run by `make unit`) and INTEGRATION_ENV (VAR=value
# words put in front of the pytest run of `make integration`/`test-zk`).
EXTRA_BINS :=
EXTRA_UNIT_BINS :=
INTEGRATION_ENV :=
# Static libraries a fragment adds to roost-server's link (before tree/proto),
# and the system libraries they need (-l flags, after the objects).
SERVER_EXTRA_LIBS :=
SERVER_LDLIBS :=
# What `make install` installs (section "Installation" below); a fragment
# appends its programs and man pages, e.g. for an agent daemon:
#   INSTALL_SBINS += $(BUILD)/roost-agent     (to $(SBINDIR))
#   MAN_PAGES += roost-agent.8                (source: man/roost-agent.8.scd)
# INSTALL_BINS go to $(BINDIR).  Every installed program needs a man page
# of its name (tests/integration/test_install.py checks that).
INSTALL_BINS := $(BUILD)/roost $(BUILD)/roost-dump $(BUILD)/roost-bench
INSTALL_SBINS := $(SERVER_BIN)
MAN_PAGES := roost-server.8 roost.1 roost-dump.1 roost-bench.1
MAN_OUT = $(MAN_PAGES:%=$(BUILD)/man/%)
PREFIX ?= /usr/local
-include $(sort $(wildcard client/*.mk tools/*.mk)) $(wildcard agent/*.mk)

.PHONY: all deps deps-dev run test unit integration test-zk format lint \
        tidy-check clean bench-tree fuzz install uninstall man programs deb test-deb

all: $(SERVER_BIN) $(UNIT_BIN) $(ZKC_TEST_BIN) $(EXTRA_BINS) $(EXTRA_UNIT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIBPROTO): $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(LIBTREE): $(TREE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(LIBSERVER): $(SERVER_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(SERVER_BIN): $(BUILD)/obj/server/main.o $(LIBSERVER) $(SERVER_EXTRA_LIBS) $(LIBTREE) $(LIBPROTO)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -luv -lz -llz4 -lm $(SERVER_LDLIBS)

$(BUILD)/tests/test_proto: $(BUILD)/obj/tests/unit/test_proto.o $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka

$(BUILD)/tests/test_tree: $(BUILD)/obj/tests/unit/test_tree.o $(LIBTREE) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka

$(BUILD)/tests/test_pending: $(BUILD)/obj/tests/unit/test_pending.o $(LIBTREE) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka

$(BUILD)/tests/test_server: $(BUILD)/obj/tests/unit/test_server.o $(LIBSERVER) $(SERVER_EXTRA_LIBS) $(LIBTREE) $(LIBPROTO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lcmocka -luv -lz -llz4 -lm $(SERVER_LDLIBS)

# The official ZooKeeper C client test program (libzookeeper-mt-dev).
$(BUILD)/obj/tests/integration/zk_c_client.o: CFLAGS_ALL += -I/usr/include/zookeeper -Wno-strict-prototypes -Wno-missing-prototypes
$(ZKC_TEST_BIN): $(BUILD)/obj/tests/integration/zk_c_client.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lzookeeper_mt -lpthread

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------
# Installation: make install [PREFIX=/usr/local] [DESTDIR=...]; make
# uninstall with the same variables removes what install put there.
# PREFIX=/usr puts the configuration in /etc/roost, any other prefix in
# $(PREFIX)/etc/roost.  The data directory is /var/lib/roost for every
# prefix (LOCALSTATEDIR=/var): that is where roost.service's
# StateDirectory= makes it, and the only place its hardening lets it write.

ROOST_VERSION := $(shell sed -n 's/^\#define PROTO_ROOST_VERSION "\(.*\)"$$/\1/p' proto/proto.h)
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
LOCALSTATEDIR ?= /var
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALL_CFG := $(DESTDIR)$(SYSCONFDIR)/roost/roost.cfg

# Man pages: one scdoc source each, man/NAME.SECTION.scd.
man: $(MAN_OUT)

# tests/integration/test_install.py installs this build (build-san/ or build/).
INTEGRATION_ENV += ROOST_MAKE_SAN=$(SAN)

$(BUILD)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	sed 's/@VERSION@/$(ROOST_VERSION)/g' $< | scdoc > $@.tmp
	mv $@.tmp $@

# Files made from dist/*.in for this PREFIX, written straight into DESTDIR.
DIST_SED := sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
  -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g' \
  -e 's|@VERSION@|$(ROOST_VERSION)|g'

# What install takes from the build (debian/rules builds this).
programs: libroost $(INSTALL_BINS) $(INSTALL_SBINS) $(MAN_OUT)

install: install-libroost $(INSTALL_BINS) $(INSTALL_SBINS) $(MAN_OUT)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/roost $(DESTDIR)$(SYSTEMDUNITDIR) \
	  $(DESTDIR)$(SYSUSERSDIR) \
	  $(addprefix $(DESTDIR)$(MANDIR)/man,$(sort $(subst .,,$(suffix $(MAN_PAGES)))))
	install -m 755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	install -m 755 $(INSTALL_SBINS) $(DESTDIR)$(SBINDIR)/
	@set -e; for m in $(MAN_OUT); do n=$${m##*/}; \
	  echo "install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${n##*.}/$$n"; \
	  install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${n##*.}/$$n; done
	$(DIST_SED) dist/roost.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/roost.service
	$(DIST_SED) dist/roost@.service.in > $(DESTDIR)$(SYSTEMDUNITDIR)/roost@.service
	$(DIST_SED) dist/sysusers.conf.in > $(DESTDIR)$(SYSUSERSDIR)/roost.conf
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/roost.service \
	  $(DESTDIR)$(SYSTEMDUNITDIR)/roost@.service $(DESTDIR)$(SYSUSERSDIR)/roost.conf
	@# An operator's edited configuration is never overwritten.
	@if [ -e $(INSTALL_CFG) ]; then \
	  echo "install: keeping $(INSTALL_CFG) (the default is dist/roost.cfg.in)"; \
	else echo "$(DIST_SED) dist/roost.cfg.in > $(INSTALL_CFG)"; \
	  $(DIST_SED) dist/roost.cfg.in > $(INSTALL_CFG); chmod 644 $(INSTALL_CFG); fi

# The configuration goes only when it is still the default one.
uninstall: uninstall-libroost
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_BINS))) \
	  $(addprefix $(DESTDIR)$(SBINDIR)/,$(notdir $(INSTALL_SBINS))) \
	  $(foreach m,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(m)) \
	  $(DESTDIR)$(SYSTEMDUNITDIR)/roost.service $(DESTDIR)$(SYSTEMDUNITDIR)/roost@.service \
	  $(DESTDIR)$(SYSUSERSDIR)/roost.conf
	@if [ -e $(INSTALL_CFG) ]; then \
	  if $(DIST_SED) dist/roost.cfg.in | cmp -s - $(INSTALL_CFG); then \
	    rm -f $(INSTALL_CFG); rmdir $(DESTDIR)$(SYSCONFDIR)/roost 2>/dev/null || true; \
	  else echo "uninstall: $(INSTALL_CFG) was edited; left in place"; fi; \
	else rmdir $(DESTDIR)$(SYSCONFDIR)/roost 2>/dev/null || true; fi

# The Debian packages (debian/): roost, libroost0, libroost-dev.  Built
# from a copy of the tracked and new files in build/deb/ so that
# dpkg-buildpackage writes its results there, not next to the checkout.
DEB_DIR := build/deb
DEB_ARCH = $(shell dpkg --print-architecture)
DEB_FILES = $(foreach p,roost libroost0 libroost-dev,$(DEB_DIR)/$(p)_$(ROOST_VERSION)_$(DEB_ARCH).deb)

deb:
	@sh tools/scripts/deps.sh $(DEB_BUILD_PKGS) build-essential pkg-config \
	  libuv1-dev zlib1g-dev liblz4-dev libedit-dev scdoc libcurl4-openssl-dev libjansson-dev \
	  libssl-dev
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/roost-$(ROOST_VERSION)
	git ls-files -z -co --exclude-standard | \
	  tar --null -T - -cf - | tar -xf - -C $(DEB_DIR)/roost-$(ROOST_VERSION)
	cd $(DEB_DIR)/roost-$(ROOST_VERSION) && \
	  DEB_BUILD_OPTIONS="parallel=2 $(DEB_BUILD_OPTIONS)" dpkg-buildpackage -us -uc -b
	@ls -l $(DEB_FILES)

# Builds the packages, lists them, runs lintian (errors fail; warnings are
# explained in README.md) (tools/scripts/test-deb.sh); then installs them
# in a throwaway systemd-nspawn container booted with systemd, where
# roost.service must serve, stop cleanly and snapshot under its hardening
# (tools/scripts/test-deb-nspawn.sh; root).  ROOST_DEB_INSTALL=1 also
# installs them on this machine with dpkg -i, runs the server and purges.
test-deb: deb
	@sh tools/scripts/deps.sh systemd-container
	sh tools/scripts/test-deb.sh $(DEB_FILES)
	sh tools/scripts/test-deb-nspawn.sh $(DEB_FILES)

# ---------------------------------------------------------------------
# Set-up: install what is missing (as root), or say the exact command.

deps:
	@sh tools/scripts/deps.sh $(DEB_PKGS)

deps-dev:
	@sh tools/scripts/deps.sh $(DEB_DEV_PKGS)

run: deps
	@$(MAKE) --no-print-directory $(SERVER_BIN)
	@mkdir -p data
	$(SERVER_BIN) roost.cfg

# ---------------------------------------------------------------------
# Tests.  Sanitized binaries; every test runner prints a closing line.

# The build runs as many jobs as there are cores unless make was given -j.
TEST_BUILD_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 2))

test: deps
	@$(MAKE) --no-print-directory $(TEST_BUILD_JOBS) SAN=1 all
	@$(MAKE) --no-print-directory SAN=1 unit
	@$(MAKE) --no-print-directory SAN=1 integration

unit: $(UNIT_BIN) $(EXTRA_UNIT_BINS)
	@set -e; for t in $(UNIT_BIN) $(EXTRA_UNIT_BINS); do echo "== $$t"; \
	  ROOST_SRCDIR=$(CURDIR) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $$t; done

# The integration cases mostly wait (elections, session timeouts, ticks):
# two pytest-xdist workers, each taking whole files (module fixtures stay in
# one process; ports come from the harness's shared counter), halve the
# run on 2 cores.  INTEGRATION_JOBS=1 runs them in one process.
INTEGRATION_JOBS ?= 2
PYTEST_JOBS = $(if $(filter-out 0 1,$(INTEGRATION_JOBS)),-n $(INTEGRATION_JOBS) --dist loadfile)

integration: $(SERVER_BIN) $(ZKC_TEST_BIN) $(EXTRA_BINS)
	$(INTEGRATION_ENV) ROOST_SERVER=$(abspath $(SERVER_BIN)) ZKC_TEST=$(abspath $(ZKC_TEST_BIN)) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_JOBS) tests/integration --target roost

# The same protocol cases against Apache ZooKeeper 3.8 (Debian's package,
# started by hand with java): that is how we know the expectations hold.
test-zk: deps
	@$(MAKE) --no-print-directory $(ZKC_TEST_BIN) $(EXTRA_BINS)
	$(INTEGRATION_ENV) ZKC_TEST=$(abspath $(ZKC_TEST_BIN)) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration --target zookeeper

# ---------------------------------------------------------------------
# Measurements and fuzzing (not part of `make test`).

# Bytes per 100-byte znode with 1M znodes, and the apply rate.
bench-tree: $(BUILD)/tree_mem
	$(BUILD)/tree_mem

$(BUILD)/tree_mem: tests/bench/tree_mem.c $(LIBTREE) $(LIBPROTO)
	$(CC) $(CFLAGS_ALL) -o $@ $^

# libFuzzer harness for the frame decoders (clang).  FUZZ_SECONDS=60.
FUZZ_SECONDS ?= 60
fuzz:
	@mkdir -p build-fuzz/corpus
	clang -std=c11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/fuzz_request.c $(PROTO_SRC) -o build-fuzz/fuzz_request
	build-fuzz/fuzz_request -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus tests/fuzz/corpus_request

# ---------------------------------------------------------------------
# Style.

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(FORMAT_FILES)

lint: tidy-check
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --std=c11 -I. --suppress=missingIncludeSystem --inline-suppr \
	  proto tree server snapshot dns http agent tls tests/unit
	clang-tidy --quiet $(PROTO_SRC) $(TREE_SRC) $(SERVER_SRC) server/main.c \
	  $(wildcard snapshot/*.c dns/*.c http/*.c agent/*.c tls/*.c) -- \
	  -std=c11 -D_GNU_SOURCE -I.

# zab/ and tree/ are driven: no libuv, no clock, no randomness of their own.
tidy-check:
	@if grep -nE '#include *<uv\.h>|\btime\(|\brand\(|\bsrand\(|clock_gettime|gettimeofday' \
	    tree/*.c tree/*.h zab/*.c zab/*.h 2>/dev/null; then \
	  echo "tidy-check: tree/ and zab/ must not use libuv, clocks or rand()"; exit 1; \
	elif grep -nE '#include *<uv\.h>' snapshot/*.c snapshot/*.h 2>/dev/null; then \
	  echo "tidy-check: snapshot/ must not use libuv"; exit 1; \
	else echo "tidy-check: ok"; fi

clean:
	rm -rf build build-san build-fuzz
