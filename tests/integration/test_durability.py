"""Durability: what survives kill -9, torn and corrupt files, a full disk,
and restarts (issue 4).  Tests about ZooKeeper-observable semantics run on
both targets; those about Roost's files are roost_only.

make soak runs test_crash_kill9 with many rounds (ROOST_SOAK_ROUNDS)."""

import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import SystemZookeeperError, ZookeeperError

PY = "/usr/bin/python3"
DUMP = os.environ.get("ROOST_DUMP")

# ---------------------------------------------------------------------
# helpers


def client(srv, timeout=10.0, **kw):
    zk = KazooClient(hosts=srv.hosts, timeout=timeout, **kw)
    zk.start(timeout=15)
    return zk


def listing(zk, top="/"):
    """Every node under top (excluding /zookeeper): path -> (data, stat
    fields), the whole replicated view a client can see."""
    out = {}
    stack = [top]
    while stack:
        p = stack.pop()
        if p.startswith("/zookeeper"):
            continue
        data, st = zk.get(p)
        out[p] = (data, st.czxid, st.mzxid, st.pzxid, st.ctime, st.mtime,
                  st.version, st.cversion, st.aversion, st.ephemeralOwner,
                  st.numChildren)
        for c in zk.get_children(p):
            stack.append(("/" if p == "/" else p + "/") + c)
    return out


def segments(srv):
    return sorted(glob.glob(os.path.join(srv.data_dir, "log.*")),
                  key=lambda p: int(p.rsplit(".", 1)[1], 16))


def snapshots(srv):
    return sorted((p for p in glob.glob(os.path.join(srv.data_dir,
                                                     "snapshot.*"))
                   if not p.endswith(".tmp")),
                  key=lambda p: int(p.rsplit(".", 1)[1], 16))


def dump(*args):
    assert DUMP, "ROOST_DUMP is not set (make integration sets it)"
    return subprocess.run([DUMP] + list(args), capture_output=True,
                          text=True, timeout=60)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def frames(path):
    """Offsets of the frames of a segment, from roost-dump --json."""
    r = dump("--json", "log", path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    return sorted({t["frame_offset"] for t in doc["transactions"]})


def data_end(path):
    """Where the frames of a segment end: the file size unless the segment
    is preallocated (preAllocSize), when zeros follow."""
    r = dump("--json", "log", path)
    assert r.returncode == 0, r.stderr
    return 32 + json.loads(r.stdout)["frame_bytes"]


# ---------------------------------------------------------------------
# kill -9 at random moments

WRITER = r"""
import os, sys, random, threading, time
from kazoo.client import KazooClient
hosts, prefix, acks_path, tries_path, seed = sys.argv[1:6]
rnd = random.Random(int(seed))
zk = KazooClient(hosts=hosts, timeout=10.0)
zk.start(timeout=15)
zk.ensure_path(prefix)
acks = open(acks_path, "a", buffering=1)
tries = open(tries_path, "a", buffering=1)
sem = threading.BoundedSemaphore(16)
lock = threading.Lock()
known = {}   # path -> last acknowledged version
def done(kind, path, ver):
    def cb(ar):
        try:
            v = ar.get()
            ver2 = 0 if kind == "c" else v.version
            with lock:
                acks.write("%s %d\n" % (path, ver2))
                known[path] = max(known.get(path, -1), ver2)
        except Exception:
            pass
        finally:
            sem.release()
    return cb
i = 0
while True:
    sem.acquire()
    with lock:
        paths = list(known)
    if paths and rnd.random() < 0.4:
        p = rnd.choice(paths)
        tries.write(p + "\n")
        zk.set_async(p, os.urandom(50)).rawlink(done("s", p, 0))
    else:
        p = "%s/n%06d" % (prefix, i)
        i += 1
        tries.write(p + "\n")
        zk.create_async(p, os.urandom(100)).rawlink(done("c", p, 0))
"""


def run_writer(srv, prefix, acks, tries, seed):
    return subprocess.Popen([PY, "-c", WRITER, srv.hosts, prefix, acks, tries,
                             str(seed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def check_acked(zk, acks_path, tries_path, prefix):
    acked = {}
    with open(acks_path) as f:
        for line in f:
            p, v = line.split()
            acked[p] = max(acked.get(p, -1), int(v))
    tried = set()
    with open(tries_path) as f:
        tried = {line.strip() for line in f}
    for p, v in acked.items():
        st = zk.exists(p)
        assert st is not None, "acknowledged %s is gone after restart" % p
        assert st.version >= v, ("%s: version %d after restart, %d was "
                                 "acknowledged" % (p, st.version, v))
    if zk.exists(prefix) is None:
        # The kill came before the writer created its prefix (a loaded
        # machine starts Python slowly): nothing was acknowledged above.
        return len(acked)
    for c in zk.get_children(prefix):
        assert prefix + "/" + c in tried, "never-attempted %s/%s appeared" % (
            prefix, c)
    return len(acked)


def test_crash_kill9(server_factory, target, tmp_path):
    """Proves that every create/setData acknowledged before a kill -9 is
    there after the restart with at least the acknowledged version, and
    that nothing that was never attempted appears, over several rounds of
    kills at random moments (snapshots and segment rolls included)."""
    rounds = int(os.environ.get("ROOST_SOAK_ROUNDS",
                                "3" if target == "roost" else "2"))
    srv = server_factory(snapCount=300)
    rnd = random.Random(int(os.environ.get("ROOST_CRASH_SEED", "0")) or None)
    total = 0
    for r in range(rounds):
        prefix = "/crash%d" % r
        acks = str(tmp_path / ("acks%d" % r))
        tries = str(tmp_path / ("tries%d" % r))
        open(acks, "w").close()
        open(tries, "w").close()
        w = run_writer(srv, prefix, acks, tries, rnd.randrange(1 << 30))
        try:
            time.sleep(0.5 + rnd.random() * 1.5)
            srv.kill()
        finally:
            time.sleep(0.2)
            w.kill()
            w.wait()
        srv.restart()
        try:
            zk = client(srv)
        except Exception as e:
            raise AssertionError("no session after restart %d: %r; server "
                                 "log tail:\n%s"
                                 % (r, e, srv.log_tail(80))) from e
        try:
            for prev in range(r + 1):
                n = check_acked(zk, str(tmp_path / ("acks%d" % prev)),
                                str(tmp_path / ("tries%d" % prev)),
                                "/crash%d" % prev)
                if prev == r:
                    total += n
        finally:
            zk.stop()
            zk.close()
    assert total > 0, "the writer never got an acknowledgement"


# ---------------------------------------------------------------------
# sessions across a restart


def test_session_survives_restart(server_factory):
    """Proves a client resumes its session (same id, via id + password)
    after the server restarts within the session timeout, and that its
    ephemeral node is still there."""
    srv = server_factory()
    zk = client(srv, timeout=20.0)
    try:
        zk.create("/eph-keep", b"x", ephemeral=True)
        sid = zk.client_id[0]
        srv.kill()
        time.sleep(0.5)
        srv.restart()
        wait_for(lambda: zk.connected, 30, "the client to reconnect")
        assert zk.client_id[0] == sid
        st = zk.exists("/eph-keep")
        assert st is not None and st.ephemeralOwner == sid
    finally:
        zk.stop()
        zk.close()


def test_expired_ephemerals_removed_after_restart(server_factory):
    """Proves the ephemerals of a session whose client did not come back
    after a restart are removed (by a closeSession transaction) once its
    timeout has passed, and stay removed after another restart."""
    srv = server_factory()
    zk = client(srv, timeout=4.0)
    zk.create("/eph-gone", b"x", ephemeral=True)
    srv.kill()
    # The client goes away without closing its session.
    zk.stop()
    zk.close()
    srv.restart()
    zk2 = client(srv)
    try:
        assert zk2.exists("/eph-gone") is not None  # restored with it
        wait_for(lambda: zk2.exists("/eph-gone") is None, 20,
                 "the restored session to expire")
    finally:
        zk2.stop()
        zk2.close()
    srv.kill()
    srv.restart()
    zk3 = client(srv)
    try:
        assert zk3.exists("/eph-gone") is None
    finally:
        zk3.stop()
        zk3.close()


# ---------------------------------------------------------------------
# torn and corrupt files (Roost's own files)


def fill(zk, prefix, n, size=100):
    zk.ensure_path(prefix)
    for i in range(n):
        zk.create("%s/n%05d" % (prefix, i), os.urandom(size))


@pytest.mark.roost_only("Roost's log format")
def test_torn_tail_is_cut(server_factory):
    """Proves a last segment cut at random offsets after the last sync
    point starts with a warning, keeps everything acknowledged before that
    point, and that roost-dump verify fails on the torn file and passes
    after roost-dump truncate."""
    srv = server_factory()
    zk = client(srv)
    fill(zk, "/before", 50)
    seg = segments(srv)[-1]
    synced = data_end(seg)  # every ack above was fsynced
    fill(zk, "/after", 30)
    zk.stop()
    zk.close()
    srv.kill()
    full = data_end(seg)
    assert full > synced
    # Each trial starts from the same directory (a restart adds segments).
    backup = srv.data_dir + ".orig"
    shutil.copytree(srv.data_dir, backup)

    def restore():
        shutil.rmtree(srv.data_dir)
        shutil.copytree(backup, srv.data_dir)
    rnd = random.Random(4)
    offs = frames(seg)
    cuts = [o + 7 for o in offs if o > synced][:2] + \
        [rnd.randrange(synced, full) for _ in range(3)]
    for cut in cuts:
        restore()
        with open(seg, "r+b") as f:
            f.truncate(cut)
        torn = cut not in offs and cut != full
        r = dump("verify", srv.data_dir)
        if torn:
            assert r.returncode == 1, r.stdout
            assert "torn tail" in r.stdout and seg in r.stdout
        mark = len(srv.log_text())
        srv.restart()
        if torn:
            assert "torn tail" in srv.log_text()[mark:]
        zk = client(srv)
        try:
            assert len(zk.get_children("/before")) == 50
        finally:
            zk.stop()
            zk.close()
        srv.kill()
        # the restart cut it: the directory verifies now
        r = dump("verify", srv.data_dir)
        assert r.returncode == 0, r.stdout
    # roost-dump truncate cuts a torn tail by hand
    restore()
    with open(seg, "r+b") as f:
        f.truncate(full - 5)
    assert dump("verify", srv.data_dir).returncode == 1
    r = dump("truncate", seg)
    assert r.returncode == 0 and "cut at offset" in r.stdout, r.stdout
    assert dump("verify", srv.data_dir).returncode == 0
    shutil.rmtree(backup)
    srv.restart()


@pytest.mark.roost_only("Roost's log format")
def test_corrupt_middle_frame_refuses_to_start(server_factory):
    """Proves a flipped byte in a frame in the middle of the log stops the
    server (exit 2) with a message naming the file, the byte offset and the
    roost-dump command, and that roost-dump verify reports the same."""
    srv = server_factory()
    zk = client(srv)
    fill(zk, "/m", 40)
    zk.stop()
    zk.close()
    srv.kill()
    seg = segments(srv)[-1]
    offs = frames(seg)
    victim = offs[len(offs) // 2]
    with open(seg, "r+b") as f:
        f.seek(victim + 45)
        b = f.read(1)
        f.seek(victim + 45)
        f.write(bytes([b[0] ^ 0x5a]))
    mark = len(srv.log_text())
    rc = srv.run_to_exit()
    assert rc == 2
    text = srv.log_text()[mark:]
    assert seg in text and ("offset %d" % victim) in text, text
    assert "roost-dump log " + seg in text, text
    r = dump("verify", srv.data_dir)
    assert r.returncode == 1 and ("offset %d" % victim) in r.stdout
    r = dump("truncate", seg)
    assert r.returncode == 1 and "--force" in r.stderr


@pytest.mark.roost_only("Roost's snapshot format")
def test_corrupt_newest_snapshot_falls_back(server_factory):
    """Proves a damaged newest snapshot is skipped with a warning and the
    previous snapshot plus the log give the same tree."""
    srv = server_factory(snapCount=60)
    zk = client(srv)
    fill(zk, "/s", 200)
    zk.set("/s/n00007", b"changed")
    wait_for(lambda: len(snapshots(srv)) >= 2, 20, "two snapshots")
    time.sleep(0.5)  # let the newest child finish its rename
    before = listing(zk)
    zk.stop()
    zk.close()
    srv.stop()
    newest = snapshots(srv)[-1]
    with open(newest, "r+b") as f:
        f.seek(os.path.getsize(newest) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xff]))
    assert dump("verify", srv.data_dir).returncode == 1
    mark = len(srv.log_text())
    srv.restart()
    text = srv.log_text()[mark:]
    assert "skipping snapshot " + newest in text, text
    zk = client(srv)
    try:
        assert listing(zk) == before
    finally:
        zk.stop()
        zk.close()


@pytest.mark.roost_only("snapshot files and the recovery log line")
def test_snapshot_roundtrip(server_factory):
    """Proves snapshot -> restart gives the same tree: every node with every
    Stat field and its data, ephemerals of a live session included, and
    that the restart loaded a snapshot."""
    srv = server_factory(snapCount=50, extendedTypesEnabled=True)
    zk = client(srv, timeout=30.0)
    try:
        zk.ensure_path("/r/a/b/c")
        zk.create("/r/empty", b"")
        zk.create("/r/seq-", b"s", sequence=True)
        zk.create("/r/seq-", b"s", sequence=True)
        zk.create("/r/eph", b"e", ephemeral=True)
        fill(zk, "/r/many", 120)
        zk.set("/r/a", b"v1")
        zk.set("/r/a", b"v2")
        zk.delete("/r/many/n00003")
        wait_for(lambda: snapshots(srv), 20, "a snapshot")
        time.sleep(0.5)
        before = listing(zk)
        srv.kill()
        mark = len(srv.log_text())
        srv.restart()
        assert "recovered " in srv.log_text()[mark:]
        assert ": snapshot 0x" in srv.log_text()[mark:]
        wait_for(lambda: zk.connected, 30, "the client to reconnect")
        assert listing(zk) == before
        # and roost-dump reads the snapshot it loaded
        r = dump("--json", "snapshot", snapshots(srv)[-1])
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["node_count"] >= 10
    finally:
        zk.stop()
        zk.close()


# ---------------------------------------------------------------------
# disk full


@pytest.mark.roost_only("needs root and Roost's error reply")
def test_disk_full(server_factory, tmp_path):
    """Proves that on a full disk writes fail with -1 (SystemError) and are
    not acknowledged, nothing acknowledged is lost across a restart, and
    writes resume once space is freed."""
    if os.geteuid() != 0:
        pytest.skip("disk-full test needs root (mount -t tmpfs)")
    mnt = tempfile.mkdtemp(prefix="roost-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    srv = None
    try:
        data = os.path.join(mnt, "data")
        os.makedirs(data)
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (600 * 1024))
        srv = server_factory(dataDir=data, snapCount=1000000)
        zk = client(srv)
        acked = []
        err = None
        for i in range(5000):
            try:
                zk.create("/full%05d" % i, os.urandom(1000))
                acked.append("/full%05d" % i)
            except ZookeeperError as e:
                err = e
                break
        assert err is not None, "the 2 MiB disk never filled up"
        assert isinstance(err, SystemZookeeperError), repr(err)
        assert "disk full" in srv.log_text()
        # more writes fail the same way, reads still work
        with pytest.raises(SystemZookeeperError):
            zk.create("/more", b"x" * 1000)
        assert zk.exists(acked[-1]) is not None
        os.unlink(filler)

        def resumed():
            try:
                zk.create("/resumed", b"y")
                return True
            except SystemZookeeperError:
                return False
        wait_for(resumed, 10, "writes to resume after freeing space")
        acked.append("/resumed")
        zk.stop()
        zk.close()
        srv.kill()
        srv.restart()
        zk = client(srv)
        try:
            for p in acked:
                assert zk.exists(p) is not None, p
        finally:
            zk.stop()
            zk.close()
        srv.stop()
    finally:
        if srv is not None and srv.alive():
            srv.kill()
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        os.rmdir(mnt)
