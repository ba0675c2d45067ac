"""kazoo (the Python ZooKeeper client) and its recipes against the server.

Every test works under its own fresh path so tests sharing the session
server do not see each other's nodes.
"""

import threading
import time
import uuid

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import (BadVersionError, NoChildrenForEphemeralsError,
                              NodeExistsError, NoNodeError, NotEmptyError,
                              RolledBackError)
from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock
from kazoo.recipe.queue import LockingQueue, Queue
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

WAIT = 10.0  # generous upper bound for anything that should happen "soon"


def wait_for(pred, timeout=WAIT, interval=0.02):
    """Poll pred() until it is true; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


@pytest.fixture
def clients(server):
    """new() -> a started KazooClient; all are stopped and closed at the end."""
    made = []

    def new(timeout=10.0, command_retry=None):
        c = KazooClient(hosts=server.hosts, timeout=timeout,
                        connection_retry={"max_tries": 3, "delay": 0.1},
                        command_retry=command_retry or {"max_tries": 3,
                                                        "delay": 0.1})
        c.start(timeout=10)
        made.append(c)
        return c

    yield new
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


@pytest.fixture
def zk(clients):
    return clients()


@pytest.fixture
def base(zk, request):
    """A fresh, empty persistent path for this test."""
    p = "/it-kazoo/%s-%s" % (request.node.name.replace("[", "_")
                             .replace("]", "_"), uuid.uuid4().hex[:8])
    zk.ensure_path(p)
    return p


def run_threads(fns, timeout=30.0):
    """Run each fn in its own thread; re-raise the first exception."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # noqa: B902
                errors.append(e)
        return run

    ts = [threading.Thread(target=wrap(f), daemon=True) for f in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
        assert not t.is_alive(), "thread did not finish within %ss" % timeout
    if errors:
        raise errors[0]


# ---------------------------------------------------------------------
# Basics


def test_create_get_set_delete_with_versions(zk, base):
    """create/get/set/delete honour data and versions: a stale version gets
    BadVersionError and changes nothing, a matching one succeeds."""
    p = base + "/node"
    assert zk.create(p, b"v0") == p
    data, st = zk.get(p)
    assert data == b"v0" and st.version == 0 and st.dataLength == 2

    st1 = zk.set(p, b"v1", version=0)
    assert st1.version == 1
    with pytest.raises(BadVersionError):
        zk.set(p, b"stale", version=0)
    assert zk.get(p)[0] == b"v1"
    st2 = zk.set(p, b"v2")  # version -1: unconditional
    assert st2.version == 2

    with pytest.raises(NodeExistsError):
        zk.create(p, b"again")
    with pytest.raises(BadVersionError):
        zk.delete(p, version=1)
    assert zk.exists(p) is not None
    zk.delete(p, version=2)
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.get(p)
    with pytest.raises(NoNodeError):
        zk.set(p, b"x")
    with pytest.raises(NoNodeError):
        zk.delete(p)
    with pytest.raises(NoNodeError):
        zk.create(base + "/missing/child", b"")

    zk.create(p, b"")
    zk.create(p + "/c", b"")
    with pytest.raises(NotEmptyError):
        zk.delete(p)
    zk.delete(p, recursive=True)
    assert zk.exists(p) is None


def test_empty_and_binary_data(zk, base):
    """Empty data and arbitrary binary bytes (NULs, high bytes) round-trip."""
    blob = bytes(range(256)) * 4
    zk.create(base + "/bin", blob)
    assert zk.get(base + "/bin")[0] == blob
    zk.create(base + "/empty")
    data, st = zk.get(base + "/empty")
    assert data == b"" and st.dataLength == 0


def test_ensure_path(zk, base):
    """ensure_path creates every missing ancestor and is idempotent."""
    p = base + "/a/b/c"
    zk.ensure_path(p)
    for q in (base + "/a", base + "/a/b", p):
        assert zk.exists(q) is not None
    zk.ensure_path(p)
    assert zk.get_children(base + "/a") == ["b"]


def test_sequence_nodes(zk, base):
    """Sequential creates get a 10-digit zero-padded suffix from the parent's
    counter, shared by all prefixes and increasing monotonically."""
    names = [zk.create(base + "/job-", b"", sequence=True) for _ in range(3)]
    assert names == ["%s/job-%010d" % (base, i) for i in range(3)]
    other = zk.create(base + "/other-", b"", sequence=True)
    assert other == "%s/other-%010d" % (base, 3)
    # The counter counts children ever created: a delete neither lowers
    # nor raises it, so no name is ever reused.
    zk.delete(names[0])
    again = zk.create(base + "/job-", b"", sequence=True)
    assert again == "%s/job-%010d" % (base, 4)
    assert sorted(zk.get_children(base)) == sorted(
        n.rsplit("/", 1)[1] for n in names[1:] + [other, again])


def test_ephemeral_nodes(clients, base):
    """An ephemeral node is owned by its session (ephemeralOwner), cannot have
    children, and disappears for everyone when the owner's session closes."""
    a, b = clients(), clients()
    p = base + "/eph"
    a.create(p, b"mine", ephemeral=True)
    st = b.exists(p)
    assert st is not None
    assert st.ephemeralOwner == a.client_id[0]
    assert b.exists(base).ephemeralOwner == 0
    with pytest.raises(NoChildrenForEphemeralsError):
        a.create(p + "/child", b"")
    with pytest.raises(NoChildrenForEphemeralsError):
        b.create(p + "/child", b"")
    seq = a.create(base + "/eseq-", b"", ephemeral=True, sequence=True)
    assert seq.startswith(base + "/eseq-")
    a.stop()
    a.close()
    assert b.exists(p) is None
    assert b.exists(seq) is None
    assert b.get_children(base) == []


def test_exists_watch(zk, clients, base):
    """An exists() watch fires NodeCreated for a missing node, and on an
    existing node fires once for the next change (NodeDataChanged, then
    NodeDeleted after re-arming)."""
    other = clients()
    p = base + "/w"
    events = []
    got = threading.Event()

    def cb(ev):
        events.append(ev)
        got.set()

    assert zk.exists(p, watch=cb) is None
    other.create(p, b"x")
    assert got.wait(WAIT)
    assert events[0].type == EventType.CREATED and events[0].path == p

    got.clear()
    assert zk.exists(p, watch=cb) is not None
    other.set(p, b"y")
    assert got.wait(WAIT)
    assert events[1].type == EventType.CHANGED and events[1].path == p

    # one-shot: a second change without re-arming gives no event
    got.clear()
    other.set(p, b"z")
    zk.sync(p)
    time.sleep(0.3)
    assert not got.is_set() and len(events) == 2

    zk.exists(p, watch=cb)
    other.delete(p)
    assert got.wait(WAIT)
    assert events[2].type == EventType.DELETED and events[2].path == p
    assert len(events) == 3


def test_transaction_success(zk, base):
    """A kazoo transaction applies all its operations atomically and returns
    one result per operation."""
    zk.create(base + "/t", b"old")
    t = zk.transaction()
    t.create(base + "/t/new", b"n")
    t.check(base + "/t", 0)
    t.set_data(base + "/t", b"updated", version=0)
    t.create(base + "/t/gone", b"")
    t.delete(base + "/t/gone")
    results = t.commit()
    assert len(results) == 5
    assert results[0] == base + "/t/new"
    assert results[1] is True
    assert results[2].version == 1
    assert results[3] == base + "/t/gone"
    assert results[4] is True
    assert zk.get(base + "/t")[0] == b"updated"
    assert zk.get_children(base + "/t") == ["new"]


def test_transaction_failure(zk, base):
    """A transaction whose check fails applies nothing: the failing op reports
    its error, ops before it RolledBackError, ops after it an error too."""
    zk.create(base + "/t", b"old")
    t = zk.transaction()
    t.create(base + "/t/a", b"")
    t.set_data(base + "/t", b"nope")
    t.check(base + "/t", 7)  # wrong version
    t.create(base + "/t/b", b"")
    results = t.commit()
    assert len(results) == 4
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], RolledBackError)
    assert isinstance(results[2], BadVersionError)
    assert isinstance(results[3], Exception)
    assert zk.get(base + "/t")[0] == b"old"
    assert zk.get(base + "/t")[1].version == 0
    assert zk.get_children(base + "/t") == []

    t = zk.transaction()
    t.create(base + "/t/x", b"")
    t.create(base + "/t/x", b"")  # duplicate within the same transaction
    results = t.commit()
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], NodeExistsError)
    assert zk.exists(base + "/t/x") is None


def test_stat_fields(zk, base):
    """Stat fields follow the operations: czxid/mzxid/pzxid, versions,
    cversion, numChildren, dataLength, ctime/mtime in ms."""
    before_ms = int(time.time() * 1000)
    p = base + "/s"
    zk.create(p, b"abc")
    _, st = zk.get(p)
    assert st.czxid == st.mzxid == st.pzxid
    assert st.version == 0 and st.cversion == 0 and st.aversion == 0
    assert st.numChildren == 0 and st.dataLength == 3
    assert st.ephemeralOwner == 0
    assert st.ctime == st.mtime
    assert before_ms - 5000 <= st.ctime <= int(time.time() * 1000) + 5000

    time.sleep(0.01)
    zk.set(p, b"abcdef")
    _, st2 = zk.get(p)
    assert st2.czxid == st.czxid and st2.mzxid > st.mzxid
    assert st2.pzxid == st.pzxid  # data change does not touch pzxid
    assert st2.version == 1 and st2.dataLength == 6
    assert st2.mtime >= st2.ctime and st2.ctime == st.ctime

    zk.create(p + "/c1", b"")
    _, c1 = zk.get(p + "/c1")
    _, st3 = zk.get(p)
    assert st3.cversion == 1 and st3.numChildren == 1
    assert st3.pzxid == c1.czxid
    assert st3.mzxid == st2.mzxid and st3.version == 1  # children != data

    zk.delete(p + "/c1")
    _, st4 = zk.get(p)
    assert st4.cversion == 2 and st4.numChildren == 0
    assert st4.pzxid > st3.pzxid

    zk.set_acls(p, zk.get_acls(p)[0])
    _, st5 = zk.get(p)
    assert st5.aversion == 1 and st5.version == 1

    # the zxid of a later create is larger than every earlier one
    zk.create(p + "/c2", b"")
    assert zk.get(p + "/c2")[1].czxid > st4.pzxid


# ---------------------------------------------------------------------
# Recipes


def test_lock_mutual_exclusion(clients, base):
    """kazoo Lock gives mutual exclusion among three clients: at most one
    holder at any time, and every acquisition eventually happens."""
    path = base + "/lock"
    cs = [clients() for _ in range(3)]
    inside = [0]
    max_inside = [0]
    done = []
    guard = threading.Lock()

    def worker(c, name):
        lock = Lock(c, path, name)
        for i in range(4):
            assert lock.acquire(timeout=WAIT)
            try:
                with guard:
                    inside[0] += 1
                    max_inside[0] = max(max_inside[0], inside[0])
                time.sleep(0.02)
                with guard:
                    inside[0] -= 1
                done.append((name, i))
            finally:
                lock.release()

    run_threads([lambda c=c, n="c%d" % i: worker(c, n)
                 for i, c in enumerate(cs)])
    assert max_inside[0] == 1
    assert len(done) == 12
    assert cs[0].get_children(path) == []


def test_lock_ordering(clients, base):
    """Waiters get a kazoo Lock in the order they asked for it (the sequence
    numbers of their nodes), not at random."""
    path = base + "/lock"
    a, b, c = clients(), clients(), clients()
    la, lb, lc = Lock(a, path, "A"), Lock(b, path, "B"), Lock(c, path, "C")
    assert la.acquire(timeout=WAIT)
    order = []

    def waiter(lock, name):
        assert lock.acquire(timeout=WAIT * 2)
        order.append(name)
        time.sleep(0.05)
        lock.release()

    tb = threading.Thread(target=waiter, args=(lb, "B"), daemon=True)
    tb.start()
    assert wait_for(lambda: la.contenders() == ["A", "B"])
    tc = threading.Thread(target=waiter, args=(lc, "C"), daemon=True)
    tc.start()
    assert wait_for(lambda: la.contenders() == ["A", "B", "C"])
    assert not lb.is_acquired and not lc.is_acquired
    time.sleep(0.2)
    assert order == []
    la.release()
    tb.join(WAIT * 2)
    tc.join(WAIT * 2)
    assert order == ["B", "C"]
    assert la.acquire(blocking=False)  # free again
    la.release()


def test_election(clients, base):
    """kazoo Election: exactly one of three contenders leads; when the
    leader's client stops, exactly one other contender takes over."""
    path = base + "/election"
    cs = {n: clients() for n in ("e0", "e1", "e2")}
    leaders = []
    release = {n: threading.Event() for n in cs}
    guard = threading.Lock()
    current = [0]

    def lead(name):
        with guard:
            current[0] += 1
            leaders.append((name, current[0]))
        release[name].wait(WAIT * 3)
        with guard:
            current[0] -= 1

    def contend(name):
        e = Election(cs[name], path, name)
        try:
            e.run(lead, name)
        except Exception:
            pass  # the stopped leader's release fails; that is expected

    ts = [threading.Thread(target=contend, args=(n,), daemon=True)
          for n in cs]
    for t in ts:
        t.start()
    assert wait_for(lambda: len(leaders) == 1)
    first = leaders[0][0]
    checker = clients()
    assert wait_for(lambda: len(Election(checker, path).contenders()) == 3)
    time.sleep(0.3)
    assert len(leaders) == 1
    assert Election(checker, path).contenders()[0] == first

    cs[first].stop()  # closes the session: the leader's lock node goes away
    assert wait_for(lambda: len(leaders) == 2)
    second = leaders[1][0]
    assert second != first
    release[first].set()
    time.sleep(0.3)
    assert len(leaders) == 2
    assert wait_for(
        lambda: Election(checker, path).contenders()[:1] == [second])
    assert len(Election(checker, path).contenders()) == 2
    for ev in release.values():
        ev.set()
    for t in ts:
        t.join(WAIT)
    assert [n for n, _ in leaders[:2]] == [first, second]
    assert len({n for n, _ in leaders}) == len(leaders) == 3


def test_barrier(clients, base):
    """kazoo Barrier: wait() blocks (times out) while the barrier node exists
    and returns as soon as it is removed."""
    path = base + "/barrier"
    owner = clients()
    Barrier(owner, path).create()
    assert Barrier(clients(), path).wait(timeout=0.3) is False
    released = []
    waiters = [clients() for _ in range(2)]
    ts = [threading.Thread(
        target=lambda c=c: released.append(Barrier(c, path).wait(WAIT)),
        daemon=True) for c in waiters]
    for t in ts:
        t.start()
    time.sleep(0.3)
    assert released == []
    assert Barrier(owner, path).remove() is True
    for t in ts:
        t.join(WAIT)
    assert released == [True, True]
    assert Barrier(owner, path).wait(timeout=0.1) is True


def test_double_barrier(clients, base):
    """kazoo DoubleBarrier: nobody gets past enter() until all three have
    entered, and nobody gets past leave() until all three have left."""
    path = base + "/dbarrier"
    cs = [clients() for _ in range(3)]
    bars = [DoubleBarrier(c, path, 3) for c in cs]
    entered, left = [], []

    def enter(i):
        bars[i].enter()
        entered.append(i)

    def leave(i):
        bars[i].leave()
        left.append(i)

    ts = [threading.Thread(target=enter, args=(i,), daemon=True)
          for i in (0, 1)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    assert entered == []  # only two of three are in
    enter(2)
    for t in ts:
        t.join(WAIT)
    assert sorted(entered) == [0, 1, 2]

    ts = [threading.Thread(target=leave, args=(i,), daemon=True)
          for i in (0, 1)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    assert left == []  # client 2 is still inside
    leave(2)
    for t in ts:
        t.join(WAIT)
    assert sorted(left) == [0, 1, 2]


def test_counter_concurrent(clients, base):
    """kazoo Counter: concurrent increments from four clients (versioned
    compare-and-set with retry) add up to the exact total."""
    path = base + "/counter"
    # Counter retries its get + versioned set with the client's command
    # retry, and a BadVersion spends one try like a ConnectionLoss does.
    # Each BadVersion means another client's increment committed between
    # our get and set, so one increment can lose at most the others' 75
    # increments: a budget of 3 (the fixture's) ran out once under load
    # (RetryFailedError).  Measured on an idle machine, 30 x 100
    # increments: 3 BadVersions in a row for 1 increment in ~1500, on
    # Roost and on ZooKeeper 3.8 alike, and each BadVersion was right (the
    # node's version had moved).  75 tries plus 3 for connection losses.
    retry = {"max_tries": 75 + 3, "delay": 0.01, "max_delay": 0.1}
    cs = [clients(command_retry=retry) for _ in range(4)]

    def bump(c):
        ctr = Counter(c, path)
        for _ in range(25):
            ctr += 1

    run_threads([lambda c=c: bump(c) for c in cs], timeout=60)
    assert Counter(cs[0], path).value == 100
    data, st = cs[0].get(path)
    assert data == b"100"
    assert st.version >= 100  # every increment was a versioned set
    ctr = Counter(cs[1], path)
    ctr -= 30
    assert Counter(cs[2], path).value == 70


def test_queue(clients, base):
    """kazoo Queue: FIFO within a priority, lower priority value first, and
    items put by one client are taken exactly once by consumers."""
    path = base + "/queue"
    prod, cons1, cons2 = clients(), clients(), clients()
    q = Queue(prod, path)
    for i in range(5):
        q.put(b"item-%d" % i)
    q.put(b"urgent", priority=1)
    q.put(b"late", priority=999)
    assert len(q) == 7
    got = [Queue(cons1, path).get()]
    assert got == [b"urgent"]
    q1, q2 = Queue(cons1, path), Queue(cons2, path)
    for i in range(6):
        got.append((q1 if i % 2 else q2).get())
    assert got == [b"urgent"] + [b"item-%d" % i for i in range(5)] + [b"late"]
    assert q1.get() is None and q2.get() is None
    assert len(q) == 0


def test_locking_queue(clients, base):
    """kazoo LockingQueue: an entry taken by one consumer is invisible to
    others until released; consume() removes it for good."""
    path = base + "/lqueue"
    prod, c1, c2 = clients(), clients(), clients()
    LockingQueue(prod, path).put_all([b"one", b"two"])
    q1, q2 = LockingQueue(c1, path), LockingQueue(c2, path)
    assert q1.get(WAIT) == b"one"
    assert q1.holds_lock()
    assert q2.get(WAIT) == b"two"
    q3 = LockingQueue(clients(), path)
    assert q3.get(0.5) is None  # both entries are locked

    assert q2.release() is True  # "two" goes back
    assert q3.get(WAIT) == b"two"
    assert q1.consume() is True
    assert q3.consume() is True
    assert len(LockingQueue(prod, path)) == 0
    assert q2.get(0.5) is None

    # an entry whose consumer's session ends becomes available again
    LockingQueue(prod, path).put(b"three")
    assert q1.get(WAIT) == b"three"
    c1.stop()
    assert q2.get(WAIT) == b"three"
    assert q2.consume() is True


def test_children_watch(clients, base):
    """kazoo ChildrenWatch reports the child list after each create and
    delete, including an ephemeral child removed when its owner's session
    closes."""
    zk, other = clients(), clients()
    path = base + "/kids"
    zk.ensure_path(path)
    seen = []
    cond = threading.Condition()

    def cb(children):
        with cond:
            seen.append(sorted(children))
            cond.notify_all()

    def wait_seen(expected):
        with cond:
            return cond.wait_for(lambda: seen and seen[-1] == expected, WAIT)

    ChildrenWatch(zk, path, cb)
    assert wait_seen([])
    other.create(path + "/a", b"")
    assert wait_seen(["a"])
    other.create(path + "/b", b"", ephemeral=True)
    assert wait_seen(["a", "b"])
    zk.delete(path + "/a")
    assert wait_seen(["b"])
    other.stop()
    other.close()
    assert wait_seen([])
    # data changes of the parent do not count as child events
    n = len(seen)
    zk.set(path, b"data")
    zk.sync(path)
    time.sleep(0.3)
    assert len(seen) == n


def test_data_watch(clients, base):
    """kazoo DataWatch reports creation, every data change and deletion of a
    node, including an ephemeral removed when its owner's session closes."""
    zk, other = clients(), clients()
    path = base + "/d"
    seen = []
    cond = threading.Condition()

    def cb(data, stat, event):
        with cond:
            seen.append((data, stat.version if stat else None,
                         event.type if event else None))
            cond.notify_all()

    def wait_last(pred):
        with cond:
            return cond.wait_for(lambda: seen and pred(seen[-1]), WAIT)

    DataWatch(zk, path, cb)
    assert wait_last(lambda s: s == (None, None, None))
    other.create(path, b"first")
    assert wait_last(lambda s: s == (b"first", 0, EventType.CREATED))
    other.set(path, b"second")
    assert wait_last(lambda s: s == (b"second", 1, EventType.CHANGED))
    zk.set(path, b"third")
    assert wait_last(lambda s: s == (b"third", 2, EventType.CHANGED))
    other.delete(path)
    assert wait_last(lambda s: s[0] is None and s[2] == EventType.DELETED)

    other.create(path, b"eph", ephemeral=True)
    assert wait_last(lambda s: s == (b"eph", 0, EventType.CREATED))
    other.stop()
    other.close()
    assert wait_last(lambda s: s[0] is None and s[2] == EventType.DELETED)
    assert zk.exists(path) is None


def test_session_state_and_client_id(clients):
    """A started client is CONNECTED with a non-zero session id, a 16-byte
    password and distinct ids for distinct clients."""
    a, b = clients(), clients()
    assert a.state == KazooState.CONNECTED
    sid, pwd = a.client_id
    assert sid != 0 and len(pwd) == 16
    assert b.client_id[0] != sid
    assert a.get_children("/") and "zookeeper" in a.get_children("/")
