"""libroost across a three-server ensemble (issue 5): the client connected
with the full connect string rides out a kill -9 of the server it is
connected to and then of the leader, keeping its session, its ephemeral,
its watches and every write it got an OK for.

Needs LIBROOST_BIN_DIR (build/tests: libroost_failover); `make
integration` and `make test-zk` set it.  Runs on both targets: the
ensemble is a plain zoo.cfg."""

import os

import pytest

from ens_util import client, stop_client, wait_until
from test_libroost import Proc

BIN_DIR = os.environ.get("LIBROOST_BIN_DIR")

pytestmark = [
    pytest.mark.skipif(not BIN_DIR, reason="LIBROOST_BIN_DIR not set"),
]


def prog(name):
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        pytest.skip("%s not built" % path)
    return path


def holder_of(ens, sid):
    """The live server that has a connection of session sid (cons)."""
    tag = "sid=0x%x," % sid
    for srv in ens.servers:
        if srv.alive():
            try:
                if tag in srv.four_letter("cons", timeout=2.0):
                    return srv
            except OSError:
                pass
    return None


def oks(lines):
    return sum(l.startswith("ok ") for l in lines)


def test_libroost_survives_kills_of_its_server_and_the_leader(
        ensemble_factory):
    """Under libroost's write loop: kill -9 the member it is connected to;
    it reconnects to another member with the same session.  Restart that
    member, then kill -9 the leader (its server again, or the one its
    server follows).  After both: its ephemeral is still there, the
    watches it set before the first kill fire for changes made after, and
    every write it got an OK for is on every live member."""
    ens = ensemble_factory()
    ens.wait_serving()
    prefix = "/lrf-%d" % os.getpid()
    p = Proc([prog("libroost_failover"), ens.hosts, prefix, "2"])
    try:
        line = p.wait_line("ready ", timeout=30)
        sid = int(line.split()[1], 16)
        p.wait_for(lambda ls: oks(ls) >= 30, timeout=30,
                   what="30 acknowledged writes")
        victim = wait_until(lambda: holder_of(ens, sid), 10,
                            "the server holding session %x" % sid)
        print("\nround 1: kill -9 server %d, the one libroost is connected "
              "to (%s)" % (victim.myid, ens.mode(victim)))
        victim.kill()
        p.wait_line("reconnected ", timeout=30)
        n = oks(p.lines)
        p.wait_for(lambda ls: oks(ls) >= n + 20, timeout=30,
                   what="20 writes after the first fail-over")
        victim.restart()
        leader = ens.wait_serving(timeout=20)
        holder = holder_of(ens, sid)
        print("round 2: kill -9 the leader, server %d (libroost is "
              "connected to server %s)" % (leader.myid,
                                           holder.myid if holder else "?"))
        leader.kill()
        rc = p.finish(60)
    finally:
        if p.p.poll() is None:
            p.p.kill()
        p.finish(5)
    out = p.output()
    assert rc == 0 and "PASSED" in out, out
    for line in out.splitlines():
        if line.startswith("reconnected "):
            print("libroost " + line)
    acked = {l.split()[1] for l in out.splitlines() if l.startswith("ok ")}
    assert len(acked) >= 70, out

    ens.wait_serving(timeout=20)
    for srv in ens.servers:
        if not srv.alive():
            continue
        z = client(srv.hosts)
        try:

            def look():
                z.sync("/")
                return (set(z.get_children(prefix)), z.exists(prefix + "-w"),
                        z.exists(prefix + "-eph"))

            children, watched, eph = z.retry(look)
            missing = acked - children
            assert not missing, "server %d lacks %d acknowledged writes" % (
                srv.myid, len(missing))
            assert watched is not None
            # The client closed its session on exit: its ephemeral is gone.
            assert eph is None
        finally:
            stop_client(z)


def test_recursive_watch_moves_to_another_member(ensemble_factory):
    """A persistent recursive watch follows its session to another member:
    kill -9 the member the watching client is connected to between two
    bursts of writes; after the move (setWatches2 on the new member) the
    events are exactly the history of both bursts, none lost or doubled."""
    ens = ensemble_factory()
    ens.wait_serving()
    p = Proc([prog("libroost_watch"), ens.hosts, "reconnect"])
    try:
        line = p.wait_line("ready ", timeout=60)
        sid = int(line.split()[1], 16)
        victim = wait_until(lambda: holder_of(ens, sid), 10,
                            "the server holding session %x" % sid)
        victim.kill()
        assert p.finish(120) == 0, p.output()
        assert "PASSED" in p.output()
    finally:
        if p.p.poll() is None:
            p.p.kill()
        p.finish(5)
