"""Helpers shared by the ensemble tests beyond test_ensemble.py (five
servers, TRUNC, observers, libroost fail-over): whole-tree reads to compare
members, polling waits, and writes that must not be acknowledged."""

import time

from kazoo.client import KazooClient

from test_ensemble import Writers, client, create_retrying, stop_client

__all__ = ["Writers", "client", "create_retrying", "stop_client",
           "wait_until", "mntr", "synced_by", "full_tree", "trees_of",
           "assert_trees_equal", "plain_client", "write_not_acked"]


def wait_until(pred, timeout, what, interval=0.05):
    """Poll pred() until it returns something true; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def mntr(ens, srv, tries=5):
    """ens.mntr(srv), asked again when an answer comes back incomplete (a
    loaded machine can cut a four-letter word's reply short)."""
    for _ in range(tries - 1):
        try:
            m = ens.mntr(srv)
            if "roost_serving" in m and "roost_recovery_ms" in m:
                return m
        except OSError:
            pass
        time.sleep(0.1)
    return ens.mntr(srv)


def synced_by(m):
    """'diff', 'trunc', 'snap' counts of a member's mntr, as a dict."""
    return {k: int(m["roost_sync_" + k]) for k in ("diff", "trunc", "snap")}


def full_tree(z):
    """{path: (data, czxid, mzxid, version, cversion)} of every node but the
    /zookeeper subtree (local to each server), read after a sync with
    pipelined requests (a few thousand nodes in well under a second).  The
    read starts again after a ConnectionLoss: on a loaded machine a member
    that misses syncLimit ticks costs an election, and every member drops
    its clients then."""
    return z.retry(_full_tree_once, z)


def _full_tree_once(z):
    z.sync("/")
    out = {}
    level = ["/"]
    while level:
        gets = [(p, z.get_async(p), z.get_children_async(p)) for p in level]
        level = []
        for p, g, c in gets:
            data, st = g.get(timeout=30)
            out[p] = (data, st.czxid, st.mzxid, st.version, st.cversion)
            for name in c.get(timeout=30):
                child = ("/" if p == "/" else p + "/") + name
                if child != "/zookeeper":
                    level.append(child)
    return out


def trees_of(servers):
    """full_tree of each server, each read through a client of its own."""
    trees = []
    for srv in servers:
        z = client(srv.hosts)
        try:
            trees.append(full_tree(z))
        finally:
            stop_client(z)
    return trees


def assert_trees_equal(servers):
    """Every server holds the same tree; returns it."""
    trees = trees_of(servers)
    for srv, t in zip(servers[1:], trees[1:]):
        if t != trees[0]:
            only_a = sorted(set(trees[0]) - set(t))[:5]
            only_b = sorted(set(t) - set(trees[0]))[:5]
            differ = sorted(p for p in set(t) & set(trees[0])
                            if t[p] != trees[0][p])[:5]
            raise AssertionError(
                "server %d's tree differs from server %d's: missing %r, "
                "extra %r, different %r" % (srv.myid, servers[0].myid,
                                            only_a, only_b, differ))
    return trees[0]


def plain_client(hosts, timeout=4.0):
    """A kazoo client without retries: a request that gets no answer
    fails instead of being sent again."""
    z = KazooClient(hosts=hosts, timeout=timeout)
    z.start(timeout=15)
    return z


def write_not_acked(z, path, wait=3.0):
    """True when create(path) gets no success within wait seconds (no
    answer, or an error such as ConnectionLoss)."""
    try:
        z.create_async(path, b"").get(timeout=wait)
        return False
    except Exception:
        return True
