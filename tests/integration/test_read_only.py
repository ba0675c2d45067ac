"""Read-only mode (issue 18): with readonlymode.enabled, an ensemble member
that lost its quorum serves clients that connected with canBeReadOnly, as
ZooKeeper 3.8's ReadOnlyZooKeeperServer does: the ConnectResponse says
readOnly, reads are answered from its tree, writes, sync, reconfig and a
lone check get NotReadOnly (-119), other clients are refused, isro says "ro" and srvr's Mode
"read-only".  When the quorum is back the member closes its read-only
connections and the clients end up read-write on the quorum.

Sessions as ZooKeeper 3.8 has them (ZOOKEEPER-3863): a read-only member
makes local sessions only (its own, expired by it, gone when read-only mode
ends); it refuses to resume a global session; a global session does not
expire while no member leads and is still there, with its ephemeral, once
the quorum is back.

Protocol semantics: every case runs against Apache ZooKeeper too (make
test-zk).  ZooKeeper reads readonlymode.enabled only as a JVM property (the
harness passes it as -D) and makes read-only sessions only with
localSessionsEnabled=true (without it a read-only ZooKeeper refuses every
new session), so its ensemble gets that key (and
localSessionsUpgradingEnabled=true, so that a session that creates an
ephemeral becomes global as every Roost session is); Roost refuses the key (its
read-write sessions are all global) and makes read-only sessions local
without it."""

import os
import subprocess
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NotReadOnlyCallError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KeeperState

import zkraw
from ens_util import client, stop_client, wait_until

BUILD = os.environ.get("ROOST_BUILD", "build")
SESSION_MS = 8000


def ro_cfg(target, **extra):
    cfg = {"readonlymode.enabled": "true", "maxSessionTimeout": "20000"}
    if target == "zookeeper":
        cfg["localSessionsEnabled"] = "true"
        # ... and a session with an ephemeral must become global there.
        cfg["localSessionsUpgradingEnabled"] = "true"
    cfg.update(extra)
    return cfg


def isro(srv):
    try:
        return srv.four_letter("isro", timeout=2.0)
    except OSError:
        return None


def lose_quorum(ens, keep):
    """Kill every member but keep; wait until keep serves read-only."""
    for s in ens.servers:
        if s is not keep:
            s.kill()
    wait_until(lambda: ens.mode(keep) == "read-only", 40,
               "member %d in read-only mode" % keep.myid, interval=0.1)


def quorum_back(ens):
    ens.restart_all()
    ens.wait_serving(timeout=60)


def refused(srv, **kw):
    """True when srv closes a handshake without answering it."""
    c = zkraw.Conn(srv.host, srv.port)
    try:
        c.handshake(check=False, **kw)
        return False
    except (zkraw.Closed, zkraw.Timeout, OSError):
        return True
    finally:
        c.close()


def test_read_only_member_serves_reads_refuses_writes(ensemble_factory,
                                                      target):
    ens = ensemble_factory(**ro_cfg(target))
    ens.wait_serving()
    z = client(ens.hosts)
    z.create("/ro/a", b"one", makepath=True)
    z.create("/ro/b", b"two")
    stop_client(z)
    a = ens.servers[0]
    assert [isro(s) for s in ens.servers] == ["rw"] * 3

    lose_quorum(ens, a)
    assert isro(a) == "ro"

    # Raw frames: a client without canBeReadOnly gets no answer; one with
    # it gets readOnly, reads, and NotReadOnly for writes and sync, in
    # order.
    assert refused(a, read_only=False)
    with zkraw.Conn(a.host, a.port) as c:
        resp = c.handshake(timeout_ms=SESSION_MS, read_only=True)
        assert resp.read_only is True and resp.session_id != 0, resp
        rep, (data, st) = c.get_data("/ro/a")
        assert rep.err == zkraw.OK and data == b"one"
        rep, _ = c.create("/ro/c", b"x")
        assert rep.err == zkraw.E_NOTREADONLY, rep
        rep, _ = c.set_data("/ro/a", b"y")
        assert rep.err == zkraw.E_NOTREADONLY, rep
        rep, _ = c.delete("/ro/b")
        assert rep.err == zkraw.E_NOTREADONLY, rep
        rep = c.call(zkraw.OP_SYNC, zkraw.path_req("/ro"))
        assert rep.err == zkraw.E_NOTREADONLY, rep
        # ZooKeeper's ReadOnlyRequestProcessor lists reconfig and a lone
        # check with the writes: NotReadOnly, the connection stays (not
        # ReconfigDisabled, not Unimplemented).
        rep = c.call(zkraw.OP_CHECK, zkraw.Writer().ustring("/ro/a")
                     .int(0).bytes())
        assert rep.err == zkraw.E_NOTREADONLY, rep
        rep = c.call(zkraw.OP_RECONFIG, zkraw.Writer().ustring("")
                     .ustring("2").ustring("").long(-1).bytes())
        assert rep.err == zkraw.E_NOTREADONLY, rep
        rep, kids = c.get_children("/ro")
        assert rep.err == zkraw.OK and sorted(kids) == ["a", "b"]
        rep, _ = c.ping()
        assert rep.err == zkraw.OK

    # kazoo without read_only never gets in.
    plain = KazooClient(hosts=a.hosts, timeout=4.0)
    with pytest.raises(KazooTimeoutError):
        plain.start(timeout=4)
    stop_client(plain)

    # kazoo with read_only: CONNECTED_RO, reads, NotReadOnlyCallError.
    z = client(ens.hosts, read_only=True, start_timeout=30)
    try:
        assert z.client_state == KeeperState.CONNECTED_RO
        assert z.get("/ro/a")[0] == b"one"
        assert sorted(z.get_children("/ro")) == ["a", "b"]
        for call in (lambda: z.create("/ro/c", b""),
                     lambda: z.set("/ro/a", b"z"),
                     lambda: z.delete("/ro/b"),
                     lambda: z.sync("/ro")):
            with pytest.raises(NotReadOnlyCallError):
                call()
        t = z.transaction()
        t.create("/ro/d", b"")
        with pytest.raises(NotReadOnlyCallError):
            t.commit()

        # The quorum comes back: the member leaves read-only mode and the
        # client ends up read-write, its writes accepted.
        quorum_back(ens)
        assert ens.mode(a) in ("leader", "follower")
        assert isro(a) == "rw"
        wait_until(lambda: z.client_state == KeeperState.CONNECTED, 60,
                   "kazoo read-write again", interval=0.1)
        z.retry(z.create, "/ro/c", b"rw")
        assert z.get("/ro/c")[0] == b"rw"
    finally:
        stop_client(z)


def test_read_only_sessions(ensemble_factory, target):
    """Local sessions on the read-only member (resumed there, expired by
    it), global ones refused there and kept through the outage."""
    ens = ensemble_factory(**ro_cfg(target))
    ens.wait_serving()
    a = ens.servers[0]
    # A global session (ZooKeeper with local sessions: made global by its
    # ephemeral), its socket closed without closeSession.
    with zkraw.Conn(a.host, a.port) as c:
        g = c.handshake(timeout_ms=SESSION_MS)
        rep, _ = c.create("/ro-eph", b"e", flags=zkraw.F_EPHEMERAL)
        assert rep.err == zkraw.OK, rep
        seen = c.last_zxid
    lost_at = time.monotonic()

    lose_quorum(ens, a)
    # The global session cannot be resumed read-only (nor read-write).
    assert refused(a, session_id=g.session_id, passwd=g.passwd,
                   last_zxid=seen, read_only=True)
    assert refused(a, session_id=g.session_id, passwd=g.passwd,
                   last_zxid=seen, read_only=False)

    # A local session: resumed on this member while alive, with readOnly...
    c = zkraw.Conn(a.host, a.port)
    loc = c.handshake(timeout_ms=4000, read_only=True)
    c.close()
    assert loc.read_only is True and loc.timeout > 0
    with zkraw.Conn(a.host, a.port) as c:
        r = c.handshake(session_id=loc.session_id, passwd=loc.passwd,
                        timeout_ms=4000, read_only=True, check=False)
        assert r.session_id == loc.session_id and r.read_only is True, r
    # ... and expired by it once its timeout passed without a connection.
    time.sleep(4000 / 1000.0 * 2 + 1)
    with zkraw.Conn(a.host, a.port) as c:
        r = c.handshake(session_id=loc.session_id, passwd=loc.passwd,
                        timeout_ms=4000, read_only=True, check=False)
        assert r.timeout <= 0 and r.session_id == 0, r

    # Read-only for longer than the global session's timeout: no leader,
    # so it does not expire; the new leader gives it a full timeout.
    left = SESSION_MS / 1000.0 + 1 - (time.monotonic() - lost_at)
    if left > 0:
        time.sleep(left)
    quorum_back(ens)
    deadline = time.monotonic() + 20
    while True:
        c = zkraw.Conn(a.host, a.port)
        try:
            r = c.handshake(session_id=g.session_id, passwd=g.passwd,
                            last_zxid=seen, timeout_ms=SESSION_MS,
                            read_only=True, check=False)
            break
        except (zkraw.Closed, zkraw.Timeout, OSError):
            c.close()
            assert time.monotonic() < deadline, "session never resumed"
            time.sleep(0.1)
    try:
        assert r.session_id == g.session_id and r.timeout > 0, r
        assert r.read_only is False
        rep, st = c.exists("/ro-eph")
        assert rep.err == zkraw.OK and st.ephemeralOwner == g.session_id
    finally:
        c.close()


def _c_programs():
    """(name, argv prefix) of the C client programs that are built."""
    progs = []
    zkc = os.environ.get("ZKC_READONLY_TEST")
    if zkc and os.access(zkc, os.X_OK):
        progs.append(("zk_c_readonly", [zkc]))
    lr_dir = os.environ.get("LIBROOST_BIN_DIR")
    lr = os.path.join(lr_dir, "libroost_watch") if lr_dir else None
    if lr and os.access(lr, os.X_OK):
        progs.append(("libroost", [lr]))
    return progs


def test_c_clients_read_only_then_read_write(ensemble_factory, target):
    """The official C client (ZOO_READONLY) and libroost (read_only) on
    the read-only member: ZOO_READONLY_STATE / ROOST_STATE_READ_ONLY,
    reads, NotReadOnly for writes; once the quorum is back both are
    read-write with a new session (they never saw a read-write server, so
    they do not offer the read-only one) and their writes succeed."""
    progs = _c_programs()
    if not progs:
        pytest.skip("neither ZKC_READONLY_TEST nor LIBROOST_BIN_DIR is set")
    ens = ensemble_factory(**ro_cfg(target))
    ens.wait_serving()
    z = client(ens.hosts)
    z.create("/roc", b"one")
    stop_client(z)
    a = ens.servers[0]
    lose_quorum(ens, a)
    procs = []
    try:
        for name, argv in progs:
            if name == "libroost":
                argv = argv + [ens.hosts, "readonly-ensemble", "/roc"]
            else:
                argv = argv + [ens.hosts, "/roc"]
            procs.append((name, subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True)))
        for name, p in procs:
            out = []
            while True:
                line = p.stdout.readline()
                assert line, "%s ended early: %s" % (name, "".join(out))
                out.append(line)
                if line.lower().startswith("read-only ") or \
                        line.startswith("READONLY "):
                    break
        quorum_back(ens)
        for name, p in procs:
            rest, _ = p.communicate(timeout=150)
            assert p.returncode == 0, "%s failed:\n%s" % (name, rest)
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.roost_only("checks that roost-server exits cleanly (status, "
                        "sanitizer reports) when stopped while read-only "
                        "with local sessions and watches")
def test_stop_while_read_only(ensemble_factory, target):
    ens = ensemble_factory(**ro_cfg(target))
    ens.wait_serving()
    a = ens.servers[0]
    lose_quorum(ens, a)
    kept = zkraw.Conn(a.host, a.port)
    kept.handshake(read_only=True)
    rep, _ = kept.exists("/", watch=True)
    assert rep.err == zkraw.OK
    c = zkraw.Conn(a.host, a.port)
    c.handshake(read_only=True)
    c.close()  # its local session lives on until a is stopped
    assert ens.mntr(a).get("roost_read_only") == "1"
    a.stop()  # raises on a bad exit status or a sanitizer report
    kept.close()
