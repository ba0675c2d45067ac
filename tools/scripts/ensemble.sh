#!/bin/sh
# ensemble.sh start|stop|status — three roost-server processes on loopback,
# each with its own dataDir and myid and a plain ZooKeeper zoo.cfg (no
# Roost-only key: sessions move between members as they do on ZooKeeper).
# Ports: client 2181..2183
# (ENSEMBLE_CLIENT_BASE), peers 2888..2890 (ENSEMBLE_PEER_BASE).
set -eu
DIR=${ENSEMBLE_DIR:-/tmp/roost-ensemble}
BIN=${ROOST_SERVER:-build/roost-server}
CBASE=${ENSEMBLE_CLIENT_BASE:-2181}
PBASE=${ENSEMBLE_PEER_BASE:-2888}
N=3

connect_string() {
  s=""
  for i in 1 2 3; do s="$s${s:+,}127.0.0.1:$((CBASE + i - 1))"; done
  echo "$s"
}

start() {
  mkdir -p "$DIR"
  for i in 1 2 3; do
    d="$DIR/s$i"
    mkdir -p "$d/data"
    echo "$i" > "$d/data/myid"
    {
      echo "tickTime=500"
      echo "initLimit=10"
      echo "syncLimit=5"
      echo "dataDir=$d/data"
      echo "clientPort=$((CBASE + i - 1))"
      echo "clientPortAddress=127.0.0.1"
      echo "4lw.commands.whitelist=*"
      for j in 1 2 3; do
        echo "server.$j=127.0.0.1:$((PBASE + j - 1)):$((PBASE + 1000 + j - 1))"
      done
    } > "$d/zoo.cfg"
    if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then
      echo "server $i already running (pid $(cat "$d/pid"))"
      continue
    fi
    nohup "$BIN" "$d/zoo.cfg" > "$d/server.log" 2>&1 &
    echo $! > "$d/pid"
  done
  sleep 1
  status
  echo "connect string: $(connect_string)"
}

stop() {
  for i in 1 2 3; do
    d="$DIR/s$i"
    if [ -f "$d/pid" ]; then
      kill "$(cat "$d/pid")" 2>/dev/null || true
      rm -f "$d/pid"
    fi
  done
  echo "stopped (data kept in $DIR)"
}

status() {
  for i in 1 2 3; do
    port=$((CBASE + i - 1))
    mode=$(printf srvr | nc -q1 127.0.0.1 "$port" 2>/dev/null | sed -n 's/^Mode: //p')
    echo "server $i 127.0.0.1:$port ${mode:-down}"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status; echo "connect string: $(connect_string)" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
