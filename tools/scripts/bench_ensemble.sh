#!/bin/sh
# `make bench-ensemble`: a 3-server Roost ensemble against a 3-server Apache
# ZooKeeper 3.8 ensemble, on one machine, in one run.
#
# Starts three build/roost-server members and three ZooKeeper members
# (Debian's package, by hand with java), each member with its own dataDir,
# myid and zoo.cfg, the same tickTime/initLimit/syncLimit for both, fsync
# on (forceSync=yes).  Waits until each ensemble has one leader and three
# serving members, then runs roost-bench workloads (create and setData
# saturating, setData at moderate load for latency, getData) against the
# full connect string of each ensemble, alternating Roost/ZooKeeper, for
# several rounds; server CPU is summed over the three members.  Then the
# fail-over figure for each: under a light write load through the two
# other members, kill -9 the leader and time the first write committed
# through a survivor (bench_ensemble.py failover); the killed member is
# restarted on its data, and the time until all three serve again is kept
# too.  The table (medians) goes to stdout and
# to docs/benchmarks-ensemble.md.
#
#   BENCH_QUICK=1   one round, one fail-over repetition: a ~1 minute smoke run
#
# Expects build/roost-server and build/roost-bench (the bench-ensemble
# target builds them).  Everything runs on 127.0.0.1 with free ports; every
# process this script starts is stopped by pid when it exits, also on
# Ctrl-C or a failure.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
HELPER="$TOP/tools/scripts/bench_ensemble.py"
BENCH="$TOP/build/roost-bench"
SERVER="$TOP/build/roost-server"
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
# Three JVMs share the machine with three roost-servers: 1 GiB of heap
# each is plenty for these key spaces.
ZK_HEAP=-Xmx1g
# Shorter than ZooKeeper's default tickTime=2000 so fail-over is not
# dominated by the tick; the same for both ensembles.
TICK=500
INIT_LIMIT=10
SYNC_LIMIT=5
# A member restarted after its fail-over repetition must be serving again
# within this many seconds, else the remaining repetitions are skipped.
REJOIN_MAX=90

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  ROUNDS=1; DUR=2; WARM=0.5; FO_REPS=1; MODE=quick
else
  ROUNDS=4; DUR=3; WARM=1; FO_REPS=3; MODE=full
fi

for f in "$BENCH" "$SERVER"; do
  [ -x "$f" ] || { echo "bench-ensemble: $f is missing (run make bench-ensemble)" >&2; exit 1; }
done
[ -r /usr/share/java/zookeeper.jar ] || {
  echo "bench-ensemble: Apache ZooKeeper is not installed (make deps)" >&2; exit 1; }
command -v java >/dev/null || { echo "bench-ensemble: java is missing (make deps)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/roost-bench-ensemble.XXXXXX)
RES="$WORK/results"
mkdir -p "$RES"
# Member pids: PID_roost_1 .. PID_zk_3 (set with eval); CHILD: the
# roost-bench or helper run being waited for.
# shellcheck disable=SC2034 # read through eval (pid_of)
{ PID_roost_1=""; PID_roost_2=""; PID_roost_3=""
  PID_zk_1=""; PID_zk_2=""; PID_zk_3=""; }
CHILD=""

# SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  for s in roost zk; do
    for i in 1 2 3; do stop_pid "$(pid_of $s $i)"; eval "PID_${s}_$i=''"; done
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench-ensemble: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pid_of() { eval "echo \"\${PID_$1_$2}\""; }

# in_child OUT ERR CMD...: runs CMD in the background and waits for it, so
# a signal reaches our trap at once (a foreground child would delay it).
# Returns CMD's exit status.
in_child() {
  o=$1; e=$2; shift 2
  "$@" > "$o" 2> "$e" < /dev/null &
  CHILD=$!
  rc=0
  wait "$CHILD" || rc=$?
  CHILD=""
  return $rc
}

# Ports: client, peer, election for each member of each ensemble.
PORTS=$($PY "$HELPER" free-ports 18 | tr '\n' ' ')
port_n() { echo "$PORTS" | cut -d' ' -f"$1"; }
# port KIND MEMBER WHICH (WHICH: 0 client, 1 peer, 2 election)
port() {
  base=0; [ "$1" = zk ] && base=9
  port_n $((base + ($2 - 1) * 3 + $3 + 1))
}
hosts_of() {
  echo "127.0.0.1:$(port "$1" 1 0),127.0.0.1:$(port "$1" 2 0),127.0.0.1:$(port "$1" 3 0)"
}
pids_of() { echo "$(pid_of "$1" 1),$(pid_of "$1" 2),$(pid_of "$1" 3)"; }

# write_cfg KIND MEMBER: the member's dataDir, myid and zoo.cfg.  Both
# kinds get the same keys (a plain ZooKeeper zoo.cfg).
write_cfg() {
  d="$WORK/$1$2"
  mkdir -p "$d/data"
  echo "$2" > "$d/data/myid"
  {
    echo "tickTime=$TICK"
    echo "initLimit=$INIT_LIMIT"
    echo "syncLimit=$SYNC_LIMIT"
    echo "dataDir=$d/data"
    echo "clientPort=$(port "$1" "$2" 0)"
    echo "clientPortAddress=127.0.0.1"
    echo "maxClientCnxns=1000"
    echo "4lw.commands.whitelist=*"
    echo "admin.enableServer=false"
    echo "forceSync=yes"
    echo "snapCount=100000"
    for j in 1 2 3; do
      echo "server.$j=127.0.0.1:$(port "$1" $j 1):$(port "$1" $j 2)"
    done
  } > "$d/zoo.cfg"
  if [ "$1" = zk ]; then
    cat > "$d/log4j.properties" <<EOF
log4j.rootLogger=WARN, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$d/server.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [%t] %-5p %c{1} - %m%n
EOF
  fi
}

# start_member KIND MEMBER: starts it on its existing dataDir and config.
start_member() {
  d="$WORK/$1$2"
  if [ "$1" = roost ]; then
    "$SERVER" "$d/zoo.cfg" >> "$d/server.log" 2>&1 < /dev/null &
  else
    java $ZK_HEAP -cp "$ZK_CP" -Dlog4j.configuration="file:$d/log4j.properties" \
      -Dzookeeper.admin.enableServer=false \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" \
      >> "$d/stdout.log" 2>&1 < /dev/null &
  fi
  eval "PID_$1_$2=$!"
}

# try_leader KIND SECONDS: until one leader and three serving members;
# sets LEADER (1..3).  Fails after SECONDS.
try_leader() {
  in_child "$WORK/leader.$1" "$WORK/leader.$1.err" \
    $PY "$HELPER" wait-leader "$(hosts_of "$1")" "$2" || return 1
  LEADER=$(cat "$WORK/leader.$1")
}

# wait_leader KIND: the same within 120 s, or the run ends here.
wait_leader() {
  if ! try_leader "$1" 120; then
    echo "bench-ensemble: the $1 ensemble has no leader: $(cat "$WORK/leader.$1.err")" >&2
    for i in 1 2 3; do
      echo "--- $1 member $i (pid $(pid_of "$1" $i)):" >&2
      tail -5 "$WORK/$1$i/server.log" >&2 2>/dev/null || true
      if [ "$1" = zk ]; then tail -5 "$WORK/$1$i/stdout.log" >&2 2>/dev/null || true; fi
    done
    exit 1
  fi
}

alive() {
  for i in 1 2 3; do kill -0 "$(pid_of "$1" $i)" 2>/dev/null || return 1; done
}

# run NAME KIND ROUND ARGS...: one roost-bench run over the whole
# ensemble, its JSON kept even when it fails (the table shows the failure).
run() {
  name=$1; k=$2; round=$3; shift 3
  out="$RES/$name.$k.$round.json"
  if ! alive "$k"; then
    echo "bench-ensemble: a $k member is not running; skipping $name" >&2
    return 0
  fi
  if in_child "$out" "$out.err" timeout 300 "$BENCH" --hosts "$(hosts_of "$k")" \
      --server-pid "$(pids_of "$k")" --json --quiet "$@"; then
    st=ok
  else
    st="FAILED (exit $?)"
  fi
  $PY "$TOP/tools/scripts/bench_report.py" line "$out" "$name" "$k" "$round" "$st"
}

now() { $PY -c 'import time; print(time.monotonic())'; }
since() { $PY -c 'import sys, time; print("%.2f" % (time.monotonic() - float(sys.argv[1])))' "$1"; }

# failover KIND REP: kill -9 the leader under load, time the first write
# through a survivor, restart the killed member and wait for three
# serving members again.
failover() {
  k=$1; rep=$2
  wait_leader "$k"
  killed=$LEADER
  out="$RES/failover.$k.$rep"
  in_child "$out" "$out.err" timeout 120 \
    $PY "$HELPER" failover "$(hosts_of "$k")" "$(pids_of "$k")" "$killed" || true
  p=$(pid_of "$k" "$killed")
  kill -9 "$p" 2>/dev/null || true # if the helper failed before its kill
  wait "$p" 2>/dev/null || true
  eval "PID_${k}_$killed=''"
  echo "  failover     $k round $rep: killed member $killed: $(cat "$out" 2>/dev/null || echo 'no result')"
  t=$(now)
  start_member "$k" "$killed"
  if try_leader "$k" "$REJOIN_MAX"; then
    since "$t" > "$RES/rejoin.$k.$rep"
    echo "  failover     $k round $rep: member $killed restarted on its data; 3 members serving after $(cat "$RES/rejoin.$k.$rep") s"
  else
    # Recorded as a failure; the ensemble is not whole, so no more
    # repetitions for this kind.
    echo "more than $REJOIN_MAX s: $(cat "$WORK/leader.$k.err")" > "$RES/rejoin.$k.$rep"
    echo "  failover     $k round $rep: member $killed restarted, but the ensemble did not have 3 serving members within $REJOIN_MAX s; no more repetitions for $k"
    eval "FO_DONE_$k=1"
  fi
}

T0=$(date +%s)
echo "bench-ensemble: $MODE run: $ROUNDS round(s) of ${DUR}s (+${WARM}s warm-up) per workload and ensemble, $FO_REPS fail-over repetition(s); tickTime=$TICK initLimit=$INIT_LIMIT syncLimit=$SYNC_LIMIT; work dir $WORK"
for k in roost zk; do
  for i in 1 2 3; do write_cfg $k $i; start_member $k $i; done
done
wait_leader roost; ROOST_LEADER=$LEADER
wait_leader zk; ZK_LEADER=$LEADER
echo "bench-ensemble: Roost $(hosts_of roost) pids $(pids_of roost), leader member $ROOST_LEADER"
echo "bench-ensemble: ZooKeeper $(hosts_of zk) pids $(pids_of zk), leader member $ZK_LEADER"
echo "bench-ensemble: ensembles ready after $(( $(date +%s) - T0 )) s"

# name | roost-bench arguments.  Throughput rows saturate the ensemble
# with 8 sessions x 16 requests in flight; set-lat is a moderate load
# (4 sessions, one request each) for latency.
WORKLOADS="create|--workload create
set|--workload set --keys 1000
set-lat|--workload set --keys 1000 --sessions 4 --outstanding 1
get|--workload get --keys 1000"

r=1
while [ $r -le $ROUNDS ]; do
  # A here-document, not a pipe: run must execute in this shell, where
  # CHILD is seen by the trap.
  while IFS='|' read -r name args; do
    # Alternate who goes first, so neither always runs on a warmer machine.
    if [ $((r % 2)) = 1 ]; then order="roost zk"; else order="zk roost"; fi
    for k in $order; do
      # Defaults first: getopt keeps the last value, so a row's own
      # --sessions/--outstanding win.
      # shellcheck disable=SC2086
      run "$name" "$k" "$r" --sessions 8 --outstanding 16 \
        --duration "$DUR" --warmup "$WARM" --seed "$r" $args
    done
  done <<EOF
$WORKLOADS
EOF
  r=$((r + 1))
done

echo "bench-ensemble: workloads done after $(( $(date +%s) - T0 )) s; fail-over"
# shellcheck disable=SC2034 # read through eval: 1 once a kind's ensemble
# could not be made whole again
FO_DONE_roost=0
# shellcheck disable=SC2034
FO_DONE_zk=0
r=1
while [ $r -le $FO_REPS ]; do
  if [ $((r % 2)) = 1 ]; then order="roost zk"; else order="zk roost"; fi
  for k in $order; do
    if [ "$(eval "echo \$FO_DONE_$k")" = 0 ]; then failover "$k" "$r"; fi
  done
  r=$((r + 1))
done

$PY "$HELPER" table "$RES" --rounds "$ROUNDS" --duration "$DUR" \
  --warmup "$WARM" --fo-reps "$FO_REPS" --tick "$TICK" \
  --init-limit "$INIT_LIMIT" --sync-limit "$SYNC_LIMIT" --zk-heap="$ZK_HEAP" \
  --roost-leader "$ROOST_LEADER" --zk-leader "$ZK_LEADER" --mode "$MODE" \
  --elapsed "$(( $(date +%s) - T0 ))" --out "$TOP/docs/benchmarks-ensemble.md"
