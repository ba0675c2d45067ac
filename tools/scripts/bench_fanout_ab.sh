#!/bin/sh
# A/B of the watch fan-out row of `make bench` between two roost-server
# binaries (e.g. before and after a change on the event path), both running
# at once with bench.sh's zoo.cfg, rounds alternating which goes first.
#   tools/scripts/bench_fanout_ab.sh OLD_SERVER NEW_SERVER [ROUNDS] [BENCH ARGS...]
# Extra arguments go to roost-bench (e.g. --acl-ip 127.0.0.1).  Prints one
# JSON line per run (roost-bench --json) prefixed with the binary's label.
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
OLD=$1; NEW=$2; ROUNDS=${3:-5}
shift 2; [ $# -gt 0 ] && shift
BENCH=${BENCH:-$TOP/build/roost-bench}
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/roost-fanout.XXXXXX)
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null || true; done; sleep 0.5; rm -rf "$WORK"' EXIT
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start() { # label binary -> sets PORT_label, PID_label
  d="$WORK/$1"; mkdir -p "$d/data"; port=$(free_port)
  printf 'tickTime=2000\ndataDir=%s/data\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=1000\n4lw.commands.whitelist=*\nadmin.enableServer=false\nsnapCount=100000\n' "$d" "$port" > "$d/zoo.cfg"
  "$2" "$d/zoo.cfg" > "$d/server.log" 2>&1 < /dev/null &
  eval "PID_$1=$!; PORT_$1=$port"; PIDS="$PIDS $!"
  $PY "$TOP/tools/scripts/bench_report.py" wait-ready "127.0.0.1:$port" 60
}
start old "$OLD"
start new "$NEW"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  if [ $((r % 2)) = 1 ]; then order="old new"; else order="new old"; fi
  for l in $order; do
    eval "port=\$PORT_$l; pid=\$PID_$l"
    printf '%s ' "$l"
    "$BENCH" --hosts "127.0.0.1:$port" --server-pid "$pid" --json --quiet \
      --workload watch-fanout --sessions 100 --outstanding 16 \
      --duration 3 --warmup 1 --seed "$r" "$@"
  done
  r=$((r + 1))
done
