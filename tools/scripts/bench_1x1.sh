#!/bin/sh
# The create 1x1 row of `make bench` alone, repeated: a lone write's
# latency against the data disk's own fdatasync, measured in the same run.
#
#   sh tools/scripts/bench_1x1.sh [ROUNDS [SECONDS [SERVER]]]
#   FSYNC_ON_LOOP=yes sh tools/scripts/bench_1x1.sh ...   (roost.fsyncOnLoop)
#
# Each round: the disk probe (bench_report.py fsync-probe, 2000 appends of
# 120 bytes each followed by fdatasync), then create with 1 session x 1 in
# flight, then the same create with a second client reading (getData, 1
# session x 1 in flight) so a reader's latency beside a writer shows (two
# clients sending: the server keeps the fsyncs on its fsync thread then;
# alone, the writer's run on the loop, persist.c).  Last, the server's
# mntr counts of fsyncs and of those run on the loop.
# Prints one line per round and the medians; `make bench` does the same
# row with ZooKeeper beside it.  Release build of SERVER expected
# (default build/roost-server; build/roost-bench).
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
HELPER="$TOP/tools/scripts/bench_report.py"
BENCH="$TOP/build/roost-bench"
SERVER=${3:-$TOP/build/roost-server}
ROUNDS=${1:-5}
DUR=${2:-3}
WORK=$(mktemp -d /tmp/roost-1x1.XXXXXX)
PID=""
cleanup() {
  [ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/data"
cat > "$WORK/zoo.cfg" <<CFG
tickTime=2000
dataDir=$WORK/data
clientPort=$PORT
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
roost.fsyncOnLoop=${FSYNC_ON_LOOP:-no}
CFG
"$SERVER" "$WORK/zoo.cfg" > "$WORK/server.log" 2>&1 < /dev/null &
PID=$!
$PY "$HELPER" wait-ready "127.0.0.1:$PORT" 60
b() { "$BENCH" --hosts "127.0.0.1:$PORT" --json --quiet --warmup 0.5 "$@"; }
# The readers' keys, once.
b --workload get --keys 1000 --duration 0.2 --root /rd > /dev/null
field() { $PY -c 'import json,sys; d=json.loads(sys.stdin.read().splitlines()[-1]); print(round(d["'"$1"'"]["'"$2"'"]))' ; }
r=1
: > "$WORK/rows"
while [ "$r" -le "$ROUNDS" ]; do
  probe=$($PY "$HELPER" fsync-probe "$WORK" 2000)
  fp50=$(echo "$probe" | $PY -c 'import json,sys; print(round(json.load(sys.stdin)["p50"]))')
  fp99=$(echo "$probe" | $PY -c 'import json,sys; print(round(json.load(sys.stdin)["p99"]))')
  c=$(b --workload create --keys 2000000 --sessions 1 --outstanding 1 --duration "$DUR" --seed "$r" --root "/c$r" --server-pid "$PID")
  b --workload create --keys 2000000 --sessions 1 --outstanding 1 --duration "$DUR" --seed "$r" --root "/w$r" > "$WORK/w.json" &
  bp=$!
  g=$(b --workload get --keys 1000 --sessions 1 --outstanding 1 --duration "$DUR" --root /rd)
  wait "$bp"
  w=$(cat "$WORK/w.json")
  line="$fp50 $fp99 $(echo "$c" | field latency_us p50) $(echo "$c" | field latency_us p99) $(echo "$w" | field latency_us p99) $(echo "$g" | field latency_us p50) $(echo "$g" | field latency_us p99)"
  echo "$line" >> "$WORK/rows"
  echo "round $r: fdatasync p50/p99 $(echo "$line" | cut -d' ' -f1-2) | create1x1 p50/p99 $(echo "$line" | cut -d' ' -f3-4) | with reader: create p99 $(echo "$line" | cut -d' ' -f5), get p50/p99 $(echo "$line" | cut -d' ' -f6-7) (µs)"
  r=$((r + 1))
done
$PY - "$PORT" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"mntr")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
m = dict(l.split("\t", 1) for l in out.decode().splitlines() if "\t" in l)
print("server: %s fsyncs, %s of them on the loop" % (m.get("roost_fsync_count"), m.get("roost_fsync_on_loop_count", "-")))
PYEOF
$PY - "$WORK/rows" <<'PYEOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
m = [statistics.median(c) for c in zip(*rows)]
print("median: fdatasync p50 %.0f p99 %.0f | create1x1 p50 %.0f p99 %.0f (p99 - fdatasync p99 = %+.0f) | with reader: create p99 %.0f, get p50 %.0f p99 %.0f (µs)" %
      (m[0], m[1], m[2], m[3], m[3] - m[1], m[4], m[5], m[6]))
PYEOF
