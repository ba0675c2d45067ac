"""Security regressions: one case per published vulnerability of Apache
ZooKeeper's server that applies to a server speaking its protocol
(docs/security.md lists them all, with the ones that do not apply and why).

Each case passes against Roost and against Debian's patched ZooKeeper
3.8.0 (make test-zk), except where marked with the reason.  Raw frames
(zkraw.py) so that nothing a client library does hides what the server
sends.
"""

import base64
import hashlib
import os
import subprocess
import time
import uuid

import pytest

import zkraw as z

READ, WRITE, CREATE, DELETE, ADMIN = 1, 2, 4, 8, 16
SUPER_PASSWORD = "sup3r-s3cret-Pw"


def digest_id(user, password):
    h = hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()
    return "%s:%s" % (user, base64.b64encode(h).decode())


def add_auth(c, user, password):
    rep = c.call(z.OP_AUTH, z.auth_req("digest", ("%s:%s" % (user, password)).encode()),
                 xid=z.XID_AUTH)
    assert rep.err == z.OK


def add_watch(c, path, mode):
    assert c.call(z.OP_ADDWATCH, z.path_type_req(path, mode)).err == z.OK


def events_until(c, last, timeout=10.0):
    """Every event up to and including `last` (type, path), then checks that
    nothing else arrives for a moment.  Events reach a session in the order
    of the changes, so whatever an earlier change would have sent has
    arrived by the time `last` does."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no %r within %.0f s; got %r" % (last, timeout, got)
        e = c.next_event(timeout=left)
        got.append((e.type, e.path))
        if (e.type, e.path) == last:
            break
    assert c.no_event(0.3)
    return got


@pytest.fixture
def conns():
    made = []

    def open_(srv, **kw):
        c = z.session(srv.host, srv.port, **kw)
        made.append(c)
        return c

    yield open_
    for c in made:
        c.close()


# ---------------------------------------------------------------------------
# CVE-2024-23944 (ZOOKEEPER-4799): watch events leak the paths of nodes the
# watcher may not read.


def test_cve_2024_23944_watch_events_respect_acls(server_factory, conns):
    """A session that may read /leak but not its child sets a persistent
    recursive watch on /leak with addWatch: it gets the events of a
    readable sibling and nothing about the secret child (created, changed,
    deleted — the deleted node's ACL is the one it had).  A persistent watch
    on the secret node itself and a one-shot exists watch set before the
    node was created stay silent too, and the one-shot is used up (3.8.4+).
    The owner gets the events of what it may read and a super user gets
    everything: the events do fire, so the silence above is the ACL
    check."""
    srv = server_factory(**{"DigestAuthenticationProvider.superDigest":
                            digest_id("super", SUPER_PASSWORD)})
    base = "/leak-" + uuid.uuid4().hex[:8]
    secret = base + "/secret-payroll-db"
    blind = base + "/write-only"       # every permission but READ
    late = base + "/late-secret"
    pub = base + "/public"
    owner = conns(srv)
    add_auth(owner, "alice", "pw-alice")
    assert owner.create(base)[0].err == z.OK
    spy = conns(srv)
    add_auth(spy, "eve", "pw-eve")     # authenticated, just not as alice
    sup = conns(srv)
    add_auth(sup, "super", SUPER_PASSWORD)
    for c in (owner, spy, sup):
        add_watch(c, base, 1)          # PERSISTENT_RECURSIVE
    add_watch(spy, secret, 0)          # PERSISTENT: addWatch checks no ACL
    rep, _ = spy.exists(late, watch=True)
    assert rep.err == z.E_NONODE

    alice_only = [(z.PERM_ALL, "digest", digest_id("alice", "pw-alice"))]
    assert owner.create(secret, b"x", acl=alice_only)[0].err == z.OK
    assert owner.set_data(secret, b"y")[0].err == z.OK
    assert owner.create(blind, acl=[(z.PERM_ALL & ~READ, "world",
                                     "anyone")])[0].err == z.OK
    assert owner.set_data(blind, b"w")[0].err == z.OK
    assert owner.create(late, acl=alice_only)[0].err == z.OK
    assert owner.create(pub)[0].err == z.OK
    assert owner.delete(secret)[0].err == z.OK
    assert owner.delete(blind)[0].err == z.OK
    assert owner.set_data(pub, b"p")[0].err == z.OK

    everything = [(z.EV_CREATED, secret), (z.EV_DATACHANGED, secret),
                  (z.EV_CREATED, blind), (z.EV_DATACHANGED, blind),
                  (z.EV_CREATED, late), (z.EV_CREATED, pub),
                  (z.EV_DELETED, secret), (z.EV_DELETED, blind),
                  (z.EV_DATACHANGED, pub)]
    # Nobody but super may read the write-only node, alice included.
    assert events_until(owner, (z.EV_DATACHANGED, pub)) == \
        [e for e in everything if e[1] != blind]
    assert events_until(sup, (z.EV_DATACHANGED, pub)) == everything
    got = events_until(spy, (z.EV_DATACHANGED, pub))
    assert got == [(z.EV_CREATED, pub), (z.EV_DATACHANGED, pub)]
    assert not any("secret" in p or "write-only" in p for _, p in got)
    # The one-shot exists watch fired (filtered) and is gone.
    rep = spy.call(z.OP_CHECKWATCHES, z.path_type_req(late, 2))
    assert rep.err == z.E_NOWATCHER


def test_cve_2024_23944_child_events_use_the_parent_acl(server, conns):
    """NodeChildrenChanged is about the parent: a persistent watch on a node
    the watcher may not read gets no NodeChildrenChanged when a child is
    added; the same watch on a readable node does."""
    base = "/leakc-" + uuid.uuid4().hex[:8]
    owner = conns(server)
    add_auth(owner, "alice", "pw-alice")
    alice_only = [(z.PERM_ALL, "digest", digest_id("alice", "pw-alice"))]
    assert owner.create(base)[0].err == z.OK
    assert owner.create(base + "/dir", acl=alice_only)[0].err == z.OK
    assert owner.create(base + "/open")[0].err == z.OK
    spy = conns(server)
    add_watch(spy, base + "/dir", 0)
    add_watch(spy, base + "/open", 0)
    assert owner.create(base + "/dir/payroll")[0].err == z.OK
    assert owner.create(base + "/open/kid")[0].err == z.OK
    assert events_until(spy, (z.EV_CHILDRENCHANGED, base + "/open")) == \
        [(z.EV_CHILDRENCHANGED, base + "/open")]


@pytest.mark.roost_only("the ensemble harness starts Roost servers only")
def test_cve_2024_23944_on_every_ensemble_member(ensemble_factory):
    """Each member checks the ACL for its own sessions: a spy connected to
    each of the three members sees the readable node's events only."""
    ens = ensemble_factory(n=3)
    ens.wait_serving()
    base = "/leake-" + uuid.uuid4().hex[:8]
    owner = z.session(ens.servers[0].host, ens.servers[0].port)
    spies = []
    try:
        add_auth(owner, "alice", "pw-alice")
        assert owner.create(base)[0].err == z.OK
        for srv in ens.servers:
            c = z.session(srv.host, srv.port)
            spies.append(c)
            assert c.call(z.OP_SYNC, z.path_req(base)).err == z.OK
            add_watch(c, base, 1)
        alice_only = [(z.PERM_ALL, "digest", digest_id("alice", "pw-alice"))]
        assert owner.create(base + "/secret", acl=alice_only)[0].err == z.OK
        assert owner.set_data(base + "/secret", b"s")[0].err == z.OK
        assert owner.delete(base + "/secret")[0].err == z.OK
        assert owner.create(base + "/public")[0].err == z.OK
        for c in spies:
            assert events_until(c, (z.EV_CREATED, base + "/public")) == \
                [(z.EV_CREATED, base + "/public")]
    finally:
        owner.close()
        for c in spies:
            c.close()


# ---------------------------------------------------------------------------
# CVE-2019-0201 (ZOOKEEPER-1392): getACL handed out digest hashes.


def test_cve_2019_0201_get_acl_hides_digest_hashes(server, conns):
    """getACL needs READ or ADMIN on the node; without ADMIN the digest ids
    come back as user:x; the hash goes only to a session holding ADMIN."""
    base = "/getacl-" + uuid.uuid4().hex[:8]
    owner = conns(server)
    add_auth(owner, "alice", "pw-alice")
    other = conns(server)
    alice = digest_id("alice", "pw-alice")
    assert owner.create(base)[0].err == z.OK
    private = base + "/private"
    assert owner.create(private, acl=[(z.PERM_ALL, "digest", alice)])[0].err == z.OK
    rep, acl = other.get_acl(private)
    assert rep.err == z.E_NOAUTH and acl is None
    readable = base + "/readable"
    assert owner.create(readable, acl=[(z.PERM_ALL, "digest", alice),
                                       (READ, "world", "anyone")])[0].err == z.OK
    rep, (acl, _) = other.get_acl(readable)
    assert rep.err == z.OK
    assert sorted(acl) == [(READ, "world", "anyone"),
                           (z.PERM_ALL, "digest", "alice:x")]
    rep, (acl, _) = owner.get_acl(readable)
    assert (z.PERM_ALL, "digest", alice) in acl
    # ADMIN without READ: getACL is allowed and shows the ids as they are
    # (whoever may change the ACL may see it).
    admin = base + "/admin"
    assert owner.create(admin, acl=[(z.PERM_ALL, "digest", alice),
                                    (ADMIN, "world", "anyone")])[0].err == z.OK
    rep, (acl, _) = other.get_acl(admin)
    assert rep.err == z.OK and (z.PERM_ALL, "digest", alice) in acl


# ---------------------------------------------------------------------------
# CVE-2017-5637 (ZOOKEEPER-2693): wchp/wchc walk every watch; four-letter
# words are off unless listed in 4lw.commands.whitelist.

EXPENSIVE_WORDS = ("wchp", "wchc", "wchs", "cons", "dump", "stat", "mntr",
                   "envi", "conf", "crst", "srst", "ruok", "isro")


def test_cve_2017_5637_four_letter_words_off_by_default(server_factory):
    """Without 4lw.commands.whitelist only srvr answers; every word that
    walks the watches, sessions or connections is refused with the
    whitelist sentence.  Whitelisting wchp and wchc turns just those on."""
    srv = server_factory(**{"4lw.commands.whitelist": None})
    assert "Mode: standalone" in srv.four_letter("srvr")
    for w in EXPENSIVE_WORDS:
        assert srv.four_letter(w) == \
            "%s is not executed because it is not in the whitelist.\n" % w
    on = server_factory(**{"4lw.commands.whitelist": "wchp, wchc"})
    c = z.session(on.host, on.port)
    try:
        path = "/wch-" + uuid.uuid4().hex[:8]
        assert c.create(path)[0].err == z.OK
        assert c.exists(path, watch=True)[0].err == z.OK
        assert path in on.four_letter("wchp")
        assert path in on.four_letter("wchc")
        assert on.four_letter("cons") == \
            "cons is not executed because it is not in the whitelist.\n"
    finally:
        c.close()


# ---------------------------------------------------------------------------
# Secrets in logs (CVE-2026-24308: ZooKeeper's client wrote configuration
# secrets to its log at INFO).  The server side of the same mistake would be
# logging what a client authenticates with.


def test_credentials_never_reach_the_server_log(server_factory):
    """addauth passwords (a normal user's and the super user's, one of them
    failing) and the super digest from the configuration appear nowhere in
    the server's log, at its default level."""
    sd = digest_id("super", SUPER_PASSWORD)
    srv = server_factory(**{"DigestAuthenticationProvider.superDigest": sd})
    pw = "pw-" + uuid.uuid4().hex
    c = z.session(srv.host, srv.port)
    try:
        add_auth(c, "alice", pw)
        add_auth(c, "super", SUPER_PASSWORD)
        assert c.create("/logged-" + uuid.uuid4().hex[:8])[0].err == z.OK
    finally:
        c.close()
    bad = z.session(srv.host, srv.port)
    try:
        # An unknown scheme fails and closes the connection: the credential
        # must not be echoed into the log either.
        bad.send(z.frame(z.request(z.XID_AUTH, z.OP_AUTH,
                                   z.auth_req("nosuch", ("tok-" + pw).encode()))))
        assert bad.wait_closed(timeout=10)
    finally:
        bad.close()
    srv.stop()
    log = srv.log_text()
    assert log, "no server log to check"
    for secret in (pw, SUPER_PASSWORD, sd.split(":", 1)[1],
                   digest_id("alice", pw).split(":", 1)[1]):
        assert secret not in log


# ---------------------------------------------------------------------------
# CVE-2016-5017: ZooKeeper's C sample shell (cli_st) overflowed a 1024-byte
# buffer on a long command.  Roost's shell is its counterpart.

SHELL = os.environ.get("ROOST_SHELL")


@pytest.mark.skipif(not SHELL or not os.access(SHELL or "", os.X_OK),
                    reason="ROOST_SHELL not set or not executable")
def test_cve_2016_5017_shell_long_commands(server):
    """Commands far longer than 1024 bytes, as arguments and as a piped
    line, are parsed without overflow (the shell is built with ASan in
    make test, so an overflow is a report, not luck) and do what they
    say."""
    path = "/sh-long-" + uuid.uuid4().hex[:8]
    data = "d" * 5000
    argv = [SHELL, "-s", server.hosts, "create", path, data]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr
    assert r.returncode == 0, r.stderr
    line = "set %s %s\nget %s\n" % (path, "e" * 70000, path)
    r = subprocess.run([SHELL, "-s", server.hosts], input=line,
                       capture_output=True, text=True, timeout=60)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr
    assert r.returncode == 0, r.stderr
    assert "e" * 70000 in r.stdout
    r = subprocess.run([SHELL, "-s", server.hosts, "delete", path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
