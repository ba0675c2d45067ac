# tools/ensemble.mk — roost-server as an ensemble member (issue 7):
# links zab/ into the server, and `make ensemble` / `make ensemble-stop`
# start and stop three servers on loopback (tools/scripts/ensemble.sh).
# libroost_zab.a is named directly: tools/zab.mk, which defines LIBZAB,
# is included after this fragment.

SERVER_EXTRA_LIBS += $(BUILD)/libroost_zab.a
ENSEMBLE_DIR ?= /tmp/roost-ensemble

.PHONY: ensemble ensemble-stop ensemble-status
ensemble: $(SERVER_BIN)
	ROOST_SERVER=$(abspath $(SERVER_BIN)) ENSEMBLE_DIR=$(ENSEMBLE_DIR) \
	  tools/scripts/ensemble.sh start

ensemble-stop:
	ENSEMBLE_DIR=$(ENSEMBLE_DIR) tools/scripts/ensemble.sh stop

ensemble-status:
	ENSEMBLE_DIR=$(ENSEMBLE_DIR) tools/scripts/ensemble.sh status
