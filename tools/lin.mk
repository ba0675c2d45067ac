# tools/lin.mk — linearizability checking of a three-server ensemble under
# faults (issue 7; docs/linearizability.md).  The checker
# (tests/integration/linearize.py), its unit tests (test_linearize.py, no
# server) and a 25 s fault run (test_linearizability.py) are part of
# `make integration`, hence `make test`.  `make soak-lin` runs the fault
# run for LIN_SECONDS (default 300) with the per-test watchdog stretched
# to match; SAN=1 for the sanitizer build.  LIN_SEED=N repeats a run's
# fault victims and op mix (the timing is never the same);
# LIN_HISTORY=FILE keeps the history (re-check it with
# `python3 tests/integration/linearize.py FILE`).  Included by the top
# Makefile; uses BUILD, SERVER_BIN, INTEGRATION_ENV, PYTHON from it.

SOAK_LIN_SECONDS ?= 300

.PHONY: soak-lin
soak-lin:
	@$(MAKE) --no-print-directory $(SERVER_BIN)
	LIN_SECONDS=$(or $(LIN_SECONDS),$(SOAK_LIN_SECONDS)) \
	  ROOST_IT_TIMEOUT=$$(( $(or $(LIN_SECONDS),$(SOAK_LIN_SECONDS)) + 600 )) \
	  $(INTEGRATION_ENV) ROOST_SERVER=$(abspath $(SERVER_BIN)) \
	  $(PYTHON) -m pytest -q -s -p no:cacheprovider \
	  tests/integration/test_linearizability.py -k faults --target roost

# `make soak` (tools/snapshot.mk) runs the long fault run too.
soak: soak-lin
