#!/bin/sh
# `make bench-tls`: the cost of TLS, Roost and Apache ZooKeeper 3.8 side by
# side on loopback, each plain and over TLS (ZooKeeper: its Netty
# connection factory on secureClientPort, the same ssl.* keys).
#
# Certificates: tests/tls/mkcerts.sh (RSA 2048, TLS 1.3 negotiated).
# Workloads (roost-bench, --server-pid for the server's CPU per op):
#   churn    connect + TLS handshake + session + ephemeral + close, 8
#            loops: the handshake rate
#   create   8 sessions x 16 in flight
#   get      8 sessions x 16 in flight (10k keys of 100 B)
#   get-lat  4 sessions x 1 in flight: latency at moderate load
# ROUNDS rounds alternate who goes first; the table (medians) goes to
# stdout and docs/benchmarks-tls.md.  BENCH_QUICK=1: one short round.
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
BENCH="$TOP/build/roost-bench"
SERVER="$TOP/build/roost-server"
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar:/usr/share/java/netty-codec.jar
if [ "${BENCH_QUICK:-0}" = 1 ]; then ROUNDS=1; DUR=2; WARM=0.5; MODE=quick
else ROUNDS=3; DUR=4; WARM=1; MODE=full; fi

WORK=$(mktemp -d /tmp/roost-bench-tls.XXXXXX)
CERTS="$WORK/certs"
RES="$WORK/results"
mkdir -p "$RES"
ROOST_PID=""; ZK_PID=""
stop_pid() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() { stop_pid "$ROOST_PID"; stop_pid "$ZK_PID"; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  $PY - "$1" <<'PYEOF'
import socket, sys, time
port = int(sys.argv[1]); t = time.monotonic() + 120
while time.monotonic() < t:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PYEOF
}

sh "$TOP/tests/tls/mkcerts.sh" "$CERTS" > /dev/null
# cfg DIR PORT SECUREPORT
cfg() {
  mkdir -p "$1/data"
  cat > "$1/zoo.cfg" <<CFG
tickTime=2000
dataDir=$1/data
clientPort=$2
clientPortAddress=127.0.0.1
secureClientPort=$3
maxClientCnxns=1000
admin.enableServer=false
serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
ssl.keyStore.location=$CERTS/server-keystore.pem
ssl.trustStore.location=$CERTS/ca.pem
CFG
}

RP=$(free_port); RS=$(free_port); ZP=$(free_port); ZS=$(free_port)
cfg "$WORK/roost" "$RP" "$RS"
cfg "$WORK/zk" "$ZP" "$ZS"
"$SERVER" "$WORK/roost/zoo.cfg" > "$WORK/roost/server.log" 2>&1 < /dev/null &
ROOST_PID=$!
printf 'log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s/zk/server.log\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n' "$WORK" > "$WORK/zk/log4j.properties"
java -Xmx2g -cp "$ZK_CP" -Dlog4j.configuration="file:$WORK/zk/log4j.properties" \
  -Dzookeeper.admin.enableServer=false \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/zk/zoo.cfg" \
  > "$WORK/zk/stdout.log" 2>&1 < /dev/null &
ZK_PID=$!
for p in $RP $RS $ZP $ZS; do
  wait_port "$p" || { echo "bench-tls: port $p never opened" >&2;
    tail -20 "$WORK"/*/server.log >&2; exit 1; }
done
echo "bench-tls: $MODE run, $ROUNDS round(s) of ${DUR}s; roost pid $ROOST_PID, ZooKeeper pid $ZK_PID"

TLS="--tls-ca $CERTS/ca.pem --tls-cert $CERTS/client1.pem --tls-key $CERTS/client1.key"
WORKLOADS="churn|--workload churn --sessions 8
create|--workload create --keys 2000000
get|--workload get --keys 10000
get-lat|--workload get --keys 10000 --sessions 4 --outstanding 1"

r=1
while [ $r -le $ROUNDS ]; do
  echo "$WORKLOADS" | while IFS='|' read -r name args; do
    if [ $((r % 2)) = 1 ]; then order="roost zk"; else order="zk roost"; fi
    for srv in $order; do
      for tr in plain tls; do
        if [ $srv = roost ]; then pid=$ROOST_PID; p=$RP; s=$RS
        else pid=$ZK_PID; p=$ZP; s=$ZS; fi
        extra=""
        if [ $tr = tls ]; then p=$s; extra=$TLS; fi
        out="$RES/$name.$srv.$tr.$r.json"
        # shellcheck disable=SC2086
        timeout 300 "$BENCH" --hosts "127.0.0.1:$p" --server-pid "$pid" \
          --json --quiet --sessions 8 --outstanding 16 --duration "$DUR" \
          --warmup "$WARM" --seed "$r" --root "/b-$tr" $args $extra \
          > "$out" 2> "$out.err" || echo "bench-tls: $name $srv $tr failed: $(cat "$out.err")" >&2
        echo "  $name $srv $tr: $($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.0f ops/s" % d.get("throughput_ops_s", 0))' "$out" 2>/dev/null || echo failed)"
      done
    done
  done
  r=$((r + 1))
done

$PY - "$RES" "$ROUNDS" "$DUR" "$MODE" "$TOP/docs/benchmarks-tls.md" <<'PYEOF'
import glob, json, os, statistics, sys, subprocess, time
res, rounds, dur, mode, out = sys.argv[1:6]
def load(name, srv, tr):
    rows = []
    for f in glob.glob(os.path.join(res, "%s.%s.%s.*.json" % (name, srv, tr))):
        try:
            d = json.load(open(f))
        except ValueError:
            continue
        if not d.get("failed") and d.get("ops"):
            rows.append(d)
    return rows
def med(rows, f):
    v = [f(d) for d in rows if f(d) is not None]
    return statistics.median(v) if v else None
def fmt(v, spec):
    return "-" if v is None else spec % v
names = [("churn", "handshake + session cycles/s (churn, 8 loops)"),
         ("create", "create ops/s (8 x 16)"),
         ("get", "get ops/s (8 x 16)"),
         ("get-lat", "get p50 / p99 us (4 x 1)")]
lines = ["# TLS: what it costs (make bench-tls)", "",
         "Roost and Apache ZooKeeper 3.8 (Debian's package, Netty connection "
         "factory for both ports) on one machine, each on its plain port and "
         "on its secureClientPort with the same ssl.* keys (RSA 2048 "
         "certificates from tests/tls/mkcerts.sh, client authentication "
         "required, TLS 1.3). roost-bench is the client for all four; "
         "medians of %s round(s) of %s s (%s run), server CPU from /proc "
         "per operation. **Caveat:** a shared 2-core machine with other "
         "work running; compare the columns of one run, not runs." % (rounds, dur, mode),
         "", "| workload | Roost plain | Roost TLS | ZooKeeper plain | ZooKeeper TLS |",
         "|---|---|---|---|---|"]
for name, label in names:
    cells = []
    cpu = []
    for srv in ("roost", "zk"):
        for tr in ("plain", "tls"):
            rows = load(name, srv, tr)
            if name == "get-lat":
                cells.append("%s / %s" % (fmt(med(rows, lambda d: d["latency_us"]["p50"]), "%.0f"),
                                          fmt(med(rows, lambda d: d["latency_us"]["p99"]), "%.0f")))
            else:
                cells.append(fmt(med(rows, lambda d: d["throughput_ops_s"]), "%.0f"))
            cpu.append(fmt(med(rows, lambda d: d.get("server_cpu_us_per_op")), "%.1f"))
    lines.append("| %s | %s |" % (label, " | ".join(cells)))
    lines.append("| &nbsp;&nbsp;server CPU us/op | %s |" % " | ".join(cpu))
lines += ["", "Rows: *churn* opens a connection (TCP + TLS handshake with "
          "both certificates verified), creates a session and an ephemeral "
          "node, closes: the rate at which clients can (re)connect. The "
          "other rows keep their sessions open, so TLS costs only record "
          "encryption there.", "",
          "Run: `make bench-tls` (BENCH_QUICK=1 for one short round); "
          "written %s." % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), ""]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
PYEOF
