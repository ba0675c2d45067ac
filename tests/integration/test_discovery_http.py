"""The HTTP discovery API on the admin port (issue 16, server/discovery_http.c):
/v1/services and /v1/services/<name> with ?passing, ?tag= and Consul-style
blocking queries (?index=N&wait=...), read with curl and python's urllib;
registrations by kazoo (Roost JSON, Curator JSON, plain host:port) and by
roost-agent with an HTTP check the test flips.

Roost-only: ZooKeeper has no discovery API (the shapes follow Consul's).
"""

import json
import os
import threading
import time
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient

import harness
from ens_util import wait_until
from test_admin import admin_ensemble, admin_server, curl
from test_agent import FlipApp, agents, tmp, write_defs  # noqa: F401

pytestmark = pytest.mark.roost_only("Roost's own HTTP discovery API")

AGENT = os.environ.get("ROOST_AGENT")


def get(port, path, timeout=30):
    """(status, headers, decoded JSON or text) with urllib."""
    try:
        with urllib.request.urlopen("http://%s:%d%s" % (harness.HOST, port,
                                                        path),
                                    timeout=timeout) as r:
            body = r.read().decode()
            return r.status, r.headers, json.loads(body)
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


@pytest.fixture
def admin(server_factory):
    return admin_server(server_factory, harness.HOST)


@pytest.fixture
def kz(admin):
    k = KazooClient(hosts=admin[0].hosts, timeout=10)
    k.start(timeout=10)
    yield k
    k.stop()
    k.close()


def register_three(kz):
    kz.create("/services/payment/a", json.dumps(
        {"address": "10.0.0.1", "port": 8080, "tags": ["v2", "eu"],
         "meta": {"team": "pay"}, "status": "passing"}).encode(),
        makepath=True, ephemeral=True)
    kz.create("/services/payment/b", json.dumps(
        {"address": "10.0.0.2", "port": 8081, "tags": ["v1"],
         "status": "critical",
         "checks": [{"id": "h", "status": "critical"}]}).encode(),
        ephemeral=True)
    # Curator's ServiceInstance and a plain host:port.
    kz.create("/services/payment/c", json.dumps(
        {"name": "payment", "id": "c", "address": "10.0.0.3", "port": 9000,
         "sslPort": None, "payload": None, "registrationTimeUTC": 1,
         "serviceType": "DYNAMIC", "uriSpec": None}).encode(),
        ephemeral=True)
    kz.create("/services/payment/d", b"10.0.0.4:7000", ephemeral=True)
    kz.create("/services/other/x", b"10.1.0.1:1", makepath=True)


def test_list_and_instances(admin, kz):
    _, port = admin
    register_three(kz)
    st, h, body = get(port, "/v1/services")
    assert st == 200
    assert body == {"other": 1, "payment": 4}
    assert int(h["X-Roost-Index"]) > 0
    assert h["X-Consul-Index"] == h["X-Roost-Index"]
    st, h, body = get(port, "/v1/services/payment")
    assert st == 200
    by = {i["id"]: i for i in body}
    assert sorted(by) == ["a", "b", "c", "d"]
    assert by["a"]["address"] == "10.0.0.1" and by["a"]["port"] == 8080
    assert by["a"]["tags"] == ["v2", "eu"]
    assert by["a"]["meta"] == {"team": "pay"}
    assert by["a"]["status"] == "passing" and by["a"]["checks"] == []
    assert by["b"]["status"] == "critical"
    assert by["b"]["checks"] == [{"id": "h", "status": "critical"}]
    assert by["c"]["address"] == "10.0.0.3" and by["c"]["port"] == 9000
    assert by["c"]["status"] == "passing"
    assert by["d"]["address"] == "10.0.0.4" and by["d"]["port"] == 7000
    assert by["d"]["service"] == "payment"
    assert by["d"]["path"] == "/services/payment/d"
    # The index is the largest zxid of the service's nodes.
    zx = max([kz.exists("/services/payment").pzxid] +
             [kz.exists("/services/payment/" + c).mzxid for c in "abcd"])
    assert int(h["X-Roost-Index"]) == zx


def test_filters(admin, kz):
    _, port = admin
    register_three(kz)
    st, _, body = get(port, "/v1/services/payment?passing")
    assert st == 200
    assert sorted(i["id"] for i in body) == ["a", "c", "d"]
    _, _, body = get(port, "/v1/services/payment?passing=false")
    assert len(body) == 4
    _, _, body = get(port, "/v1/services/payment?tag=v1")
    assert [i["id"] for i in body] == ["b"]
    _, _, body = get(port, "/v1/services/payment?tag=v1&passing")
    assert body == []
    _, _, body = get(port, "/v1/services/payment?tag=eu&passing=1")
    assert [i["id"] for i in body] == ["a"]


def test_unknown_service_and_bad_input(admin):
    _, port = admin
    # Consul's /v1/health/service answers 200 [] for an unknown service.
    st, h, body = get(port, "/v1/services/nothing-here")
    assert st == 200 and body == []
    assert int(h["X-Roost-Index"]) >= 1
    for q in ("index=x", "index=-1", "index=1&wait=30", "index=1&wait=s",
              "index=1&wait=3x", "tag=",
              # filters are checked before a query waits
              "index=%s&wait=30s&tag=" % h["X-Roost-Index"]):
        st, _, body = curl(port, "/v1/services/nothing-here?" + q)
        assert st == 400, (q, st, body)
    st, _, _ = curl(port, "/v1/services/a%2Fb")
    assert st == 400
    st, _, _ = curl(port, "/v1/services/x", "-X", "POST")
    assert st == 405


def test_blocking_query_wakes_on_change(admin, kz):
    _, port = admin
    register_three(kz)
    st, h, _ = get(port, "/v1/services/payment")
    idx = int(h["X-Roost-Index"])
    got = {}

    def block():
        t0 = time.monotonic()
        got["r"] = get(port, "/v1/services/payment?passing&index=%d&wait=60s"
                       % idx, timeout=90)
        got["t"] = time.monotonic() - t0

    th = threading.Thread(target=block)
    th.start()
    time.sleep(1.0)
    assert th.is_alive(), "a blocking query returned before any change"
    # A change elsewhere does not answer it.
    kz.create("/services/other/y", b"10.1.0.2:2")
    time.sleep(0.5)
    assert th.is_alive()
    # The critical instance turns passing: a health change.
    kz.set("/services/payment/b", json.dumps(
        {"address": "10.0.0.2", "port": 8081, "status": "passing"}).encode())
    th.join(30)
    assert not th.is_alive()
    st, h, body = got["r"]
    assert st == 200 and got["t"] < 20
    assert int(h["X-Roost-Index"]) > idx
    assert sorted(i["id"] for i in body) == ["a", "b", "c", "d"]
    # An instance leaving wakes a query too (the service's pzxid).
    idx = int(h["X-Roost-Index"])
    th = threading.Thread(target=block)
    got.clear()
    th.start()
    time.sleep(0.5)
    kz.delete("/services/payment/d")
    th.join(30)
    st, h, body = got["r"]
    assert int(h["X-Roost-Index"]) > idx
    assert sorted(i["id"] for i in body) == ["a", "b", "c"]


def test_blocking_query_times_out_with_same_index(admin, kz):
    _, port = admin
    register_three(kz)
    _, h, _ = get(port, "/v1/services/payment")
    idx = h["X-Roost-Index"]
    t0 = time.monotonic()
    st, head, body = curl(port, "/v1/services/payment?index=%s&wait=1s" % idx)
    took = time.monotonic() - t0
    assert st == 200 and took >= 0.9
    assert "X-Roost-Index: %s\r\n" % idx in head + "\r\n"
    assert len(json.loads(body)) == 4
    # An index that is not the current one answers at once.
    t0 = time.monotonic()
    st, head, _ = curl(port, "/v1/services/payment?index=1&wait=30s")
    assert st == 200 and time.monotonic() - t0 < 5
    # The list blocks too, and wakes when a service comes.
    _, h, _ = get(port, "/v1/services")
    got = {}
    th = threading.Thread(target=lambda: got.update(r=get(
        port, "/v1/services?index=%s&wait=60s" % h["X-Roost-Index"],
        timeout=90)))
    th.start()
    time.sleep(0.5)
    assert th.is_alive()
    kz.create("/services/new")
    th.join(30)
    assert got["r"][2]["new"] == 0
    assert int(got["r"][1]["X-Roost-Index"]) > int(h["X-Roost-Index"])


def test_aborted_blocking_queries_are_freed(admin, kz):
    """Clients that give up (curl's --max-time) leave nothing behind: the
    server keeps answering and exits clean (ASan checks the frees)."""
    srv, port = admin
    register_three(kz)
    _, h, _ = get(port, "/v1/services/payment")
    idx = h["X-Roost-Index"]
    import subprocess
    ps = [subprocess.Popen(
        ["curl", "-s", "--max-time", "1", "http://%s:%d/v1/services/payment"
         "?index=%s&wait=5m" % (harness.HOST, port, idx)],
        stdout=subprocess.DEVNULL) for _ in range(20)]
    for p in ps:
        p.wait(30)
    st, _, _ = get(port, "/v1/services/payment")
    assert st == 200
    # A query still waiting when the server stops is answered or closed,
    # not leaked (the fixture's stop checks the sanitizer log).
    subprocess.Popen(
        ["curl", "-s", "--max-time", "20", "http://%s:%d/v1/services/payment"
         "?index=%s&wait=5m" % (harness.HOST, port, idx)],
        stdout=subprocess.DEVNULL)
    time.sleep(0.5)


@pytest.mark.skipif(not AGENT, reason="ROOST_AGENT not set")
def test_agent_http_check_and_passing(admin, kz, agents, tmp):  # noqa: F811
    srv, port = admin
    app = FlipApp()
    try:
        defs = write_defs(os.path.join(tmp, "pay.json"), {"service": {
            "name": "payment-service", "id": "pay-1",
            "address": "127.0.0.2", "port": 8080, "tags": ["v2"],
            "meta": {"team": "pay"},
            "check": {"id": "pay-http",
                      "http": "http://127.0.0.1:%d/health" % app.port,
                      "interval": "300ms", "timeout": "2s",
                      "failures_before_critical": 1}}})
        kz.create("/services/payment-service/static",
                  b"127.0.0.3:8080", makepath=True)
        agents(srv.hosts, defs, tmp)

        def passing():
            return sorted(i["address"] for i in get(
                port, "/v1/services/payment-service?passing")[2])

        wait_until(lambda: passing() == ["127.0.0.2", "127.0.0.3"], 20,
                   "the agent's instance passing")
        _, h, body = get(port, "/v1/services/payment-service")
        mine = [i for i in body if i["address"] == "127.0.0.2"][0]
        assert mine["meta"] == {"team": "pay"}
        assert mine["checks"][0]["id"] == "pay-http"
        idx = int(h["X-Roost-Index"])
        # Block on the service; the check turns critical.
        got = {}
        th = threading.Thread(target=lambda: got.update(r=get(
            port, "/v1/services/payment-service?passing&index=%d&wait=60s"
            % idx, timeout=90)))
        th.start()
        time.sleep(0.5)
        app.code = 500
        th.join(30)
        st, h2, body = got["r"]
        assert st == 200 and int(h2["X-Roost-Index"]) > idx
        assert [i["address"] for i in body] == ["127.0.0.3"]
        _, _, body = get(port, "/v1/services/payment-service")
        assert {i["address"]: i["status"] for i in body} == {
            "127.0.0.2": "critical", "127.0.0.3": "passing"}
        app.code = 200
        wait_until(lambda: passing() == ["127.0.0.2", "127.0.0.3"], 20,
                   "the instance passing again")
    finally:
        app.close()


def test_ensemble_members_answer_from_their_tree(ensemble_factory):
    ens, _, by_id = admin_ensemble(ensemble_factory)
    ports = [by_id[s.myid] for s in ens.servers]
    z = KazooClient(hosts=ens.servers[0].hosts, timeout=10)
    z.start(timeout=20)
    z.ensure_path("/services/ens")
    z.sync("/services/ens")
    for p in ports:  # every member has the service node
        wait_until(lambda: get(p, "/v1/services")[2].get("ens") == 0, 20,
                   "/services/ens on port %d" % p)
    # Block on every member, then write through one.
    idx = [get(p, "/v1/services/ens")[1]["X-Roost-Index"] for p in ports]
    got = {}

    def block(i):
        got[i] = get(ports[i], "/v1/services/ens?index=%s&wait=60s" % idx[i],
                     timeout=90)

    ths = [threading.Thread(target=block, args=(i,)) for i in range(3)]
    for t in ths:
        t.start()
    time.sleep(1.0)
    try:
        z.create("/services/ens/a", b"10.6.0.1:80")
        for t in ths:
            t.join(30)
        for i in range(3):
            st, h, body = got[i]
            assert st == 200, (i, st, body)
            assert [x["address"] for x in body] == ["10.6.0.1"]
            assert int(h["X-Roost-Index"]) > int(idx[i])
    finally:
        z.stop()
        z.close()
