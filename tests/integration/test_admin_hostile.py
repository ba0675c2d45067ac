"""Hostile HTTP on the admin port: oversized headers, URIs and bodies,
malformed requests, slowloris, thousands of idle connections.  The bad
HTTP gets a 4xx (or 503 beyond the connection cap) and is closed, and
ZooKeeper clients on the client port keep being served meanwhile.

Roost only: the limits and status codes are those of Roost's http/ module
(README "HTTP"); Jetty's differ (e.g. it answers an oversized header with
431 but a slow request with nothing).
"""

import socket
import time

import pytest
from kazoo.client import KazooClient

import harness
from test_admin import admin_server, curl, wait_http

pytestmark = pytest.mark.roost_only(
    "limits and answers of Roost's http/ module; Jetty's differ")


@pytest.fixture
def target_srv(server_factory):
    srv, port = admin_server(server_factory, **{"admin.idleTimeout": 1500})
    zk = KazooClient(hosts=srv.hosts, timeout=10)
    zk.start()
    zk.ensure_path("/h")
    try:
        yield srv, port, zk
    finally:
        zk.stop()
        zk.close()


def raw(port, data, timeout=5.0):
    """Send bytes, read until the server closes; the answer text."""
    s = socket.create_connection((harness.HOST, port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode("latin-1")
    finally:
        s.close()


def zk_served(zk, n=50, tag="x"):
    """n writes and reads through kazoo, each must succeed."""
    for i in range(n):
        p = "/h/%s%d" % (tag, i)
        zk.create(p, b"v")
        assert zk.get(p)[0] == b"v"
        zk.delete(p)


def test_oversized_and_malformed(target_srv):
    srv, port, zk = target_srv
    big_header = b"GET /commands/ruok HTTP/1.1\r\nX-A: " + b"a" * 20000 + \
        b"\r\n\r\n"
    assert raw(port, big_header).startswith("HTTP/1.1 431 ")
    many = b"GET /commands/ruok HTTP/1.1\r\n" + b"".join(
        b"X-%d: v\r\n" % i for i in range(200)) + b"\r\n"
    assert raw(port, many).startswith("HTTP/1.1 431 ")
    long_uri = b"GET /commands/" + b"r" * 20000 + b" HTTP/1.1\r\n\r\n"
    assert raw(port, long_uri).startswith("HTTP/1.1 414 ")
    big_body = (b"POST /commands/ruok HTTP/1.1\r\nContent-Length: 100000000"
                b"\r\n\r\n" + b"b" * 100000)
    assert raw(port, big_body).startswith("HTTP/1.1 413 ")
    chunked = (b"POST /commands/ruok HTTP/1.1\r\nTransfer-Encoding: chunked"
               b"\r\n\r\n" + (b"10000\r\n" + b"c" * 65536 + b"\r\n") * 4)
    assert raw(port, chunked).startswith("HTTP/1.1 413 ")
    for bad in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 10,  # TLS
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                b"GET /%zz HTTP/1.1\r\n\r\n",
                b"GET /commands/%00 HTTP/1.1\r\n\r\n",
                b"GET\x00/ HTTP/1.1\r\n\r\n",
                b"BREW /pot HTTP/1.1\r\n\r\n"):
        answer = raw(port, bad)
        assert answer.startswith("HTTP/1.1 400 "), (bad, answer[:80])
    # after all that, both interfaces serve
    assert curl(port, "/commands/ruok")[0] == 200
    zk_served(zk)
    assert srv.four_letter("ruok") == "imok"


def test_slowloris(target_srv):
    _, port, zk = target_srv
    socks = []
    for _ in range(200):
        s = socket.create_connection((harness.HOST, port), timeout=10)
        s.sendall(b"GET /commands/ruok HTTP/1.1\r\n")
        socks.append(s)
    t0 = time.monotonic()
    # trickle a header byte now and then on every connection while
    # ZooKeeper clients work
    answers = {}
    deadline = t0 + 15
    while len(answers) < len(socks) and time.monotonic() < deadline:
        zk_served(zk, 5, tag="s")
        for i, s in enumerate(socks):
            if i in answers:
                continue
            try:
                s.sendall(b"X")
            except OSError:
                pass
            s.settimeout(0.001)
            try:
                b = s.recv(4096)
                answers[i] = b.decode("latin-1")
            except socket.timeout:
                pass
            except OSError:
                answers[i] = ""
        time.sleep(0.1)
    for s in socks:
        s.close()
    assert len(answers) == len(socks), "slow requests still open after 15 s"
    assert sum(a.startswith("HTTP/1.1 408 ") for a in answers.values()) >= \
        len(socks) * 9 // 10, set(a[:20] for a in answers.values())
    assert curl(port, "/commands/ruok")[0] == 200


def test_thousands_of_idle_connections(target_srv):
    srv, port, zk = target_srv
    socks = []
    try:
        for _ in range(1500):
            socks.append(socket.create_connection((harness.HOST, port),
                                                  timeout=10))
        # past the cap (1024) the server answers 503 and closes
        rejected = 0
        for s in socks[1100:]:
            s.settimeout(5)
            try:
                if s.recv(4096).startswith(b"HTTP/1.1 503 "):
                    rejected += 1
            except socket.timeout:
                pass
        assert rejected >= 390, rejected
        zk_served(zk, 100, tag="i")
        assert srv.four_letter("ruok") == "imok"
        # the idle ones are closed after admin.idleTimeout (1.5 s)
        closed = 0
        for s in socks[:1000]:
            s.settimeout(10)
            try:
                if s.recv(4096) == b"":
                    closed += 1
            except (socket.timeout, ConnectionResetError):
                pass
        assert closed == 1000
    finally:
        for s in socks:
            s.close()
    wait_http(port)
    zk_served(zk, 10, tag="j")
