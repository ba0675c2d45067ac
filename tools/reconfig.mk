# tools/reconfig.mk — reconfiguration under write load and faults (issue
# 20).  tests/integration/test_reconfig_faults.py runs one change of each
# kind in `make integration` (and against ZooKeeper 3.8 in `make
# test-zk`); `make soak-reconfig` repeats each RECONF_ROUNDS times
# (default 10; SAN=1 for the sanitizer build); `make bench-reconfig`
# measures the write stall of each kind of change on Roost and on
# ZooKeeper 3.8 in one run (tools/scripts/bench_reconfig.py; BENCH_RUNS,
# BENCH_QUICK=1) and writes the table into docs/ensemble.md.  Included by
# the top Makefile; uses BUILD, SERVER_BIN, INTEGRATION_ENV, PYTHON.

SOAK_RECONF_ROUNDS ?= 10

.PHONY: soak-reconfig bench-reconfig
soak-reconfig:
	@$(MAKE) --no-print-directory $(SERVER_BIN)
	RECONF_ROUNDS=$(or $(RECONF_ROUNDS),$(SOAK_RECONF_ROUNDS)) \
	  ROOST_IT_TIMEOUT=$$(( $(or $(RECONF_ROUNDS),$(SOAK_RECONF_ROUNDS)) * 120 + 300 )) \
	  $(INTEGRATION_ENV) ROOST_SERVER=$(abspath $(SERVER_BIN)) \
	  $(PYTHON) -m pytest -q -s -p no:cacheprovider -p no:logging \
	  tests/integration/test_reconfig_faults.py --target roost

soak: soak-reconfig

# Release binaries (SAN=0), as bench and bench-ensemble.
bench-reconfig:
	@$(MAKE) --no-print-directory SAN=0 build/roost-server
	ROOST_SERVER=$(abspath build/roost-server) BENCH_RUNS=$(BENCH_RUNS) \
	  BENCH_QUICK=$(BENCH_QUICK) $(PYTHON) tools/scripts/bench_reconfig.py
