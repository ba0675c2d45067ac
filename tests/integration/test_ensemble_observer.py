"""Observers end to end (issue 7): a member marked `:observer` serves
reads, forwards writes, catches up after a restart, shows Mode: observer,
and does not count for the quorum.  Roost only."""

import time

import pytest

from ens_util import (assert_trees_equal, client, create_retrying, mntr,
                      plain_client, stop_client, synced_by, wait_until,
                      write_not_acked)

pytestmark = pytest.mark.roost_only(
    "checks Roost's mntr figures (roost_serving, roost_forwarded, roost_sync_*); ZooKeeper has none")


def test_observer_serves_forwards_and_catches_up(ensemble_factory):
    """Three participants and one observer: the observer reports its mode,
    answers reads, forwards the writes of a client connected only to it,
    and after a kill -9 and restart catches up with the others."""
    ens = ensemble_factory(n=4, observers=(4,))
    leader = ens.wait_serving()
    obs = ens.servers[3]
    assert obs.observer and leader is not obs
    assert "Mode: observer" in obs.four_letter("srvr")
    m = mntr(ens, obs)
    assert m["zk_server_state"] == "observer", m
    assert m["roost_serving"] == "1", m
    lm = mntr(ens, leader)
    assert (lm["zk_learners"], lm["zk_followers"]) == ("3", "2"), lm

    zo = client(obs.hosts)  # the observer only
    forwarded0 = int(m["roost_forwarded"])
    zo.retry(zo.ensure_path, "/obs")
    create_retrying(zo, "/obs/a", b"from the observer")
    zo.retry(zo.sync, "/obs")
    assert zo.retry(zo.get, "/obs/a")[0] == b"from the observer"
    assert int(mntr(ens, obs)["roost_forwarded"]) > forwarded0
    participants = [s for s in ens.servers if not s.observer]
    zp = client(",".join(s.hosts for s in participants))
    create_retrying(zp, "/obs/b", b"from a participant")
    zo.retry(zo.sync, "/obs")
    assert zo.retry(zo.get, "/obs/b")[0] == b"from a participant"
    assert sorted(zo.retry(zo.get_children, "/obs")) == ["a", "b"]
    stop_client(zo)

    obs.kill()
    for i in range(10):
        create_retrying(zp, "/obs/c%d" % i, b"%d" % i)
    stop_client(zp)
    obs.restart()
    ens.wait_serving()
    assert ens.mode(obs) == "observer"
    how = synced_by(mntr(ens, obs))
    assert how["diff"] + how["snap"] >= 1, how
    tree = assert_trees_equal(ens.servers)
    assert {"/obs/c%d" % i for i in range(10)} <= set(tree)


def test_observers_do_not_count_for_quorum(ensemble_factory):
    """Three participants and two observers, two participants down: three
    of five members are up -- a majority of all members, and two acks
    would be a majority of the three voters -- but only one voter, so
    nothing is committed and the observers do not serve.  One participant
    back makes a quorum and the observers serve (and forward) again."""
    ens = ensemble_factory(n=5, observers=(4, 5))
    leader = ens.wait_serving(timeout=20)
    obs = ens.servers[3]
    participants = [s for s in ens.servers if not s.observer]
    down = [leader] + [s for s in participants if s is not leader][:1]
    up = [s for s in participants if s not in down][0]
    watched = [up] + [s for s in ens.servers if s.observer]
    z = client(obs.hosts)
    create_retrying(z, "/before")
    stop_client(z)
    zo = plain_client(obs.hosts)
    for srv in down:
        srv.kill()
    wait_until(lambda: all(mntr(ens, s)["roost_serving"] == "0"
                           for s in watched), 15,
               "the members left to stop serving")
    commit0 = [mntr(ens, s)["roost_commit_zxid"] for s in watched]
    attempts = 0
    for _ in range(4):
        serving = [(s.myid, mntr(ens, s)["roost_serving"]) for s in watched]
        assert all(v == "0" for _, v in serving), serving
        assert write_not_acked(zo, "/no-quorum-%d" % attempts, wait=0.4)
        attempts += 1
        time.sleep(0.3)  # pacing only
    stop_client(zo)
    assert [mntr(ens, s)["roost_commit_zxid"] for s in watched] == commit0

    down[0].restart()
    ens.wait_serving(timeout=20)
    assert [ens.mode(s) for s in ens.servers if s.observer] == [
        "observer", "observer"]
    zo = client(obs.hosts)
    create_retrying(zo, "/after")

    def look():
        zo.sync("/")
        return ([zo.exists(p) is not None for p in ("/before", "/after")],
                [i for i in range(attempts)
                 if zo.exists("/no-quorum-%d" % i)])

    assert zo.retry(look) == ([True, True], [])
    stop_client(zo)
