#!/usr/bin/python3
"""Helpers for tools/scripts/bench_ensemble.sh (`make bench-ensemble`).

  free-ports N                    N distinct free loopback ports, one a line
  wait-leader HOSTS SECONDS       until exactly one member of HOSTS
                                  (h:p,h:p,...) says "Mode: leader", every
                                  other one "Mode: follower", and each one
                                  accepts a new session; prints the leader's
                                  1-based position in HOSTS
  failover HOSTS PIDS LEADER      light write load through the members other
                                  than LEADER (1-based), then kill -9 the
                                  LEADER's pid (PIDS: p,p,p in HOSTS order)
                                  and time the first write committed through
                                  a surviving member; one JSON line
  table RESULTS_DIR [options]     the comparison table, to stdout and --out

Shares its wire helpers, medians and formatting with bench_report.py.
"""

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report as br  # noqa: E402

OP_CREATE = 1
OP_SETDATA = 5
OP_CLOSE = -11
ERR_NODEEXISTS = -110


class ProtoError(Exception):
    pass


def pstr(b):
    return struct.pack(">i", len(b)) + b


class Session:
    """One blocking client session on one server (the frames of
    docs/zookeeper-wire-protocol.md).  reconnect() resumes the same session
    (id, password, last zxid seen), as a real client does after a server
    drops it."""

    def __init__(self, hostport, timeout_ms=10000):
        host, port = hostport.rsplit(":", 1)
        self.addr = (host, int(port))
        self.timeout_ms = timeout_ms
        self.sid = 0
        self.passwd = b"\0" * 16
        self.zxid = 0
        self.xid = 0
        self.sock = None

    def connect(self):
        self.close_socket()
        s = socket.create_connection(self.addr, timeout=5.0)
        try:
            body = struct.pack(">iqiq", 0, self.zxid, self.timeout_ms,
                               self.sid) + pstr(self.passwd) + b"\0"
            s.sendall(struct.pack(">i", len(body)) + body)
            resp = br.recv_frame(s)
            _, tmo, sid = struct.unpack(">iiq", resp[:16])
            (plen,) = struct.unpack(">i", resp[16:20])
            if tmo <= 0 or sid == 0:
                # Expired (or refused): the next attempt opens a new one.
                self.sid, self.passwd, self.zxid = 0, b"\0" * 16, 0
                raise ProtoError("session refused")
            self.sid, self.passwd = sid, resp[20:20 + plen]
        except BaseException:
            s.close()
            raise
        self.sock = s

    def close_socket(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, op, body):
        """Sends one request, returns (err, reply body).  Raises OSError,
        ConnectionError or ProtoError when the connection is gone."""
        if self.sock is None:
            raise ProtoError("not connected")
        self.xid += 1
        hdr = struct.pack(">ii", self.xid, op)
        self.sock.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
        while True:
            rep = br.recv_frame(self.sock)
            xid, zxid, err = struct.unpack(">iqi", rep[:16])
            if zxid > self.zxid:
                self.zxid = zxid
            if xid == self.xid:
                return err, rep[16:]
            if xid >= 0:
                raise ProtoError("reply out of order")
            # -1 watch event, -2 ping: not ours.

    def create(self, path, data):
        acl = struct.pack(">ii", 1, 31) + pstr(b"world") + pstr(b"anyone")
        return self.request(OP_CREATE, pstr(path.encode()) + pstr(data) +
                            acl + struct.pack(">i", 0))[0]

    def set_data(self, path, data):
        return self.request(OP_SETDATA, pstr(path.encode()) + pstr(data) +
                            struct.pack(">i", -1))[0]

    def close(self):
        try:
            if self.sock is not None:
                self.request(OP_CLOSE, b"")
        except (OSError, ConnectionError, ProtoError, struct.error):
            pass
        self.close_socket()


def mode(hostport):
    try:
        for line in br.four_letter(hostport, "srvr").splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
    except OSError:
        pass
    return None


def accepts_session(hostport):
    s = Session(hostport)
    try:
        s.connect()
        return True
    except (OSError, ConnectionError, ProtoError, struct.error):
        return False
    finally:
        s.close()


def cmd_free_ports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
        s.close()
    return 0


def cmd_wait_leader(hosts, seconds):
    members = hosts.split(",")
    deadline = time.monotonic() + float(seconds)
    modes = []
    while time.monotonic() < deadline:
        modes = [mode(h) for h in members]
        if modes.count("leader") == 1 and all(
                m in ("leader", "follower") for m in modes) and all(
                accepts_session(h) for h in members):
            print(modes.index("leader") + 1)
            return 0
        time.sleep(0.1)
    print("no serving ensemble: %s" % ", ".join(
        "%s %s" % (h, m or "down") for h, m in zip(members, modes)),
        file=sys.stderr)
    return 1


class FailoverState:
    def __init__(self, n):
        self.lock = threading.Lock()
        self.stop = False
        self.kill_time = None
        self.ok = [0] * n
        self.failed = [0] * n
        self.first_after = [None] * n  # reply time of the first write sent
        # after the kill


def writer(i, hostport, path, st):
    """Back-to-back setData through one member.  A write counts for the
    fail-over figure only if it was sent after the kill, so a reply that
    was already on its way when the leader died does not count."""
    sess = Session(hostport)
    data = b"x" * 100
    while not st.stop:
        try:
            if sess.sock is None:
                sess.connect()
            t_send = time.monotonic()
            err = sess.set_data(path, data)
            t_done = time.monotonic()
        except (OSError, ConnectionError, ProtoError, struct.error):
            sess.close_socket()
            with st.lock:
                st.failed[i] += 1
            time.sleep(0.01)
            continue
        with st.lock:
            if err != 0:
                st.failed[i] += 1
            else:
                st.ok[i] += 1
                if st.kill_time is not None and t_send >= st.kill_time \
                        and st.first_after[i] is None:
                    st.first_after[i] = t_done
        if err != 0:
            time.sleep(0.01)
    sess.close()


def cmd_failover(hosts, pids, leader):
    members = hosts.split(",")
    pids = [int(p) for p in pids.split(",")]
    leader = int(leader)
    survivors = [h for k, h in enumerate(members) if k + 1 != leader]
    root = "/roost-failover"
    setup = Session(survivors[0])
    setup.connect()
    for p in [root] + ["%s/w%d" % (root, k) for k in range(len(survivors))]:
        err = setup.create(p, b"")
        if err not in (0, ERR_NODEEXISTS):
            print(json.dumps({"failed": True,
                              "message": "create %s: error %d" % (p, err)}))
            return 1
    setup.close()

    st = FailoverState(len(survivors))
    threads = [threading.Thread(target=writer, daemon=True,
                                args=(k, h, "%s/w%d" % (root, k), st))
               for k, h in enumerate(survivors)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    with st.lock:
        before = list(st.ok)
        st.kill_time = time.monotonic()
    os.kill(pids[leader - 1], signal.SIGKILL)
    deadline = st.kill_time + 60
    while time.monotonic() < deadline:
        with st.lock:
            if all(t is not None for t in st.first_after):
                break
        time.sleep(0.01)
    with st.lock:
        st.stop = True
        firsts = [t - st.kill_time for t in st.first_after if t is not None]
        failed = list(st.failed)
    for t in threads:
        t.join(10)
    r = {
        "killed": leader,
        "writes_before_kill": before,
        "failed_attempts": failed,
        "first_write_s": min(firsts) if firsts else None,
        "all_survivors_s": max(firsts) if len(firsts) == len(survivors)
        else None,
        "failed": not firsts or min(before) == 0,
        "message": "" if firsts else "no write committed within 60 s",
    }
    if min(before) == 0:
        r["message"] = "a writer had no write before the kill"
    print(json.dumps(r))
    return 0


# --------------------------------------------------------------------------
# The table.

ORDER = ["create", "set", "set-lat", "get"]
DESCR = {
    "create": "create (100 B, 8 sessions x 16 in flight)",
    "set": "setData (100 B, 1k keys, 8 x 16)",
    "set-lat": "setData, moderate load (4 x 1)",
    "get": "getData (1k keys, 8 x 16)",
}


def load_lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def failover_summary(resdir, srv):
    runs, notes = [], []
    k = 1
    while os.path.exists(os.path.join(resdir, "failover.%s.%d" % (srv, k))):
        rs = load_lines(os.path.join(resdir, "failover.%s.%d" % (srv, k)))
        r = rs[-1] if rs else None
        if r is None or r.get("failed"):
            notes.append("repetition %d: %s" % (
                k, "no result" if r is None else r.get("message")))
        else:
            runs.append(r)
        k += 1
    return runs, notes


def cmd_table(a):
    runs = br.collect(a.results)
    lines = []
    out = lines.append
    out("| workload | figure | Roost | ZooKeeper | Roost / ZK | goal |")
    out("|---|---|---:|---:|---:|---|")
    problems = []

    def row(label, fig, rv, zv, unit, goal=None):
        x = br.ratio(rv, zv)
        out("| %s | %s | %s | %s | %s | %s |" % (
            label, fig, br.fmt(rv, unit), br.fmt(zv, unit), br.fmt_ratio(x),
            br.goal_text(goal, x)))

    for name in ORDER:
        ro, rn = br.summarize(runs.get((name, "roost"), []))
        zk, zn = br.summarize(runs.get((name, "zk"), []))
        for srv, notes in (("Roost", rn), ("ZooKeeper", zn)):
            for n in notes:
                problems.append("%s on %s: %s" % (name, srv, n))
        write = name != "get"
        tput_goal = ("≥", 3) if name in ("create", "set") else None
        figs = [("throughput (ops/s)", "tput", "ops/s", tput_goal),
                ("latency p50 (µs)", "p50", "us", None),
                ("latency p99 (µs)", "p99", "us", None),
                ("server CPU, 3 members (µs/op)", "srv", "us", None),
                ("roost-bench CPU (µs/op)", "bench", "us", None)]
        first = True
        for fig, key, unit, goal in figs:
            row(DESCR[name] + (" ¹" if write else "") if first else "", fig,
                ro[key] if ro else None, zk[key] if zk else None, unit, goal)
            first = False

    fo = {}
    for srv in ("roost", "zk"):
        good, notes = failover_summary(a.results, srv)
        fo[srv] = good
        for n in notes:
            problems.append("fail-over on %s: %s" % (
                "Roost" if srv == "roost" else "ZooKeeper", n))

    def fo_med(srv, key):
        vals = [r[key] for r in fo[srv] if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def fo_range(srv, key):
        vals = sorted(r[key] for r in fo[srv] if r.get(key) is not None)
        if not vals:
            return "–"
        return "%.2f–%.2f" % (vals[0], vals[-1])

    label = "leader fail-over: kill -9 of the leader under 2 writers ²"
    row(label, "to the first committed write through a survivor (s, median "
        "of %d / %d)" % (len(fo["roost"]), len(fo["zk"])),
        fo_med("roost", "first_write_s"), fo_med("zk", "first_write_s"), "s")
    out("| | the same: min–max (s) | %s | %s | | |" % (
        fo_range("roost", "first_write_s"), fo_range("zk", "first_write_s")))
    row("", "until both survivors committed a write (s, median)",
        fo_med("roost", "all_survivors_s"), fo_med("zk", "all_survivors_s"),
        "s")

    def rejoin(srv):
        vals = []
        k = 1
        while True:
            path = os.path.join(a.results, "rejoin.%s.%d" % (srv, k))
            if not os.path.exists(path):
                break
            v = br.read_num(path)
            if v is None:
                with open(path) as f:
                    problems.append("restart after fail-over %d on %s: %s" % (
                        k, "Roost" if srv == "roost" else "ZooKeeper",
                        f.read().strip()))
            else:
                vals.append(v)
            k += 1
        return statistics.median(vals) if vals else None

    row("", "killed member restarted on its data: until 3 members serve "
        "again (s, median) ³", rejoin("roost"), rejoin("zk"), "s")

    model, mem, java = br.machine()
    date = time.strftime("%Y-%m-%d %H:%M %Z")
    head = []
    h = head.append
    h("# Benchmarks: a 3-server Roost ensemble against a 3-server Apache "
      "ZooKeeper 3.8 ensemble")
    h("")
    h("Written by `make bench-ensemble` (tools/scripts/bench_ensemble.sh) on "
      "%s%s." % (date, ", **quick mode (BENCH_QUICK=1): one short round, "
                 "figures are rough**" if a.mode == "quick" else ""))
    h("")
    h("- Machine: %d CPUs (`nproc`), %s, %s, Linux %s." % (
        os.cpu_count() or 0, model, mem, platform.release()))
    h("- **Caveat:** all six servers (three roost-server processes, three "
      "ZooKeeper JVMs) and the load generator run on the same machine, %d "
      "CPUs, which other jobs may share; both ensembles run the whole "
      "time, one idle while the other is measured. A real ensemble has a "
      "machine (and a disk) per member, so absolute figures here are far "
      "below what either system does when deployed; the ratios, and the "
      "CPU per operation, are the figures to read. Every workload figure "
      "is the median of %d round(s) of %g s (after %g s warm-up) in this "
      "one run; the servers alternate per workload and the order flips "
      "every round." % (os.cpu_count() or 0, a.rounds, a.duration,
                        a.warmup))
    h("- Both ensembles: 3 members on 127.0.0.1 with distinct free ports, "
      "each member its own dataDir (with myid) and zoo.cfg with the same "
      "keys: `tickTime=%d`, `initLimit=%d`, `syncLimit=%d`, `forceSync=yes`, "
      "`snapCount=100000`, `maxClientCnxns=1000`, "
      "`server.N=127.0.0.1:PEER:ELECTION` (Roost carries election on the "
      "peer port and parses the election port without opening it); "
      "nothing Roost-only." % (
          a.tick, a.init_limit, a.sync_limit))
    h("- ZooKeeper: Debian's 3.8.0 jars, each member `java %s` (%s), "
      "default GC and JIT, log4j at WARN to a file, admin server off." % (
          a.zk_heap, java or "java"))
    h("- Roost: build/roost-server (release build). The leader prepares "
      "and proposes queued writes without waiting for earlier ones to "
      "commit (up to 1,000 in flight, validated against the tree plus the "
      "pending changes), and one connection may have up to 128 writes in "
      "flight (docs/ensemble.md, \"Writes\"); each member fsyncs with "
      "group commit.")
    h("- Sessions are spread round-robin over the full connect string "
      "(roost-bench gives session i member i mod 3), so writes from "
      "sessions on followers are forwarded to the leader, as in a real "
      "deployment. Leaders during the rounds: Roost member %s, ZooKeeper "
      "member %s." % (a.roost_leader, a.zk_leader))
    h("- ¹ Writes: every member fsyncs its log before it acknowledges a "
      "proposal (forceSync=yes), and a write is answered once a quorum "
      "(2 of 3) has logged it.")
    h("- Server CPU: utime+stime of the three member processes from "
      "/proc/PID/stat over the measured interval, summed, divided by the "
      "operations (`roost-bench --server-pid P1,P2,P3`).")
    h("- ² After the rounds, %d repetition(s) per system: two client "
      "sessions, one on each member that is not the leader, write back to "
      "back (setData of 100 B, one in flight each) for 1.5 s; then the "
      "leader gets SIGKILL. Each writer reconnects to its own member with "
      "its session (every 10 ms while refused) and goes on writing; the "
      "figure is the time from the kill to the reply of the first setData "
      "*sent after the kill* (tools/scripts/bench_ensemble.py failover). "
      "The killed member is then restarted on its data and the next "
      "repetition waits until the ensemble has 3 serving members again (³). "
      "It depends on tickTime and the election, so it is given with the "
      "tick above, which is shorter than ZooKeeper's default 2000 ms."
      % a.fo_reps)
    h("- ³ From starting the killed member again (same dataDir, same "
      "config) until every member answers `srvr` with leader or follower "
      "and accepts a new session; ZooKeeper's time includes the JVM start. "
      "The check polls every 100 ms and opens and closes a session on each "
      "member that answers, so the ensemble sees a trickle of writes "
      "(createSession/closeSession) while the member rejoins.")
    h("- The `make bench-ensemble` run took %d s." % a.elapsed)
    h("")
    tail = [""]
    if problems:
        tail.append("Runs left out of the medians (errors or failures):")
        tail.append("")
        for p in problems:
            tail.append("- " + p)
    else:
        tail.append("Every run completed with zero errors.")
    tail.append("")
    br.write_report("\n".join(head + lines + tail), a.out, "bench-ensemble")
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "free-ports":
        return cmd_free_ports(*args)
    if cmd == "wait-leader":
        return cmd_wait_leader(*args)
    if cmd == "failover":
        return cmd_failover(*args)
    if cmd == "table":
        p = argparse.ArgumentParser(prog="bench_ensemble.py table")
        p.add_argument("results")
        p.add_argument("--rounds", type=int, required=True)
        p.add_argument("--duration", type=float, required=True)
        p.add_argument("--warmup", type=float, required=True)
        p.add_argument("--fo-reps", type=int, required=True)
        p.add_argument("--tick", type=int, required=True)
        p.add_argument("--init-limit", type=int, required=True)
        p.add_argument("--sync-limit", type=int, required=True)
        p.add_argument("--zk-heap", required=True)
        p.add_argument("--roost-leader", default="?")
        p.add_argument("--zk-leader", default="?")
        p.add_argument("--mode", default="full")
        p.add_argument("--elapsed", type=int, default=0)
        p.add_argument("--out")
        return cmd_table(p.parse_args(args))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
