"""The ensemble leader pipelines writes (many proposals in flight, prep
against the tree plus pending changes): under concurrent writes from many
sessions, every answer must be what one-at-a-time processing would give,
and every server must end with the same tree.  Roost only (ensemble
configuration)."""

import threading
import time

import pytest
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

import zkraw as zr
from test_ensemble import client as ens_client, stop_client

pytestmark = pytest.mark.roost_only(
    "checks the leader's pipeline through Roost's mntr figures (roost_proposals_in_flight, roost_pending_change_records)")


def client(hosts):
    return ens_client(hosts, timeout=6.0)


def dump(z, path="/"):
    """{path: (data, version, cversion, aversion, ephemeral?)} of the
    subtree, read after a sync, /zookeeper left out."""
    z.sync("/")
    out = {}

    def walk(p):
        data, st = z.get(p)
        out[p] = (data, st.version, st.cversion, st.aversion,
                  st.ephemeralOwner != 0, st.numChildren)
        for c in z.get_children(p):
            cp = (p.rstrip("/") + "/" + c)
            if cp != "/zookeeper":
                walk(cp)

    walk(path)
    return out


def run_threads(fns):
    errors = []

    def wrap(fn):
        try:
            fn()
        except Exception as e:  # reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=wrap, args=(f,)) for f in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors


def test_pipelined_writes_keep_one_at_a_time_answers(ensemble_factory):
    """Eight sessions spread over the three servers race on shared nodes:
    sequential children of one parent get distinct, gap-free numbers;
    compare-and-set increments of one counter (setData with the version
    read) never lose an update; a node deleted and recreated over and over
    by several sessions ends up consistent.  Then all three servers hold
    the same tree, and the leader has no pending change records left."""
    ens = ensemble_factory()
    leader = ens.wait_serving()
    z0 = client(ens.hosts)
    z0.ensure_path("/seq")
    z0.create("/counter", b"0")
    z0.ensure_path("/churn")
    clients = [client(ens.servers[i % 3].hosts) for i in range(8)]
    per = 60
    made = [[] for _ in clients]
    incs = [0] * len(clients)

    def worker(i):
        z = clients[i]

        def run():
            for k in range(per):
                made[i].append(z.create("/seq/n-", b"%d" % i,
                                        sequence=True))
                # compare-and-set increment of the shared counter
                while True:
                    data, st = z.get("/counter")
                    try:
                        z.set("/counter", b"%d" % (int(data) + 1),
                              version=st.version)
                        incs[i] += 1
                        break
                    except BadVersionError:
                        continue
                p = "/churn/c%d" % (k % 4)
                try:
                    z.create(p, b"x", ephemeral=(i % 2 == 0))
                except Exception:
                    pass
                try:
                    z.delete(p)
                except NoNodeError:
                    pass
        return run

    run_threads([worker(i) for i in range(len(clients))])

    names = sorted(n for m in made for n in m)
    assert len(names) == len(set(names)) == per * len(clients)
    nums = sorted(int(n[-10:]) for n in names)
    assert nums == list(range(per * len(clients))), "gaps or repeats"
    data, st = z0.get("/counter")
    assert int(data) == sum(incs) == per * len(clients)
    assert st.version == per * len(clients)

    for z in clients:
        stop_client(z)
    stop_client(z0)
    trees = []
    for srv in ens.servers:
        zz = client(srv.hosts)
        trees.append(dump(zz))
        stop_client(zz)
    assert trees[0] == trees[1] == trees[2]
    m = ens.mntr(leader)
    assert int(m["roost_proposals_in_flight"]) == 0, m
    assert int(m["roost_pending_change_records"]) == 0, m


def test_close_and_reap_through_the_pipeline(ensemble_factory):
    """Sessions closing while others write: a session's ephemerals go at
    its closeSession, and another session can create the same paths right
    after, on any server.  Containers are reaped by the leader only,
    through zab, so every server agrees on what was reaped."""
    ens = ensemble_factory(**{"znode.container.checkIntervalMs": "200"})
    ens.wait_serving()
    z0 = client(ens.hosts)
    z0.ensure_path("/eph")
    for round_ in range(5):
        owners = [client(ens.servers[i % 3].hosts) for i in range(3)]
        takers = [client(ens.servers[(i + 1) % 3].hosts) for i in range(3)]
        paths = [["/eph/r%d-%d-%d" % (round_, i, k) for k in range(5)]
                 for i in range(3)]
        for z, ps in zip(owners, paths):
            for p in ps:
                z.create(p, b"", ephemeral=True)

        def take(z, ps):
            def run():
                for p in ps:
                    deadline = time.monotonic() + 10
                    while True:
                        try:
                            z.create(p, b"t", ephemeral=True)
                            break
                        except NodeExistsError:
                            assert time.monotonic() < deadline, p
            return run

        # closeSession of the owners and the takers' creates race
        run_threads([owners[i].stop for i in range(3)] +
                    [take(takers[i], paths[i]) for i in range(3)])
        for i, z in enumerate(takers):
            for p in paths[i]:
                assert z.get(p)[0] == b"t"
        for z in owners + takers:
            stop_client(z)

    leader = ens.wait_serving()
    with zr.session(leader.host, leader.port) as c:
        rep, _ = c.create("/box", flags=zr.F_CONTAINER,
                          op=zr.OP_CREATECONTAINER)
        assert rep.err == zr.OK
    z0.create("/box/a", b"")
    z0.delete("/box/a")
    deadline = time.monotonic() + 10
    while z0.exists("/box") is not None:
        assert time.monotonic() < deadline, "container not reaped"
        time.sleep(0.05)
    stop_client(z0)
    trees = []
    for srv in ens.servers:
        zz = client(srv.hosts)
        trees.append(dump(zz))
        stop_client(zz)
    assert trees[0] == trees[1] == trees[2]
    assert "/box" not in trees[0]
    assert not [p for p in trees[0] if p.startswith("/eph/")], \
        "ephemerals of closed sessions are left"


def test_idle_ensemble_stops_cleanly(ensemble_factory):
    """An ensemble that served no write must shut down as cleanly as a
    busy one: its members never held a pending txn (a NULL buffer once
    reached memmove at shutdown, which UBSan reports)."""
    ens = ensemble_factory()
    ens.wait_serving()
    errors = ens.stop()
    assert errors == [], "\n".join(errors)


def _pipelined_burst(host, port, tag):
    """One connection sends a burst without waiting: writes, a read in the
    middle, a write with a broken body, failing writes, sync and exists.
    Replies must come back in request order, each with the right result,
    and the read must see every write sent before it."""
    n = 40
    reqs = [(zr.OP_CREATE, zr.create_req("/%s" % tag))]
    reqs += [(zr.OP_CREATE, zr.create_req("/%s/n%d" % (tag, i), b"c"))
             for i in range(n)]
    reqs.append((zr.OP_GETCHILDREN, zr.path_watch_req("/%s" % tag)))
    reqs.append((zr.OP_SETDATA, b"\x00\x00\x00\x40/trunc"))  # broken body
    reqs += [(zr.OP_SETDATA, zr.set_data_req("/%s/n%d" % (tag, i), b"s"))
             for i in range(n)]
    reqs.append((zr.OP_CREATE, zr.create_req("/%s/n0" % tag)))  # exists
    reqs.append((zr.OP_SETDATA, zr.set_data_req("/%s/n1" % tag, b"v", 0)))
    reqs.append((zr.OP_SYNC, zr.path_req("/%s" % tag)))
    reqs.append((zr.OP_EXISTS, zr.path_watch_req("/%s/n%d" % (tag, n - 1))))
    with zr.Conn(host, port, timeout=20) as c:
        c.handshake()
        c.send(b"".join(zr.request(i + 1, op, body)
                        for i, (op, body) in enumerate(reqs)))
        replies = [c.next_reply(timeout=20) for _ in reqs]
    assert [r.xid for r in replies] == list(range(1, len(reqs) + 1))
    errs = [r.err for r in replies]
    assert errs[:n + 2] == [zr.OK] * (n + 2), errs
    assert errs[n + 2] == zr.E_MARSHALLING, errs
    assert errs[n + 3:n + 3 + n] == [zr.OK] * n, errs
    assert errs[-4:] == [-110, -103, zr.OK, zr.OK], errs  # NodeExists, BadVersion
    kids = replies[n + 1].body.strings()
    assert sorted(kids) == sorted("n%d" % i for i in range(n))
    zx = [r.zxid for r in replies]
    assert zx == sorted(zx), "zxids of in-order replies went backwards"


def test_one_connection_pipelines_writes_in_order(ensemble_factory):
    """Writes of one connection are forwarded without waiting for the
    previous one's commit; anything else waits for them, so the client
    sees every reply in request order, on a follower and on the leader."""
    ens = ensemble_factory()
    leader = ens.wait_serving()
    follower = next(s for s in ens.servers if s is not leader)
    _pipelined_burst("127.0.0.1", follower.port, "pf")
    _pipelined_burst("127.0.0.1", leader.port, "pl")
    trees = []
    for srv in ens.servers:
        zz = client(srv.hosts)
        trees.append(dump(zz))
        stop_client(zz)
    assert trees[0] == trees[1] == trees[2]
