"""Dynamic reconfiguration (issue 20), the parts a client sees today:
/zookeeper/config holds the ensemble's membership in ZooKeeper 3.5+'s text,
readable and watchable by any client, and the reconfig opcode is refused
with ReconfigDisabled while reconfigEnabled is off (the default).  The same
cases run against Apache ZooKeeper 3.8 (make test-zk).  Changing the
membership through the server (reconfigEnabled=true) is not wired yet: zab/
and the simulator do it (docs/zab.md, "Reconfiguration")."""

import re
import threading

import pytest

import zkraw as z
from ens_util import client, stop_client

LINE = re.compile(r"^server\.(\d+)=127\.0\.0\.1:(\d+):(\d+):(participant|observer)"
                  r"(?:;127\.0\.0\.1:(\d+))?$")


def parse(text):
    lines = text.split("\n")
    assert lines[-1] == "version=0", lines  # a static configuration
    out = {}
    for ln in lines[:-1]:
        m = LINE.match(ln)
        assert m, ln
        out[int(m.group(1))] = (int(m.group(2)), int(m.group(3)), m.group(4),
                                int(m.group(5)) if m.group(5) else None)
    assert list(out) == sorted(out), lines  # by id
    return out


@pytest.mark.parametrize("client_in_lines", [True, False])
def test_config_node_lists_the_members(ensemble_factory, client_in_lines):
    """Every member's /zookeeper/config is the ensemble's configuration as
    ZooKeeper writes it: one server.N line per member (peer, election
    port, role, and the client address when the line had one), then
    version=0; its stat version is -1; any client may read it (no auth)."""
    ens = ensemble_factory(n=3, observers=(3,), client_in_lines=client_in_lines)
    ens.wait_serving()
    for srv in ens.servers:
        z = client(srv.hosts)
        try:
            data, st = z.retry(z.get, "/zookeeper/config")
        finally:
            stop_client(z)
        members = parse(data.decode())
        assert sorted(members) == [1, 2, 3]
        for i in range(3):
            peer, elect, role, cport = members[i + 1]
            assert (peer, elect) == (ens.peer_ports[i], ens.elect_ports[i])
            assert role == ("observer" if i == 2 else "participant")
            if client_in_lines:
                assert cport == ens.servers[i].port
            else:
                assert cport is None
        assert st.version == -1
        assert st.mzxid == 0  # the configuration's version


def test_config_node_is_watchable(ensemble_factory):
    """A data watch can be set on /zookeeper/config (it fires when a
    reconfiguration commits; none happens here, so it must not fire)."""
    ens = ensemble_factory(n=3)
    ens.wait_serving()
    z = client(ens.hosts)
    fired = threading.Event()
    try:
        data, _ = z.retry(z.get, "/zookeeper/config",
                          watch=lambda ev: fired.set())
        assert data.startswith(b"server.1=")
        z.retry(z.create, "/other", b"x")
        assert not fired.wait(0.5)
    finally:
        stop_client(z)


def test_reconfig_disabled_by_default(ensemble_factory):
    """reconfigEnabled is false by default: every form of reconfig (joining,
    leaving, new members, with or without fromConfig) on an ensemble gets
    ReconfigDisabled (-123), and the configuration is unchanged.  (Raw
    protocol: kazoo does not know error -123.)"""
    ens = ensemble_factory(n=3, client_in_lines=True)
    ens.wait_serving()
    srv = ens.servers[0]
    with z.Conn("127.0.0.1", srv.port) as c:
        c.handshake()
        before = c.call(z.OP_GETDATA,
                        z.path_watch_req("/zookeeper/config")).body.buffer()
        members = before.decode().rsplit("\n", 1)[0].replace("\n", ",")
        for joining, leaving, new in (("", "3", ""),
                                      ("server.4=127.0.0.1:1:2;3", "", ""),
                                      ("", "", members)):
            for from_config in (-1, 0):
                rep = c.call(z.OP_RECONFIG, z.Writer().ustring(joining)
                             .ustring(leaving).ustring(new)
                             .long(from_config).bytes())
                assert rep.err == z.E_RECONFIGDISABLED, rep
        after = c.call(z.OP_GETDATA,
                       z.path_watch_req("/zookeeper/config")).body.buffer()
        assert after == before
