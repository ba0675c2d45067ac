#!/usr/bin/python3
"""Helpers for tools/scripts/bench.sh (`make bench`).

  wait-ready HOST:PORT SECONDS    until `srvr` answers with a Mode: line
  rss PID                         VmRSS of a process, in KiB
  first-read HOST:PORT PATH SECONDS T0
                                  open a session and getChildren(PATH) until
                                  it answers with at least one child; print
                                  seconds since T0 (time.monotonic())
  log-bytes DIR                   bytes of the transaction log files in DIR
                                  (and DIR/version-2) up to their last
                                  non-zero byte (ZooKeeper preallocates)
  snapshot-bytes DIR              size of the newest snapshot file in DIR
                                  (Roost) or DIR/version-2 (ZooKeeper)
  line FILE NAME SERVER ROUND STATUS
                                  one progress line for a roost-bench JSON
  fsync-probe DIR N               the data disk's own latency: N appends of
                                  120 bytes to a preallocated file in DIR,
                                  each followed by fdatasync; prints JSON
                                  with p50/p99 in microseconds
  table RESULTS_DIR [options]     the comparison table, to stdout and --out
"""

import argparse
import glob
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import time


def four_letter(hostport, word, timeout=1.0):
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("utf-8", "replace")


def cmd_wait_ready(hostport, seconds):
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            if "Mode:" in four_letter(hostport, "srvr"):
                return 0
        except OSError:
            pass
        time.sleep(0.1)
    return 1


def cmd_rss(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                print(line.split()[1])
                return 0
    return 1


def cmd_version(hostport):
    """The server's own version line (srvr's first line), as it reports
    it: the report's header names what was measured, not what was meant
    to be."""
    for line in four_letter(hostport, "srvr", timeout=5.0).splitlines():
        if line.startswith("Zookeeper version:"):
            print(line.split(":", 1)[1].strip())
            return 0
    return 1


def log_files(d, prefix):
    return glob.glob(os.path.join(d, prefix + "*")) + \
        glob.glob(os.path.join(d, "version-2", prefix + "*"))


def cmd_log_bytes(d):
    total = 0
    for p in log_files(d, "log."):
        with open(p, "rb") as f:
            total += len(f.read().rstrip(b"\0"))
    print(total)
    return 0


def cmd_snapshot_bytes(d):
    best = None
    for p in log_files(d, "snapshot."):
        try:
            z = int(p.rsplit(".", 1)[1], 16)
        except ValueError:
            continue  # a temporary file of a snapshot being written
        if best is None or z > best[0]:
            best = (z, p)
    print(os.path.getsize(best[1]) if best else 0)
    return 0


def recv_frame(s):
    def exact(n):
        buf = b""
        while len(buf) < n:
            b = s.recv(n - len(buf))
            if not b:
                raise ConnectionError("closed")
            buf += b
        return buf
    (n,) = struct.unpack(">i", exact(4))
    return exact(n)


def try_read(hostport, path):
    """One session: handshake, getChildren(path).  True when it answered
    with at least one child."""
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2.0) as s:
        # ConnectRequest (§2.1): version, lastZxid, timeout, session, passwd,
        # readOnly.
        body = struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"
        s.sendall(struct.pack(">i", len(body)) + body)
        resp = recv_frame(s)
        _, tmo, sid = struct.unpack(">iiq", resp[:16])
        if tmo <= 0 or sid == 0:
            return False
        p = path.encode()
        req = struct.pack(">ii", 1, 8) + struct.pack(">i", len(p)) + p + b"\0"
        s.sendall(struct.pack(">i", len(req)) + req)
        while True:
            rep = recv_frame(s)
            xid, _, err = struct.unpack(">iqi", rep[:16])
            if xid == 1:
                break
        if err != 0:
            return False
        (count,) = struct.unpack(">i", rep[16:20])
        return count > 0


def cmd_first_read(hostport, path, seconds, t0):
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            if try_read(hostport, path):
                print("%.3f" % (time.monotonic() - float(t0)))
                return 0
        except (OSError, ConnectionError, struct.error):
            pass
        time.sleep(0.01)
    return 1


def pct(vals, q):
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(q * len(vals)))]


def cmd_fsync_probe(d, n):
    """What a log append costs the disk alone: the figure a write's p99
    with 1 client and 1 in flight is held against.  The file is
    preallocated (zeros, synced) first, as both servers preallocate their
    logs, so fdatasync has no size change to write."""
    n = int(n)
    path = os.path.join(d, "fsync-probe.%d" % os.getpid())
    rec = 120
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, bytes(rec * n))
        os.fsync(fd)
        buf = os.urandom(rec)
        lat = []
        for i in range(n):
            t = time.perf_counter_ns()
            os.pwrite(fd, buf, i * rec)
            os.fdatasync(fd)
            lat.append((time.perf_counter_ns() - t) / 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    print(json.dumps({"n": n, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}))
    return 0


def load(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text.splitlines()[-1]) if text else None
    except (OSError, ValueError, IndexError):
        return None


def cmd_line(path, name, srv, rnd, status):
    r = load(path)
    label = "%-12s %-5s round %s" % (name, srv, rnd)
    if r is None:
        print("  %s: no result (%s)" % (label, status))
        return 0
    lat = r["latency_us"]
    srv_cpu = r.get("server_cpu_us_per_op")
    print("  %s: %10.0f ops/s  p50 %8.1f us  p99 %8.1f us  server %s us/op"
          "  bench %.2f us/op  errors %d%s"
          % (label, r["throughput_ops_s"], lat["p50"], lat["p99"],
             "%.1f" % srv_cpu if srv_cpu is not None else "?",
             r["bench_cpu_us_per_op"], r["errors"],
             "" if status == "ok" else "  " + status))
    sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------
# The table.

ORDER = ["create", "create-1x1", "set", "get", "exists", "children", "mixed", "get-lat",
         "set-lat", "watch-fanout", "churn"]
WRITES = {"create", "create-1x1", "set", "mixed", "set-lat", "watch-fanout", "churn"}
DESCR = {
    "create": "create (100 B, 8 sessions x 16 in flight)",
    "create-1x1": "create (100 B, 1 session x 1 in flight)",
    "set": "setData (100 B, 10k keys, 8 x 16)",
    "get": "getData (10k keys, 8 x 16)",
    "exists": "exists (10k keys, 8 x 16)",
    "children": "getChildren of 100 (8 x 16)",
    "mixed": "mixed 90% get / 10% set (8 x 16)",
    "get-lat": "getData, moderate load (4 x 1)",
    "set-lat": "setData, moderate load (4 x 1)",
    "watch-fanout": "watch fan-out to 100 sessions (rounds)",
    "churn": "session churn: open, ephemeral, close (8 loops)",
}


def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "ops/s":
        return "{:,.0f}".format(v)
    if unit == "MiB":
        return "{:,.0f}".format(v)
    if v >= 100:
        return "{:,.0f}".format(v)
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(x):
    if x is None:
        return "–"
    if x >= 10:
        return "%.0f×" % x
    if x >= 1:
        return "%.1f×" % x
    return "%.3f×" % x if x < 0.01 else "%.2f×" % x


def goal_text(goal, x):
    if goal is None:
        return ""
    op, g = goal
    if x is None:
        return "%s %s×: –" % (op, g)
    met = x >= g if op == "≥" else x <= g
    return "%s %g× %s" % (op, g, "met" if met else "**not met**")


def collect(resdir):
    runs = {}
    for path in sorted(glob.glob(os.path.join(resdir, "*.json"))):
        base = os.path.basename(path)[:-5]
        parts = base.split(".")
        if len(parts) != 3:
            continue
        name, srv, rnd = parts
        runs.setdefault((name, srv), []).append((rnd, load(path), path))
    return runs


def summarize(items):
    """Medians over the rounds that completed without errors, plus notes on
    the ones that did not."""
    good, notes = [], []
    for rnd, r, path in items:
        if r is None:
            err = ""
            try:
                with open(path + ".err") as f:
                    err = f.read().strip().splitlines()[-1]
            except (OSError, IndexError):
                pass
            notes.append("round %s: no result %s" % (rnd, err))
            continue
        if r.get("failed") or r.get("errors"):
            notes.append("round %s: %s errors %s %s" % (
                rnd, r.get("errors"), r.get("errors_by_code"),
                r.get("message", "")))
            continue
        good.append(r)
    if not good:
        return None, notes

    def med(f):
        vals = [f(r) for r in good]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None
    return {
        "n": len(good),
        "tput": med(lambda r: r["throughput_ops_s"]),
        "p50": med(lambda r: r["latency_us"]["p50"]),
        "p99": med(lambda r: r["latency_us"]["p99"]),
        "srv": med(lambda r: r.get("server_cpu_us_per_op")),
        "bench": med(lambda r: r["bench_cpu_us_per_op"]),
        "events": med(lambda r: r.get("events_per_s")),
    }, notes


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = "%.0f GiB RAM" % (kb / 1048576)
    except (OSError, ValueError, IndexError):
        pass
    java = ""
    try:
        out = subprocess.run(["java", "-version"], stderr=subprocess.PIPE,
                             stdout=subprocess.PIPE, timeout=20)
        java = out.stderr.decode().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    return model, mem, java


def read_num(path):
    try:
        with open(path) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None


def fsync_figures(resdir):
    """Medians over the rounds of the fsync probe (bench.sh runs one right
    before each round's create-1x1 rows)."""
    got = [load(p) for p in sorted(glob.glob(os.path.join(resdir,
                                                        "fsync.*.probe")))]
    got = [g for g in got if g]
    if not got:
        return {}
    return {q: statistics.median(g[q] for g in got) for q in ("p50", "p99")}


def fsync_goal(ro, fs):
    if not ro or ro.get("p99") is None or fs.get("p99") is None:
        return "create p99 ≤ fdatasync p99 + 150 µs: –"
    d = ro["p99"] - fs["p99"]
    return "create p99 ≤ fdatasync p99 + 150 µs: %+.0f µs, %s" % (
        d, "met" if d <= 150 else "**not met**")


def cmd_table(a):
    runs = collect(a.results)
    lines = []
    out = lines.append
    out("| workload | figure | Roost | ZooKeeper | Roost / ZK | goal |")
    out("|---|---|---:|---:|---:|---|")
    problems = []
    for name in ORDER:
        ro, rn = summarize(runs.get((name, "roost"), []))
        zk, zn = summarize(runs.get((name, "zk"), []))
        for srv, notes in (("Roost", rn), ("ZooKeeper", zn)):
            for n in notes:
                problems.append("%s on %s: %s" % (name, srv, n))
        label = DESCR[name]
        if name in WRITES:
            label += " ¹"
        lat_bound = name.endswith("-lat") or name == "create-1x1"
        lat_goal = ("≤", 0.3) if name.endswith("-lat") else None
        tput_goal = None if lat_bound else ("≥", 3)
        unit_ops = "rounds/s" if name == "watch-fanout" else (
            "cycles/s" if name == "churn" else "ops/s")
        rows = [
            ("throughput (%s)" % unit_ops, "tput", "ops/s", tput_goal),
            ("latency p50 (µs)", "p50", "us", None),
            ("latency p99 (µs)", "p99", "us", lat_goal),
            ("server CPU (µs/op)", "srv", "us", ("≤", 0.2)),
            ("roost-bench CPU (µs/op)", "bench", "us", None),
        ]
        if name == "watch-fanout":
            rows.insert(1, ("events delivered (/s)", "events", "ops/s", None))
        first = True
        for fig, key, unit, goal in rows:
            rv = ro[key] if ro else None
            zv = zk[key] if zk else None
            x = ratio(rv, zv)
            out("| %s | %s | %s | %s | %s | %s |" % (
                label if first else "", fig, fmt(rv, unit), fmt(zv, unit),
                fmt_ratio(x), goal_text(goal, x)))
            first = False
        if name == "create-1x1":
            fs = fsync_figures(a.results)
            for q in ("p50", "p99"):
                out("| | data disk fdatasync %s (µs), same run ⁷ | %s | | | %s |"
                    % (q, fmt(fs.get(q), "us"),
                       "" if q == "p50" else fsync_goal(ro, fs)))

    # Durability and memory, each server alone (bench.sh: durable).
    def num(name):
        return read_num(os.path.join(a.results, name))

    def mib(name):
        v = num(name)
        return v / 1024 if v is not None else None

    pop = {}
    for srv in ("roost", "zk"):
        r = load(os.path.join(a.results, "populate.%s.json" % srv))
        pop[srv] = r or {}
        if r is None or r.get("failed") or r.get("errors") or \
                r.get("ops") != a.populate:
            problems.append("populate on %s: %s" % (
                srv, "no result" if r is None else
                "%s of %d created, errors %s %s" % (
                    r.get("ops"), a.populate, r.get("errors_by_code"),
                    r.get("message", ""))))
    lat = {}
    for kind in ("nosnap", "snap"):
        for srv in ("roost", "zk"):
            r = load(os.path.join(a.results, "lat-%s-%s" % (kind, srv)))
            if r is None or r.get("failed") or r.get("errors"):
                problems.append("setData at moderate load (%s) on %s: %s" % (
                    "snapshots running" if kind == "snap" else
                    "no snapshots", srv, "no result" if r is None else
                    "errors %s %s" % (r.get("errors_by_code"),
                                      r.get("message", ""))))
                r = None
            lat[kind, srv] = r or {}

    def row(label, fig, rv, zv, unit, goal=None):
        x = ratio(rv, zv)
        out("| %s | %s | %s | %s | %s | %s |" % (
            label, fig, fmt(rv, unit), fmt(zv, unit), fmt_ratio(x),
            goal_text(goal, x)))

    def per_create(srv):
        v = num("logbytes.%s" % srv)
        n = pop[srv].get("ops")
        return v / n if v is not None and n else None

    def mb(name):
        v = num(name)
        return v / 1e6 if v is not None else None

    def restart(srv):
        return num("restart.%s" % srv)

    def per_create_rep(srv):
        v = num("logbytes-rep.%s" % srv)
        r = load(os.path.join(a.results, "populate-rep.%s.json" % srv)) or {}
        n = r.get("ops")
        return v / n if v is not None and n else None

    def snap_per_znode(name, n):
        v = num(name)
        return v / n if v is not None and n else None

    npop = "{:,}".format(a.populate)
    row("%s znodes × 100 B random values, each server alone ²" % npop,
        "resident memory, loaded (MiB)", mib("mem.roost"), mib("mem.zk"),
        "MiB", ("≤", 0.25))
    row("", "resident memory, empty (MiB)", mib("mem.roost.empty"),
        mib("mem.zk.empty"), "MiB")
    row("", "load rate (creates/s, 8 x 64) ¹",
        pop["roost"].get("throughput_ops_s"), pop["zk"].get("throughput_ops_s"),
        "ops/s")
    row("", "transaction log bytes per create ³", per_create("roost"),
        per_create("zk"), "us")
    row("", "snapshot file of the whole tree (MB) ⁴", mb("snapbytes.roost"),
        mb("snapbytes.zk"), "us")
    row("", "restart to first read (s) ⁵", restart("roost"), restart("zk"),
        "us", ("≤", 0.2))
    row("", "resident memory after the restart (MiB)",
        mib("mem.roost.restarted"), mib("mem.zk.restarted"), "MiB",
        ("≤", 0.25))
    row("", "SIGTERM to exit (s)", num("stop.roost"), num("stop.zk"), "us")
    for kind, what in (("nosnap", "no snapshot running"),
                       ("snap", "snapshots back to back (snapCount=2000)")):
        lr, lz = lat[kind, "roost"], lat[kind, "zk"]
        row("", "setData 4 x 1, %s: p99 (µs) ¹" % what,
            (lr.get("latency_us") or {}).get("p99"),
            (lz.get("latency_us") or {}).get("p99"), "us")
        row("", "the same: throughput (ops/s)", lr.get("throughput_ops_s"),
            lz.get("throughput_ops_s"), "ops/s")

    if a.populate_rep:
        nrep = "{:,}".format(a.populate_rep)
        row("%s znodes × 100 B, **one value repeated** in every write "
            "(`--fixed-value`) ⁶" % nrep,
            "transaction log bytes per create", per_create_rep("roost"),
            per_create_rep("zk"), "us")
        row("", "snapshot bytes per znode",
            snap_per_znode("snapbytes-rep.roost", a.populate_rep + 10000),
            snap_per_znode("snapbytes-rep.zk", a.populate_rep + 10000), "us")
        row("", "(random values, above: snapshot bytes per znode)",
            snap_per_znode("snapbytes.roost", a.populate + 10000),
            snap_per_znode("snapbytes.zk", a.populate + 10000), "us")

    model, mem, java = machine()
    zk_version = ""
    try:
        with open(os.path.join(a.results, "version.zk")) as f:
            zk_version = f.read().strip()
    except OSError:
        pass
    ncpu = os.cpu_count() or 0
    date = time.strftime("%Y-%m-%d %H:%M %Z")
    head = []
    h = head.append
    h("# Benchmarks: Roost against Apache ZooKeeper %s" % (
        zk_version.split("-")[0] or "3.8"))
    h("")
    h("Written by `make bench` (tools/scripts/bench.sh) on %s%s." % (
        date, ", **quick mode (BENCH_QUICK=1): one short round, figures are "
        "rough**" if a.mode == "quick" else ""))
    h("")
    h("- Machine: %d CPUs (`nproc`), %s, %s, Linux %s." % (
        ncpu, model, mem, platform.release()))
    h("- **Caveat:** a shared %d-core machine (other jobs may run beside the "
      % ncpu +
      "benchmark); the load generator, both servers and the JVM share the "
      "same cores. Every figure is the median of %d round(s) of %g s "
      "(after %g s warm-up) in this one run; workloads alternate between "
      "the servers, and the order flips every round. Ratios are what "
      "count, not absolute figures." % (a.rounds, a.duration, a.warmup))
    h("- Both servers: standalone, on 127.0.0.1, the same zoo.cfg "
      "(tickTime=2000, maxClientCnxns=1000, dataDir in a tmp directory "
      "under %s); both run during the workload rounds, each one idle while "
      "the other is measured." % os.path.dirname(a.datadir))
    h("- ZooKeeper: %s (as its srvr reports it), Debian's jars, `java %s` "
      "(%s), default GC and JIT, forceSync=yes (default), log4j at WARN to "
      "a file." % (zk_version or "version not read", a.zk_heap,
                   java or "java"))
    h("- Roost: build/roost-server (release build), forceSync=yes (its "
      "default), snapCount=100000 like ZooKeeper's default.")
    h("- ¹ Writes: **both servers fsync** their transaction log before they "
      "answer (forceSync=yes), each with group commit: ZooKeeper's "
      "SyncRequestProcessor, Roost's fsync thread covering every write "
      "logged before it began.")
    h("- ² After the workload rounds, each server fresh and alone on the "
      "machine: resident memory (VmRSS from /proc/PID/status) before and "
      "after creating %s znodes of 100 bytes under one parent with "
      "`roost-bench --workload create --keys %d --keep` (8 sessions x 64 in "
      "flight; every value fresh random bytes); ZooKeeper's JVM with %s, "
      "sampled after two forced full collections (`jcmd PID GC.run`, "
      "then a pause), so uncollected garbage does not count against it; "
      "the memory goal is judged on the loaded and the after-restart "
      "figures. Then setData at moderate load (4 "
      "sessions x 1, %g s) with snapshots off and with snapshots of the "
      "whole tree back to back, then SIGTERM and the restart." % (
          npop, a.populate, a.zk_heap, a.lat))
    h("- ³ Bytes of the log files after the load, divided by the creates; "
      "both servers preallocate their log files with zeros, which are not "
      "counted. Roost writes one frame per fsync (40-byte frame header, "
      "then a 4-byte length and the bytes of each transaction), the "
      "payload deflated (zlib level 1) only while that halves it: "
      "deflate costs about a third of the server's CPU per write, and "
      "random 100-byte values shrink only to ~58% (the paths and headers "
      "repeat), so with them frames are mostly stored (docs/storage-format.md).")
    h("- ⁴ The newest snapshot file after the snapshots-running phase (so "
      "it holds the whole tree). Roost's snapshots are lz4-compressed; "
      "ZooKeeper's are not compressed. With random values there is little "
      "for either compressor to find in the data itself.")
    h("- ⁵ From starting the process on the data of the previous phase to "
      "the first getChildren of the loaded parent answered by a new session "
      "(polled every 10 ms); ZooKeeper's time includes the JVM start.")
    h("- ⁶ The same two figures with one value sent in every write "
      "(roost-bench --fixed-value, what reports before this one measured), "
      "on a quarter of the znodes, each server fresh and alone. Roost "
      "deflates whole group-commit frames and lz4-compresses snapshots, so "
      "repeated values shrink there by redundancy between transactions "
      "that real data does not have: the random-value rows are the ones to "
      "quote. Snapshot bytes per znode count the 10,000 /lat keys too.")
    h("- Server CPU is utime+stime of the server process from /proc/PID/stat "
      "over the measured interval (10 ms resolution), divided by the "
      "operations; roost-bench CPU is its own getrusage over the same "
      "interval. On a 2-core machine throughput alone hides cost: CPU per "
      "operation is the figure that does not depend on who else runs.")
    h("- Latency: from the request being queued for writing to its reply "
      "being decoded, per operation; watch fan-out: from setData until all "
      "100 watchers have their event; churn: a whole connect, handshake, "
      "ephemeral sequential create, closeSession, close cycle.")
    h("- ⁷ The data disk alone, measured in the same run right before each "
      "round's 1 x 1 create rows: 120-byte appends to a preallocated file in "
      "the benchmark's data directory, each followed by fdatasync "
      "(`bench_report.py fsync-probe`); medians over the rounds. A write's "
      "p99 with one client and one request in flight cannot be below it.")
    h("- The `make bench` run took %d s." % a.elapsed)
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
    tail += tls_rows(a.out)
    write_report("\n".join(head + lines + tail), a.out, "bench")
    return 0


def tls_rows(out):
    """The table of docs/benchmarks-tls.md (make bench-tls, its own run
    with ZooKeeper's Netty TLS beside Roost's), carried into this report so
    one page has every row; empty when that file does not exist."""
    if not out:
        return []
    path = os.path.join(os.path.dirname(out) or ".", "benchmarks-tls.md")
    try:
        with open(path) as f:
            src = f.read().splitlines()
    except OSError:
        return []
    table = [ln for ln in src if ln.startswith("|")]
    run = [ln for ln in src if ln.startswith("Run:")]
    if not table:
        return []
    rows = ["## TLS (from `make bench-tls`, a separate run)", "",
            "Copied from [benchmarks-tls.md](benchmarks-tls.md), which has "
            "the set-up and the caveats; compare its columns with each "
            "other, not with the tables above.", ""]
    return rows + table + [""] + run + [""]


def write_report(text, out, who):
    """Prints the rendered report and writes it to `out` (if given)."""
    print(text)
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            f.write(text)
        print("%s: wrote %s" % (who, out))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "wait-ready":
        return cmd_wait_ready(*args)
    if cmd == "rss":
        return cmd_rss(*args)
    if cmd == "first-read":
        return cmd_first_read(*args)
    if cmd == "line":
        return cmd_line(*args)
    if cmd == "log-bytes":
        return cmd_log_bytes(*args)
    if cmd == "snapshot-bytes":
        return cmd_snapshot_bytes(*args)
    if cmd == "version":
        return cmd_version(*args)
    if cmd == "fsync-probe":
        return cmd_fsync_probe(*args)
    if cmd == "table":
        p = argparse.ArgumentParser(prog="bench_report.py table")
        p.add_argument("results")
        p.add_argument("--rounds", type=int, required=True)
        p.add_argument("--duration", type=float, required=True)
        p.add_argument("--warmup", type=float, required=True)
        p.add_argument("--populate", type=int, required=True)
        p.add_argument("--lat", type=float, default=5)
        p.add_argument("--mode", default="full")
        p.add_argument("--zk-heap", default="-Xmx4g")
        p.add_argument("--datadir", default="/tmp")
        p.add_argument("--elapsed", type=int, default=0)
        p.add_argument("--populate-rep", type=int, default=0)
        p.add_argument("--out")
        return cmd_table(p.parse_args(args))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
