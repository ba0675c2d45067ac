#!/bin/sh
# `make bench`: Roost against Apache ZooKeeper 3.8 on loopback, side by side.
#
# Starts build/roost-server and ZooKeeper (Debian's package, by hand with
# java) with the same zoo.cfg keys, runs every roost-bench workload against
# both in alternation for several short rounds, then loads N znodes of 100
# bytes into fresh servers and reads their resident memory, and restarts
# ZooKeeper to time its first served read.  The table (medians of the
# rounds) goes to stdout and to docs/benchmarks.md.
#
#   BENCH_QUICK=1   one short round, 100k znodes: a ~2 minute smoke run
#
# Expects build/roost-server and build/roost-bench (the bench target builds
# them).  Everything runs on 127.0.0.1 with free ports; every process this
# script starts is stopped by pid when it exits.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
HELPER="$TOP/tools/scripts/bench_report.py"
BENCH="$TOP/build/roost-bench"
SERVER="$TOP/build/roost-server"
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
ZK_HEAP=-Xmx4g

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  ROUNDS=1; DUR=2; WARM=0.5; POPULATE=100000; MODE=quick
else
  ROUNDS=5; DUR=3; WARM=1; POPULATE=1000000; MODE=full
fi

for f in "$BENCH" "$SERVER"; do
  [ -x "$f" ] || { echo "bench: $f is missing (run make bench)" >&2; exit 1; }
done
[ -r /usr/share/java/zookeeper.jar ] || {
  echo "bench: Apache ZooKeeper is not installed (make deps)" >&2; exit 1; }
command -v java >/dev/null || { echo "bench: java is missing (make deps)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/roost-bench.XXXXXX)
RES="$WORK/results"
mkdir -p "$RES"
ROOST_PID=""
ZK_PID=""

stop_pid() { # pid: SIGTERM, wait up to 10 s, then SIGKILL
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop_pid "$ROOST_PID"; ROOST_PID=""
  stop_pid "$ZK_PID"; ZK_PID=""
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# write_cfg DIR PORT: the zoo.cfg both servers get.
write_cfg() {
  mkdir -p "$1/data"
  cat > "$1/zoo.cfg" <<EOF
tickTime=2000
dataDir=$1/data
clientPort=$2
clientPortAddress=127.0.0.1
maxClientCnxns=1000
4lw.commands.whitelist=*
admin.enableServer=false
EOF
}

# start_roost NAME -> sets ROOST_PID, ROOST_PORT
start_roost() {
  d="$WORK/$1"; ROOST_PORT=$(free_port); write_cfg "$d" "$ROOST_PORT"
  "$SERVER" "$d/zoo.cfg" > "$d/server.log" 2>&1 < /dev/null &
  ROOST_PID=$!
  $PY "$HELPER" wait-ready "127.0.0.1:$ROOST_PORT" 10 || {
    echo "bench: roost-server did not start; log:" >&2; tail -20 "$d/server.log" >&2; exit 1; }
}

# start_zk NAME [reuse] -> sets ZK_PID, ZK_PORT (reuse keeps dir and port)
start_zk() {
  d="$WORK/$1"
  if [ "${2:-}" != reuse ]; then
    ZK_PORT=$(free_port); write_cfg "$d" "$ZK_PORT"
    cat > "$d/log4j.properties" <<EOF
log4j.rootLogger=WARN, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$d/server.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [%t] %-5p %c{1} - %m%n
EOF
  fi
  java $ZK_HEAP -cp "$ZK_CP" -Dlog4j.configuration="file:$d/log4j.properties" \
    -Dzookeeper.admin.enableServer=false \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
    > "$d/stdout.log" 2>&1 < /dev/null &
  ZK_PID=$!
}

wait_zk() {
  $PY "$HELPER" wait-ready "127.0.0.1:$ZK_PORT" 60 || {
    echo "bench: ZooKeeper did not start; log:" >&2
    tail -20 "$WORK/$1/server.log" "$WORK/$1/stdout.log" >&2; exit 1; }
}

# run NAME SERVER ROUND ARGS...: one roost-bench run, its JSON kept even
# when it fails (the table shows the failure).
run() {
  name=$1; srv=$2; round=$3; shift 3
  if [ "$srv" = roost ]; then port=$ROOST_PORT; pid=$ROOST_PID
  else port=$ZK_PORT; pid=$ZK_PID; fi
  out="$RES/$name.$srv.$round.json"
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "bench: $srv (pid $pid) is not running; skipping $name" >&2
    return 0
  fi
  if timeout 300 "$BENCH" --hosts "127.0.0.1:$port" --server-pid "$pid" \
      --json --quiet "$@" > "$out" 2> "$out.err"; then
    st=ok
  else
    st="FAILED (exit $?)"
  fi
  $PY "$HELPER" line "$out" "$name" "$srv" "$round" "$st"
}

# name | roost-bench arguments.  Throughput rows saturate the server with
# 8 sessions x 16 requests in flight; the "-lat" rows are a moderate load
# (4 sessions, one request each) for latency.
WORKLOADS="create|--workload create --keys 2000000
set|--workload set --keys 10000
get|--workload get --keys 10000
exists|--workload exists --keys 10000
children|--workload children --keys 100
mixed|--workload mixed --read-pct 90 --keys 10000
get-lat|--workload get --keys 10000 --sessions 4 --outstanding 1
set-lat|--workload set --keys 10000 --sessions 4 --outstanding 1
watch-fanout|--workload watch-fanout --sessions 100
churn|--workload churn --sessions 8"

T0=$(date +%s)
echo "bench: $MODE run: $ROUNDS round(s) of ${DUR}s (+${WARM}s warm-up) per workload and server; work dir $WORK"
start_roost roost
start_zk zk
wait_zk zk
echo "bench: roost-server pid $ROOST_PID port $ROOST_PORT; ZooKeeper pid $ZK_PID port $ZK_PORT"

r=1
while [ $r -le $ROUNDS ]; do
  echo "$WORKLOADS" | while IFS='|' read -r name args; do
    # Alternate who goes first, so neither always runs on a warmer machine.
    if [ $((r % 2)) = 1 ]; then order="roost zk"; else order="zk roost"; fi
    for srv in $order; do
      # Defaults first: getopt keeps the last value, so a row's own
      # --sessions/--outstanding win.
      # shellcheck disable=SC2086
      run "$name" "$srv" "$r" --sessions 8 --outstanding 16 \
        --duration "$DUR" --warmup "$WARM" --seed "$r" $args
    done
  done
  r=$((r + 1))
done

echo "bench: workloads done after $(( $(date +%s) - T0 )) s; memory with $POPULATE znodes"
stop_pid "$ROOST_PID"; ROOST_PID=""
stop_pid "$ZK_PID"; ZK_PID=""

# Resident memory after loading POPULATE znodes of 100 bytes, one server at
# a time so the load generator and the other server do not compete.
start_roost roost-mem
$PY "$HELPER" rss "$ROOST_PID" > "$RES/mem.roost.empty"
timeout 600 "$BENCH" --hosts "127.0.0.1:$ROOST_PORT" --server-pid "$ROOST_PID" \
  --workload create --keys "$POPULATE" --value-size 100 --keep --root /populate \
  --sessions 8 --outstanding 64 --duration 590 --json --quiet \
  > "$RES/populate.roost.json" 2> "$RES/populate.roost.err" || true
sleep 2
$PY "$HELPER" rss "$ROOST_PID" > "$RES/mem.roost"
stop_pid "$ROOST_PID"; ROOST_PID=""

start_zk zk-mem
wait_zk zk-mem
$PY "$HELPER" rss "$ZK_PID" > "$RES/mem.zk.empty"
timeout 600 "$BENCH" --hosts "127.0.0.1:$ZK_PORT" --server-pid "$ZK_PID" \
  --workload create --keys "$POPULATE" --value-size 100 --keep --root /populate \
  --sessions 8 --outstanding 64 --duration 590 --json --quiet \
  > "$RES/populate.zk.json" 2> "$RES/populate.zk.err" || true
sleep 2
$PY "$HELPER" rss "$ZK_PID" > "$RES/mem.zk"

# ZooKeeper restart: SIGTERM, start on the same data, time until a read of
# the loaded tree is answered.  Roost has no durability yet.
echo "bench: restarting ZooKeeper with $POPULATE znodes"
stop_pid "$ZK_PID"; ZK_PID=""
t_start=$($PY -c 'import time; print(time.monotonic())')
start_zk zk-mem reuse
$PY "$HELPER" first-read "127.0.0.1:$ZK_PORT" /populate 120 "$t_start" \
  > "$RES/restart.zk" || echo "failed" > "$RES/restart.zk"
stop_pid "$ZK_PID"; ZK_PID=""

$PY "$HELPER" table "$RES" --rounds "$ROUNDS" --duration "$DUR" \
  --warmup "$WARM" --populate "$POPULATE" --mode "$MODE" \
  --zk-heap="$ZK_HEAP" --datadir "$WORK" --elapsed "$(( $(date +%s) - T0 ))" \
  --out "$TOP/docs/benchmarks.md"
