#!/bin/sh
# Durability figures, Roost vs Apache ZooKeeper 3.8 (default forceSync=yes),
# same machine, one server at a time:
#   - snapshot bytes with N znodes of 100 bytes (the newest snapshot file:
#     Roost's snapshot.<zxid>, ZooKeeper's dataDir/version-2/snapshot.<zxid>)
#   - log bytes per 100-byte create (ZooKeeper's log files are preallocated
#     with zeros: the trailing zeros are not counted)
#   - restart time with N znodes until the first read is served
#   - p99 setData latency (4 sessions, 1 outstanding) with a snapshot being
#     written (snapCount=2000: back-to-back snapshots of the whole tree)
#     vs without (snapCount=1000000000)
# Prints a Markdown section on stdout.  N=1000000 by default
# (DUR_POPULATE).  Needs build/roost-server and build/roost-bench (release).
set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
HELPER="$TOP/tools/scripts/bench_report.py"
BENCH="$TOP/build/roost-bench"
SERVER="$TOP/build/roost-server"
ZK_CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar
N=${DUR_POPULATE:-1000000}
LAT_SECONDS=${DUR_LAT_SECONDS:-15}

WORK=$(mktemp -d /tmp/roost-dbench.XXXXXX)
PID=""
stop_pid() {
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() { stop_pid "$PID"; [ -n "${DUR_KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cfg() { # DIR SNAPCOUNT
  mkdir -p "$1/data"
  cat > "$1/zoo.cfg" <<EOF
tickTime=2000
dataDir=$1/data
clientPort=$PORT
clientPortAddress=127.0.0.1
maxClientCnxns=1000
4lw.commands.whitelist=*
admin.enableServer=false
snapCount=$2
EOF
}

start() { # KIND DIR
  if [ "$1" = roost ]; then
    "$SERVER" "$2/zoo.cfg" >> "$2/server.log" 2>&1 < /dev/null &
  else
    [ -f "$2/log4j.properties" ] || cat > "$2/log4j.properties" <<EOF
log4j.rootLogger=WARN, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=$2/server.log
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [%t] %-5p %c{1} - %m%n
EOF
    java -Xmx4g -cp "$ZK_CP" -Dlog4j.configuration="file:$2/log4j.properties" \
      -Dzookeeper.admin.enableServer=false \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$2/zoo.cfg" \
      >> "$2/stdout.log" 2>&1 < /dev/null &
  fi
  PID=$!
}

newest_snapshot_bytes() { # DIR
  $PY - "$1" <<'PYEOF'
import glob, os, sys
d = sys.argv[1]
best = None
for p in glob.glob(os.path.join(d, "snapshot.*")) + glob.glob(os.path.join(d, "version-2", "snapshot.*")):
    try:
        z = int(p.rsplit(".", 1)[1], 16)
    except ValueError:
        continue
    if best is None or z > best[0]:
        best = (z, p)
print(os.path.getsize(best[1]) if best else 0)
PYEOF
}

log_bytes() { # DIR: bytes of the log files up to their last non-zero byte
  $PY - "$1" <<'EOF'
import glob, os, sys
d = sys.argv[1]
total = 0
for p in glob.glob(os.path.join(d, "log.*")) + glob.glob(os.path.join(d, "version-2", "log.*")):
    with open(p, "rb") as f:
        b = f.read()
    total += len(b.rstrip(b"\0"))
print(total)
EOF
}

p99() { # JSON file -> p99 latency in ms
  $PY -c 'import json,sys
try:
    print("%.2f" % (json.load(open(sys.argv[1]))["latency_us"]["p99"] / 1000.0))
except Exception:
    print("?")' "$1"
}

one() { # KIND
  kind=$1; d="$WORK/$kind"; cfg "$d" 100000
  start "$kind" "$d"
  $PY "$HELPER" wait-ready "127.0.0.1:$PORT" 60
  echo "durability: $kind: creating $N znodes" >&2
  t0=$(date +%s)
  timeout 1200 "$BENCH" --hosts "127.0.0.1:$PORT" --workload create --keys "$N" \
    --value-size 100 --keep --root /populate --sessions 8 --outstanding 64 \
    --duration 1190 --json --quiet > "$d/populate.json" 2>/dev/null || true
  echo "durability: $kind: populated in $(( $(date +%s) - t0 )) s" >&2
  logb=$(log_bytes "$d/data")
  # latency without snapshots, then with back-to-back snapshots
  stop_pid "$PID"; PID=""
  cfg "$d" 1000000000; start "$kind" "$d"; $PY "$HELPER" wait-ready "127.0.0.1:$PORT" 300
  "$BENCH" --hosts "127.0.0.1:$PORT" --workload set --keys 10000 --sessions 4 \
    --outstanding 1 --duration "$LAT_SECONDS" --warmup 1 --root /lat --json --quiet \
    > "$d/lat.nosnap.json" 2>/dev/null || true
  stop_pid "$PID"; PID=""
  cfg "$d" 2000; start "$kind" "$d"; $PY "$HELPER" wait-ready "127.0.0.1:$PORT" 300
  "$BENCH" --hosts "127.0.0.1:$PORT" --workload set --keys 10000 --sessions 4 \
    --outstanding 1 --duration "$LAT_SECONDS" --warmup 1 --root /lat --json --quiet \
    > "$d/lat.snap.json" 2>/dev/null || true
  sleep 5 # let the last snapshot finish
  snapb=$(newest_snapshot_bytes "$d/data")
  # restart: until a read of the loaded tree is answered
  stop_pid "$PID"; PID=""
  t_start=$($PY -c 'import time; print(time.monotonic())')
  start "$kind" "$d"
  rst=$($PY "$HELPER" first-read "127.0.0.1:$PORT" /populate 300 "$t_start" || echo failed)
  stop_pid "$PID"; PID=""
  echo "$kind $snapb $logb $rst $(p99 "$d/lat.nosnap.json") $(p99 "$d/lat.snap.json")"
}

R=$(one roost)
Z=$(one zk)
echo "$R" > "$WORK/r"; echo "$Z" > "$WORK/z"
$PY - "$N" "$R" "$Z" <<'EOF'
import sys, datetime
n = int(sys.argv[1])
r = sys.argv[2].split(); z = sys.argv[3].split()
def mb(x): return "%.1f MB" % (int(x) / 1e6)
def per(x): return "%.0f" % (int(x) / n)
def ratio(a, b):
    try: return "%.2f" % (float(a) / float(b))
    except Exception: return "?"
print("## Durability\n")
print("Measured %s on a shared 2-core VM (the load generator runs on the same"
      " cores; treat ratios, not absolute values, as the result). "
      "%d znodes of 100 bytes; ZooKeeper 3.8 from Debian with default"
      " forceSync=yes, started by hand as tools/scripts/bench.sh does;"
      " tools/scripts/bench_durability.sh.\n" % (datetime.date.today(), n))
print("| figure | Roost | ZooKeeper | Roost / ZooKeeper |")
print("|---|---|---|---|")
print("| snapshot bytes, %d znodes | %s | %s | %s |" % (n, mb(r[1]), mb(z[1]), ratio(r[1], z[1])))
print("| log bytes per 100-byte create | %s | %s | %s |" % (per(r[2]), per(z[2]), ratio(r[2], z[2])))
print("| restart until the first read, s | %s | %s | %s |" % (r[3], z[3], ratio(r[3], z[3])))
print("| p99 setData latency, no snapshot running, ms | %s | %s | %s |" % (r[4], z[4], ratio(r[4], z[4])))
print("| p99 setData latency, snapshots running, ms | %s | %s | %s |" % (r[5], z[5], ratio(r[5], z[5])))
EOF
