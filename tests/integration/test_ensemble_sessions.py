"""Sessions belong to the ensemble, not to the member that made them
(issue 11).  A plain ZooKeeper zoo.cfg (tickTime, initLimit, syncLimit,
server.N, myid: nothing Roost-only), three members, and real clients:
a session made on any member resumes on any other, can be reattached and
closed from another member, survives kill -9 of its member and of the
leader under a write load (with its ephemerals and watches), survives a
restart of the whole ensemble, and is valid on a member that was wiped and
re-synced by SNAP.

Protocol semantics only: every case runs against Apache ZooKeeper too
(make test-zk), on the same harness ensemble."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.retry import KazooRetry

import zkraw
from ens_util import (Writers, assert_trees_equal, client, mntr, stop_client,
                      wait_until)

# Long enough to ride out a fail-over on a loaded machine; ZooKeeper caps
# a session's timeout at maxSessionTimeout (20 ticks by default).
CFG = {"maxSessionTimeout": "20000"}
SESSION_MS = 15000


def raw_session(srv, path):
    """A session made with raw frames on srv, owning the ephemeral path;
    the socket is closed without closeSession, so the session lives on.
    Returns (id, password, last zxid seen)."""
    with zkraw.Conn(srv.host, srv.port) as c:
        resp = c.handshake(timeout_ms=SESSION_MS)
        rep, _ = c.create(path, b"e", flags=zkraw.F_EPHEMERAL)
        assert rep.err == zkraw.OK, rep
        return resp.session_id, resp.passwd, c.last_zxid


def raw_resume(srv, sid, pwd, last_zxid, timeout=10.0):
    """Resume (sid, pwd) on srv with raw frames; returns the ConnectResponse
    and the open Conn.  A member that has not applied last_zxid yet closes
    the connection without an answer (the client would try another): ask
    again until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        c = zkraw.Conn(srv.host, srv.port)
        try:
            resp = c.handshake(timeout_ms=SESSION_MS, session_id=sid,
                               passwd=pwd, last_zxid=last_zxid, check=False)
            return resp, c
        except (zkraw.Closed, zkraw.Timeout, OSError):
            c.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def node_gone_everywhere(ens, path, timeout=10.0):
    for srv in ens.servers:
        if not srv.alive():
            continue
        z = client(srv.hosts)
        try:
            def gone():
                z.sync(path)
                return z.exists(path) is None
            wait_until(gone, timeout, "%s gone on member %d" % (path,
                                                                srv.myid))
        finally:
            stop_client(z)


def test_session_resumes_on_every_member(ensemble_factory):
    """A session made on each member resumes (same id, its ephemeral
    owned by it) on each other member: every member validates every
    session's password, with no shared key configured."""
    ens = ensemble_factory(**CFG)
    ens.wait_serving()
    for a in ens.servers:
        path = "/resume-%d" % a.myid
        sid, pwd, seen = raw_session(a, path)
        for b in ens.servers:
            if b is a:
                continue
            resp, c = raw_resume(b, sid, pwd, seen)
            try:
                assert resp.session_id == sid and resp.timeout > 0, (
                    "session 0x%x made on member %d refused on member %d: "
                    "%r" % (sid, a.myid, b.myid, resp))
                rep, st = c.exists(path)
                assert rep.err == zkraw.OK and st.ephemeralOwner == sid
            finally:
                c.close()
        # A wrong password is refused on every member (never a new session).
        bad = bytes(x ^ 0x5A for x in pwd)
        for b in ens.servers:
            resp, c = raw_resume(b, sid, bad, seen)
            c.close()
            assert resp.timeout == 0 and resp.session_id == 0, (
                "member %d accepted a wrong password: %r" % (b.myid, resp))


OWNER = r"""
import sys, time
from kazoo.client import KazooClient
z = KazooClient(hosts=sys.argv[1], timeout=float(sys.argv[3]))
z.add_listener(lambda st: print("STATE", st, flush=True))
z.start(timeout=30)
z.create(sys.argv[2], b"owner", ephemeral=True)
print("ID", z.client_id[0], z.client_id[1].hex(), flush=True)
time.sleep(600)
"""


def test_reattach_on_another_member_and_close(ensemble_factory):
    """The classic trick to end a session: a second connection with the
    same id and password, on another member, then close it.  The first
    client sees its session end and the ephemeral is gone everywhere."""
    ens = ensemble_factory(**CFG)
    ens.wait_serving()
    a, b = ens.servers[0], ens.servers[2]
    path = "/reattach-eph"
    p = subprocess.Popen([sys.executable, "-c", OWNER, a.hosts, path,
                          str(SESSION_MS / 1000.0)],
                         stdout=subprocess.PIPE, text=True)
    lines = []
    try:
        while True:
            line = p.stdout.readline()
            assert line, "owner exited: %r" % lines
            lines.append(line)
            if line.startswith("ID "):
                break
        _, sid, pwd = line.split()
        sid, pwd = int(sid), bytes.fromhex(pwd)
        p.send_signal(signal.SIGSTOP)  # its client goes quiet, not away
        zb = client(b.hosts, timeout=SESSION_MS / 1000.0,
                    client_id=(sid, pwd))
        try:
            assert zb.client_id[0] == sid
            zb.sync(path)
            assert zb.exists(path).ephemeralOwner == sid
        finally:
            zb.stop()  # closeSession, through member b
            zb.close()
        node_gone_everywhere(ens, path)
        p.send_signal(signal.SIGCONT)
        # The first client learns its session is over.
        reader = threading.Thread(target=lambda: lines.extend(p.stdout))
        reader.daemon = True
        reader.start()
        wait_until(lambda: any("LOST" in x for x in lines), 20,
                   "the first client to see its session lost: %r" % lines)
    finally:
        p.send_signal(signal.SIGCONT)
        p.kill()
        p.wait()


class Service:
    """A registered instance: one kazoo session with an ephemeral node,
    connected first to one member (then any, on fail-over).  Records its
    state changes.  (kazoo 2.8 drops its watchers on every connection loss,
    so watches across a fail-over are checked with the official C client,
    which sets them again: test_c_client_session_and_watch_survive_kill9.)"""

    def __init__(self, ens, first, name):
        order = [first] + [s for s in ens.servers if s is not first]
        self.z = KazooClient(
            hosts=",".join(s.hosts for s in order), randomize_hosts=False,
            timeout=SESSION_MS / 1000.0,
            connection_retry=KazooRetry(max_tries=-1, delay=0.05,
                                        max_delay=0.3))
        self.states = []
        self.z.add_listener(self.states.append)
        self.z.start(timeout=30)
        self.sid = self.z.client_id[0]
        self.path = "/services/%s" % name
        self.z.ensure_path("/services")
        self.z.create(self.path, b"up", ephemeral=True)

    def connected_port(self):
        h = self.z._connection._socket  # kazoo keeps no public accessor
        return h.getpeername()[1] if h is not None else None

    def stop(self):
        stop_client(self.z)


def check_service(ens, svc):
    """The service's session is the same, never expired, and its ephemeral
    is on every live member and owned by it."""
    wait_until(lambda: svc.z.state == KazooState.CONNECTED, 30,
               "the service to reconnect")
    assert KazooState.LOST not in svc.states, svc.states
    assert svc.z.client_id[0] == svc.sid
    svc.z.retry(svc.z.exists, svc.path)  # a request through the new member
    for srv in ens.servers:
        if not srv.alive():
            continue
        z = client(srv.hosts)
        try:
            z.sync(svc.path)
            st = z.exists(svc.path)
            assert st is not None and st.ephemeralOwner == svc.sid, (
                "ephemeral of 0x%x missing on member %d" % (svc.sid,
                                                            srv.myid))
        finally:
            stop_client(z)


def test_sessions_survive_kill9_of_their_member_and_of_leader(
        ensemble_factory):
    """kill -9 of the member a session is connected to, then of the
    leader, under a write load: the sessions resume on other members
    (never expired), keep their ephemerals, and every
    acknowledged write is on every member afterwards."""
    ens = ensemble_factory(**CFG)
    leader = ens.wait_serving()
    follower = [s for s in ens.servers if s is not leader][0]
    z = client(ens.hosts)
    z.ensure_path("/load")
    svc_f = Service(ens, follower, "on-follower")
    svc_l = Service(ens, leader, "on-leader")
    assert svc_f.connected_port() == follower.port
    assert svc_l.connected_port() == leader.port
    writers = Writers(ens.hosts).start()
    try:
        wait_until(lambda: writers.count() > 20, 30, "writes before the kill")
        follower.kill()
        check_service(ens, svc_f)
        follower.restart()
        ens.wait_serving(timeout=30)
        n = writers.count()
        wait_until(lambda: writers.count() > n + 20, 30, "writes to go on")

        leader.kill()
        check_service(ens, svc_l)
        check_service(ens, svc_f)
        n = writers.count()
        wait_until(lambda: writers.count() > n + 20, 30,
                   "writes after the leader's death")
        leader.restart()
        ens.wait_serving(timeout=30)
    finally:
        acked = writers.finish()
    tree = assert_trees_equal(ens.servers)
    missing = sorted(p for p in acked if "/load/" + p not in tree)
    assert not missing, "acknowledged writes lost: %r" % missing[:10]
    for svc in (svc_f, svc_l):
        assert svc.path in tree
        assert KazooState.LOST not in svc.states
        svc.stop()
    stop_client(z)
    node_gone_everywhere(ens, svc_f.path)
    node_gone_everywhere(ens, svc_l.path)


def test_session_resumes_after_whole_ensemble_restart(ensemble_factory):
    """Every member stopped and started again within the session timeout:
    the session resumes (on a member other than its own) and still owns
    its ephemeral."""
    ens = ensemble_factory(**CFG)
    ens.wait_serving()
    path = "/restart-eph"
    sid, pwd, seen = raw_session(ens.servers[0], path)
    t0 = time.monotonic()
    for srv in ens.servers:
        srv.stop()
    ens.restart_all()
    ens.wait_serving(timeout=30)
    zb = client(ens.servers[2].hosts, timeout=SESSION_MS / 1000.0,
                client_id=(sid, pwd))
    try:
        assert time.monotonic() - t0 < SESSION_MS / 1000.0, (
            "the restart took longer than the session timeout")
        assert zb.client_id[0] == sid
        zb.sync(path)
        assert zb.exists(path).ephemeralOwner == sid
    finally:
        zb.stop()
        zb.close()
    node_gone_everywhere(ens, path)


def test_wiped_member_resynced_by_snap_validates_old_sessions(
        ensemble_factory, target):
    """A member whose data directory is wiped catches up from the leader
    (a SNAP: more transactions than a DIFF covers) and then accepts the
    sessions made before, with their passwords."""
    ens = ensemble_factory(**CFG)
    ens.wait_serving()
    a, wiped = ens.servers[0], ens.servers[2]
    path = "/wiped-eph"
    sid, pwd, seen = raw_session(a, path)
    wiped.stop()
    for name in os.listdir(wiped.data_dir):
        if name != "myid":
            p = os.path.join(wiped.data_dir, name)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    z = client(a.hosts)
    try:
        z.ensure_path("/bulk")
        # Past the DIFF window of either server (Roost 500, ZooKeeper's
        # committed log 500): the wiped member needs a SNAP.
        for r in [z.create_async("/bulk/n%04d" % i, b"x") for i in range(700)]:
            r.get(timeout=30)
        z.sync("/")
        seen = max(seen, z.exists("/bulk/n0699").mzxid)
    finally:
        stop_client(z)
    wiped.restart()
    ens.wait_serving(timeout=30)
    if target == "roost":
        assert mntr(ens, wiped)["roost_sync_snap"] == "1"
    resp, c = raw_resume(wiped, sid, pwd, seen)
    try:
        assert resp.session_id == sid and resp.timeout > 0, resp
        rep, st = c.exists(path)
        assert rep.err == zkraw.OK and st.ephemeralOwner == sid
        c.close_session()
    finally:
        c.close()
    node_gone_everywhere(ens, path)


def test_c_client_session_and_watch_survive_kill9(ensemble_factory):
    """The official C client, connected to the leader, which is killed
    with -9: the client moves to another member with the same session
    (never expired), sets its data watch again there, and the watch fires
    when the node changes; its ephemeral is still its own."""
    prog = os.environ.get("ZKC_FAILOVER_TEST")
    if not prog:
        pytest.skip("ZKC_FAILOVER_TEST is not set (tools/ctests.mk)")
    ens = ensemble_factory(**CFG)
    leader = ens.wait_serving()
    order = [leader] + [s for s in ens.servers if s is not leader]
    path = "/c-failover"
    p = subprocess.Popen([prog, ",".join(s.hosts for s in order), path],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        out = []
        while True:
            line = p.stdout.readline()
            assert line, "zk_c_failover ended early: %r" % out
            out.append(line)
            if line.startswith("READY"):
                break
        leader.kill()
        ens.wait_serving(timeout=30)
        z = client(ens.hosts)
        try:
            z.retry(z.set, path + "-w", b"changed")
        finally:
            stop_client(z)
        p.stdin.write("check\n")
        p.stdin.flush()
        rest, _ = p.communicate(timeout=60)
        out.append(rest)
        assert p.returncode == 0, "".join(out)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    node_gone_everywhere(ens, path)


def test_client_port_from_server_lines(ensemble_factory):
    """ZooKeeper 3.5+ configs put each member's client address on its
    server.N line (`;127.0.0.1:port`) and leave out clientPort: every
    member listens there, and a session moves between them."""
    ens = ensemble_factory(client_in_lines=True, **CFG)
    ens.wait_serving()
    for srv in ens.servers:
        assert "clientPort" not in open(srv.cfg_path).read()
    sid, pwd, seen = raw_session(ens.servers[1], "/lines-eph")
    resp, c = raw_resume(ens.servers[0], sid, pwd, seen)
    try:
        assert resp.session_id == sid and resp.timeout > 0, resp
        c.close_session()
    finally:
        c.close()
    node_gone_everywhere(ens, "/lines-eph")


def test_standalone_data_becomes_member_one(ensemble_factory, server_factory):
    """A standalone server's data directory, moved to member 1 of a new
    ensemble, brings its sessions along: a session made on the standalone
    server resumes on every member of the ensemble."""
    solo = server_factory(maxSessionTimeout="60000")
    path = "/solo-eph"
    with zkraw.Conn(solo.host, solo.port) as c:
        resp = c.handshake(timeout_ms=60000)
        rep, _ = c.create(path, b"e", flags=zkraw.F_EPHEMERAL)
        assert rep.err == zkraw.OK, rep
        sid, pwd, seen = resp.session_id, resp.passwd, c.last_zxid
    solo.stop()
    ens = ensemble_factory(start=False, maxSessionTimeout="60000")
    one = ens.servers[0]
    for name in os.listdir(solo.data_dir):
        src = os.path.join(solo.data_dir, name)
        dst = os.path.join(one.data_dir, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    ens.start()
    ens.wait_serving(timeout=30)
    for srv in ens.servers:
        resp, c = raw_resume(srv, sid, pwd, seen)
        try:
            assert resp.session_id == sid and resp.timeout > 0, (
                "member %d refused the standalone session: %r" % (srv.myid,
                                                                  resp))
            rep, st = c.exists(path)
            assert rep.err == zkraw.OK and st.ephemeralOwner == sid
            if srv is ens.servers[-1]:
                c.close_session()
        finally:
            c.close()
    node_gone_everywhere(ens, path)


def test_members_agree_on_the_state_digest(ensemble_factory, target):
    """After sessions made on every member and some writes, every member
    at the same zxid reports the same digest of its state (`hash`; Roost's
    digest covers the sessions with their passwords, so a member that
    stored another password would differ)."""
    ens = ensemble_factory(**CFG)
    ens.wait_serving()
    conns = []
    try:
        for srv in ens.servers:
            c = zkraw.Conn(srv.host, srv.port)
            c.handshake(timeout_ms=SESSION_MS)
            rep, _ = c.create("/digest-%d" % srv.myid, b"x",
                              flags=zkraw.F_EPHEMERAL)
            assert rep.err == zkraw.OK
            conns.append(c)

        def agree():
            outs = [srv.four_letter("hash").strip() for srv in ens.servers]
            return outs if len(set(outs)) == 1 else None
        outs = wait_until(agree, 15, "members to report one digest")
        if target == "roost":
            zxid, digest = outs[0].split(": ")
            assert int(zxid, 16) > 0 and int(digest) > 0, outs
    finally:
        for c in conns:
            c.close()


def test_isro_of_a_member_without_quorum(ensemble_factory):
    """isro: "rw" from a serving member, "null" from one that lost its
    quorum and serves nobody (as ZooKeeper answers)."""
    ens = ensemble_factory(**CFG)
    ens.wait_serving()
    alone = ens.servers[0]
    assert alone.four_letter("isro") == "rw"
    for srv in ens.servers[1:]:
        srv.stop()
    wait_until(lambda: alone.four_letter("isro") == "null", 30,
               "the member without quorum to answer null")
