"""Persistent and recursive watches, removeWatches/checkWatches, setWatches2,
containers, TTL nodes, create2, multiRead, getEphemerals,
getAllChildrenNumber and the watch/session four-letter words (issue 3).

kazoo 2.8 (Debian) has no add_watch, no containers and no TTL nodes, so
those cases use raw frames (zkraw.py); kazoo drives create2 (include_data)
and the reads it has.  Every case passes against Apache ZooKeeper 3.8.0
(make test-zk); section numbers (§x.y) refer to
docs/zookeeper-wire-protocol.md.
"""

import re
import struct
import time
import uuid

import pytest
from kazoo.client import KazooClient

import zkraw as z

PERSISTENT, RECURSIVE = 0, 1                     # AddWatchMode
W_CHILDREN, W_DATA, W_ANY = 1, 2, 3              # WatcherType

# Short reaper and TTL settings keep the reaping cases to about a second.
REAP = {"znode.container.checkIntervalMs": 200}


@pytest.fixture
def conns(server):
    """open(srv=server, **handshake kw) -> a zkraw Conn with a session."""
    made = []

    def open_(srv=None, **kw):
        srv = srv or server
        c = z.session(srv.host, srv.port, **kw)
        made.append(c)
        return c

    yield open_
    for c in made:
        c.close()


@pytest.fixture
def base(conns):
    """A fresh persistent node /wn-<uuid> for this test."""
    path = "/wn-" + uuid.uuid4().hex[:12]
    assert conns().create(path)[0].err == z.OK
    return path


def ok(pair):
    rep, val = pair
    assert rep.err == z.OK, "err %d" % rep.err
    return val


def add_watch(c, path, mode):
    rep = c.call(z.OP_ADDWATCH, z.path_type_req(path, mode))
    assert rep.err == z.OK and rep.body.rest() == b"\0\0\0\0"


def drain(c, quiet=0.3):
    """Every notification that arrives until `quiet` s pass without one."""
    got = [(e.type, e.path) for e in c.events]
    c.events.clear()
    while True:
        try:
            f = c.next_frame(quiet)
        except z.Timeout:
            return got
        assert isinstance(f, z.Event), f
        got.append((f.type, f.path))


def events(c, n):
    """The next n notifications as (type, path), then none more."""
    got = [(e.type, e.path) for e in (c.next_event() for _ in range(n))]
    assert c.no_event(), got
    return got


# ---------------------------------------------------------------------------
# persistent and recursive watches (§7.8, §7.9)


def test_persistent_watch_one_event_per_change(conns, base):
    """A persistent watch gets one event per change even inside one
    transaction: a multi that sets a node twice gives two NodeDataChanged,
    two creates under it two NodeChildrenChanged, and a closeSession that
    removes two ephemeral children two more (observed on 3.8.0)."""
    w, c = conns(), conns()
    a, p = base + "/a", base + "/p"
    ok(c.create(a))
    ok(c.create(p))
    add_watch(w, a, PERSISTENT)
    add_watch(w, p, PERSISTENT)
    rep, res = c.multi([(z.OP_SETDATA, z.set_data_req(a, b"1")),
                        (z.OP_SETDATA, z.set_data_req(a, b"2")),
                        (z.OP_CREATE, z.create_req(p + "/x")),
                        (z.OP_CREATE, z.create_req(p + "/y"))])
    assert rep.err == z.OK and [r.err for r in res] == [0, 0, 0, 0]
    assert events(w, 4) == [(z.EV_DATACHANGED, a), (z.EV_DATACHANGED, a),
                            (z.EV_CHILDRENCHANGED, p), (z.EV_CHILDRENCHANGED, p)]
    e = conns()
    ok(e.create(p + "/e1", flags=z.F_EPHEMERAL))
    ok(e.create(p + "/e2", flags=z.F_EPHEMERAL))
    assert events(w, 2) == [(z.EV_CHILDRENCHANGED, p)] * 2
    assert e.close_session()[0].err == z.OK
    assert events(w, 2) == [(z.EV_CHILDRENCHANGED, p)] * 2


def test_recursive_watch_sees_whole_subtree(conns, base):
    """A recursive watch on a missing path sees the node created, every
    descendant created, changed and deleted, at any depth, and never
    NodeChildrenChanged; it stays after its node is deleted (§7.8)."""
    w, c = conns(), conns()
    r = base + "/r"
    add_watch(w, r, RECURSIVE)
    ok(c.create(r))
    ok(c.create(r + "/a"))
    ok(c.create(r + "/a/b"))
    ok(c.set_data(r + "/a/b", b"x"))
    ok(c.delete(r + "/a/b"))
    ok(c.delete(r + "/a"))
    ok(c.delete(r))
    ok(c.create(base + "/r2"))                 # a sibling with a common prefix
    ok(c.create(r))
    assert events(w, 8) == [
        (z.EV_CREATED, r), (z.EV_CREATED, r + "/a"),
        (z.EV_CREATED, r + "/a/b"), (z.EV_DATACHANGED, r + "/a/b"),
        (z.EV_DELETED, r + "/a/b"), (z.EV_DELETED, r + "/a"),
        (z.EV_DELETED, r), (z.EV_CREATED, r)]


def test_watch_modes_accumulate(conns, base, target):
    """addWatch PERSISTENT, then PERSISTENT_RECURSIVE, then a standard
    getData watch on one path.  Roost keeps all three (§7.9, the behaviour
    of ZOOKEEPER-4466's fix): child create -> NodeCreated (recursive) and
    NodeChildrenChanged (persistent), grandchild -> NodeCreated, and both
    setData -> NodeDataChanged, the standard watch folded into the first.
    ZooKeeper 3.8.0 has the bug: each registration replaces the previous
    mode, so only the standard watch is left in the data table and the
    recursive one in the child table -- one NodeDataChanged in all."""
    w, c = conns(), conns()
    n = base + "/n"
    ok(c.create(n))
    add_watch(w, n, PERSISTENT)
    add_watch(w, n, RECURSIVE)
    ok(w.get_data(n, watch=True))
    ok(c.create(n + "/k"))
    ok(c.create(n + "/k/g"))
    ok(c.set_data(n, b"1"))
    ok(c.set_data(n, b"2"))
    got = drain(w)
    if target == "zookeeper":
        assert got == [(z.EV_DATACHANGED, n)]
    else:
        assert got == [(z.EV_CREATED, n + "/k"), (z.EV_CHILDRENCHANGED, n),
                       (z.EV_CREATED, n + "/k/g"), (z.EV_DATACHANGED, n),
                       (z.EV_DATACHANGED, n)]


def test_set_watches2_restores_persistent_watches(server, conns, base):
    """After a reconnect (same session, new socket) setWatches2 with the
    persistent and recursive lists re-arms them with no catch-up event for
    changes made while away; later changes are delivered (§5.6, §7.10)."""
    w, c = conns(), conns()
    p, r = base + "/p", base + "/r"
    ok(c.create(p))
    add_watch(w, p, PERSISTENT)
    add_watch(w, r, RECURSIVE)
    rel = w.ping()[0].zxid
    sid, pw = w.session.session_id, w.session.passwd
    w.close()
    ok(c.set_data(p, b"while away"))           # not reported later
    ok(c.create(r))
    with z.Conn(server.host, server.port) as w2:
        w2.handshake(session_id=sid, passwd=pw, last_zxid=rel)
        rep = w2.call(z.OP_SETWATCHES2,
                      z.set_watches_req(rel, persistent=[p], recursive=[r]),
                      xid=z.XID_SETWATCHES)
        assert (rep.xid, rep.err) == (z.XID_SETWATCHES, z.OK)
        assert w2.no_event()
        ok(c.set_data(p, b"back"))
        ok(c.create(r + "/k"))
        ok(c.create(p + "/k"))
        ok(c.set_data(p, b"again"))            # persistent: still armed
        assert events(w2, 4) == [
            (z.EV_DATACHANGED, p), (z.EV_CREATED, r + "/k"),
            (z.EV_CHILDRENCHANGED, p), (z.EV_DATACHANGED, p)]


def test_set_watches_without_persistent_lists_drops_them(server, conns, base):
    """A reconnect that re-sends only standard watches (setWatches, op 101)
    leaves the old connection's persistent watch behind: watches belong to
    connections (§7.8)."""
    w, c = conns(), conns()
    p = base + "/p"
    ok(c.create(p))
    add_watch(w, p, PERSISTENT)
    rel = w.ping()[0].zxid
    sid, pw = w.session.session_id, w.session.passwd
    w.close()
    with z.Conn(server.host, server.port) as w2:
        w2.handshake(session_id=sid, passwd=pw, last_zxid=rel)
        rep = w2.call(z.OP_SETWATCHES, z.set_watches_req(rel, data=[p]),
                      xid=z.XID_SETWATCHES)
        assert rep.err == z.OK
        ok(c.create(p + "/k"))                 # child change: nobody watches
        ok(c.set_data(p, b"1"))                # the data watch fires once
        assert events(w2, 1) == [(z.EV_DATACHANGED, p)]
        ok(c.set_data(p, b"2"))
        assert w2.no_event()


# ---------------------------------------------------------------------------
# removeWatches / checkWatches (§5.3, §6.5)


def _arm(w, c, node, kind):
    """Give w a watch of `kind` on node (created unless kind is 'exist')."""
    if kind != "exist":
        ok(c.create(node))
    if kind == "data":
        ok(w.get_data(node, watch=True))
    elif kind == "exist":
        assert w.exists(node, watch=True)[0].err == z.E_NONODE
    elif kind == "child":
        ok(w.get_children(node, watch=True))
    elif kind == "persistent":
        add_watch(w, node, PERSISTENT)
    elif kind == "recursive":
        add_watch(w, node, RECURSIVE)


# kind -> (WatcherType values that find it, values that answer NoWatcher)
MATCHES = {
    "data": ({W_DATA, W_ANY}, {W_CHILDREN}),
    "exist": ({W_DATA, W_ANY}, {W_CHILDREN}),
    "child": ({W_CHILDREN, W_ANY}, {W_DATA}),
    "persistent": ({W_CHILDREN, W_DATA, W_ANY}, set()),
    "recursive": ({W_CHILDREN, W_DATA, W_ANY}, set()),
}


@pytest.mark.parametrize("kind", sorted(MATCHES))
def test_check_watches_by_type(conns, base, kind):
    """checkWatches answers OK for a WatcherType that covers the watch and
    NoWatcher (-121) for one that does not, removes nothing (the watch
    still fires), and a path without watches is NoWatcher for every type;
    types 4/5 are MarshallingError on 3.8.0 (§6.5)."""
    w, c = conns(), conns()
    node = base + "/n"
    _arm(w, c, node, kind)
    hit, miss = MATCHES[kind]
    for typ in sorted(hit):
        assert w.call(z.OP_CHECKWATCHES, z.path_type_req(node, typ)).err == z.OK
    for typ in sorted(miss):
        assert w.call(z.OP_CHECKWATCHES, z.path_type_req(node, typ)).err == \
            z.E_NOWATCHER
    for typ in (W_CHILDREN, W_DATA, W_ANY):
        assert w.call(z.OP_CHECKWATCHES, z.path_type_req(base + "/none", typ)
                      ).err == z.E_NOWATCHER
    for typ in (4, 5):
        assert w.call(z.OP_CHECKWATCHES, z.path_type_req(node, typ)).err == \
            z.E_MARSHALLING
    if kind == "exist":
        ok(c.create(node))
        assert events(w, 1) == [(z.EV_CREATED, node)]
    elif kind == "child":
        ok(c.create(node + "/k"))
        assert events(w, 1) == [(z.EV_CHILDRENCHANGED, node)]
    else:
        ok(c.set_data(node, b"x"))
        assert events(w, 1) == [(z.EV_DATACHANGED, node)]


@pytest.mark.parametrize("kind", sorted(MATCHES))
@pytest.mark.parametrize("typ", [W_CHILDREN, W_DATA, W_ANY])
def test_remove_watches_by_type(conns, base, kind, typ):
    """removeWatches with a WatcherType that covers the watch answers OK and
    the change no longer produces that event; a type that does not cover it
    is NoWatcher and the watch still fires.  A persistent watch is in both
    tables on 3.8.0: removing Children leaves data events, removing Data
    leaves child events (§6.5, §7.9)."""
    w, c = conns(), conns()
    node = base + "/n"
    _arm(w, c, node, kind)
    hit, _ = MATCHES[kind]
    rep = w.call(z.OP_REMOVEWATCHES, z.path_type_req(node, typ))
    assert rep.err == (z.OK if typ in hit else z.E_NOWATCHER)
    if typ in hit and typ != W_ANY and kind in ("persistent", "recursive"):
        # the other half is still there
        assert w.call(z.OP_CHECKWATCHES, z.path_type_req(node, W_ANY)).err == z.OK
    # provoke every event the watch could give
    if kind == "exist":
        ok(c.create(node))
    else:
        ok(c.set_data(node, b"x"))
        ok(c.create(node + "/k"))
    got = drain(w)
    want = []
    if typ not in hit:
        want = {"data": [(z.EV_DATACHANGED, node)],
                "exist": [(z.EV_CREATED, node)],
                "child": [(z.EV_CHILDRENCHANGED, node)]}[kind]
    elif kind == "persistent" and typ == W_CHILDREN:
        want = [(z.EV_DATACHANGED, node)]
    elif kind == "persistent" and typ == W_DATA:
        want = [(z.EV_CHILDRENCHANGED, node)]
    elif kind == "recursive" and typ == W_CHILDREN:
        want = [(z.EV_DATACHANGED, node), (z.EV_CREATED, node + "/k")]
    assert got == want


def test_remove_watches_twice_is_no_watcher(conns, base):
    """A second removeWatches Any finds nothing: NoWatcher (§5.3)."""
    w = conns()
    ok(w.get_data(base, watch=True))
    assert w.call(z.OP_REMOVEWATCHES, z.path_type_req(base, W_ANY)).err == z.OK
    assert w.call(z.OP_REMOVEWATCHES, z.path_type_req(base, W_ANY)).err == \
        z.E_NOWATCHER


# ---------------------------------------------------------------------------
# containers and TTL nodes (§7.7)


def test_container_reaped_after_last_child(server_factory):
    """With znode.container.checkIntervalMs=200 a container whose last child
    is deleted is removed by the server within ~1-2 s, as a transaction that
    fires NodeDeleted on it and NodeChildrenChanged on its parent; a
    container that never had a child, and one that still has one, stay
    (maxNeverUsedIntervalMs defaults to 0)."""
    srv = server_factory(**REAP)
    with z.session(srv.host, srv.port) as c, z.session(srv.host, srv.port) as w:
        ok(c.create("/app"))
        for name in ("used", "never", "busy"):
            rep, (path, stat) = c.create("/app/" + name, flags=z.F_CONTAINER,
                                         op=z.OP_CREATECONTAINER)
            assert rep.err == z.OK and stat.ephemeralOwner == 0
        ok(c.create("/app/used/k"))
        ok(c.create("/app/busy/k"))
        ok(w.exists("/app/used", watch=True))
        ok(w.get_children("/app", watch=True))
        before = c.ping()[0].zxid
        t0 = time.monotonic()
        ok(c.delete("/app/used/k"))
        ev = w.next_event(timeout=3.0)
        took = time.monotonic() - t0
        assert (ev.type, ev.path) == (z.EV_DELETED, "/app/used")
        assert took < 2.5, "reaped after %.2f s" % took
        ev = w.next_event(timeout=1.0)
        assert (ev.type, ev.path) == (z.EV_CHILDRENCHANGED, "/app")
        assert c.exists("/app/used")[0].err == z.E_NONODE
        assert c.ping()[0].zxid == before + 2    # the delete, then the reap
        time.sleep(0.6)                          # three more reaper runs
        assert sorted(ok(c.get_children("/app"))) == ["busy", "never"]


def test_container_never_used_reaped_with_max_never_used(server_factory):
    """znode.container.maxNeverUsedIntervalMs > 0 lets the reaper remove a
    container that never had a child once it is older than that (§7.7)."""
    srv = server_factory(**dict(REAP, **{
        "znode.container.maxNeverUsedIntervalMs": 300}))
    with z.session(srv.host, srv.port) as c:
        rep, _ = c.create("/empty", flags=z.F_CONTAINER, op=z.OP_CREATECONTAINER)
        assert rep.err == z.OK
        ok(c.exists("/empty", watch=True))
        ev = c.next_event(timeout=3.0)
        assert (ev.type, ev.path) == (z.EV_DELETED, "/empty")


def test_ttl_node_removed_after_ttl(server_factory):
    """With extendedTypesEnabled=true a TTL node (createTTL, flags 5) without
    children is removed once its TTL passed since its last change; one with
    a child stays; a sequential TTL node (flags 6) gets its suffix and is
    reaped too; the Create2Response Stat shows ephemeralOwner 0 (§5.3,
    §7.7)."""
    srv = server_factory(extendedTypesEnabled=True, **REAP)
    with z.session(srv.host, srv.port) as c:
        t0 = time.monotonic()
        rep, (path, stat) = c.create("/ttl", flags=z.F_TTL, op=z.OP_CREATETTL,
                                     ttl=400)
        assert rep.err == z.OK and path == "/ttl" and stat.ephemeralOwner == 0
        rep, (seq, _) = c.create("/tseq-", flags=z.F_TTL_SEQUENTIAL,
                                 op=z.OP_CREATETTL, ttl=400)
        assert rep.err == z.OK and re.fullmatch(r"/tseq-\d{10}", seq)
        ok(c.create("/keep", flags=z.F_TTL, op=z.OP_CREATETTL, ttl=400))
        ok(c.create("/keep/k"))
        ok(c.exists("/ttl", watch=True))
        ok(c.exists(seq, watch=True))
        got = {c.next_event(timeout=4.0).path for _ in range(2)}
        took = time.monotonic() - t0
        assert got == {"/ttl", seq}
        assert 0.35 <= took < 3.0, "reaped after %.2f s" % took
        time.sleep(0.5)                          # /keep has a child: stays
        assert c.exists("/keep")[0].err == z.OK


def test_ttl_bad_arguments(server_factory):
    """createTTL needs flags 5 or 6 and 0 < ttl <= 2^40-1 (BadArguments
    otherwise), and TTL flags on plain create are BadArguments (§5.3)."""
    srv = server_factory(extendedTypesEnabled=True)
    with z.session(srv.host, srv.port) as c:
        for flags, ttl in ((z.F_TTL, 0), (z.F_TTL, -1), (z.F_TTL, 1 << 40),
                           (z.F_PERSISTENT, 1000), (z.F_CONTAINER, 1000)):
            rep, _ = c.create("/t", flags=flags, op=z.OP_CREATETTL, ttl=ttl)
            assert rep.err == z.E_BADARGUMENTS, (flags, ttl)
        rep, _ = c.create("/t", flags=z.F_TTL, op=z.OP_CREATE)
        assert rep.err == z.E_BADARGUMENTS
        rep, _ = c.create("/t", flags=z.F_TTL, op=z.OP_CREATETTL, ttl=(1 << 40) - 1)
        assert rep.err == z.OK


# ---------------------------------------------------------------------------
# create2, multiRead, getEphemerals, getAllChildrenNumber (§5.3, §5.4)


def test_create2_stat_through_kazoo(server, base):
    """kazoo's create(include_data=True) uses create2 and gets the new node's
    Stat: czxid = mzxid = pzxid, ctime = mtime, versions 0, dataLength,
    no children; the parent's cversion and numChildren went up (§7.4)."""
    k = KazooClient(hosts=server.hosts, timeout=10)
    k.start(timeout=15)
    try:
        before = k.exists(base)
        path, st = k.create(base + "/c2", b"hello", include_data=True)
        assert path == base + "/c2"
        assert st.czxid == st.mzxid == st.pzxid > before.mzxid
        assert st.ctime == st.mtime > 0
        assert (st.version, st.cversion, st.aversion) == (0, 0, 0)
        assert (st.dataLength, st.numChildren, st.ephemeralOwner) == (5, 0, 0)
        assert k.exists(base + "/c2") == st
        after = k.exists(base)
        assert after.cversion == before.cversion + 1
        assert after.numChildren == before.numChildren + 1
        assert after.pzxid == st.czxid and after.mzxid == before.mzxid
        path, st = k.create(base + "/e", ephemeral=True, sequence=True,
                            include_data=True)
        assert re.fullmatch(re.escape(base) + r"/e\d{10}", path)
        assert st.ephemeralOwner == k.client_id[0]
    finally:
        k.stop()
        k.close()


def test_multi_read_is_independent_and_sets_no_watch(conns, base):
    """multiRead answers each getData/getChildren on its own (a missing node
    is an error result among successes), consumes no zxid and ignores the
    watch flag (§5.4)."""
    c, w = conns(), conns()
    ok(c.create(base + "/a", b"A"))
    ok(c.create(base + "/a/x"))
    zx = c.ping()[0].zxid
    rep, res = w.multi([(z.OP_GETDATA, z.path_watch_req(base + "/a", True)),
                        (z.OP_GETCHILDREN, z.path_watch_req(base + "/a", True)),
                        (z.OP_GETDATA, z.path_watch_req(base + "/no", True))],
                       op=z.OP_MULTIREAD)
    assert rep.err == z.OK and rep.zxid == zx
    assert res[0].type == z.OP_GETDATA and res[0].value[0] == b"A"
    assert res[1].type == z.OP_GETCHILDREN and res[1].value == ["x"]
    assert (res[2].type, res[2].err) == (z.OP_ERROR, z.E_NONODE)
    assert c.ping()[0].zxid == zx
    ok(c.set_data(base + "/a", b"B"))
    ok(c.create(base + "/a/y"))
    assert w.no_event()


def test_get_ephemerals_by_prefix(conns, base):
    """getEphemerals lists the caller's own ephemerals whose path starts with
    the prefix as a plain string (not a path component); "/" lists them
    all; another session's ephemerals never appear (§5.3)."""
    a, b = conns(), conns()
    for p in ("/e1", "/e2", "/eph", "/x"):
        ok(a.create(base + p, flags=z.F_EPHEMERAL))
    ok(b.create(base + "/e3", flags=z.F_EPHEMERAL))
    ok(a.create(base + "/p"))

    def eph(c, prefix):
        rep = c.call(z.OP_GETEPHEMERALS, z.path_req(prefix))
        assert rep.err == z.OK
        return sorted(rep.body.strings())

    assert eph(a, base + "/e") == [base + "/e1", base + "/e2", base + "/eph"]
    assert eph(a, base + "/ep") == [base + "/eph"]
    assert eph(a, base + "/p") == []
    assert set(eph(a, "/")) >= {base + "/e1", base + "/e2", base + "/eph",
                                base + "/x"}
    assert base + "/e3" not in eph(a, "/")
    assert eph(b, base) == [base + "/e3"]


def test_get_all_children_number(conns, base):
    """getAllChildrenNumber counts every descendant at any depth (not the
    node itself), 0 for a leaf, NoNode for a missing path (§5.3)."""
    c = conns()
    for p in ("/a", "/a/b", "/a/b/c", "/a/d", "/e"):
        ok(c.create(base + p))

    def count(path):
        rep = c.call(z.OP_GETALLCHILDRENNUMBER, z.path_req(path))
        return rep.err, (rep.body.int() if rep.err == z.OK else None)

    assert count(base) == (z.OK, 5)
    assert count(base + "/a") == (z.OK, 3)
    assert count(base + "/a/b/c") == (z.OK, 0)
    assert count(base + "/missing") == (z.E_NONODE, None)
    ok(c.delete(base + "/a/b/c"))
    assert count(base) == (z.OK, 4)


# ---------------------------------------------------------------------------
# four-letter words about watches and sessions (§8)


def _groups(text):
    """'head\\n\\titem\\n...' -> {head: set(items)}."""
    out, head = {}, None
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("\t"):
            out[head].add(line[1:])
        else:
            head = line
            out[head] = set()
    return out


def test_wchc_wchp_list_data_watches(server_factory):
    """wchc lists per session (0x<sid>) and wchp per path the data-watch
    table, persistent and recursive watches included, child-only watches
    not (§8)."""
    srv = server_factory()
    with z.session(srv.host, srv.port) as a, z.session(srv.host, srv.port) as b:
        ok(a.create("/w1"))
        ok(a.create("/w2"))
        ok(a.get_data("/w1", watch=True))
        assert a.exists("/missing", watch=True)[0].err == z.E_NONODE
        ok(b.get_data("/w1", watch=True))
        add_watch(b, "/p", PERSISTENT)
        add_watch(b, "/r", RECURSIVE)
        ok(b.get_children("/w2", watch=True))   # child table: not listed
        sa = "0x%x" % a.session.session_id
        sb = "0x%x" % b.session.session_id
        assert _groups(srv.four_letter("wchc")) == {
            sa: {"/w1", "/missing"}, sb: {"/w1", "/p", "/r"}}
        assert _groups(srv.four_letter("wchp")) == {
            "/w1": {sa, sb}, "/missing": {sa}, "/p": {sb}, "/r": {sb}}
        assert srv.four_letter("wchs") == \
            "2 connections watching 4 paths\nTotal watches:5\n"


def test_dump_lists_sessions_ephemerals_and_connections(server_factory):
    """dump prints the session sets, each session with ephemerals and its
    paths, and the connection sets with ip:port and session id, in
    ZooKeeper's layout (§8)."""
    srv = server_factory()
    with z.session(srv.host, srv.port) as a, z.session(srv.host, srv.port) as b:
        ok(a.create("/e1", flags=z.F_EPHEMERAL))
        ok(a.create("/e2", flags=z.F_EPHEMERAL))
        ok(b.create("/p"))
        text = srv.four_letter("dump")
        sa = "0x%x" % a.session.session_id
        sb = "0x%x" % b.session.session_id
        lines = text.splitlines()
        assert lines[0] == "SessionTracker dump:"
        m = re.fullmatch(r"Session Sets \((\d+)\)/\((\d+)\):", lines[1])
        assert m and int(m.group(2)) == 2
        i_eph = lines.index("ephemeral nodes dump:")
        sess = [x for x in lines[2:i_eph] if x.startswith("\t")]
        assert sorted(sess) == sorted(["\t" + sa, "\t" + sb])
        for x in lines[2:i_eph]:
            if not x.startswith("\t"):
                assert re.fullmatch(r"\d+ expire at \w{3} \w{3} \d\d "
                                    r"\d\d:\d\d:\d\d \S+ \d{4}:", x), x
        assert lines[i_eph + 1] == "Sessions with Ephemerals (1):"
        assert lines[i_eph + 2] == sa + ":"
        assert sorted(lines[i_eph + 3:i_eph + 5]) == ["\t/e1", "\t/e2"]
        i_con = lines.index("Connections dump:")
        assert re.fullmatch(r"Connections Sets \(\d+\)/\((\d+)\):",
                            lines[i_con + 1])
        conns_ = [x for x in lines[i_con + 2:] if x.startswith("\t")]
        port_a = a.sock.getsockname()[1]
        assert "\tip: /127.0.0.1:%d sessionId: %s" % (port_a, sa) in conns_
        assert any(x.endswith("sessionId: 0x0") for x in conns_)  # dump's own


def test_crst_and_srst_reset_counters(server_factory):
    """crst answers "Connection stats reset." and zeroes each connection's
    counters (cons recved), srst answers "Server stats reset." and zeroes
    the server's packet counters (srvr Received) (§8)."""
    srv = server_factory()
    with z.session(srv.host, srv.port) as a:
        for _ in range(20):
            a.ping()
        sid = "sid=0x%x" % a.session.session_id

        def recved():
            line = [x for x in srv.four_letter("cons").splitlines() if sid in x][0]
            return int(re.search(r"recved=(\d+)", line).group(1))

        def received():
            return int(re.search(r"^Received: (\d+)$", srv.four_letter("srvr"),
                                 re.M).group(1))

        assert recved() >= 20 and received() >= 20
        assert srv.four_letter("crst") == "Connection stats reset.\n"
        assert recved() == 0
        assert received() >= 20
        assert srv.four_letter("srst") == "Server stats reset.\n"
        assert received() < 5


def test_watch_words_obey_whitelist(server_factory):
    """dump, wchc, wchp, crst and srst outside 4lw.commands.whitelist get the
    "not in the whitelist" sentence (§8)."""
    srv = server_factory(**{"4lw.commands.whitelist": "srvr,ruok"})
    for word in ("dump", "wchc", "wchp", "crst", "srst"):
        assert srv.four_letter(word) == \
            "%s is not executed because it is not in the whitelist.\n" % word
    assert srv.four_letter("ruok") == "imok"


# ---------------------------------------------------------------------------
# opcodes only a server issues, and sasl without SASL (§5.1, §5.5, §7.14)


@pytest.mark.parametrize("op,body", [
    (z.OP_DELETECONTAINER, b"/ic"),                        # 3.8 raw path
    (z.OP_DELETECONTAINER, z.Writer().ustring("/ic").bytes()),
    (-10, b""),                                            # createSession
    (z.OP_ERROR, b""),
])
def test_server_internal_opcodes_from_a_client(server, conns, target, op, body):
    """deleteContainer (20), createSession (-10) and error (-1) are
    transaction types, not requests.  Roost answers (xid, -1, -6
    Unimplemented) and closes, as for any unknown opcode, so a client cannot
    issue the reaper's deletion itself.  ZooKeeper 3.8.0 lets 20 and -10
    through its opcode filter (observed: -8 BadArguments and -5
    MarshallingError, connection kept, a zxid consumed); Roost differs on
    purpose (§7.14 allows it).  Either way the container is not deleted."""
    c = conns()
    if c.exists("/ic")[0].err == z.E_NONODE:
        ok(c.create("/ic", flags=z.F_CONTAINER, op=z.OP_CREATECONTAINER))
    c.send(z.request(7, op, body))
    xid, zxid, err = struct.unpack(">iqi", c.recv_frame()[:16])
    assert xid == 7
    if target == "roost" or op == z.OP_ERROR:
        assert (zxid, err) == (-1, z.E_UNIMPLEMENTED)
        assert c.wait_closed(5.0)
    else:
        assert err == (z.E_BADARGUMENTS if op == z.OP_DELETECONTAINER
                       else z.E_MARSHALLING)
    assert conns().exists("/ic")[0].err == z.OK


def test_sasl_without_sasl_configured(conns):
    """With no SASL configured a GetSASLRequest is answered OK, reply zxid 0,
    with a null token, and the connection stays (observed on 3.8.0, §5.5)."""
    c = conns()
    rep = c.call(z.OP_SASL, z.Writer().buffer(b"token").bytes())
    assert (rep.zxid, rep.err) == (0, z.OK)
    assert rep.body.buffer() is None and rep.body.remaining() == 0
    assert c.ping()[0].err == z.OK
