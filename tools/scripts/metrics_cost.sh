#!/bin/sh
# metrics_cost.sh — what Roost's metrics recording costs per request, in
# instructions (valgrind --tool=callgrind, Ir): deterministic where wall
# time on a shared machine is not.
#
# Two release builds of the committed tree (HEAD): "with" as it is, and
# "without" with the recording compiled out by a local patch applied to a
# copy (srv_hist_add does nothing; the leader's proposal-time ring neither
# pushes nor pops).  Each runs standalone under callgrind; counters are
# zeroed once it answers, then roost-bench makes OPS creates (one session,
# 16 in flight), callgrind dumps, then OPS getData on 1000 keys (its setup
# creates the keys: counted), callgrind dumps.  Prints Ir per measured op
# of each phase for both builds and the difference.
#
#   tools/scripts/metrics_cost.sh            # OPS=20000
#   OPS=5000 tools/scripts/metrics_cost.sh
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OPS=${OPS:-20000}
WORK=$(mktemp -d /tmp/roost-mcost.XXXXXX)
# KEEP=1 keeps the callgrind dumps (callgrind_annotate them) in $WORK
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }

# with: the tree's own release build (commit first: "without" is HEAD)
make -C "$ROOT" --no-print-directory SAN=0 build/roost-server build/roost-bench >&2
BENCH=$ROOT/build/roost-bench

# without: HEAD in a copy, recording compiled out
mkdir -p "$WORK/src"
git -C "$ROOT" archive HEAD | tar -x -C "$WORK/src"
python3 - "$WORK/src" <<'EOF'
import re, sys
root = sys.argv[1]
p = root + "/server/server_int.h"
s = open(p).read()
s, n = re.subn(r"(static inline void srv_hist_add\(struct srv_hist \*h, uint64_t v\) \{)",
               r"\1\n  return;", s)
assert n == 1, "srv_hist_add not found"
open(p, "w").write(s)
p = root + "/server/ens_leader.c"
s = open(p).read()
for fn in ("void ens_prop_time_push(struct srv_ens *e, uint64_t zxid) {",
           "void ens_prop_time_commit(struct srv_ens *e, uint64_t zxid) {"):
    assert fn in s, fn
    s = s.replace(fn, fn + "\n  return;", 1)
open(p, "w").write(s)
EOF
make -C "$WORK/src" --no-print-directory SAN=0 build/roost-server >&2

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# total Ir of one callgrind dump
ir() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }

run() { # run LABEL BINARY -> "LABEL create_ir get_ir"
  label=$1 bin=$2 dir=$WORK/$1
  mkdir -p "$dir/data"
  port=$(free_port)
  cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
EOF
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
    "$bin" "$dir/zoo.cfg" >"$dir/log" 2>&1 &
  pid=$!
  i=0
  until [ "$(python3 -c "
import socket,sys
try:
  s=socket.create_connection(('127.0.0.1',$port),1); s.sendall(b'ruok'); print(s.recv(4).decode())
except Exception: print('')" 2>/dev/null)" = imok ]; do
    i=$((i + 1))
    [ $i -lt 600 ] || { echo "server did not start" >&2; cat "$dir/log" >&2; exit 1; }
    sleep 0.2
  done
  callgrind_control -z "$pid" >/dev/null
  "$BENCH" --hosts "127.0.0.1:$port" --workload create --sessions 1 \
    --outstanding 16 --ops "$OPS" --keep --root /c --quiet >"$dir/create.txt"
  callgrind_control -d create "$pid" >/dev/null
  "$BENCH" --hosts "127.0.0.1:$port" --workload get --sessions 1 \
    --outstanding 16 --keys 1000 --ops "$OPS" --keep --root /g --quiet \
    >"$dir/get.txt"
  callgrind_control -d get "$pid" >/dev/null
  kill -TERM "$pid"
  wait "$pid" || true
  echo "$label $(ir "$dir/cg.out.1") $(ir "$dir/cg.out.2")"
  # where the recording sits: the reply path (count_latency, inlined)
  for d in 1 2; do
    callgrind_annotate --threshold=100 "$dir/cg.out.$d" 2>/dev/null |
      grep -E 'srv_reply_end|count_latency|srv_hist_add' |
      sed "s|^|  $label dump $d: |" >&2 || true
  done
}

W=$(run with "$ROOT/build/roost-server")
WO=$(run without "$WORK/src/build/roost-server")
[ "${KEEP:-0}" = 1 ] && echo "dumps kept in $WORK" >&2
echo "$W
$WO" | awk -v ops="$OPS" '
  { c[$1] = $2; g[$1] = $3 }
  END {
    printf "Ir per op (callgrind, %d ops per phase, standalone release)\n", ops
    printf "%-8s %14s %14s\n", "phase", "with", "without"
    printf "%-8s %14.0f %14.0f  +%.0f (%.2f%%)\n", "create", c["with"] / ops,
      c["without"] / ops, (c["with"] - c["without"]) / ops,
      100 * (c["with"] - c["without"]) / c["without"]
    printf "%-8s %14.0f %14.0f  +%.0f (%.2f%%)\n", "get", g["with"] / ops,
      g["without"] / ops, (g["with"] - g["without"]) / ops,
      100 * (g["with"] - g["without"]) / g["without"]
  }'
