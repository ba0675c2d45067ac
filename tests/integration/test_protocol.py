"""Byte-level protocol semantics, checked with the raw client in zkraw.py.

Every case here passes against Apache ZooKeeper 3.8.0 (make test-zk); where
3.8.0 disagreed with docs/zookeeper-wire-protocol.md the test follows
ZooKeeper and says so in a comment ("ZK 3.8.0:").  Section numbers (§x.y)
refer to that document.
"""

import re
import socket
import struct
import time
import uuid

import pytest

import zkraw as z


# ---------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture
def conns(server):
    """open(srv=server, **handshake kw) -> a Conn with a session; all closed
    at test end."""
    opened = []

    def open_(srv=None, timeout_ms=30000, **kw):
        srv = srv or server
        c = z.session(srv.host, srv.port, timeout_ms, **kw)
        opened.append(c)
        return c

    def raw(srv=None):
        srv = srv or server
        c = z.Conn(srv.host, srv.port)
        opened.append(c)
        return c

    open_.raw = raw
    yield open_
    for c in opened:
        c.close()


@pytest.fixture
def base(server, conns):
    """A fresh persistent node /t-<uuid> for this test (the server is shared)."""
    c = conns()
    path = "/t-" + uuid.uuid4().hex[:12]
    rep, _ = c.create(path)
    assert rep.err == z.OK
    return path


def ok(pair):
    """Unwrap (Reply, value) from a zkraw convenience call, asserting err 0."""
    rep, val = pair
    assert rep.err == z.OK, "err %d" % rep.err
    return val


def err(pair):
    return pair[0].err


ZERO_CONNECT_RESPONSE = (b"\x00\x00\x00\x25" + b"\x00" * 16 + b"\x00\x00\x00\x10"
                         + b"\x00" * 16 + b"\x00")


# ---------------------------------------------------------------------------
# handshake (§2)


def test_connect_response_length_follows_readonly_byte(server, conns):
    """A 45-byte ConnectRequest gets a 37-byte ConnectResponse, a 44-byte one
    (no readOnly byte) a 36-byte response, both with a 16-byte password."""
    for ro, want in ((False, 37), (None, 36)):
        c = conns.raw()
        req = z.connect_request(30000, read_only=ro)
        assert len(req) == (45 if ro is not None else 44)
        c.send(z.frame(req))
        n = struct.unpack(">i", c.recv_exact(4))[0]
        assert n == want
        resp = z.parse_connect_response(c.recv_exact(n))
        assert resp.protocol_version == 0
        assert resp.timeout == 30000
        assert resp.session_id != 0
        assert len(resp.passwd) == 16
        assert resp.read_only is (False if ro is not None else None)
        # the session works
        assert c.call(z.OP_EXISTS, z.path_watch_req("/")).err == z.OK


@pytest.mark.parametrize("asked,granted", [(1000, 4000), (0, 4000), (-5, 4000),
                                           (100000, 40000), (6000, 6000),
                                           (40000, 40000), (4000, 4000)])
def test_timeout_negotiation(server, conns, asked, granted):
    """The negotiated timeout is the request clamped to [2, 20] x tickTime
    (tickTime 2000), with values <= 0 becoming the minimum (§2.3 step 4)."""
    assert server.tick_ms == 2000
    c = conns(timeout_ms=asked)
    assert c.session.timeout == granted


def test_reconnect_keeps_session_and_kicks_old_connection(server, conns, base):
    """Resuming a session by id + password on a new connection gets the same
    id and password back, the renegotiated timeout, keeps the session's
    ephemerals, and the server closes the old connection (§2.3 step 6)."""
    a = conns()
    e = base + "/eph"
    ok(a.create(e, b"x", flags=z.F_EPHEMERAL))
    sid, pw = a.session.session_id, a.session.passwd
    b = conns(timeout_ms=6000, session_id=sid, passwd=pw)
    assert b.session.session_id == sid
    assert b.session.passwd == pw
    assert b.session.timeout == 6000
    assert a.wait_closed(5.0), "old connection of the session was not closed"
    data, st = ok(b.get_data(e))
    assert data == b"x" and st.ephemeralOwner == sid
    # and it is still the session's own ephemeral: closing it removes it
    ok(b.close_session())
    c = conns()
    assert err(c.exists(e)) == z.E_NONODE


@pytest.mark.parametrize("case", ["wrong-password", "unknown-session"])
def test_invalid_session_gets_all_zero_response_then_close(server, conns, case):
    """A ConnectRequest for an unknown session or with a wrong password gets
    ConnectResponse(0, 0, 0, 16 zero bytes, ro) — exactly §9.2's bytes — and
    then the connection is closed."""
    if case == "wrong-password":
        a = conns()
        sid = a.session.session_id
        pw = bytes(b ^ 0x5A for b in a.session.passwd)
    else:
        sid, pw = 0x0123456789AB0000, b"\x07" * 16
    c = conns.raw()
    c.send(z.frame(z.connect_request(30000, session_id=sid, passwd=pw)))
    assert c.recv_exact(41) == ZERO_CONNECT_RESPONSE
    assert c.wait_closed(5.0)
    assert c.buf == b""


def test_last_zxid_ahead_of_server_is_closed_without_response(server, conns):
    """A client claiming lastZxidSeen beyond the server's last zxid is
    disconnected with nothing sent (§2.3 step 3)."""
    c = conns.raw()
    c.send(z.frame(z.connect_request(30000, last_zxid=1 << 40)))
    assert c.wait_closed(5.0)
    assert c.buf == b""


def test_pipelined_request_answered_after_connect_response(server, conns):
    """Requests sent in the same write as the ConnectRequest are answered,
    in order, after the ConnectResponse (§1.6)."""
    c = conns.raw()
    c.send(z.frame(z.connect_request(30000))
           + z.request(1, z.OP_EXISTS, z.path_watch_req("/"))
           + z.request(2, z.OP_GETDATA, z.path_watch_req("/zookeeper")))
    first = c.recv_frame()
    assert len(first) == 37
    assert z.parse_connect_response(first).timeout == 30000
    r1 = c.next_reply()
    r2 = c.next_reply()
    assert (r1.xid, r1.err) == (1, z.OK)
    assert (r2.xid, r2.err) == (2, z.OK)


def test_pipelined_reads_between_writes_see_exactly_the_writes_before(
        server, conns, base):
    """A session's requests take effect in the order sent (§3.5): reads
    sent in one batch between writes, without waiting for any answer, see
    the writes before them and not the ones after, and a watch set by such
    a read fires for the write after it, before that write's reply."""
    c = conns()
    k = base + "/k"
    ok(c.create(k, b"0"))
    c.send(z.request(10, z.OP_SETDATA, z.set_data_req(k, b"1"))
           + z.request(11, z.OP_GETDATA, z.path_watch_req(k, True))
           + z.request(12, z.OP_SETDATA, z.set_data_req(k, b"2"))
           + z.request(13, z.OP_GETDATA, z.path_watch_req(k))
           + z.request(14, z.OP_EXISTS, z.path_watch_req(base + "/n"))
           + z.request(15, z.OP_CREATE, z.create_req(base + "/n", b""))
           + z.request(16, z.OP_EXISTS, z.path_watch_req(base + "/n")))
    got = [c.next_reply() for _ in range(7)]
    assert [r.xid for r in got] == list(range(10, 17))
    assert all(r.err == z.OK for r in got[:4]), got
    assert got[1].body.buffer() == b"1"
    assert got[3].body.buffer() == b"2"
    assert got[4].err == z.E_NONODE
    assert got[5].err == z.OK and got[6].err == z.OK
    # The watch of xid 11 fired for xid 12, before its reply.
    assert len(c.events) == 1 and c.events[0].path == k, c.events


# ---------------------------------------------------------------------------
# zxids (§3.4, §7.11) and the initial tree (§7.15) — needs a fresh server


def test_fresh_server_initial_stats_and_zxid_sequence(server_factory, conns):
    """On a fresh server / has wire cversion -1 and /zookeeper -2, the first
    session's createSession is zxid 1 so the first create is zxid 2, a failed
    create (-110) consumes zxid 3, and reads and pings reply with the last
    zxid (§7.15, §9.3, §3.4)."""
    srv = server_factory()
    c = conns(srv)
    root = ok(c.exists("/"))
    assert root == z.Stat(0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0)
    zk = ok(c.exists("/zookeeper"))
    assert zk == z.Stat(0, 0, 0, 0, 0, -2, 0, 0, 0, 2, 0)
    assert sorted(ok(c.get_children("/zookeeper"))) == ["config", "quota"]
    data, _ = ok(c.get_data("/"))
    assert data == b""
    # §9.3 byte for byte: request and reply
    req = z.request(1, z.OP_CREATE, z.create_req("/foo", b"bar"))
    assert req == bytes.fromhex(
        "00000036 00000001 00000001 00000004 2f666f6f 00000003 626172"
        "00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000000")
    c.send(req)
    assert c.recv_exact(28) == bytes.fromhex(
        "00000018 00000001 0000000000000002 00000000 00000004 2f666f6f")
    c.send(z.request(6, z.OP_CREATE, z.create_req("/foo", b"bar")))
    assert c.recv_exact(20) == bytes.fromhex(
        "00000010 00000006 0000000000000003 ffffff92")
    rep, (data, st) = c.get_data("/foo")
    assert rep.zxid == 3 and data == b"bar" and st.czxid == 2
    assert c.ping()[0].zxid == 3
    root = ok(c.exists("/"))
    # §7.4 observation: root after one create = cversion 0, 2 children, pzxid 2
    assert (root.cversion, root.numChildren, root.pzxid) == (0, 2, 2)


def test_ping_reply_xid_and_order(server, conns):
    """A ping is answered with xid -2 whatever xid it carried, and pings are
    answered in order with the other pipelined requests (§3.2, §3.5)."""
    c = conns()
    assert c.ping(xid=77)[0].xid == z.XID_PING
    c.send(z.request(10, z.OP_GETDATA, z.path_watch_req("/"))
           + z.request(-2, z.OP_PING)
           + z.request(11, z.OP_EXISTS, z.path_watch_req("/zookeeper"))
           + z.request(-2, z.OP_PING)
           + z.request(12, z.OP_GETCHILDREN, z.path_watch_req("/")))
    reps = [c.next_reply() for _ in range(5)]
    assert [r.xid for r in reps] == [10, -2, 11, -2, 12]
    assert all(r.err == z.OK for r in reps)
    assert len({r.zxid for r in reps}) == 1
    assert reps[1].body.remaining() == 0


def test_read_reply_zxid_is_last_write(server, conns, base):
    """A read's reply header carries the last applied zxid, also when another
    session made that write (§3.4)."""
    a, b = conns(), conns()
    rep, _ = a.set_data(base, b"v")
    assert rep.err == z.OK
    r2, _ = b.get_data(base)
    assert r2.zxid == rep.zxid


# ---------------------------------------------------------------------------
# Stat rules (§4, §7.4)


def test_stat_after_create_and_delete(server, conns, base):
    """create sets the child's czxid=mzxid=pzxid=zxid, ctime=mtime, versions
    0; the parent gets cversion+1, pzxid=zxid, numChildren+1 and keeps
    mzxid/mtime/version; delete gives the parent pzxid=zxid, numChildren-1
    and wire cversion +1 again (§4.2, §7.4)."""
    c = conns()
    p0 = ok(c.exists(base))
    rep, (path, st) = c.create(base + "/c", b"hello", op=z.OP_CREATE2)
    assert rep.err == z.OK and path == base + "/c"
    zc = rep.zxid
    assert st.czxid == st.mzxid == st.pzxid == zc
    assert st.ctime == st.mtime and st.ctime > 0
    assert (st.version, st.cversion, st.aversion) == (0, 0, 0)
    assert (st.ephemeralOwner, st.dataLength, st.numChildren) == (0, 5, 0)
    assert ok(c.exists(base + "/c")) == st
    p1 = ok(c.exists(base))
    assert p1.cversion == p0.cversion + 1
    assert p1.pzxid == zc
    assert p1.numChildren == p0.numChildren + 1
    assert (p1.czxid, p1.mzxid, p1.ctime, p1.mtime, p1.version, p1.aversion) == \
        (p0.czxid, p0.mzxid, p0.ctime, p0.mtime, p0.version, p0.aversion)
    rep, _ = c.delete(base + "/c")
    assert rep.err == z.OK and rep.zxid > zc
    assert rep.body.remaining() == 0
    p2 = ok(c.exists(base))
    assert p2.cversion == p1.cversion + 1
    assert p2.pzxid == rep.zxid
    assert p2.numChildren == p0.numChildren
    assert (p2.mzxid, p2.mtime, p2.version) == (p0.mzxid, p0.mtime, p0.version)


def test_stat_after_setdata(server, conns, base):
    """setData changes exactly version, mzxid, mtime and dataLength (§7.4)."""
    c = conns()
    s0 = ok(c.exists(base))
    time.sleep(0.01)
    rep, s1 = c.set_data(base, b"abc", version=s0.version)
    assert rep.err == z.OK
    assert s1.version == s0.version + 1
    assert s1.mzxid == rep.zxid > s0.mzxid
    assert s1.mtime > s0.mtime
    assert s1.dataLength == 3
    same = ("czxid", "ctime", "cversion", "aversion", "ephemeralOwner",
            "numChildren", "pzxid")
    for f in same:
        assert getattr(s1, f) == getattr(s0, f), f
    assert ok(c.exists(base)) == s1
    assert err(c.set_data(base, b"x", version=s0.version)) == z.E_BADVERSION


def test_stat_after_setacl(server, conns, base):
    """setACL changes only aversion: mzxid, mtime and version stay (§7.4)."""
    c = conns()
    s0 = ok(c.exists(base))
    rep, s1 = c.set_acl(base, [(z.PERM_ALL, "world", "anyone")], version=0)
    assert rep.err == z.OK
    assert s1.aversion == s0.aversion + 1
    assert s1._replace(aversion=s0.aversion) == s0
    acl, s2 = ok(c.get_acl(base))
    assert acl == [(31, "world", "anyone")] and s2 == s1
    assert err(c.set_acl(base, z.OPEN_ACL, version=0)) == z.E_BADVERSION


def test_ephemeral_owner_is_session_id(server, conns, base):
    """An ephemeral node's Stat.ephemeralOwner is its creator's session id,
    a persistent node's is 0 (§4.1)."""
    c = conns()
    rep, (_, st) = c.create(base + "/e", flags=z.F_EPHEMERAL, op=z.OP_CREATE2)
    assert rep.err == z.OK
    assert st.ephemeralOwner == c.session.session_id != 0
    other = conns()
    assert ok(other.exists(base + "/e")).ephemeralOwner == c.session.session_id
    assert ok(other.exists(base)).ephemeralOwner == 0


# ---------------------------------------------------------------------------
# sequential names (§7.5)


def test_sequential_suffix_counts_all_child_creates(server, conns, base):
    """The suffix is %010d of the parent's child-create count: it continues
    after deletes and counts non-sequential creates too (§7.5)."""
    c = conns()
    assert ok(c.create(base + "/s-", flags=z.F_SEQUENTIAL)) == base + "/s-0000000000"
    ok(c.create(base + "/plain"))
    assert ok(c.create(base + "/s-", flags=z.F_SEQUENTIAL)) == base + "/s-0000000002"
    ok(c.delete(base + "/s-0000000000"))
    ok(c.delete(base + "/s-0000000002"))
    ok(c.delete(base + "/plain"))
    path, st = ok(c.create(base + "/s-", flags=z.F_EPHEMERAL_SEQUENTIAL,
                           op=z.OP_CREATE2))
    assert path == base + "/s-0000000003"
    assert st.ephemeralOwner == c.session.session_id
    assert ok(c.get_children(base)) == ["s-0000000003"]


def test_sequential_create_of_trailing_slash(server, conns, base):
    """A sequential create of "/p/" is valid and names the child "/p/" plus
    the suffix, while a plain create of "/p/" is BadArguments (§7.1, §7.5)."""
    c = conns()
    p = base + "/p"
    ok(c.create(p))
    assert err(c.create(p + "/")) == z.E_BADARGUMENTS
    assert ok(c.create(p + "/", flags=z.F_SEQUENTIAL)) == p + "/0000000000"
    assert ok(c.create(p + "/", flags=z.F_SEQUENTIAL)) == p + "/0000000001"
    assert sorted(ok(c.get_children(p))) == ["0000000000", "0000000001"]


# ---------------------------------------------------------------------------
# path validation (§7.1)

BAD_UTF8 = b"/\xff\xfe"
EMOJI = "/\U0001F600"          # 4-byte UTF-8


@pytest.mark.parametrize("path,want", [
    ("x", z.E_BADARGUMENTS),                 # no slash at all
    ("", z.E_BADARGUMENTS),
    ("a/b", z.E_NONODE),                     # has a '/': parent "a" looked up
    ("/nx/", z.E_NONODE),                    # parent lookup before validation
    ("/nx//b", z.E_NONODE),
    ("/nx/./b", z.E_NONODE),
    ("{base}/", z.E_BADARGUMENTS),           # parent exists: full validation
    ("{base}/.", z.E_BADARGUMENTS),
    ("{base}//b", z.E_NONODE),               # parent "{base}/" not found
    ("{base}/../b", z.E_NONODE),             # parent "{base}/.." not found
    ("//", z.E_BADARGUMENTS),
    (BAD_UTF8, z.E_BADARGUMENTS),
    (EMOJI, z.E_BADARGUMENTS),
    ("/a\0b", z.E_BADARGUMENTS),
    ("{base}/a\x01", z.E_BADARGUMENTS),
    ("{base}/\x7f", z.E_BADARGUMENTS),
    ("{base}/\ue000", z.E_BADARGUMENTS),     # private use area
    ("/", z.E_NODEEXISTS),
    ("/zookeeper", z.E_NODEEXISTS),
    ("/zookeeper/", z.E_BADARGUMENTS),
    ("{base}/\u00e9", z.OK),
    ("{base}/a.b", z.OK),
])
def test_path_validation_create(server, conns, base, path, want):
    """create answers invalid paths with the error ZooKeeper gives: NoNode
    when the parent lookup fails first, else BadArguments (§7.1)."""
    if isinstance(path, str):
        path = path.replace("{base}", base)
    c = conns()
    rep, _ = c.create(path)
    assert rep.err == want


@pytest.mark.parametrize("path,want", [
    ("/", z.E_BADARGUMENTS),
    ("/zookeeper", z.E_BADARGUMENTS),
    ("/zookeeper/quota", z.E_BADARGUMENTS),
    ("/zookeeper/config", z.E_BADARGUMENTS),
    ("x", z.E_BADARGUMENTS),
    ("/a\0b", z.E_BADARGUMENTS),
    ("/nx/", z.E_NONODE),                    # otherwise just not found
    ("//", z.E_NONODE),
    ("{base}/", z.E_NONODE),
    (BAD_UTF8, z.E_NONODE),
])
def test_path_validation_delete(server, conns, base, path, want):
    """delete rejects the special paths and NUL/no-slash with BadArguments and
    reports any other invalid path as NoNode (§7.1)."""
    if isinstance(path, str):
        path = path.replace("{base}", base)
    c = conns()
    assert err(c.delete(path)) == want


@pytest.mark.parametrize("path,want", [
    ("{base}/", z.E_BADARGUMENTS),
    ("//", z.E_BADARGUMENTS),
    ("x", z.E_BADARGUMENTS),
    (BAD_UTF8, z.E_BADARGUMENTS),
    (EMOJI, z.E_BADARGUMENTS),
    ("/a\0b", z.E_BADARGUMENTS),
    ("{base}-nx", z.E_NONODE),  # a name fixed at collection (xdist)
    ("{base}", z.OK),
])
def test_path_validation_setdata(server, conns, base, path, want):
    """setData fully validates the path: BadArguments before NoNode (§7.1)."""
    if isinstance(path, str):
        path = path.replace("{base}", base)
    c = conns()
    assert err(c.set_data(path, b"d")) == want


@pytest.mark.parametrize("path,want", [
    ("/a\0b", z.E_BADARGUMENTS),             # only NUL is checked
    ("{base}/", z.E_NONODE),
    ("//", z.E_NONODE),
    ("x", z.E_NONODE),
    (BAD_UTF8, z.E_NONODE),
    (EMOJI, z.E_NONODE),
    ("{base}", z.OK),
])
def test_path_validation_exists(server, conns, base, path, want):
    """exists rejects only NUL with BadArguments; other invalid paths are just
    not found (§7.1)."""
    if isinstance(path, str):
        path = path.replace("{base}", base)
    c = conns()
    assert err(c.exists(path)) == want


# ---------------------------------------------------------------------------
# create flags (§4.4, §5.3, §7.2)


def test_create_flags(server, conns, base):
    """Unknown flags give BadArguments, a child of an ephemeral gives
    NoChildrenForEphemerals, TTL flags without extended types give
    Unimplemented (§4.4, §5.3)."""
    c = conns()
    for f in (7, 8, -1):
        assert err(c.create(base + "/f", flags=f)) == z.E_BADARGUMENTS, f
    ok(c.create(base + "/eph", flags=z.F_EPHEMERAL))
    assert err(c.create(base + "/eph/c")) == z.E_NOCHILDRENFOREPHEMERALS
    assert err(c.create(base + "/eph/c", flags=z.F_EPHEMERAL)) == \
        z.E_NOCHILDRENFOREPHEMERALS
    for f in (z.F_TTL, z.F_TTL_SEQUENTIAL):
        assert err(c.create(base + "/ttl", flags=f, op=z.OP_CREATETTL,
                            ttl=1000)) == z.E_UNIMPLEMENTED
        # ZK 3.8.0: op 1 with TTL flags also gives -6 here (the doc's §5.3
        # says -8 was observed; 3.8.0 checks "TTL allowed" first).
        assert err(c.create(base + "/ttl", flags=f)) == z.E_UNIMPLEMENTED
    # createTTL with non-TTL flags: BadArguments
    assert err(c.create(base + "/ttl", flags=0, op=z.OP_CREATETTL,
                        ttl=1000)) == z.E_BADARGUMENTS
    assert err(c.exists(base + "/ttl")) == z.E_NONODE
    assert err(c.exists(base + "/f")) == z.E_NONODE


# ---------------------------------------------------------------------------
# multi (§5.4, §9.7)

TERMINATOR = b"\xff\xff\xff\xff\x01\xff\xff\xff\xff"


def test_multi_failure_reply_bytes(server, conns, base):
    """A multi whose second op fails replies with header err 0 and exactly
    §9.7's body: (-1, 0, 0), (-1, -101, -101), terminator; and applies
    nothing, although the failure consumes a zxid (§5.4)."""
    c = conns()
    before = c.ping()[0].zxid
    ops = [(z.OP_CREATE, z.create_req(base + "/a")),
           (z.OP_DELETE, z.path_version_req(base + "/b", 3))]
    xid = c.submit(z.OP_MULTI, z.multi_req(ops))
    payload = c.recv_frame()
    assert len(payload) == 0x33
    hx, zx, he = struct.unpack(">iqi", payload[:16])
    assert (hx, he) == (xid, 0)
    assert zx == before + 1
    assert payload[16:] == (
        b"\xff\xff\xff\xff\x00\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
        + b"\xff\xff\xff\xff\x00\xff\xff\xff\x9b" + b"\xff\xff\xff\x9b"
        + TERMINATOR)
    assert err(c.exists(base + "/a")) == z.E_NONODE


def test_multi_failure_later_ops_runtime_inconsistency(server, conns, base):
    """In a failed multi the ops after the failing one report -2 and earlier
    ones 0 (§5.4)."""
    c = conns()
    ops = [(z.OP_CREATE, z.create_req(base + "/x")),
           (z.OP_CHECK, z.path_version_req(base, 42)),
           (z.OP_SETDATA, z.set_data_req(base + "/x", b"d"))]
    res = ok(c.multi(ops))
    assert [(r.type, r.err, r.value) for r in res] == [
        (-1, 0, 0), (-1, z.E_BADVERSION, z.E_BADVERSION),
        (-1, z.E_RUNTIMEINCONSISTENCY, z.E_RUNTIMEINCONSISTENCY)]
    assert err(c.exists(base + "/x")) == z.E_NONODE


def test_multi_success_create_then_setdata_same_node(server, conns, base):
    """A multi may setData a node it creates; all ops share one zxid; a
    create op 1 result has type 1 (path only), createContainer type 15
    (path+stat), check type 13 and delete type 2 carry no record; create2
    gives type 15 on Roost (§5.4) and type 1 on ZooKeeper 3.8.0."""
    c = conns()
    n, m, k, d = base + "/n", base + "/m", base + "/k", base + "/d"
    ok(c.create(d))
    ops = [(z.OP_CREATE, z.create_req(n, b"one")),
           (z.OP_SETDATA, z.set_data_req(n, b"two", 0)),
           (z.OP_CREATE2, z.create_req(m, b"m")),
           (z.OP_CREATECONTAINER, z.create_req(k, flags=z.F_CONTAINER)),
           (z.OP_CHECK, z.path_version_req(n, 1)),
           (z.OP_DELETE, z.path_version_req(d, 0))]
    rep, res = c.multi(ops)
    assert rep.err == z.OK
    # ZK 3.8.0: a create2 inside multi decays to create (result type 1, path
    # only, no Stat) -- ZOOKEEPER-4026, fixed in 3.9.0.  The doc (§5.4)
    # gives the 3.9+ behaviour (type 15 + Stat), which Roost implements.
    create2_type = 1 if server.target == "zookeeper" else 15
    assert [(r.type, r.err) for r in res] == [
        (1, 0), (5, 0), (create2_type, 0), (15, 0), (13, 0), (2, 0)]
    assert res[0].value == n
    st = res[1].value
    assert st.version == 1 and st.czxid == st.mzxid == rep.zxid
    if create2_type == 1:
        assert res[2].value == m
    else:
        mpath, mst = res[2].value
        assert mpath == m and mst.czxid == rep.zxid
    kpath, kst = res[3].value
    assert kpath == k and kst.czxid == kst.pzxid == rep.zxid
    assert kst.ephemeralOwner == 0
    assert res[4].value is None and res[5].value is None
    assert rep.body.remaining() == 0
    data, st2 = ok(c.get_data(n))
    assert data == b"two" and st2 == st
    assert err(c.exists(d)) == z.E_NONODE


def test_multi_mixed_read_write_is_marshalling_error(server, conns, base):
    """A multi mixing read and write sub-ops fails as a whole with -5 and no
    body, nothing applied, and the connection stays usable (§5.4)."""
    c = conns()
    ops = [(z.OP_CREATE, z.create_req(base + "/mx")),
           (z.OP_GETDATA, z.path_watch_req(base))]
    rep, _ = c.multi(ops)
    assert rep.err == z.E_MARSHALLING
    assert rep.body.remaining() == 0
    assert err(c.exists(base + "/mx")) == z.E_NONODE


def test_empty_multi_replies_terminator_only(server, conns):
    """A multi that is just the terminator is answered with just the
    terminator (§5.4)."""
    c = conns()
    xid = c.submit(z.OP_MULTI, TERMINATOR)
    payload = c.recv_frame()
    assert struct.unpack(">i", payload[:4])[0] == xid
    assert struct.unpack(">i", payload[12:16])[0] == 0
    assert payload[16:] == TERMINATOR


def test_multiread_independent_results(server, conns, base):
    """multiRead evaluates each read on its own: a missing node is an error
    result while the others still return data (§5.4)."""
    c = conns()
    ok(c.set_data(base, b"bd"))
    ops = [(z.OP_GETDATA, z.path_watch_req(base)),
           (z.OP_GETDATA, z.path_watch_req(base + "/missing")),
           (z.OP_GETCHILDREN, z.path_watch_req("/zookeeper"))]
    res = ok(c.multi(ops, op=z.OP_MULTIREAD))
    assert res[0].type == z.OP_GETDATA and res[0].value[0] == b"bd"
    assert (res[1].type, res[1].err, res[1].value) == (-1, z.E_NONODE, z.E_NONODE)
    assert res[2].type == z.OP_GETCHILDREN
    assert sorted(res[2].value) == ["config", "quota"]


# ---------------------------------------------------------------------------
# watches (§3.5, §7.8, §7.10)


def event_ok(ev, typ, path, reply_zxid=None):
    assert isinstance(ev, z.Event), ev
    assert (ev.type, ev.state, ev.path) == (typ, z.STATE_SYNCCONNECTED, path)
    # ZooKeeper 3.8 (Roost's reference, and Debian's 3.8.0) sends -1 in a
    # notification's header; 3.9+ sends the triggering zxid (§9.6).
    if reply_zxid is not None:
        assert ev.zxid == -1, ev


def test_own_write_event_before_reply(server, conns, base):
    """A client watching a node it changes itself receives the event frame
    before the setData reply (§3.5)."""
    c = conns()
    ok(c.get_data(base, watch=True))
    xid = c.submit(z.OP_SETDATA, z.set_data_req(base, b"new"))
    first = c.next_frame()
    second = c.next_frame()
    assert isinstance(second, z.Reply) and second.xid == xid and second.err == 0
    event_ok(first, z.EV_DATACHANGED, base, second.zxid)


def test_exists_watch_on_missing_node_fires_created(server, conns, base):
    """exists with watch on a missing node replies NoNode but registers a
    watch that fires NodeCreated (§5.3)."""
    w, c = conns(), conns()
    n = base + "/later"
    assert err(w.exists(n, watch=True)) == z.E_NONODE
    rep, _ = c.create(n)
    event_ok(w.next_event(), z.EV_CREATED, n, rep.zxid)
    assert w.no_event()


def test_getdata_on_missing_node_sets_no_watch(server, conns, base):
    """getData/getChildren on a missing node reply NoNode and register no
    watch (§5.3)."""
    w, c = conns(), conns()
    n = base + "/nowatch"
    assert err(w.get_data(n, watch=True)) == z.E_NONODE
    assert err(w.get_children(n, watch=True)) == z.E_NONODE
    ok(c.create(n))
    ok(c.create(n + "/k"))
    assert w.no_event(0.5)


def test_child_watch_on_root_fires_with_root_path(server, conns):
    """A getChildren watch on / fires NodeChildrenChanged with path "/" when a
    root child is created (§7.8)."""
    w, c = conns(), conns()
    ok(w.get_children("/", watch=True))
    n = "/t-" + uuid.uuid4().hex[:12]
    rep, _ = c.create(n)
    event_ok(w.next_event(), z.EV_CHILDRENCHANGED, "/", rep.zxid)
    ok(c.delete(n))
    assert w.no_event()


def test_create_fires_created_then_parent_children_changed(server, conns, base):
    """A create fires NodeCreated for the node, then NodeChildrenChanged for
    the parent, in that order on one connection (§7.8)."""
    w, c = conns(), conns()
    n = base + "/kid"
    assert err(w.exists(n, watch=True)) == z.E_NONODE
    ok(w.get_children(base, watch=True))
    rep, _ = c.create(n)
    event_ok(w.next_event(), z.EV_CREATED, n, rep.zxid)
    event_ok(w.next_event(), z.EV_CHILDRENCHANGED, base, rep.zxid)
    assert w.no_event()


def test_delete_fires_one_event_per_connection(server, conns, base):
    """Deleting a node fires NodeDeleted to its data and child watchers, but
    one event per connection even with several registrations (§7.8)."""
    both, data_only, child_only, c = conns(), conns(), conns(), conns()
    n = base + "/gone"
    ok(c.create(n))
    ok(both.get_data(n, watch=True))
    ok(both.exists(n, watch=True))
    ok(both.get_children(n, watch=True))
    ok(data_only.exists(n, watch=True))
    ok(child_only.get_children2(n, watch=True))
    rep, _ = c.delete(n)
    assert rep.err == z.OK
    for w in (both, data_only, child_only):
        event_ok(w.next_event(), z.EV_DELETED, n, rep.zxid)
        assert w.no_event()


def test_watch_fires_once(server, conns, base):
    """A standard watch is one-shot: two changes give one event (§7.8)."""
    w, c = conns(), conns()
    ok(w.get_data(base, watch=True))
    ok(w.get_data(base, watch=True))          # same connection: still one entry
    ok(c.set_data(base, b"1"))
    ok(c.set_data(base, b"2"))
    event_ok(w.next_event(), z.EV_DATACHANGED, base)
    assert w.no_event()
    # setACL and reads fire nothing; a re-armed watch fires again
    ok(w.get_data(base, watch=True))
    ok(c.set_acl(base, z.OPEN_ACL))
    ok(c.get_data(base))
    assert w.no_event()
    ok(c.set_data(base, b"3"))
    event_ok(w.next_event(), z.EV_DATACHANGED, base)


def test_set_watches_relative_zxid(server, conns, base):
    """setWatches fires at once, before its reply, the watches whose node
    changed after relativeZxid (data: NodeDataChanged / NodeDeleted; exist:
    NodeCreated; child: NodeChildrenChanged / NodeDeleted) and registers the
    others, which fire later; fired ones are not registered (§7.10)."""
    c = conns()
    P = lambda s: base + "/" + s  # noqa: E731
    for s in ("d1", "d2", "d3", "c1", "c2", "c3"):
        ok(c.create(P(s)))
    rel = c.ping()[0].zxid
    ok(c.set_data(P("d1"), b"changed"))
    ok(c.delete(P("d2")))
    ok(c.create(P("e1")))
    ok(c.create(P("c1") + "/x"))
    ok(c.delete(P("c2")))
    w = conns()
    xid = w.submit(z.OP_SETWATCHES, z.set_watches_req(
        rel, data=[P("d1"), P("d2"), P("d3")], exist=[P("e1"), P("e3")],
        child=[P("c1"), P("c2"), P("c3")]))
    fired = []
    while True:
        f = w.next_frame()
        if isinstance(f, z.Reply):
            assert (f.xid, f.err) == (xid, z.OK)
            assert f.body.remaining() == 0
            break
        assert f.state == z.STATE_SYNCCONNECTED
        fired.append((f.type, f.path))
    assert sorted(fired) == sorted([
        (z.EV_DATACHANGED, P("d1")), (z.EV_DELETED, P("d2")),
        (z.EV_CREATED, P("e1")), (z.EV_CHILDRENCHANGED, P("c1")),
        (z.EV_DELETED, P("c2"))])
    assert w.no_event()
    # fired watches are gone ...
    ok(c.set_data(P("d1"), b"again"))
    ok(c.set_data(P("e1"), b"again"))
    ok(c.create(P("c1") + "/y"))
    assert w.no_event()
    # ... the unchanged ones were registered and fire now
    ok(c.set_data(P("d3"), b"x"))
    event_ok(w.next_event(), z.EV_DATACHANGED, P("d3"))
    ok(c.create(P("e3")))
    event_ok(w.next_event(), z.EV_CREATED, P("e3"))
    ok(c.create(P("c3") + "/z"))
    event_ok(w.next_event(), z.EV_CHILDRENCHANGED, P("c3"))
    assert w.no_event()


def test_close_session_of_ephemeral_owner_fires_events(server, conns, base):
    """When an ephemeral owner closes its session, other clients get
    NodeDeleted for the node and NodeChildrenChanged for its parent (§7.6)."""
    owner, w = conns(), conns()
    e = base + "/eph"
    ok(owner.create(e, flags=z.F_EPHEMERAL))
    ok(w.exists(e, watch=True))
    ok(w.get_children(base, watch=True))
    rep, _ = owner.close_session()
    event_ok(w.next_event(), z.EV_DELETED, e, rep.zxid)
    event_ok(w.next_event(), z.EV_CHILDRENCHANGED, base, rep.zxid)
    assert err(w.exists(e)) == z.E_NONODE


def test_persistent_and_recursive_watches(server, conns, base):
    """addWatch PERSISTENT fires NodeCreated/NodeDataChanged/
    NodeChildrenChanged/NodeDeleted on its node without being consumed;
    PERSISTENT_RECURSIVE sees NodeCreated/NodeDataChanged for the node and
    every descendant but never NodeChildrenChanged (§7.8, §7.9)."""
    w, c = conns(), conns()
    p, r = base + "/p", base + "/r"
    rep = w.call(z.OP_ADDWATCH, z.path_type_req(p, 0))
    assert rep.err == z.OK and rep.body.rest() == b"\0\0\0\0"
    assert w.call(z.OP_ADDWATCH, z.path_type_req(r, 1)).err == z.OK
    ok(c.create(p))
    ok(c.set_data(p, b"1"))
    ok(c.create(p + "/k"))
    ok(c.delete(p + "/k"))
    ok(c.set_data(p, b"2"))
    ok(c.create(r))
    ok(c.create(r + "/c"))
    ok(c.set_data(r + "/c", b"x"))
    ok(c.delete(r + "/c"))
    got = [(e.type, e.path) for e in (w.next_event() for _ in range(9))]
    assert got == [
        (z.EV_CREATED, p), (z.EV_DATACHANGED, p), (z.EV_CHILDRENCHANGED, p),
        (z.EV_CHILDRENCHANGED, p), (z.EV_DATACHANGED, p),
        (z.EV_CREATED, r), (z.EV_CREATED, r + "/c"),
        (z.EV_DATACHANGED, r + "/c"), (z.EV_DELETED, r + "/c")]
    assert w.no_event()
    # removeWatches Any clears the persistent watch; a second time -121
    rep = w.call(z.OP_REMOVEWATCHES, z.path_type_req(p, 3))
    assert rep.err == z.OK
    assert w.call(z.OP_REMOVEWATCHES, z.path_type_req(p, 3)).err == z.E_NOWATCHER
    ok(c.set_data(p, b"3"))
    assert w.no_event()


def test_watch_management_opcodes(server, conns, base):
    """checkWatches/removeWatches answer NoWatcher without a matching watch
    and OK with one; removeWatches really removes it (§5.3)."""
    w, c = conns(), conns()
    req = lambda typ: z.path_type_req(base, typ)  # noqa: E731
    assert w.call(z.OP_CHECKWATCHES, req(2)).err == z.E_NOWATCHER
    assert w.call(z.OP_REMOVEWATCHES, req(3)).err == z.E_NOWATCHER
    ok(w.get_data(base, watch=True))
    assert w.call(z.OP_CHECKWATCHES, req(1)).err == z.E_NOWATCHER   # no child watch
    assert w.call(z.OP_CHECKWATCHES, req(2)).err == z.OK
    assert w.call(z.OP_CHECKWATCHES, req(2)).err == z.OK              # removes nothing
    assert w.call(z.OP_REMOVEWATCHES, req(2)).err == z.OK
    assert w.call(z.OP_REMOVEWATCHES, req(2)).err == z.E_NOWATCHER
    ok(c.set_data(base, b"no event"))
    assert w.no_event()


def test_misc_opcodes(server, conns, base):
    """sync echoes any path without checking it, whoAmI lists the ip identity
    then digest after auth, getEphemerals and getAllChildrenNumber count the
    right nodes, reconfig on standalone is -123, and an auth with an unknown
    scheme gets (-4, 0, -115) and a close (§5.3, §5.5)."""
    c = conns()
    ok(c.create(base + "/e", flags=z.F_EPHEMERAL))
    ok(c.create(base + "/c"))
    ok(c.create(base + "/c/d"))
    rep = c.call(z.OP_SYNC, z.path_req("/no/such/path"))
    assert rep.err == z.OK and rep.body.ustring() == "/no/such/path"
    ids = lambda r: r.body.vector(lambda b: (b.ustring(), b.ustring()))  # noqa: E731
    rep = c.call(z.OP_WHOAMI)
    assert rep.err == z.OK and ids(rep) == [("ip", "127.0.0.1")]
    rep = c.call(z.OP_GETEPHEMERALS, z.path_req(base))
    assert rep.err == z.OK and rep.body.strings() == [base + "/e"]
    rep = c.call(z.OP_GETALLCHILDRENNUMBER, z.path_req(base))
    assert rep.err == z.OK and rep.body.int() == 3
    rep = c.call(z.OP_RECONFIG, z.Writer().ustring("").ustring("").ustring("")
                 .long(-1).bytes())
    assert rep.err == z.E_RECONFIGDISABLED
    rep = c.call(z.OP_AUTH, z.auth_req("digest", b"user:pass"), xid=z.XID_AUTH)
    assert (rep.xid, rep.zxid, rep.err) == (z.XID_AUTH, 0, z.OK)
    rep = c.call(z.OP_WHOAMI)
    assert ids(rep) == [("ip", "127.0.0.1"), ("digest", "user")]
    rep = c.call(z.OP_AUTH, z.auth_req("nosuch", b"x"), xid=z.XID_AUTH)
    assert (rep.xid, rep.zxid, rep.err) == (z.XID_AUTH, 0, z.E_AUTHFAILED)
    assert c.wait_closed(5.0)


# ---------------------------------------------------------------------------
# closeSession and expiry (§7.12)


def test_close_session_reply_then_close(server, conns, base):
    """closeSession replies (xid, fresh zxid, 0) with no body, then the server
    closes the socket, and the session id can no longer be resumed."""
    c = conns()
    before = c.ping()[0].zxid
    sid, pw = c.session.session_id, c.session.passwd
    xid = c.submit(z.OP_CLOSESESSION)
    payload = c.recv_frame()
    assert len(payload) == 16
    assert struct.unpack(">iqi", payload) == (xid, before + 1, 0)
    assert c.wait_closed(5.0)
    r = conns.raw()
    r.send(z.frame(z.connect_request(30000, session_id=sid, passwd=pw)))
    assert r.recv_exact(41) == ZERO_CONNECT_RESPONSE
    assert r.wait_closed(5.0)


def test_session_expiry_removes_ephemeral(server, conns, base):
    """A 4000 ms session that goes silent expires between 4 and ~6 s later:
    its ephemeral disappears, another client's watch fires, and its
    connection is closed (§7.12)."""
    a = conns(timeout_ms=4000)
    assert a.session.timeout == 4000
    w = conns()
    e = base + "/expiring"
    ok(a.create(e, flags=z.F_EPHEMERAL))
    last = time.monotonic()
    ok(w.exists(e, watch=True))
    ev = w.next_event(timeout=9.0)
    elapsed = time.monotonic() - last
    event_ok(ev, z.EV_DELETED, e)
    assert 3.9 <= elapsed <= 6.5, "expired after %.2f s" % elapsed
    assert err(w.exists(e)) == z.E_NONODE
    assert a.wait_closed(3.0)
    # the expired session cannot be resumed
    r = conns.raw()
    r.send(z.frame(z.connect_request(4000, session_id=a.session.session_id,
                                     passwd=a.session.passwd)))
    assert r.recv_exact(41) == ZERO_CONNECT_RESPONSE


# ---------------------------------------------------------------------------
# four-letter words (§8)


def test_four_letter_words(server, conns):
    """ruok, srvr, stat, cons, conf, envi, wchs, mntr and isro answer in the
    formats of §8."""
    c = conns()
    ok(c.get_data("/zookeeper", watch=True))    # one watch for wchs
    fl = server.four_letter
    assert fl("ruok") == "imok"
    srvr = fl("srvr")
    assert "Mode: standalone" in srvr.splitlines()
    assert re.search(r"^Zxid: 0x[0-9a-f]+$", srvr, re.M)
    assert re.search(r"^Node count: \d+$", srvr, re.M)
    stat = fl("stat")
    assert "Clients:" in stat and "Mode: standalone" in stat
    assert re.search(r"^ /127\.0\.0\.1:\d+\[", stat, re.M)
    cons = fl("cons")
    assert "sid=0x%x" % c.session.session_id in cons
    conf = fl("conf")
    assert "clientPort=%d" % server.port in conf.splitlines()
    assert "tickTime=2000" in conf.splitlines()
    envi = fl("envi")
    assert envi.startswith("Environment:")
    assert re.search(r"^zookeeper\.version=", envi, re.M)
    wchs = fl("wchs")
    m = re.match(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)", wchs)
    assert m and int(m.group(1)) >= 1 and int(m.group(3)) >= 1, wchs
    lines = fl("mntr").splitlines()
    assert lines[0].startswith("zk_version\t")
    assert lines[1] == "zk_server_state\tstandalone"
    assert any(re.match(r"zk_znode_count\t\d+$", x) for x in lines)
    assert fl("isro") == "rw"


def test_trace_mask_words(server_factory):
    """gtmk shows ZooKeeper's default trace mask (306); stmk takes an
    8-byte mask after the word, answers with it in decimal, and gtmk shows
    it afterwards; an stmk whose mask never arrives gets no answer."""
    srv = server_factory()
    assert srv.four_letter("gtmk") == "306"
    for mask in (0x1234, 0):
        with z.Conn(srv.host, srv.port) as c:
            # One packet: ZooKeeper reads the mask with the word (Roost
            # would also wait for a mask that comes later).
            c.send(b"stmk" + struct.pack(">q", mask))
            assert c.recv_all_until_close(5.0) == str(mask).encode()
        assert srv.four_letter("gtmk") == str(mask)
    with z.Conn(srv.host, srv.port) as c:
        c.send(b"stmk\x00\x00")
        c.sock.shutdown(socket.SHUT_WR)
        assert c.recv_all_until_close(5.0) == b""
    assert srv.four_letter("gtmk") == "0"


def test_four_letter_word_not_whitelisted(server_factory):
    """A known word outside 4lw.commands.whitelist is answered with the
    "not in the whitelist" sentence; srvr is always allowed (§8)."""
    srv = server_factory(**{"4lw.commands.whitelist": "srvr"})
    assert srv.four_letter("ruok") == \
        "ruok is not executed because it is not in the whitelist.\n"
    assert srv.four_letter("mntr") == \
        "mntr is not executed because it is not in the whitelist.\n"
    assert "Mode: standalone" in srv.four_letter("srvr")
