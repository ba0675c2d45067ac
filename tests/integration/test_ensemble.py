"""Roost as a three-server ensemble (issue 7): fail-over, catch-up by DIFF
and SNAP, sessions that move between servers, ephemerals that vanish
everywhere when their session expires.  The harness builds the ensemble
from a plain zoo.cfg (server.N lines and myid files; no Roost-only key),
so the cases run on ZooKeeper too, except those marked with the reason
(Roost's mntr figures, its peer protocol, its single peer port);
test_ensemble_sessions.py holds the session cases."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError
from kazoo.retry import KazooRetry

from faults import LinkProxy

# Cases that read Roost's own figures or speak its peer protocol say so
# next to them; the others run on ZooKeeper too (make test-zk).
MNTR_ONLY = pytest.mark.roost_only(
    "reads roost_sync_* counters from mntr; ZooKeeper has no such figures")
PEER_PROTOCOL = pytest.mark.roost_only(
    "sends frames of Roost's peer protocol; ZooKeeper's is another")
ONE_PEER_PORT = pytest.mark.roost_only(
    "cuts links with a proxy on the peer port; ZooKeeper also talks on its "
    "election port, which the proxy does not carry")


def client(hosts, timeout=4.0, start_timeout=15, **kw):
    """A started kazoo client that retries its connection forever (the
    ensemble tests' clients ride out elections)."""
    z = KazooClient(hosts=hosts, timeout=timeout,
                    connection_retry=KazooRetry(max_tries=-1, delay=0.05,
                                                max_delay=0.3),
                    **kw)
    z.start(timeout=start_timeout)
    return z


def create_retrying(z, path, data=b""):
    """create that rides out a leader change: ConnectionLoss during an
    election is what real clients see and retry; a retry that finds the
    node means the earlier attempt committed."""
    def attempt():
        try:
            z.create(path, data)
        except NodeExistsError:
            pass
    z.retry(attempt)


def tree_of(z, path="/load"):
    """{name: data} of path's children, read after a sync."""
    z.sync(path)
    return {c: z.get(path + "/" + c)[0] for c in z.get_children(path)}


def stop_client(z):
    try:
        z.stop()
        z.close()
    except Exception:
        pass


class Writers:
    """Several kazoo clients (full connect string) creating distinct nodes
    until stopped; every create that returned (or found its node already
    there after a retry) is recorded as acknowledged."""

    def __init__(self, hosts, n=3):
        self.clients = [client(hosts) for _ in range(n)]
        self.acked = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i, z))
                        for i, z in enumerate(self.clients)]

    def _run(self, i, z):
        k = 0
        while not self.stop.is_set():
            path = "/load/w%d-%06d" % (i, k)
            try:
                z.create(path, b"%d" % k)
            except NodeExistsError:
                pass  # a retry of a create that had committed
            except KazooException:
                time.sleep(0.02)
                continue  # same path again: it may or may not exist
            with self.lock:
                self.acked.add(path[len("/load/"):])
            k += 1

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def count(self):
        with self.lock:
            return len(self.acked)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        for z in self.clients:
            stop_client(z)
        return set(self.acked)


def test_failover_and_rejoin(ensemble_factory):
    """Kill -9 the leader under a write load: a new leader commits writes
    within a few seconds, the writers carry on through the other servers,
    every acknowledged write is on every server afterwards, and the old
    leader rejoins with the same tree."""
    ens = ensemble_factory()
    leader = ens.wait_serving()
    z = client(ens.hosts)
    z.ensure_path("/load")
    stop_client(z)
    w = Writers(ens.hosts).start()
    deadline = time.monotonic() + 10
    while w.count() < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w.count() >= 100, "writes do not go through the ensemble"

    others = [s for s in ens.servers if s is not leader]
    probe = client(others[0].hosts)  # this server only
    t0 = time.monotonic()
    leader.kill()
    k = 0
    while True:
        try:
            probe.create("/load/probe-%d" % k, b"")
            break
        except NodeExistsError:
            break
        except KazooException:
            k += 1
            time.sleep(0.01)
        assert time.monotonic() - t0 < 15, "no new leader within 15 s"
    failover = time.monotonic() - t0
    print("\nfail-over: %.3f s from kill -9 of the leader to the first "
          "write committed through a surviving server" % failover)
    assert failover < 10
    stop_client(probe)
    n_before = w.count()
    deadline = time.monotonic() + 10
    while w.count() < n_before + 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    acked = w.finish()
    assert len(acked) >= n_before + 100, "writers did not carry on"

    for srv in others:
        zz = client(srv.hosts)
        got = tree_of(zz)
        stop_client(zz)
        missing = acked - set(got)
        assert not missing, "server %d lost %d acknowledged writes" % (
            srv.myid, len(missing))

    leader.restart()
    ens.wait_serving()
    trees = []
    for srv in ens.servers:
        zz = client(srv.hosts)
        trees.append(tree_of(zz))
        stop_client(zz)
    assert trees[0] == trees[1] == trees[2]
    assert acked <= set(trees[0])


@MNTR_ONLY
def test_follower_catch_up_diff_and_snap(ensemble_factory):
    """A follower that was down catches up by DIFF for a few writes and by
    SNAP when it missed more than the leader's DIFF window (20 here)."""
    ens = ensemble_factory(**{"roost.syncDiffWindow": "20"})
    leader = ens.wait_serving()
    f = [s for s in ens.servers if s is not leader][0]
    z = client(ens.servers[0].hosts if ens.servers[0] is not f
               else ens.servers[1].hosts)
    z.ensure_path("/load")
    f.kill()
    for i in range(5):
        z.create("/load/d%d" % i, b"x")
    f.restart()
    ens.wait_serving()
    m = ens.mntr(f)
    assert int(m["roost_sync_diff"]) >= 1, m
    zf = client(f.hosts)
    assert set(tree_of(zf)) >= {"d%d" % i for i in range(5)}
    stop_client(zf)

    f.kill()
    for i in range(60):
        z.create("/load/s%d" % i, b"y")
    f.restart()
    ens.wait_serving()
    m = ens.mntr(f)
    assert int(m["roost_sync_snap"]) >= 1, m
    zf = client(f.hosts)
    assert tree_of(zf) == tree_of(z)
    stop_client(zf)
    stop_client(z)


SESSION_OWNER = r"""
import sys, time
from kazoo.client import KazooClient
z = KazooClient(hosts=sys.argv[1], timeout=6.0)
z.start(timeout=15)
z.create("/eph", b"a", ephemeral=True)
print(z.client_id[0], z.client_id[1].hex(), z.last_zxid, flush=True)
time.sleep(600)
"""


def test_session_moves_between_servers(ensemble_factory):
    """A session made on one server is resumed on another (same id and
    password: every member stores every session's password), keeps its
    ephemeral, and can write there.

    The resuming client carries the zxid the session has seen (the create
    of /eph), as a real client moving servers does: b must not accept it
    before it has applied that zxid (ZooKeeper refuses such a connect,
    ZooKeeperServer.processConnectRequest, and the client tries again).
    A client with last zxid 0 would have no such guarantee: b could
    answer from before /eph."""
    ens = ensemble_factory()
    ens.wait_serving()
    a, b = ens.servers[0], ens.servers[1]
    p = subprocess.Popen([sys.executable, "-c", SESSION_OWNER, a.hosts],
                         stdout=subprocess.PIPE)
    try:
        sid, pwd, seen = p.stdout.readline().split()
        sid, pwd = int(sid), bytes.fromhex(pwd.decode())
        seen = int(seen)
        assert seen > 0
        p.send_signal(signal.SIGSTOP)  # its client goes quiet, not away
        zb = KazooClient(hosts=b.hosts, timeout=6.0, client_id=(sid, pwd),
                         connection_retry=KazooRetry(max_tries=-1, delay=0.05,
                                                     max_delay=0.3))
        zb.last_zxid = seen  # sent in the ConnectRequest
        zb.start(timeout=15)
        assert zb.client_id[0] == sid
        assert zb.get("/eph")[1].ephemeralOwner == sid
        zb.create("/eph2", b"b", ephemeral=True)
        assert zb.exists("/eph2").ephemeralOwner == sid
        stop_client(zb)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()


EPHEMERAL_OWNER = r"""
import sys, time
from kazoo.client import KazooClient
z = KazooClient(hosts=sys.argv[1], timeout=1.0)
z.start(timeout=15)
z.create("/owned", b"", ephemeral=True)
print(z.client_id[0], flush=True)
time.sleep(600)
"""


def test_ephemeral_vanishes_everywhere_on_expiry(ensemble_factory):
    """An ephemeral whose owner dies (kill -9, no closeSession) vanishes on
    every server once the session expires (the leader proposes it)."""
    ens = ensemble_factory()
    leader = ens.wait_serving()
    follower = [s for s in ens.servers if s is not leader][0]
    p = subprocess.Popen([sys.executable, "-c", EPHEMERAL_OWNER,
                          follower.hosts], stdout=subprocess.PIPE)
    try:
        line = p.stdout.readline()
        assert line.strip(), "owner did not start"
        zs = [client(s.hosts) for s in ens.servers]
        for zz in zs:
            zz.sync("/")
            assert zz.exists("/owned") is not None
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    deadline = time.monotonic() + 10
    gone = []
    while time.monotonic() < deadline:
        gone = []
        for zz in zs:
            zz.sync("/")
            gone.append(zz.exists("/owned") is None)
        if all(gone):
            break
        time.sleep(0.1)
    for zz in zs:
        stop_client(zz)
    assert all(gone), gone


@PEER_PROTOCOL
def test_hostile_peer_input_drops_only_that_link(ensemble_factory):
    """Garbage on a member's peer port (no HELLO, a HELLO from an unknown
    id, an oversized frame, an undecodable zab message) costs only that
    link, with a logged reason; the ensemble keeps committing."""
    import socket
    import struct
    ens = ensemble_factory()
    ens.wait_serving()
    srv = ens.servers[0]
    host, port = srv.cfg["server.1"].split(":")[:2]
    hello = lambda sid, v=2: struct.pack(">IBIII", 13, 0, 0x525A4142, v, sid)
    payloads = [
        struct.pack(">IB", 4, 1) + b"abc",  # a frame before any HELLO
        hello(2, v=1),  # a member of the peer protocol before issue 11
        hello(77),
        hello(2) + struct.pack(">I", 0x7FFFFFFF) + b"\x01",
        hello(3) + struct.pack(">IB", 5, 1) + b"\x00\x00\x00\x09",
    ]
    for data in payloads:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(data)
        s.settimeout(5)
        try:
            assert s.recv(1) == b""  # the member closed the link
        except ConnectionResetError:
            pass
        s.close()
    log = srv.log_text()
    for why in ("no valid HELLO", "peer protocol version 1 where this "
                "server speaks 2", "unknown server id 77",
                "frame length out of range", "bad zab message"):
        assert why in log, why
    z = client(ens.hosts)
    for i in range(20):
        z.create("/after-%d" % i, b"")
    for other in ens.servers:
        zz = client(other.hosts)
        zz.sync("/")
        assert zz.exists("/after-19") is not None
        stop_client(zz)
    stop_client(z)


@ONE_PEER_PORT
def test_partition_minority_cannot_commit(ensemble_factory):
    """Through proxies on every peer link: the leader cut off alone cannot
    commit (its clients get no acknowledgement), the other two elect a
    leader and commit, and after the heal the old leader catches up to the
    same tree."""
    proxies = {}

    def route(i, j, port):
        proxies[(i, j)] = LinkProxy(port)
        return proxies[(i, j)].port

    try:
        ens = ensemble_factory(route=route)
        leader = ens.wait_serving()
        z = client(ens.hosts)
        z.retry(z.ensure_path, "/load")
        create_retrying(z, "/load/before")
        stop_client(z)
        lone = leader.myid
        zl = KazooClient(hosts=leader.hosts, timeout=4.0)
        zl.start(timeout=10)
        for (i, j), p in proxies.items():
            if lone in (i, j):
                p.cut()
        # A write on the lone server must not be acknowledged.
        try:
            zl.create_async("/load/minority", b"").get(timeout=3)
            acked_minority = True
        except Exception:
            acked_minority = False
        assert not acked_minority, "a minority of one committed a write"
        zl.stop()
        zl.close()
        majority = [s for s in ens.servers if s.myid != lone]
        ens.wait_serving(servers=majority, timeout=15)
        zm = client(",".join(s.hosts for s in majority))
        for i in range(30):
            create_retrying(zm, "/load/m%d" % i)
        for p in proxies.values():
            p.heal()
        ens.wait_serving(timeout=20)
        want = tree_of(zm)
        stop_client(zm)
        assert "minority" not in want
        zz = client(leader.hosts)
        assert tree_of(zz) == want
        stop_client(zz)
    finally:
        for p in proxies.values():
            p.close()
