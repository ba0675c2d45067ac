"""An ensemble member whose disk fails leaves the ensemble, refuses
clients, retries, and rejoins in-process; it never aborts and no
acknowledged write is lost (issue 13's failure policy, docs/ensemble.md
"Disk faults").

roost-server's test builds (make SAN=1, what make test runs) have a hook in
the I/O layer: with ROOST_TEST_IO_FAIL_FILE=PATH a call fails with EIO
while PATH holds a line "OP PREFIX" matching it (OP: open, write, fsync,
rename, unlink, fsync_dir or any; PREFIX: the start of the file's path).
Each member gets its own PATH, empty until a case breaks that member's
disk.  Roost only: the hook is inside roost-server, and ZooKeeper stops
its process on such errors."""

import os
import time

import pytest

from ens_util import (Writers, assert_trees_equal, client, mntr,
                      stop_client, wait_until)

pytestmark = pytest.mark.roost_only(
    "breaks a member's disk through a test hook inside roost-server's I/O "
    "layer and reads Roost's mntr figures (roost_disk_faults)")


def with_fail_files(ens):
    """Give every member an (empty) failure file; start the ensemble."""
    for srv in ens.servers:
        srv.fail_path = os.path.join(srv.dir, "io-fail")
        open(srv.fail_path, "w").close()
        srv.extra_env["ROOST_TEST_IO_FAIL_FILE"] = srv.fail_path
    ens.start()
    return ens


def break_disk(srv, *lines):
    tmp = srv.fail_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    os.rename(tmp, srv.fail_path)  # never read half written


def repair_disk(srv):
    break_disk(srv)


def faults(ens, srv):
    m = mntr(ens, srv)
    return int(m.get("roost_disk_faults", "0")), m.get("roost_disk_faulted")


def wait_faulted(ens, srv, timeout=15):
    return wait_until(lambda: faults(ens, srv)[1] == "1", timeout,
                      "server %d to leave on its disk fault" % srv.myid)


def wait_writes(w, n, timeout, what):
    start = w.count()
    wait_until(lambda: w.count() >= start + n, timeout, what)


def check_all(ens, acked):
    """Every member holds the same tree, with every acknowledged write."""
    tree = assert_trees_equal(ens.servers)
    got = {p[len("/load/"):] for p in tree if p.startswith("/load/")}
    missing = acked - got
    assert not missing, "%d acknowledged writes lost, e.g. %r" % (
        len(missing), sorted(missing)[:5])


def check_survived(srv, pid):
    assert srv.alive() and srv.pid == pid, \
        "server %d exited on its disk fault" % srv.myid
    log = srv.log_text()
    for line in log.splitlines():
        if any(k in line for k in ("leaving the ensemble", "recovery:",
                                   "recovered from", "role ")):
            print("server %d: %s" % (srv.myid, line[:220]))
    assert "leaving the ensemble" in log, srv.log_tail()
    assert "recovered from the fault" in log, srv.log_tail()


def load_path(ens):
    z = client(ens.hosts)
    z.ensure_path("/load")
    stop_client(z)


@pytest.mark.parametrize("who", ["follower", "leader"])
def test_member_log_fault_leaves_and_rejoins(ensemble_factory, who):
    """The log's fsyncs of one member fail (a follower, or the leader)
    under a write load: that member leaves, the other two keep
    acknowledging writes, its recovery keeps failing while the disk is
    broken (the snapshot it writes is fsynced too), and once the disk is
    repaired it rejoins and catches up (past the DIFF window of 20: by
    SNAP, whose log rebase runs too).  Every member then holds every
    acknowledged write."""
    ens = with_fail_files(ensemble_factory(
        start=False, **{"roost.syncDiffWindow": "20"}))
    leader = ens.wait_serving()
    victim = leader if who == "leader" else \
        [s for s in ens.servers if s is not leader][0]
    pid = victim.pid
    load_path(ens)
    w = Writers(ens.hosts).start()
    try:
        wait_writes(w, 30, 15, "writes before the fault")
        break_disk(victim, "fsync %s" % victim.dir)
        wait_faulted(ens, victim)
        # The other two are a quorum: writes go on while the victim's
        # recovery fails (at least two retries, a second apart).
        wait_writes(w, 60, 30, "writes acknowledged without the victim")
        time.sleep(2.5)
        assert faults(ens, victim)[1] == "1", "recovered on a broken disk"
        assert "recovery:" in victim.log_text(), victim.log_tail()
        repair_disk(victim)
        wait_until(lambda: faults(ens, victim)[1] == "0", 15,
                   "server %d to recover" % victim.myid)
        ens.wait_serving(timeout=30)
        wait_writes(w, 20, 30, "writes after the rejoin")
    finally:
        acked = w.finish()
    ens.wait_serving(timeout=30)
    check_survived(victim, pid)
    assert faults(ens, victim)[0] >= 1
    check_all(ens, acked)


def test_epochs_write_fault(ensemble_factory):
    """A follower cannot write its epochs file (the rename of epochs.tmp
    fails) when the leader dies: it must not answer the new leader as if
    the epoch were stored, so it leaves; the restarted old leader and the
    third member go on; once repaired it rewrites the epochs it last
    stored, rejoins and has every acknowledged write."""
    ens = with_fail_files(ensemble_factory(start=False))
    leader = ens.wait_serving()
    f, g = [s for s in ens.servers if s is not leader]
    pid = f.pid
    load_path(ens)
    w = Writers(ens.hosts).start()
    try:
        wait_writes(w, 30, 15, "writes before the fault")
        break_disk(f, "rename %s/epochs" % f.data_dir)
        leader.kill()
        wait_faulted(ens, f, timeout=20)
        leader.restart()
        wait_writes(w, 40, 40, "writes through the old leader and g")
        repair_disk(f)
        wait_until(lambda: faults(ens, f)[1] == "0", 15,
                   "server %d to recover" % f.myid)
        ens.wait_serving(timeout=30)
        wait_writes(w, 20, 30, "writes after the rejoin")
    finally:
        acked = w.finish()
    ens.wait_serving(timeout=30)
    check_survived(f, pid)
    with open(os.path.join(f.data_dir, "epochs")) as fh:
        acc, cur = (int(x) for x in fh.read().split())
    assert acc >= cur >= 1, (acc, cur)
    check_all(ens, acked)


def test_snap_install_rebase_fault(ensemble_factory):
    """A follower that rejoins past the DIFF window gets a SNAP; the
    snapshot its log rebase writes cannot be created: it must not ACK the
    new leader, so it leaves; the others keep committing; once repaired
    the recovery writes the installed state and it rejoins."""
    ens = with_fail_files(ensemble_factory(
        start=False, **{"roost.syncDiffWindow": "20"}))
    leader = ens.wait_serving()
    f = [s for s in ens.servers if s is not leader][0]
    load_path(ens)
    others = ",".join(s.hosts for s in ens.servers if s is not f)
    f.kill()
    w = Writers(others).start()
    try:
        wait_writes(w, 60, 30, "writes while the follower is down")
        break_disk(f, "open %s/snapshot" % f.data_dir)
        f.restart(wait=False)
        f.wait_ready()
        pid = f.pid
        wait_faulted(ens, f, timeout=20)
        wait_writes(w, 20, 30, "writes while the follower is faulted")
        assert int(mntr(ens, f)["roost_sync_snap"]) >= 1
        repair_disk(f)
        wait_until(lambda: faults(ens, f)[1] == "0", 15,
                   "server %d to recover" % f.myid)
        ens.wait_serving(timeout=30)
    finally:
        acked = w.finish()
    ens.wait_serving(timeout=30)
    check_survived(f, pid)
    check_all(ens, acked)
