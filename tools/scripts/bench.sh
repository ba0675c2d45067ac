#!/bin/sh
# `make bench`: Roost against Apache ZooKeeper 3.8 on loopback, side by side.
#
# Starts build/roost-server (forceSync=yes, its default) and ZooKeeper
# (Debian's package, by hand with java, default forceSync=yes) with the same
# zoo.cfg keys, runs every roost-bench workload against both in alternation
# for several short rounds, then, one server at a time and alone on the
# machine, the durability and memory figures: resident memory after loading
# N znodes of 100 bytes, log bytes per create, setData p99 without and with
# snapshots running, the size of a snapshot of the whole tree, and the
# restart time to the first served read with the N znodes.  The table
# (medians of the rounds) goes to stdout and to docs/benchmarks.md.
#
#   BENCH_QUICK=1   one short round, 100k znodes: a ~2-3 minute smoke run
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
  ROUNDS=1; DUR=2; WARM=0.5; POPULATE=100000; LAT=2; MODE=quick
else
  ROUNDS=5; DUR=3; WARM=1; POPULATE=1000000; LAT=5; MODE=full
fi

for f in "$BENCH" "$SERVER"; do
  [ -x "$f" ] || { echo "bench: $f is missing (run make bench)" >&2; exit 1; }
done
[ -r /usr/share/java/zookeeper.jar ] || {
  echo "bench: Apache ZooKeeper is not installed (make deps)" >&2; exit 1; }
command -v java >/dev/null || { echo "bench: java is missing (make deps)" >&2; exit 1; }
# jcmd (a JDK tool) forces ZooKeeper's collections before its memory is
# sampled, so uncollected garbage does not count against it.
command -v jcmd >/dev/null || sh "$TOP/tools/scripts/deps.sh" openjdk-17-jdk-headless
command -v jcmd >/dev/null || { echo "bench: jcmd is missing (apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/roost-bench.XXXXXX)
RES="$WORK/results"
mkdir -p "$RES"
ROOST_PID=""
ZK_PID=""

# SIGTERM, wait up to 60 s (a server with a million znodes frees them
# before it exits), then SIGKILL.
stop_pid() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
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

# write_cfg DIR PORT [SNAPCOUNT]: the zoo.cfg both servers get.  Neither
# sets forceSync: both default to yes (fsync before the reply).
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
snapCount=${3:-100000}
EOF
}

# start_roost NAME [reuse [SNAPCOUNT]] -> sets ROOST_PID, ROOST_PORT
# (reuse keeps the data and the port; the config gets SNAPCOUNT).
start_roost() {
  d="$WORK/$1"
  [ "${2:-}" = reuse ] || ROOST_PORT=$(free_port)
  write_cfg "$d" "$ROOST_PORT" "${3:-100000}"
  "$SERVER" "$d/zoo.cfg" >> "$d/server.log" 2>&1 < /dev/null &
  ROOST_PID=$!
}

wait_roost() {
  $PY "$HELPER" wait-ready "127.0.0.1:$ROOST_PORT" 300 || {
    echo "bench: roost-server did not start; log:" >&2
    tail -20 "$WORK/$1/server.log" >&2; exit 1; }
}

# start_zk NAME [reuse [SNAPCOUNT]] -> sets ZK_PID, ZK_PORT (reuse keeps
# the data and the port; the config gets SNAPCOUNT).
start_zk() {
  d="$WORK/$1"
  if [ "${2:-}" = reuse ]; then
    write_cfg "$d" "$ZK_PORT" "${3:-100000}"
  else
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
    >> "$d/stdout.log" 2>&1 < /dev/null &
  ZK_PID=$!
}

wait_zk() {
  $PY "$HELPER" wait-ready "127.0.0.1:$ZK_PORT" 300 || {
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
create-1x1|--workload create --keys 2000000 --sessions 1 --outstanding 1
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
wait_roost roost
start_zk zk
wait_zk zk
echo "bench: roost-server pid $ROOST_PID port $ROOST_PORT; ZooKeeper pid $ZK_PID port $ZK_PORT"

r=1
while [ $r -le $ROUNDS ]; do
  echo "$WORKLOADS" | while IFS='|' read -r name args; do
    # Alternate who goes first, so neither always runs on a warmer machine.
    if [ $((r % 2)) = 1 ]; then order="roost zk"; else order="zk roost"; fi
    if [ "$name" = create-1x1 ]; then
      # The disk's own figure, in the same run, next to the row it bounds.
      $PY "$HELPER" fsync-probe "$WORK" 2000 > "$RES/fsync.$r.probe" || true
      echo "  fdatasync    disk  round $r: $(cat "$RES/fsync.$r.probe")"
    fi
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

echo "bench: workloads done after $(( $(date +%s) - T0 )) s; durability and memory with $POPULATE znodes"
stop_pid "$ROOST_PID"; ROOST_PID=""
stop_pid "$ZK_PID"; ZK_PID=""

# srv_start KIND NAME [reuse [SNAPCOUNT]], srv_wait KIND NAME, srv_stop:
# one server of either kind, in PID and PORT.
PID=""
PORT=""
srv_start() {
  if [ "$1" = roost ]; then
    start_roost "$2" "${3:-}" "${4:-}"; PID=$ROOST_PID; PORT=$ROOST_PORT
  else
    start_zk "$2" "${3:-}" "${4:-}"; PID=$ZK_PID; PORT=$ZK_PORT
  fi
}
srv_wait() {
  if [ "$1" = roost ]; then wait_roost "$2"; else wait_zk "$2"; fi
}
srv_stop() {
  stop_pid "$PID"; PID=""; ROOST_PID=""; ZK_PID=""
}

# lat OUT: setData at moderate load (4 sessions, 1 in flight) on 10k keys
# of its own, for LAT seconds.
lat() {
  timeout 300 "$BENCH" --hosts "127.0.0.1:$PORT" --server-pid "$PID" \
    --workload set --keys 10000 --sessions 4 --outstanding 1 \
    --duration "$LAT" --warmup 1 --root /lat --json --quiet \
    > "$RES/$1" 2> "$RES/$1.err" || true
}

# rss KIND OUT: resident memory of the server in PID.  For ZooKeeper,
# after two forced full collections and a pause (jcmd GC.run), so the
# figure is live data plus what the JVM keeps, not uncollected garbage.
rss() {
  if [ "$1" = zk ]; then
    jcmd "$PID" GC.run > /dev/null 2>&1 || true
    sleep 1
    jcmd "$PID" GC.run > /dev/null 2>&1 || true
    sleep 2
  fi
  $PY "$HELPER" rss "$PID" > "$2"
}

now() { $PY -c 'import time; print(time.monotonic())'; }
since() { $PY -c 'import sys, time; print("%.3f" % (time.monotonic() - float(sys.argv[1])))' "$1"; }

# durable KIND: one server, fresh and alone on the machine.
#  1. resident memory empty, then after creating POPULATE znodes of 100
#     bytes under one parent (and the load rate, log bytes per create);
#  2. setData p99 with snapshots off (snapCount=1000000000), then with
#     snapshots of the whole tree back to back (snapCount=2000); after
#     that the newest snapshot file holds the whole tree: its size;
#  3. SIGTERM (the time to exit is kept too), start again on the same
#     data, time until a new session's getChildren of the loaded parent
#     answers, and resident memory after that restart.
# Its result files avoid the NAME.SERVER.ROUND.json names of the rounds.
durable() {
  k=$1; n="$k-dur"; dd="$WORK/$n/data"
  srv_start "$k" "$n"; srv_wait "$k" "$n"
  $PY "$HELPER" version "127.0.0.1:$PORT" > "$RES/version.$k" || true
  rss "$k" "$RES/mem.$k.empty"
  echo "bench: $k: creating $POPULATE znodes (random values)"
  timeout 900 "$BENCH" --hosts "127.0.0.1:$PORT" --server-pid "$PID" \
    --workload create --keys "$POPULATE" --value-size 100 --keep \
    --root /populate --sessions 8 --outstanding 64 --duration 890 \
    --json --quiet > "$RES/populate.$k.json" 2> "$RES/populate.$k.err" || true
  sleep 2
  rss "$k" "$RES/mem.$k"
  $PY "$HELPER" log-bytes "$dd" > "$RES/logbytes.$k"
  srv_stop
  echo "bench: $k: setData p99 without, then with snapshots running"
  srv_start "$k" "$n" reuse 1000000000; srv_wait "$k" "$n"
  lat "lat-nosnap-$k"
  srv_stop
  srv_start "$k" "$n" reuse 2000; srv_wait "$k" "$n"
  lat "lat-snap-$k"
  sleep 5 # let the last snapshot finish
  $PY "$HELPER" snapshot-bytes "$dd" > "$RES/snapbytes.$k"
  echo "bench: $k: restart with $POPULATE znodes"
  t=$(now)
  srv_stop
  since "$t" > "$RES/stop.$k"
  t=$(now)
  srv_start "$k" "$n" reuse 2000
  $PY "$HELPER" first-read "127.0.0.1:$PORT" /populate 300 "$t" \
    > "$RES/restart.$k" || echo "failed" > "$RES/restart.$k"
  rss "$k" "$RES/mem.$k.restarted" || true
  srv_stop
  rm -rf "${WORK:?}/$n"
}

# repeated KIND: the log and snapshot figures again with one value repeated
# in every write (roost-bench --fixed-value, what earlier reports used), on
# a quarter of the znodes: labelled as such beside the random-value rows,
# to show how much of a compressed size is redundancy between writes.
repeated() {
  k=$1; n="$k-rep"; dd="$WORK/$n/data"
  srv_start "$k" "$n"; srv_wait "$k" "$n"
  echo "bench: $k: creating $POPREP znodes (one repeated value)"
  timeout 900 "$BENCH" --hosts "127.0.0.1:$PORT" --server-pid "$PID" \
    --workload create --keys "$POPREP" --value-size 100 --keep --fixed-value \
    --root /populate --sessions 8 --outstanding 64 --duration 890 \
    --json --quiet > "$RES/populate-rep.$k.json" 2> "$RES/populate-rep.$k.err" || true
  $PY "$HELPER" log-bytes "$dd" > "$RES/logbytes-rep.$k"
  srv_stop
  srv_start "$k" "$n" reuse 2000; srv_wait "$k" "$n"
  timeout 300 "$BENCH" --hosts "127.0.0.1:$PORT" --workload set \
    --keys 10000 --sessions 4 --outstanding 16 --duration "$LAT" \
    --fixed-value --root /lat --json --quiet > /dev/null 2>&1 || true
  sleep 5 # let the last snapshot finish
  $PY "$HELPER" snapshot-bytes "$dd" > "$RES/snapbytes-rep.$k"
  srv_stop
  rm -rf "${WORK:?}/$n"
}

POPREP=$((POPULATE / 4))
durable roost
durable zk
repeated roost
repeated zk

$PY "$HELPER" table "$RES" --rounds "$ROUNDS" --duration "$DUR" \
  --warmup "$WARM" --populate "$POPULATE" --lat "$LAT" --mode "$MODE" \
  --zk-heap="$ZK_HEAP" --datadir "$WORK" --elapsed "$(( $(date +%s) - T0 ))" \
  --populate-rep "$POPREP" \
  --out "$TOP/docs/benchmarks.md"
