"""A write is acknowledged only after the fsync that covers it returned
(standalone, and on the members of an ensemble quorum).

roost-server's test builds (make SAN=1, what make test runs) have a hook
in the I/O layer: with ROOST_TEST_FSYNC_DELAY_FILE=PATH every fdatasync
returns as many ms later as PATH says at that moment.  A server that answered before its fsync returned would
answer fast; these cases fail then.  (kill -9 tests cannot see that: a
killed process's written data still reaches the disk.)  Roost only: the
hook is inside roost-server."""

import os
import time

import pytest

import zkraw
from harness import Server
from ens_util import client, stop_client

pytestmark = pytest.mark.roost_only(
    "delays fsync through a test hook inside roost-server's I/O layer")

DELAY_MS = 400


def slow_disk(srv, ms):
    """From now on srv's fdatasyncs return ms late (set up before start:
    the file's path goes in the environment)."""
    path = os.path.join(srv.dir, "fsync-delay-ms")
    with open(path, "w") as f:
        f.write("%d\n" % ms)
    srv.extra_env["ROOST_TEST_FSYNC_DELAY_FILE"] = path


def timed_create(srv, path):
    """Seconds from sending a create to its reply, on a fresh session."""
    with zkraw.Conn(srv.host, srv.port, timeout=30) as c:
        c.handshake()
        t0 = time.monotonic()
        rep, _ = c.create(path, b"x")
        took = time.monotonic() - t0
        assert rep.err == zkraw.OK, rep
        return took


def test_standalone_reply_waits_for_fsync(_server_base_dir):
    """Every create's reply comes at least DELAY_MS after it was sent."""
    srv = Server("roost", _server_base_dir, {},
                 roost_bin=os.environ.get("ROOST_SERVER"))
    slow_disk(srv, DELAY_MS)
    srv.start()
    try:
        # (The handshake's createSession is durable before its answer too.)
        took = [timed_create(srv, "/fsync-%d" % i) for i in range(3)]
        assert min(took) >= DELAY_MS / 1000.0 * 0.95, took
    finally:
        srv.stop()


def test_ensemble_reply_waits_for_a_quorum_fsync(ensemble_factory):
    """Both followers' fsyncs are slow, the leader's is not: a quorum (the
    leader and one follower) has the write durable only after a follower's
    fsync returned, so no reply may come sooner, through any member."""
    ens = ensemble_factory(start=False)
    for srv in ens.servers:
        slow_disk(srv, 0)
    ens.start()
    leader = ens.wait_serving(timeout=30)
    for srv in ens.servers:
        if srv is not leader:
            slow_disk(srv, DELAY_MS)
    for srv in ens.servers:
        took = [timed_create(srv, "/fsync-%d-%d" % (srv.myid, i))
                for i in range(2)]
        assert min(took) >= DELAY_MS / 1000.0 * 0.95, (srv.myid, took)
    z = client(ens.hosts)
    try:
        z.sync("/")
        assert z.exists("/fsync-%d-1" % ens.servers[-1].myid) is not None
    finally:
        stop_client(z)


def test_standalone_write_invisible_until_durable(_server_base_dir):
    """Issue 13's durability fix: a standalone server applies a write only
    once the fsync covering it returned, so a read from another session
    that arrives in between does not see it (a power loss then would erase
    what that reader saw).  After the writer's reply it does."""
    srv = Server("roost", _server_base_dir, {},
                 roost_bin=os.environ.get("ROOST_SERVER"))
    slow_disk(srv, 0)
    srv.start()
    try:
        with zkraw.Conn(srv.host, srv.port, timeout=30) as w, \
                zkraw.Conn(srv.host, srv.port, timeout=30) as r:
            w.handshake()
            r.handshake()
            slow_disk(srv, 1500)
            xid = w.submit(zkraw.OP_CREATE, zkraw.create_req("/d", b"v"))
            time.sleep(0.3)  # the create is read, its fsync is not back
            t0 = time.monotonic()
            rep, stat = r.exists("/d")
            assert rep.err == zkraw.E_NONODE and stat is None, rep
            # The read was not made to wait for the write's fsync.
            assert time.monotonic() - t0 < 1.0
            rep = w.next_reply(timeout=30)
            assert rep.xid == xid and rep.err == zkraw.OK, rep
            slow_disk(srv, 0)
            rep, stat = r.exists("/d")
            assert rep.err == zkraw.OK and stat is not None, rep
    finally:
        srv.stop()


def _mntr(srv, key):
    for line in srv.four_letter("mntr").splitlines():
        k, _, v = line.partition("\t")
        if k == key:
            return int(v)
    raise AssertionError("mntr has no %s" % key)


def test_standalone_lone_writer_reply_waits_for_fsync(_server_base_dir):
    """roost.fsyncOnLoop=yes: a client writing alone has its fsync run on
    the server's loop itself, not on the fsync thread (persist.c; mntr
    counts them); its
    replies still wait for the fsync.  After a slow fsync the next ones go
    to the thread, so a stalling disk stalls the loop at most once in a
    row: of three slow creates at most the first takes the loop's path."""
    srv = Server("roost", _server_base_dir, {"roost.fsyncOnLoop": "yes"},
                 roost_bin=os.environ.get("ROOST_SERVER"))
    slow_disk(srv, 0)
    srv.start()
    try:
        with zkraw.Conn(srv.host, srv.port, timeout=30) as c:
            c.handshake()
            c.exists("/")
            time.sleep(0.3)  # the only sender for longer than SRV_LONE_MS
            # A fast disk: the loop's path is taken (an fsync slower than
            # 10 ms on a loaded machine sends the next one to the thread,
            # hence a few tries).
            before = _mntr(srv, "roost_fsync_on_loop_count")
            for i in range(50):
                rep, _ = c.create("/fast-%d" % i, b"x")
                assert rep.err == zkraw.OK, rep
                if _mntr(srv, "roost_fsync_on_loop_count") > before:
                    break
            else:
                raise AssertionError("no fsync ran on the loop")
            before = _mntr(srv, "roost_fsync_on_loop_count")
            slow_disk(srv, DELAY_MS)
            took = []
            for i in range(3):
                t0 = time.monotonic()
                rep, _ = c.create("/lone-%d" % i, b"x")
                took.append(time.monotonic() - t0)
                assert rep.err == zkraw.OK, rep
            assert min(took) >= DELAY_MS / 1000.0 * 0.95, took
            on_loop = _mntr(srv, "roost_fsync_on_loop_count") - before
            assert on_loop <= 1, on_loop
    finally:
        srv.stop()
