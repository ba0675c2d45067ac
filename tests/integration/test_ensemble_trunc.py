"""A member that logged a proposal which never reached a quorum truncates
it when it rejoins (zab's TRUNC sync, issue 7).  test_ensemble.py covers
DIFF and SNAP; this is the third path.  Roost only."""

import os
import signal

import pytest

from ens_util import (assert_trees_equal, client, create_retrying, mntr,
                      plain_client, stop_client, wait_until)

pytestmark = pytest.mark.roost_only(
    "finds a logged-but-uncommitted tail through Roost's mntr figures (roost_last_logged_zxid, roost_sync_trunc)")


def stopped(pid):
    """True once the process is in the stopped state (T)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def test_uncommitted_tail_is_truncated_on_rejoin(ensemble_factory):
    """The leader's followers freeze (SIGSTOP); writes reach the leader,
    which logs one or more durably but cannot commit them; the leader is
    killed (-9), and so are the frozen followers, so what sat unread in
    their sockets is lost too.  The followers restart, elect a leader of a
    new epoch and commit more writes; the old leader restarts, is told to
    TRUNC its uncommitted tail, and ends with the same tree as the others:
    the writes that were never acknowledged are nowhere, also after one
    more restart from its own files."""
    # syncLimit 20 ticks (4 s): the frozen followers must not make the
    # leader step down before it has logged the write, on a slow machine.
    ens = ensemble_factory(syncLimit="20")
    leader = ens.wait_serving()
    followers = [s for s in ens.servers if s is not leader]
    z = client(ens.hosts)
    z.retry(z.ensure_path, "/t")
    for i in range(5):
        create_retrying(z, "/t/before-%d" % i)
    stop_client(z)

    zl = plain_client(leader.hosts)
    m = mntr(ens, leader)
    logged0 = int(m["roost_last_logged_zxid"])
    for f in followers:
        os.kill(f.pid, signal.SIGSTOP)
    for f in followers:
        wait_until(lambda: stopped(f.pid), 5, "server %d stopped" % f.myid)
    # Several writes: a leader that pipelines proposes them all, one that
    # preps one write at a time only the first; none can commit.
    pending = [zl.create_async("/t/uncommitted-%d" % i, b"never acked")
               for i in range(5)]

    def logged_durably():
        m = mntr(ens, leader)
        last = int(m["roost_last_logged_zxid"])
        if last > logged0 and int(m["roost_log_durable_zxid"]) >= last:
            return m
        return None

    m = wait_until(logged_durably, 5, "the leader to log a write")
    assert int(m["roost_commit_zxid"]) < int(m["roost_last_logged_zxid"]), m
    leader.kill()
    for f in followers:
        f.kill()  # SIGKILL ends a stopped process too
    for i, p in enumerate(pending):
        try:
            p.get(timeout=5)
            acked = True
        except Exception:
            acked = False
        assert not acked, "write %d was acknowledged without a quorum" % i
    stop_client(zl)

    for f in followers:
        f.restart()
    ens.wait_serving(servers=followers, timeout=20)
    z = client(",".join(f.hosts for f in followers))
    for i in range(5):
        create_retrying(z, "/t/after-%d" % i)
    stop_client(z)

    leader.restart()
    ens.wait_serving(timeout=20)
    m = mntr(ens, leader)
    assert int(m["roost_sync_trunc"]) >= 1, m
    tree = assert_trees_equal(ens.servers)
    assert not [p for p in tree if p.startswith("/t/uncommitted")]
    assert {"/t/before-%d" % i for i in range(5)} <= set(tree)
    assert {"/t/after-%d" % i for i in range(5)} <= set(tree)

    # The truncation must have reached its txlog, not only its memory: the
    # old leader restarts once more from its own files and still agrees.
    leader.kill()
    z = client(",".join(f.hosts for f in followers))
    create_retrying(z, "/t/later")
    stop_client(z)
    leader.restart()
    ens.wait_serving(timeout=20)
    tree = assert_trees_equal(ens.servers)
    assert not [p for p in tree if p.startswith("/t/uncommitted")]
    assert "/t/later" in tree
