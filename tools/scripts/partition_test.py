#!/usr/bin/python3
"""The issue 14 partition test: a three-member Roost ensemble with
ZooKeeper's default timing (tickTime 2000, initLimit 10, syncLimit 5),
four kazoo clients doing compare-and-set increments of one counter, while
the leader is (1) cut off by iptables for CUT seconds (packets to its peer
port dropped: its followers still hear it, it hears nobody -- the
one-way partition of the issue), (2) killed with -9 and restarted, (3) paused with SIGSTOP for
PAUSE seconds.  Prints, per fault, how long after the heal (the iptables
rule removed, the restart, SIGCONT) the first increment was acknowledged,
the longest gap without one, and checks the counter: every acknowledged
increment present exactly once.

Needs root and iptables (it adds and removes DROP rules for the ensemble's
own loopback peer ports only).  Not part of `make test`: a 12 s cut
cannot be simulated faster with real TCP retransmission timers.

  ROOST_SERVER=build/roost-server python3 tools/scripts/partition_test.py \
      [--cut 12] [--pause 12] [--rounds 1]
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import harness  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import BadVersionError  # noqa: E402
from kazoo.retry import KazooRetry  # noqa: E402

PATH = "/counter"


class Casser:
    """CAS increments until stopped; records (time acknowledged, value)."""

    def __init__(self, hosts):
        self.z = KazooClient(hosts=hosts, timeout=10.0,
                             connection_retry=KazooRetry(max_tries=-1,
                                                         delay=0.05,
                                                         max_delay=0.5))
        self.z.start(timeout=30)
        self.acked = []
        self.losses = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            try:
                data, st = self.z.get(PATH)
                v = int(data)
                self.z.set(PATH, str(v + 1).encode(), version=st.version)
                self.acked.append((time.monotonic(), v + 1))
            except BadVersionError:
                pass
            except Exception:
                self.losses += 1
                time.sleep(0.05)


def iptables(action, args):
    subprocess.run(["iptables", action, "OUTPUT"] + args, check=True)


def drop_rules(ens, leader):
    """What the others send to the leader's peer port is dropped."""
    port = ens.peer_ports[leader.myid - 1]
    return [["-p", "tcp", "-d", "127.0.0.1", "--dport", str(port),
             "-j", "DROP"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cut", type=float, default=12.0)
    ap.add_argument("--pause", type=float, default=12.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--settle", type=float, default=10.0)
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="roost-partition-")
    ens = harness.Ensemble(base, 3, {"tickTime": "2000", "initLimit": "10",
                                     "syncLimit": "5"},
                           roost_bin=os.path.abspath(
                               os.environ["ROOST_SERVER"]))
    ens.start()
    rules = []
    casser = []
    events = []  # (label, heal time)
    try:
        ens.wait_serving(timeout=60)
        z = KazooClient(hosts=ens.hosts)
        z.start(timeout=30)
        z.retry(z.create, PATH, b"0")
        z.stop()
        z.close()
        casser = [Casser(ens.hosts) for _ in range(4)]
        for c in casser:
            c.t.start()
        time.sleep(3)
        for _ in range(a.rounds):
            leader = ens.wait_serving(timeout=60)
            rules = drop_rules(ens, leader)
            t_start = time.monotonic()
            for r in rules:
                iptables("-A", r)
            time.sleep(a.cut)
            for r in rules:
                iptables("-D", r)
            rules = []
            events.append(("cut %d %.0f s (inbound)" % (leader.myid, a.cut),
                           t_start, time.monotonic()))
            time.sleep(a.settle)
            leader = ens.wait_serving(timeout=60)
            t_start = time.monotonic()
            leader.kill()
            time.sleep(1.0)
            leader.restart()
            events.append(("kill -9 %d, restarted" % leader.myid,
                           t_start, time.monotonic()))
            time.sleep(a.settle)
            leader = ens.wait_serving(timeout=60)
            t_start = time.monotonic()
            os.kill(leader.pid, signal.SIGSTOP)
            time.sleep(a.pause)
            os.kill(leader.pid, signal.SIGCONT)
            events.append(("SIGSTOP %d %.0f s" % (leader.myid, a.pause),
                           t_start, time.monotonic()))
            time.sleep(a.settle)
    finally:
        for r in rules:
            iptables("-D", r)
        for c in casser:
            c.stop.set()
        for c in casser:
            c.t.join(15)
            try:
                c.z.stop()
                c.z.close()
            except Exception:
                pass
    z = KazooClient(hosts=ens.hosts)
    z.start(timeout=30)
    z.sync(PATH)
    final = int(z.get(PATH)[0])
    z.stop()
    z.close()
    ens.stop()
    acked = sorted(t for c in casser for t in c.acked)
    values = sorted(v for c in casser for _, v in c.acked)
    t0 = acked[0][0] if acked else 0
    print("%d increments acknowledged, %d ConnectionLoss/timeouts, final "
          "counter %d" % (len(values), sum(c.losses for c in casser), final))
    dup = len(values) - len(set(values))
    print("duplicate acknowledged values: %d; acknowledged values above the "
          "final counter: %d" % (dup, sum(1 for v in values if v > final)))
    times = [t for t, _ in acked]
    for label, ts, th in events:
        after = [t for t in times if t >= th]
        win = [ts] + [t for t in times if ts <= t <= th + a.settle]
        gap = max(b - a_ for a_, b in zip(win, win[1:])) if len(win) > 1 \
            else float("nan")
        again = [t for t in times if t > ts + 0.5]
        print("%-26s writes resumed %.2f s after the heal; longest gap "
              "%.1f s; first write %.1f s after the fault began" % (
                  label, after[0] - th if after else float("nan"), gap,
                  again[0] - ts if again else float("nan")))
    gaps = [b - a_ for a_, b in zip(times, times[1:])]
    print("longest gap without an acknowledged write: %.1f s"
          % (max(gaps) if gaps else 0))
    for s in ens.servers:
        print("server %d log: %s" % (s.myid, s.log_path))
    return 1 if dup or final < len(values) else 0


if __name__ == "__main__":
    sys.exit(main())
