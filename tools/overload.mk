# tools/overload.mk — the long overload case (issue 13): a client reading
# its replies at 200 KB/s for a full minute while the per-connection cap
# (16 MiB of unsent replies) keeps it paused, and keeps its session.  The
# 20 s version against a 2 MiB output budget is part of `make integration`
# (tests/integration/test_overload.py).  Included by the top Makefile.

.PHONY: soak-overload
soak-overload:
	@$(MAKE) --no-print-directory $(SERVER_BIN)
	ROOST_OVERLOAD_SOAK=1 ROOST_IT_TIMEOUT=300 $(INTEGRATION_ENV) \
	  ROOST_SERVER=$(abspath $(SERVER_BIN)) \
	  $(PYTHON) -m pytest -q -s -p no:cacheprovider \
	  tests/integration/test_overload.py -k slow_reader --target roost

# `make soak` (tools/snapshot.mk) runs it too.
soak: soak-overload
