"""ACLs and authentication (issue 3): digest, auth, ip (CIDR), world and the
super digest; getACL/setACL with aversion; the permission checked by each
operation; InvalidACL; addauth and AuthFailed.

Driven by kazoo 2.8 (add_auth, make_digest_acl, get_acls/set_acls) and, for
what kazoo cannot send or hides (empty ACL lists, whoAmI, the bytes of an
AuthFailed reply, multi/multiRead sub-results), by raw frames (zkraw.py).
Every case passes against Apache ZooKeeper 3.8.0 (make test-zk); section
numbers (§x.y) refer to docs/zookeeper-wire-protocol.md.
"""

import base64
import hashlib
import time
import uuid

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (AuthFailedError, BadVersionError,
                              ConnectionClosedError, InvalidACLError,
                              NoAuthError)
from kazoo.security import (ACL, Id, OPEN_ACL_UNSAFE, make_acl,
                            make_digest_acl, make_digest_acl_credential)

import zkraw as z

SUPER_PASSWORD = "s3cret"

# Permission bits (§6.4).
READ, WRITE, CREATE, DELETE, ADMIN = 1, 2, 4, 8, 16


def super_digest(user="super", password=SUPER_PASSWORD):
    """The value of DigestAuthenticationProvider.superDigest for a user."""
    h = hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()
    return "%s:%s" % (user, base64.b64encode(h).decode())


@pytest.fixture
def kz(server):
    """open(srv=server, auth=None) -> a started KazooClient (auth: list of
    (scheme, credential) sent at connect); all stopped at test end."""
    made = []

    def open_(srv=None, auth=None):
        srv = srv or server
        k = KazooClient(hosts=srv.hosts, timeout=10, auth_data=auth)
        k.start(timeout=15)
        made.append(k)
        return k

    yield open_
    for k in made:
        try:
            k.stop()
            k.close()
        except Exception:
            pass


@pytest.fixture
def raw(server):
    """open(srv=server) -> a zkraw Conn with a fresh session; closed at end."""
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
def base(kz):
    """A fresh world-open node /acl-<uuid> for this test."""
    path = "/acl-" + uuid.uuid4().hex[:12]
    kz().create(path)
    return path


def whoami(c):
    rep = c.call(z.OP_WHOAMI)
    assert rep.err == z.OK
    return rep.body.vector(lambda b: (b.ustring(), b.ustring()))


def auth(c, scheme, cred):
    """Send an AuthPacket with xid -4; return the reply."""
    rep = c.call(z.OP_AUTH, z.auth_req(scheme, cred), xid=z.XID_AUTH)
    assert (rep.xid, rep.zxid) == (z.XID_AUTH, 0)
    return rep


# ---------------------------------------------------------------------------
# digest and auth schemes


def test_digest_identity_is_user_colon_base64_sha1(kz, base):
    """addauth digest u:p gives the identity digest:u:base64(sha1("u:p")),
    exactly what kazoo's make_digest_acl_credential computes, and the "auth"
    scheme expands to it when a node is created (§5.5, §7.2)."""
    owner = kz(auth=[("digest", "alice:pw1")])
    path = base + "/n"
    owner.create(path, b"x", acl=[make_acl("auth", "", all=True)])
    acls, stat = owner.get_acls(path)
    assert acls == [ACL(31, Id("digest", make_digest_acl_credential("alice", "pw1")))]
    assert make_digest_acl_credential("user", "pass") == \
        "user:smGaoVKd/cQkjm7b88GyorAUz20="
    assert stat.aversion == 0


def test_auth_scheme_expands_to_every_digest_identity(kz, base):
    """An "auth" ACL entry becomes one entry per authenticated identity of the
    connection (two digests here), never the implicit ip one (§7.2)."""
    owner = kz(auth=[("digest", "a:1"), ("digest", "b:2")])
    path = base + "/n"
    owner.create(path, acl=[make_acl("auth", "", read=True, admin=True)])
    acls, _ = owner.get_acls(path)
    assert sorted((a.perms, a.id.scheme, a.id.id) for a in acls) == [
        (17, "digest", make_digest_acl_credential("a", "1")),
        (17, "digest", make_digest_acl_credential("b", "2"))]


def test_session_without_digest_is_denied(kz, base):
    """A node whose ACL is one digest identity: a session without that digest
    gets NoAuth for getData, getChildren, setData, create below it, delete
    below it, getACL and setACL; the owner can do all of it, and a third
    session that sends the same digest later can too (§7.13)."""
    owner = kz(auth=[("digest", "alice:pw1")])
    other = kz()
    path = base + "/secret"
    owner.create(path, b"data", acl=[make_digest_acl("alice", "pw1", all=True)])
    owner.create(path + "/kid")
    for call in (lambda: other.get(path),
                 lambda: other.get_children(path),
                 lambda: other.set(path, b"no"),
                 lambda: other.create(path + "/x"),
                 lambda: other.delete(path + "/kid"),
                 lambda: other.get_acls(path),
                 lambda: other.set_acls(path, OPEN_ACL_UNSAFE)):
        with pytest.raises(NoAuthError):
            call()
    assert owner.get(path)[0] == b"data"
    owner.set(path, b"new")
    owner.create(path + "/y")
    owner.delete(path + "/y")
    late = kz()
    with pytest.raises(NoAuthError):
        late.get(path)
    late.add_auth("digest", "alice:pw1")
    assert late.get(path)[0] == b"new"
    # the owner opens it up; now the first session can read
    owner.set_acls(path, OPEN_ACL_UNSAFE)
    assert other.get(path)[0] == b"new"


def test_wrong_password_is_another_identity(kz, base):
    """addauth with the right user but a wrong password succeeds (digest auth
    always does) yet does not match the ACL: NoAuth (§5.5)."""
    owner = kz(auth=[("digest", "alice:pw1")])
    path = base + "/n"
    owner.create(path, acl=[make_digest_acl("alice", "pw1", all=True)])
    wrong = kz(auth=[("digest", "alice:WRONG")])
    with pytest.raises(NoAuthError):
        wrong.get(path)


def test_each_operation_checks_its_permission(raw, base):
    """With world:anyone holding only READ|CREATE on a node: reads, getACL,
    getAllChildrenNumber and creating a child work; setData (WRITE), delete
    of a child (DELETE on the parent), setACL (ADMIN) get NoAuth; inside a
    multi a check needs READ, and multiRead reports NoAuth per sub-op
    (§5.1, §7.2, §7.13)."""
    c = raw()
    node = base + "/rc"
    ok_read = [(READ | CREATE, "world", "anyone")]
    assert c.create(node, b"d", acl=ok_read)[0].err == z.OK
    assert c.create(node + "/k")[0].err == z.OK
    assert c.get_data(node)[0].err == z.OK
    assert c.get_children(node)[0].err == z.OK
    assert c.get_acl(node)[0].err == z.OK
    rep = c.call(z.OP_GETALLCHILDRENNUMBER, z.path_req(node))
    assert rep.err == z.OK and rep.body.int() == 1
    assert c.set_data(node, b"x")[0].err == z.E_NOAUTH
    assert c.delete(node + "/k")[0].err == z.E_NOAUTH
    assert c.set_acl(node, z.OPEN_ACL)[0].err == z.E_NOAUTH
    # no READ at all: reads and check-in-multi fail, multiRead per sub-op
    blind = base + "/blind"
    assert c.create(blind, b"d", acl=[(z.PERM_ALL & ~READ, "world",
                                       "anyone")])[0].err == z.OK
    assert c.get_data(blind)[0].err == z.E_NOAUTH
    assert c.get_children(blind)[0].err == z.E_NOAUTH
    rep = c.call(z.OP_GETALLCHILDRENNUMBER, z.path_req(blind))
    assert rep.err == z.E_NOAUTH
    assert c.get_acl(blind)[0].err == z.OK          # ADMIN suffices for getACL
    rep, res = c.multi([(z.OP_CHECK, z.path_version_req(blind, -1))])
    assert rep.err == z.OK and [(r.type, r.err) for r in res] == \
        [(z.OP_ERROR, z.E_NOAUTH)]
    rep, res = c.multi([(z.OP_GETDATA, z.path_watch_req(blind)),
                        (z.OP_GETDATA, z.path_watch_req(node))],
                       op=z.OP_MULTIREAD)
    assert rep.err == z.OK
    assert [(r.type, r.err) for r in res] == [(z.OP_ERROR, z.E_NOAUTH),
                                              (z.OP_GETDATA, z.OK)]
    assert c.set_data(blind, b"w")[0].err == z.OK


def test_get_acl_masks_digest_without_admin(kz, base):
    """getACL needs READ or ADMIN; a caller without ADMIN sees digest ids as
    user:x, the owner holding ADMIN sees the hash (ZOOKEEPER-1392, §5.3)."""
    owner = kz(auth=[("digest", "alice:pw1")])
    other = kz()
    masked = base + "/masked"
    owner.create(masked, acl=[make_digest_acl("alice", "pw1", read=True),
                              make_acl("world", "anyone", read=True)])
    for k in (owner, other):
        acls, _ = k.get_acls(masked)
        assert sorted((a.perms, a.id.scheme, a.id.id) for a in acls) == [
            (1, "digest", "alice:x"), (1, "world", "anyone")]
    full = base + "/full"
    owner.create(full, acl=[make_digest_acl("alice", "pw1", all=True),
                            make_acl("world", "anyone", read=True)])
    acls, _ = owner.get_acls(full)
    assert ACL(31, Id("digest", make_digest_acl_credential("alice", "pw1"))) in acls
    acls, _ = other.get_acls(full)
    assert ACL(31, Id("digest", "alice:x")) in acls


def test_set_acls_checks_aversion(kz, base):
    """setACL with the current aversion works and bumps aversion (mzxid and
    version untouched); a stale aversion gets BadVersion; -1 matches any
    (§7.3, §7.4)."""
    k = kz()
    path = base + "/v"
    k.create(path, b"x")
    before = k.exists(path)
    st = k.set_acls(path, [make_acl("world", "anyone", all=True)], version=0)
    assert (st.aversion, st.version, st.mzxid) == (1, 0, before.mzxid)
    with pytest.raises(BadVersionError):
        k.set_acls(path, OPEN_ACL_UNSAFE, version=0)
    st = k.set_acls(path, [make_acl("world", "anyone", read=True)], version=-1)
    assert st.aversion == 2
    acls, st2 = k.get_acls(path)
    assert acls == [ACL(1, Id("world", "anyone"))] and st2.aversion == 2
    with pytest.raises(NoAuthError):        # no ADMIN any more
        k.set_acls(path, OPEN_ACL_UNSAFE)


@pytest.mark.parametrize("acl", [
    [],                                             # empty list
    [(31, "world", "foo")],                         # world other than anyone
    [(31, "auth", "")],                             # auth without credentials
    [(31, "x509", "CN=me")],                        # no such provider
    [(31, "digest", "nocolon")],                    # digest id needs one ':'
    [(31, "digest", "a:b:c")],
    [(31, "ip", "1.2.3")],                          # not an address
    [(31, "ip", "127.0.0.1/33")],                   # mask too long
    [(31, "ip", "127.0.0.1/x")],
    [(31, "ip", "localhost")],                      # no name lookups
    [(31, "ip", "::1")],                            # 3.8.0: IPv4 only
    [(31, "world", "anyone"), (31, "world", "nobody")],
], ids=["empty", "world-foo", "auth-anon", "x509", "digest-nocolon",
        "digest-2colons", "ip-short", "ip-mask33", "ip-mask-x", "ip-name",
        "ip-v6", "one-bad-of-two"])
def test_invalid_acl(raw, base, acl):
    """create, create2 and setACL refuse a malformed ACL list with InvalidACL
    (-114) and leave nothing behind (§7.2)."""
    c = raw()
    path = base + "/bad"
    for op in (z.OP_CREATE, z.OP_CREATE2):
        assert c.create(path, acl=acl, op=op)[0].err == z.E_INVALIDACL
    assert c.exists(path)[0].err == z.E_NONODE
    assert c.set_acl(base, acl)[0].err == z.E_INVALIDACL


def test_null_ids_in_acl_entries(raw, base):
    """A null id is fine for "auth" (its id is never looked at; kazoo sends
    make_acl("auth", "") that way), is MarshallingError (-5) for world,
    digest and ip (ZooKeeper 3.8.0's providers dereference it; observed),
    and a null scheme is InvalidACL (§7.2)."""
    c = raw()
    assert auth(c, "digest", b"a:1").err == z.OK
    assert c.create(base + "/a", acl=[(31, "auth", None)])[0].err == z.OK
    rep, (acls, _) = c.get_acl(base + "/a")
    assert acls == [(31, "digest", make_digest_acl_credential("a", "1"))]
    for scheme in ("world", "digest", "ip"):
        assert c.create(base + "/n", acl=[(31, scheme, None)])[0].err == \
            z.E_MARSHALLING
    assert c.create(base + "/n", acl=[(31, None, "anyone")])[0].err == \
        z.E_INVALIDACL
    assert c.exists(base + "/n")[0].err == z.E_NONODE


def test_invalid_acl_through_kazoo(kz, base):
    """kazoo surfaces InvalidACL as InvalidACLError for create and set_acls."""
    k = kz()
    with pytest.raises(InvalidACLError):
        k.create(base + "/x", acl=[make_acl("world", "somebody", all=True)])
    with pytest.raises(InvalidACLError):
        k.set_acls(base, [make_acl("auth", "", all=True)])


def test_duplicate_acl_entries_are_merged(raw, base):
    """Equal ACL entries in one list are stored once (§7.2)."""
    c = raw()
    path = base + "/dup"
    acl = [(31, "world", "anyone"), (31, "world", "anyone"), (1, "ip", "10.0.0.1")]
    assert c.create(path, acl=acl)[0].err == z.OK
    rep, (acls, _) = c.get_acl(path)
    assert sorted(acls) == [(1, "ip", "10.0.0.1"), (31, "world", "anyone")]


# ---------------------------------------------------------------------------
# ip scheme


@pytest.mark.parametrize("expr,allowed", [
    ("127.0.0.1", True),
    ("127.0.0.1/32", True),
    ("127.0.0.0/8", True),
    ("127.9.9.9/8", True),        # host bits of the ACL are ignored
    ("0.0.0.0/0", True),
    ("127.0.0.2", False),
    ("127.0.0.2/31", False),
    ("10.0.0.0/8", False),
    ("128.0.0.0/1", False),
])
def test_ip_acl_with_cidr_mask(raw, base, expr, allowed):
    """An ip ACL matches the connection's address (127.0.0.1 on loopback)
    under its CIDR mask: inside it the client may read, outside NoAuth; the
    ACL grants only READ, so a write is refused either way (§7.13)."""
    c = raw()
    path = base + "/ip"
    assert c.create(path, b"d", acl=[(READ, "ip", expr)])[0].err == z.OK
    want = z.OK if allowed else z.E_NOAUTH
    assert c.get_data(path)[0].err == want
    assert c.get_children(path)[0].err == want
    assert c.set_data(path, b"w")[0].err == z.E_NOAUTH


def test_ip_acl_through_kazoo(kz, base):
    """kazoo's make_acl("ip", "127.0.0.0/8") lets a loopback client in, and an
    ACL for another network keeps it out."""
    k = kz()
    k.create(base + "/in", b"yes", acl=[make_acl("ip", "127.0.0.0/8", all=True)])
    k.create(base + "/out", b"no", acl=[make_acl("ip", "192.168.0.0/16", all=True)])
    assert k.get(base + "/in")[0] == b"yes"
    with pytest.raises(NoAuthError):
        k.get(base + "/out")


# ---------------------------------------------------------------------------
# super digest


@pytest.mark.parametrize("key", ["DigestAuthenticationProvider.superDigest",
                                 "zookeeper.DigestAuthenticationProvider.superDigest"])
def test_super_digest_bypasses_acls(server_factory, key):
    """With a super digest configured (either spelling of the key), addauth
    digest super:<password> grants the identity ("super", "") besides the
    digest one, and that session can read, write, change the ACL of and
    delete a node whose ACL names someone else; a wrong password gets
    nothing (§5.5, §7.13)."""
    srv = server_factory(**{key: super_digest()})
    with z.session(srv.host, srv.port) as owner, \
            z.session(srv.host, srv.port) as su, \
            z.session(srv.host, srv.port) as bad:
        assert auth(owner, "digest", b"alice:pw1").err == z.OK
        acl = [(z.PERM_ALL, "digest", make_digest_acl_credential("alice", "pw1"))]
        assert owner.create("/locked", b"d", acl=acl)[0].err == z.OK
        assert owner.create("/locked/k", b"", acl=acl)[0].err == z.OK
        assert auth(bad, "digest", b"super:wrong").err == z.OK
        assert bad.get_data("/locked")[0].err == z.E_NOAUTH
        assert auth(su, "digest", ("super:" + SUPER_PASSWORD).encode()).err == z.OK
        assert sorted(whoami(su)) == [("digest", "super"), ("ip", "127.0.0.1"),
                                      ("super", "")]
        rep, (data, _) = su.get_data("/locked")
        assert rep.err == z.OK and data == b"d"
        assert su.set_data("/locked", b"su")[0].err == z.OK
        rep, (acls, _) = su.get_acl("/locked")   # ADMIN via super: no masking
        assert rep.err == z.OK and acls == acl
        assert su.delete("/locked/k")[0].err == z.OK
        assert su.set_acl("/locked", [(READ, "world", "anyone")])[0].err == z.OK
        assert su.set_data("/locked", b"still")[0].err == z.OK
        assert owner.set_data("/locked", b"no")[0].err == z.E_NOAUTH


def test_super_password_without_super_digest_is_plain_digest(raw, base):
    """On a server without a super digest, super:<password> is just a digest
    identity: no bypass, and whoAmI shows no "super" (§5.5)."""
    owner, su = raw(), raw()
    assert auth(owner, "digest", b"alice:pw1").err == z.OK
    acl = [(z.PERM_ALL, "digest", make_digest_acl_credential("alice", "pw1"))]
    assert owner.create(base + "/l", acl=acl)[0].err == z.OK
    assert auth(su, "digest", ("super:" + SUPER_PASSWORD).encode()).err == z.OK
    assert sorted(whoami(su)) == [("digest", "super"), ("ip", "127.0.0.1")]
    assert su.get_data(base + "/l")[0].err == z.E_NOAUTH


# ---------------------------------------------------------------------------
# addauth, whoAmI and AuthFailed


def test_whoami_lists_every_identity(raw):
    """whoAmI returns one (scheme, user) per identity of the connection: the
    ip one always, one per distinct digest user; repeating an auth adds
    nothing and an empty digest credential is user "" (§5.3).  ZooKeeper
    keeps them in a hash set, so the order is not compared."""
    c = raw()
    assert whoami(c) == [("ip", "127.0.0.1")]
    for cred in (b"u1:p", b"u2:p", b"u1:p", b""):
        assert auth(c, "digest", cred).err == z.OK
    assert sorted(whoami(c)) == [("digest", ""), ("digest", "u1"),
                                 ("digest", "u2"), ("ip", "127.0.0.1")]


def test_ip_auth_packet_is_accepted(raw):
    """An AuthPacket with scheme ip succeeds (the provider just re-adds the
    peer address) and the connection stays (observed on 3.8.0)."""
    c = raw()
    assert auth(c, "ip", b"10.1.2.3").err == z.OK
    assert whoami(c) == [("ip", "127.0.0.1")]
    assert c.ping()[0].err == z.OK


@pytest.mark.parametrize("scheme,cred", [
    ("nosuch", b"x"), ("world", b"anyone"), ("sasl", b"x"), ("x509", b"x"),
    ("super", b"x"), ("auth", b"a:b"), ("DIGEST", b"a:b"), ("", b"x"),
    ("digest", None)])
def test_bad_auth_packet_gets_auth_failed_and_close(raw, scheme, cred):
    """An unknown scheme (matching is case-sensitive), or digest with null
    credentials, is answered (-4, 0, -115 AuthFailed) and the connection is
    closed (§5.5)."""
    c = raw()
    rep = auth(c, scheme, cred)
    assert rep.err == z.E_AUTHFAILED and rep.body.remaining() == 0
    assert c.wait_closed(5.0)


def test_session_survives_auth_failure(server, raw, base):
    """AuthFailed closes the connection, not the session: it can be resumed
    on a new socket with its id and password, its ephemeral node is still
    there, and the new connection carries only the ip identity (§5.5)."""
    c = raw()
    eph = base + "/eph"
    assert c.create(eph, flags=z.F_EPHEMERAL)[0].err == z.OK
    assert auth(c, "digest", b"u:p").err == z.OK
    assert auth(c, "nosuch", b"x").err == z.E_AUTHFAILED
    assert c.wait_closed(5.0)
    with z.Conn(server.host, server.port) as r:
        resp = r.handshake(session_id=c.session.session_id,
                           passwd=c.session.passwd)
        assert resp.session_id == c.session.session_id
        rep, stat = r.exists(eph)
        assert rep.err == z.OK and stat.ephemeralOwner == c.session.session_id
        assert whoami(r) == [("ip", "127.0.0.1")]
        assert r.close_session()[0].err == z.OK


def test_kazoo_add_auth_failure_loses_the_client(kz, base):
    """kazoo 2.8 against a server that answers AuthFailed: add_auth raises
    AuthFailedError, the client goes LOST, reconnects with a new session,
    re-sends the failing credentials, is refused again and closes for good:
    later calls raise ConnectionClosedError.  (Recorded on ZooKeeper 3.8.0;
    Roost must give kazoo the same answers.)"""
    k = kz()
    states = []
    k.add_listener(states.append)
    k.create(base + "/n", b"x")
    with pytest.raises(AuthFailedError):
        k.add_auth("nosuch", "x")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and states.count("LOST") < 2:
        time.sleep(0.05)
    assert states == ["LOST", "CONNECTED", "LOST"]
    deadline = time.monotonic() + 10
    while True:
        try:
            k.get(base + "/n")
        except ConnectionClosedError:
            break
        assert time.monotonic() < deadline, "client never closed"
        time.sleep(0.05)
    assert not k.connected


def test_exists_on_unreadable_node(raw, base, target):
    """exists on a node the caller may not READ: ZooKeeper 3.8.0 answers with
    the Stat and registers the watch; 3.8.4+/3.9.2+ answer NoAuth and set no
    watch (ZOOKEEPER-2590, a disclosure bug fixed upstream), which Roost
    implements (§10).  Either way getData is NoAuth."""
    c = raw()
    path = base + "/blind"
    assert c.create(path, acl=[(z.PERM_ALL & ~READ, "world", "anyone")])[0].err == z.OK
    rep, stat = c.exists(path, watch=True)
    assert c.get_data(path)[0].err == z.E_NOAUTH
    if target == "zookeeper":
        assert rep.err == z.OK and stat.czxid > 0
    else:
        assert rep.err == z.E_NOAUTH
        assert c.call(z.OP_CHECKWATCHES, z.path_type_req(path, 2)).err == \
            z.E_NOWATCHER
