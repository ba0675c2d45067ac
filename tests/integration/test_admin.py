"""ZooKeeper's AdminServer over HTTP (admin.enableServer, admin.serverPort,
admin.serverAddress, admin.commandURL): the command list, each command's
JSON field names and types, the four-letter aliases, unknown commands and
methods.  curl is the client.  The same cases run against Apache
ZooKeeper 3.8 (`make test-zk`: the harness puts Jetty on its classpath and
enables its AdminServer), which is where the expected shapes come from.
"""

import json
import socket
import subprocess
import time

import pytest
from kazoo.client import KazooClient

import harness

# Field -> type for every command that applies to a standalone server, as
# ZooKeeper 3.8's AdminServer answers (observed on Debian's zookeeper).
# "command" and "error" are in every answer.
NUM = (int, float)
SHAPES = {
    "ruok": {},
    "server_stats": {"version": str, "read_only": bool, "server_stats": dict,
                     "client_response": dict, "node_count": int},
    "stats": {"version": str, "read_only": bool, "server_stats": dict,
              "client_response": dict, "node_count": int,
              "connections": list, "secure_connections": list},
    "configuration": {"client_port": int, "data_dir": str,
                      "data_log_dir": str, "tick_time": int,
                      "max_client_cnxns": int, "min_session_timeout": int,
                      "max_session_timeout": int, "server_id": int,
                      "client_port_listen_backlog": int},
    "connections": {"connections": list, "secure_connections": list},
    "dump": {"expiry_time_to_session_ids": dict,
             "session_id_to_ephemeral_paths": dict},
    "environment": {"zookeeper.version": str, "host.name": str,
                    "os.name": str, "os.arch": str, "os.version": str,
                    "user.name": str, "user.home": str, "user.dir": str},
    "watch_summary": {"num_connections": int, "num_paths": int,
                      "num_total_watches": int},
    "watches": {"session_id_to_watched_paths": dict},
    "watches_by_path": {"path_to_session_ids": dict},
    "dirs": {"datadir_size": int, "logdir_size": int},
    "is_read_only": {"read_only": bool},
    "observers": {"synced_observers": int, "observers": list},
    "voting_view": {"current_config": dict},
    "connection_stat_reset": {},
    "stat_reset": {},
    "last_snapshot": {"zxid": str, "timestamp": int},
    "initial_configuration": {"initial_configuration": str},
    "system_properties": {"file.separator": str, "os.name": str,
                          "user.name": str},
    "get_trace_mask": {"tracemask": int},
    "hash": {"digests": list},
    "zabstate": {"voting": bool, "zabstate": str},
}
SERVER_STATS_FIELDS = {
    "packets_sent": int, "packets_received": int,
    "fsync_threshold_exceed_count": int, "client_response_stats": dict,
    "data_dir_size": int, "log_dir_size": int, "provider_null": bool,
    "server_state": str, "last_processed_zxid": int,
    "outstanding_requests": int, "avg_latency": float, "max_latency": int,
    "min_latency": int, "num_alive_client_connections": int,
    "auth_failed_count": int, "uptime": int,
}
CONNECTION_FIELDS = {
    "remote_socket_address": str, "interest_ops": int,
    "outstanding_requests": int, "packets_received": int,
    "packets_sent": int, "session_id": int, "last_operation": str,
    "established": int, "session_timeout": int, "last_cxid": int,
    "last_zxid": int, "last_response_time": int, "last_latency": int,
    "min_latency": int, "avg_latency": int, "max_latency": int,
}
# mntr names a ZooKeeper AdminServer script reads from /commands/monitor.
MONITOR_FIELDS = {
    "version": str, "server_state": str, "ephemerals_count": int,
    "num_alive_connections": int, "avg_latency": float,
    "outstanding_requests": int, "znode_count": int, "global_sessions": int,
    "packets_sent": int, "packets_received": int, "watch_count": int,
    "approximate_data_size": int, "open_file_descriptor_count": int,
    "max_file_descriptor_count": int, "min_latency": int,
    "max_latency": int, "uptime": int, "last_client_response_size": int,
    "min_client_response_size": int, "max_client_response_size": int,
    "auth_failed_count": int, "connection_rejected": int,
    "sessionless_connections_expired": int, "bytes_received_count": int,
}
# ZooKeeper's election_time summary in /commands/monitor (every member).
ELECTION_FIELDS = {"avg_election_time": float, "min_election_time": int,
                   "max_election_time": int, "cnt_election_time": int,
                   "sum_election_time": int}
ALIASES = {"srvr": "server_stats", "stat": "stats", "conf": "configuration",
           "cons": "connections", "envi": "environment", "mntr": "monitor",
           "wchs": "watch_summary", "wchc": "watches",
           "wchp": "watches_by_path", "isro": "is_read_only",
           "crst": "connection_stat_reset", "srst": "stat_reset",
           "lsnp": "last_snapshot", "gtmk": "get_trace_mask",
           "lead": "leader", "obsr": "observers"}


def curl(port, path, *args, host=harness.HOST):
    """(status, headers text, body) of one request with curl."""
    out = subprocess.run(
        ["curl", "-s", "-i", "--max-time", "10", *args,
         "http://%s:%d%s" % (host, port, path)],
        capture_output=True, timeout=30)
    raw = out.stdout.decode("utf-8", "replace")
    head, _, body = raw.partition("\r\n\r\n")
    status = int(head.split()[1]) if head.startswith("HTTP/") else 0
    return status, head, body


def command(port, name, url="/commands"):
    status, _, body = curl(port, "%s/%s" % (url, name))
    assert status == 200, (name, status, body)
    return json.loads(body)


def wait_http(port, path="/commands/ruok", timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if curl(port, path)[0] == 200:
                return
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.2)
    raise AssertionError("admin server on port %d did not answer" % port)


def admin_server(server_factory, address=None, **cfg):
    """A server with its admin port on (at address; None: the default, the
    client address); returns (server, admin port) once the port answers."""
    port = harness.free_port()
    cfg.update({"admin.enableServer": "true", "admin.serverPort": port})
    if address is not None:
        cfg["admin.serverAddress"] = address
    srv = server_factory(**cfg)
    wait_http(port)
    return srv, port


def admin_ensemble(ensemble_factory, **cfg):
    """A 3-member ensemble, each member with an admin port of its own;
    returns (ensemble, leader, {myid: admin port})."""
    ens = ensemble_factory(3, start=False,
                           **{"admin.enableServer": "true",
                              "admin.serverAddress": harness.HOST}, **cfg)
    ports = {}
    for srv in ens.servers:
        ports[srv.myid] = harness.free_port()
        srv.cfg["admin.serverPort"] = str(ports[srv.myid])
        with open(srv.cfg_path, "a") as f:
            f.write("admin.serverPort=%d\n" % ports[srv.myid])
    ens.start()
    leader = ens.wait_serving()
    for p in ports.values():
        wait_http(p)
    return ens, leader, ports


def check_types(obj, shape, where):
    for field, typ in shape.items():
        assert field in obj, "%s: no field %r in %r" % (where, field,
                                                        sorted(obj))
        if typ is float:
            ok = isinstance(obj[field], float)
        elif typ is int:
            ok = isinstance(obj[field], int) and not isinstance(obj[field],
                                                                bool)
        else:
            ok = isinstance(obj[field], typ)
        assert ok, "%s: %r is %r, want %s" % (where, field, obj[field],
                                             typ.__name__)


@pytest.fixture
def admin(server_factory):
    srv, port = admin_server(server_factory, harness.HOST)
    zk = KazooClient(hosts=srv.hosts, timeout=10)
    zk.start()
    zk.create("/adm", b"x")
    zk.create("/adm/e", b"y", ephemeral=True)
    zk.get("/adm", watch=lambda e: None)
    zk.exists("/adm/none", watch=lambda e: None)
    try:
        yield srv, port, zk
    finally:
        zk.stop()
        zk.close()


def test_command_list(admin):
    _, port, _ = admin
    status, head, body = curl(port, "/commands")
    assert status == 200
    for name in list(SHAPES) + ["monitor", "leader"]:
        assert '<a href="/commands/%s">%s</a>' % (name, name) in body, name


def test_command_shapes(admin):
    _, port, zk = admin
    for name, shape in SHAPES.items():
        o = command(port, name)
        assert o["command"] == name, o
        assert o["error"] is None, o
        check_types(o, shape, name)
    st = command(port, "server_stats")
    check_types(st["server_stats"], SERVER_STATS_FIELDS, "server_stats")
    assert st["server_stats"]["server_state"] == "standalone"
    assert st["node_count"] >= 6  # /, /zookeeper(+children), /adm, /adm/e
    mon = command(port, "monitor")
    check_types(mon, MONITOR_FIELDS, "monitor")
    assert mon["znode_count"] == st["node_count"]
    assert mon["ephemerals_count"] == 1
    cons = command(port, "connections")["connections"]
    mine = [c for c in cons if c["session_id"] == zk.client_id[0]]
    assert len(mine) == 1, cons
    check_types(mine[0], CONNECTION_FIELDS, "connections")


def test_command_content(admin):
    srv, port, zk = admin
    sid = zk.client_id[0]
    w = command(port, "watches")["session_id_to_watched_paths"]
    assert sorted(w[str(sid)]) == ["/adm", "/adm/none"]
    p = command(port, "watches_by_path")["path_to_session_ids"]
    assert p["/adm"] == [sid] and p["/adm/none"] == [sid]
    ws = command(port, "watch_summary")
    assert ws["num_paths"] == 2 and ws["num_total_watches"] == 2
    d = command(port, "dump")
    assert d["session_id_to_ephemeral_paths"][str(sid)] == ["/adm/e"]
    assert any(sid in ids for ids in d["expiry_time_to_session_ids"].values())
    conf = command(port, "configuration")
    assert conf["client_port"] == srv.port
    assert conf["tick_time"] == 2000
    ic = command(port, "initial_configuration")["initial_configuration"]
    assert "clientPort=%d" % srv.port in ic
    assert command(port, "is_read_only")["read_only"] is False
    assert command(port, "ruok") == {"command": "ruok", "error": None}


def test_aliases(admin):
    _, port, _ = admin
    for alias, name in ALIASES.items():
        o = command(port, alias)
        assert o["command"] == name, (alias, o)


def test_leader_standalone(admin):
    _, port, _ = admin
    o = command(port, "leader")
    assert o == {"command": "leader", "error": "server is not initialized"}


def test_unknown_command_and_method(admin):
    _, port, _ = admin
    o = command(port, "nope")
    assert o == {"command": "nope", "error": "Unknown command: nope"}
    status, _, _ = curl(port, "/commands/ruok", "-X", "POST")
    assert status == 405
    status, _, _ = curl(port, "/commands/ruok", "-X", "DELETE")
    assert status == 405
    status, _, body = curl(port, "/commands/ruok", "-I")
    assert status == 200


def test_set_trace_mask(admin):
    _, port, _ = admin
    o = command(port, "set_trace_mask")
    assert o["error"] == "setTraceMask requires long traceMask argument"
    o = command(port, "set_trace_mask?traceMask=12")
    assert o["error"] is None
    assert command(port, "get_trace_mask")["tracemask"] == 12


def test_command_url(server_factory):
    port = harness.free_port()
    server_factory(**{"admin.enableServer": "true",
                      "admin.serverAddress": harness.HOST,
                      "admin.serverPort": port,
                      "admin.commandURL": "/zk"})
    wait_http(port, "/zk/ruok")
    assert command(port, "ruok", url="/zk")["command"] == "ruok"
    assert curl(port, "/commands/ruok")[0] == 404
    status, _, body = curl(port, "/zk")
    assert status == 200 and '<a href="/zk/ruok">ruok</a>' in body


def test_admin_disabled(server_factory):
    port = harness.free_port()
    server_factory(**{"admin.enableServer": "false",
                      "admin.serverAddress": harness.HOST,
                      "admin.serverPort": port})
    s = socket.socket()
    try:
        assert s.connect_ex((harness.HOST, port)) != 0
    finally:
        s.close()


@pytest.mark.roost_only("ZooKeeper binds admin.serverAddress 0.0.0.0 by "
                        "default; Roost binds the client address")
def test_default_address_is_client_address(server_factory):
    port = harness.free_port()
    server_factory(**{"admin.enableServer": "true",
                      "admin.serverPort": port})
    wait_http(port)
    # 127.0.0.2 is loopback too, but not the client address 127.0.0.1.
    s = socket.socket()
    try:
        assert s.connect_ex(("127.0.0.2", port)) != 0
    finally:
        s.close()


@pytest.mark.roost_only("a port that cannot be bound: ZooKeeper logs and "
                        "runs on as well, but its log text differs")
def test_port_in_use_is_a_warning(server_factory):
    blocker = socket.socket()
    blocker.bind((harness.HOST, 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        srv = server_factory(**{"admin.enableServer": "true",
                                "admin.serverPort": port})
        zk = KazooClient(hosts=srv.hosts, timeout=10)
        zk.start()
        zk.create("/still-serving", b"")
        zk.stop()
        zk.close()
        assert "AdminServer not started" in srv.log_tail()
    finally:
        blocker.close()


def test_ensemble_commands(ensemble_factory):
    ens, _, ports = admin_ensemble(ensemble_factory)
    leaders = []
    for srv in ens.servers:
        port = ports[srv.myid]
        o = command(port, "leader")
        check_types(o, {"is_leader": bool, "leader_id": int,
                        "leader_ip": str}, "leader")
        assert o["leader_ip"] == harness.HOST
        leaders.append((o["leader_id"], o["is_leader"], srv.myid))
        vv = command(port, "voting_view")["current_config"]
        assert sorted(vv) == ["1", "2", "3"], vv
        for mid, member in vv.items():
            check_types(member, {"server_addresses": list,
                                 "election_addresses": list,
                                 "client_address": str,
                                 "learner_type": str}, "voting_view")
            assert member["learner_type"] == "participant"
        me = vv[str(srv.myid)]
        assert me["client_address"] == "%s:%d" % (harness.HOST, srv.port)
        assert me["server_addresses"] == ["%s:%d" % (
            harness.HOST, ens.peer_ports[srv.myid - 1])]
        zs = command(port, "zabstate")
        check_types(zs, {"myid": int, "is_leader": bool, "voting": bool,
                         "last_zxid": str, "zab_epoch": int,
                         "zab_counter": int, "zabstate": str,
                         "client_address": str, "quorum_address": dict,
                         "election_address": dict}, "zabstate")
        assert zs["voting"] is True and zs["zabstate"] == "broadcast", zs
        assert zs["myid"] == srv.myid
        assert zs["last_zxid"].startswith("0x")
        mon = command(port, "monitor")
        assert mon["server_state"] in ("leader", "follower")
        assert mon["quorum_size"] == 3
        # ZooKeeper's election_time summary (ms, looking -> leading or
        # following), as its monitor dumps a summary; every member has
        # been through one election.
        check_types(mon, ELECTION_FIELDS, "monitor")
        assert mon["cnt_election_time"] >= 1, mon
        assert 0 <= mon["min_election_time"] <= mon["max_election_time"]
        assert mon["sum_election_time"] >= mon["max_election_time"]
        # pending_syncs: the leader's followers' syncs not answered yet.
        if mon["server_state"] == "leader":
            check_types(mon, {"pending_syncs": int}, "monitor")
            assert mon["pending_syncs"] == 0
        else:
            assert "pending_syncs" not in mon
        assert command(port, "observers")["observers"] == [] or \
            mon["server_state"] == "leader"
    ids = {lid for lid, _, _ in leaders}
    assert len(ids) == 1, leaders  # every member names the same leader
    assert [me for lid, is_l, me in leaders if is_l] == [ids.pop()]
