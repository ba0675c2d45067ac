"""Writes resume promptly after a partition heals (issue 14).

A three-server ensemble (tickTime 500 ms, syncLimit 5 ticks = 2.5 s)
has its leader partitioned for 3.5 s -- longer than syncLimit -- through
the proxies of faults.py, in two shapes:

* deaf: only the links *into* the leader are stalled (a firewall that
  drops packets to its peer port): the followers still hear it, it hears
  nobody.  Before issue 14 nothing ended this one-way partition until the
  leader gave up, silently, and its followers then waited for their own
  syncLimit timers.
* both: every link of the leader is stalled.

A prober per member writes through that member alone over a raw
connection, reconnecting at once after any failure, so what is measured
is when each member takes writes again, not a client library's backoff.
After the heal, writes through every member must resume within 2 ticks,
and every acknowledged write must be in the tree at the end.

And the follower side: a leader that steps down (here: it hears nobody and
has the shorter syncLimit) tells its followers, which go looking within
one tick, long before their own syncLimit would tell them (log line and
mode through mntr).

Roost only: the ensemble and its fault proxies are Roost's.
"""

import os
import re
import threading
import time

import pytest

import zkraw
from ens_util import client, stop_client, wait_until
from faults import Network

pytestmark = pytest.mark.roost_only("ensemble configuration is Roost's")

TICK_MS = 500
CUT_S = 3.5  # > syncLimit (5 ticks = 2.5 s)


class Prober:
    """Writes sequential nodes under /probe through one member only; each
    failure (refused connection, closed connection, no answer within a
    tick) starts a new connection at once.  Records the completion time
    of every acknowledged create and its path."""

    def __init__(self, srv):
        self.srv = srv
        self.acked = []  # (monotonic time, path)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = zkraw.Conn(self.srv.host, self.srv.port,
                                      timeout=TICK_MS / 1000.0)
                    conn.handshake(timeout_ms=6000)
                rep, path = conn.create("/probe/m%d-" % self.srv.myid,
                                        flags=2)  # sequential
                if rep.err == 0:
                    self.acked.append((time.monotonic(), path))
                else:
                    time.sleep(0.02)
            except (OSError, zkraw.Closed, zkraw.Timeout, AssertionError,
                    zkraw.DecodeError):
                if conn is not None:
                    conn.close()
                    conn = None
                time.sleep(0.02)
        if conn is not None:
            conn.close()

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.stop.set()
        self.thread.join(10)

    def first_ack_after(self, t):
        for at, _ in self.acked:
            if at >= t:
                return at
        return None

    def longest_gap(self, t0, t1):
        """Longest time in [t0, t1] without an acknowledged write."""
        times = [t0] + [a for a, _ in self.acked if t0 <= a <= t1] + [t1]
        return max(b - a for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("shape", ["deaf", "both"])
def test_writes_resume_after_leader_partition(ensemble_factory, shape):
    net = Network()
    probers = []
    try:
        ens = ensemble_factory(route=net.route, tickTime=str(TICK_MS))
        leader = ens.wait_serving(timeout=30)
        z = client(ens.hosts)
        z.retry(z.ensure_path, "/probe")
        stop_client(z)
        probers = [Prober(s).start() for s in ens.servers]
        wait_until(lambda: all(p.acked for p in probers), 15,
                   "a first write through every member")
        t_cut = time.monotonic()
        net.isolate(leader.myid, "deaf" if shape == "deaf" else "stall")
        time.sleep(CUT_S)
        t_heal = time.monotonic()
        net.heal()
        wait_until(lambda: all(p.first_ack_after(t_heal) for p in probers),
                   20, "writes through every member after the heal")
        time.sleep(0.5)  # a few more after the heal
        t_end = time.monotonic()
        for p in probers:
            p.finish()
        leader_after = ens.wait_serving(timeout=30)

        # Every acknowledged write is there.
        z = client(ens.hosts)
        try:
            z.sync("/probe")
            present = set(z.get_children("/probe"))
        finally:
            stop_client(z)
    finally:
        for p in probers:
            p.finish()
        net.close()

    lost = [path for p in probers for _, path in p.acked
            if path.rsplit("/", 1)[1] not in present]
    assert not lost, "acknowledged writes lost: %r" % lost[:10]

    resume = {p.srv.myid: p.first_ack_after(t_heal) - t_heal for p in probers}
    gaps = {p.srv.myid: p.longest_gap(t_cut, t_end) for p in probers}
    majority = [p for p in probers if p.srv is not leader]
    during = [p.first_ack_after(t_cut + 0.05) for p in majority]
    print("\n%s partition of leader %d for %.1f s (tick %d ms, syncLimit "
          "2.5 s), new leader %d: writes resumed after the heal in %s; "
          "longest gap without a write per member %s; the majority wrote "
          "again %s s after the cut began; %d writes acknowledged"
          % (shape, leader.myid, CUT_S, TICK_MS, leader_after.myid,
             ", ".join("%d: %.2f s" % kv for kv in sorted(resume.items())),
             ", ".join("%d: %.2f s" % kv for kv in sorted(gaps.items())),
             ", ".join("%.2f" % (t - t_cut) if t else "never"
                       for t in during),
             sum(len(p.acked) for p in probers)))
    limit = 2 * TICK_MS / 1000.0
    slow = {k: v for k, v in resume.items() if v > limit}
    assert not slow, "writes resumed later than 2 ticks (%.1f s) after the " \
        "heal through %r" % (limit, slow)


def _set_cfg(srv, key, value):
    srv.cfg[key] = value
    with open(srv.cfg_path, "w") as f:
        for k, v in srv.cfg.items():
            f.write("%s=%s\n" % (k, v))


def _stamp(line):
    """Seconds of the day from a log line's 2026-..T12:34:56.789Z stamp."""
    m = re.match(r"\S*T(\d\d):(\d\d):(\d\d)\.(\d\d\d)Z", line)
    h, mi, s, ms = (int(x) for x in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000.0


def _first_line(srv, pattern, after=0):
    for line in srv.log_text().splitlines()[after:]:
        if re.search(pattern, line):
            return line
    return None


def test_followers_go_looking_when_the_leader_steps_down(ensemble_factory):
    """The leader loses its quorum (it hears nobody: the links into it
    stall) after its syncLimit of 2 ticks; the followers have a syncLimit
    of 20 ticks (10 s) and still hear it, so only its STEPDOWN can tell
    them.  They must leave it within one tick of its stepping down: log
    line and mntr (their leader or epoch changes)."""
    net = Network()
    try:
        ens = ensemble_factory(route=net.route, tickTime=str(TICK_MS),
                               syncLimit="2")
        leader = ens.wait_serving(timeout=30)
        followers = [s for s in ens.servers if s is not leader]
        # The followers get the long syncLimit (restarted one at a time:
        # the leader keeps its quorum and leads on).
        for f in followers:
            f.stop()
            _set_cfg(f, "syncLimit", "20")
            f.restart()
            assert ens.wait_serving(timeout=30) is leader
        marks = {s.myid: len(s.log_text().splitlines()) for s in ens.servers}
        epoch = ens.mntr(leader)["roost_epoch"]
        before = {f.myid: (ens.mode(f), ens.mntr(f)["roost_leader_id"],
                           ens.mntr(f)["roost_epoch"]) for f in followers}
        assert all(v == ("follower", str(leader.myid), epoch)
                   for v in before.values()), before

        net.isolate(leader.myid, "deaf")
        t0 = time.monotonic()
        seen = {}  # member -> monotonic time it no longer followed leader
        t_down = None
        while time.monotonic() - t0 < 8 and (t_down is None or
                                             len(seen) < len(followers)):
            if t_down is None and ens.mode(leader) != "leader":
                t_down = time.monotonic()
            for f in followers:
                if f.myid in seen:
                    continue
                m = ens.mntr(f)
                if (ens.mode(f) != "follower" or
                        m.get("roost_leader_id") != str(leader.myid) or
                        m.get("roost_epoch") != epoch):
                    seen[f.myid] = time.monotonic()
            time.sleep(0.02)
        net.heal()
        assert t_down is not None, "the leader did not step down"
        assert len(seen) == len(followers), \
            "followers still following the old leader: %r\n%s" % (
                seen, "\n".join(s.log_tail(30) for s in ens.servers))
    finally:
        net.close()

    down = _first_line(leader, r"leading -> looking", marks[leader.myid])
    assert down is not None, leader.log_tail()
    lines = {}
    for f in followers:
        line = _first_line(f, r"following -> looking", marks[f.myid])
        assert line is not None, f.log_tail()
        assert "the leader stepped down or refused our session" in line, line
        lines[f.myid] = line
    lag = {k: _stamp(v) - _stamp(down) for k, v in lines.items()}
    polled = {k: v - t_down for k, v in seen.items()}
    print("\nleader %d stepped down (%s); followers left it %s s later "
          "(log stamps), %s s (mntr polls)"
          % (leader.myid, down.split(": ", 1)[-1],
             ", ".join("%d: %.3f" % kv for kv in sorted(lag.items())),
             ", ".join("%d: %.2f" % kv for kv in sorted(polled.items()))))
    tick = TICK_MS / 1000.0
    assert all(v <= tick for v in lag.values()), lag
    # The polls see it too (with their own 20 ms period and the 4lw
    # round trips on top).
    assert all(v <= tick + 0.3 for v in polled.values()), polled
