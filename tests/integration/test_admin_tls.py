"""The admin port over HTTPS (issue 19): ZooKeeper's admin.forceHttps and
admin.portUnification with the ssl.quorum.* key and trust stores, which is
what ZooKeeper 3.8's JettyAdminServer reads (QuorumX509Util's property
names), without asking for a client certificate.  curl and Python's ssl
are the clients; certificates come from tests/tls/mkcerts.sh.  The same
cases run against Apache ZooKeeper 3.8 (make test-zk: Jetty on the
classpath) except where marked with the reason.
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest
from kazoo.client import KazooClient

import harness
from test_admin import curl

HERE = os.path.dirname(os.path.abspath(__file__))
MKCERTS = os.path.join(HERE, "..", "tls", "mkcerts.sh")


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="roost-admin-tls-")
    subprocess.run(["sh", MKCERTS, d], check=True, stdout=subprocess.DEVNULL)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def https(port, path, certs, *args, ca="ca.pem"):
    """(status, headers, body) of one HTTPS request with curl, checking the
    server's certificate against ca; status 0 when no HTTP answer came."""
    out = subprocess.run(
        ["curl", "-s", "-i", "--max-time", "10", "--cacert",
         os.path.join(certs, ca), *args,
         "https://localhost:%d%s" % (port, path)],
        capture_output=True, timeout=30)
    raw = out.stdout.decode("utf-8", "replace")
    head, _, body = raw.partition("\r\n\r\n")
    status = int(head.split()[1]) if head.startswith("HTTP/") else 0
    return status, head, body


def wait_https(port, certs, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if https(port, "/commands/ruok", certs)[0] == 200:
            return
        time.sleep(0.2)
    raise AssertionError("no HTTPS admin server on port %d" % port)


@pytest.fixture
def admin_tls(server_factory, certs):
    """factory(**cfg) -> (srv, admin port): admin server with the
    ssl.quorum.* stores and admin.forceHttps unless cfg says otherwise."""
    def factory(wait=True, **extra):
        port = harness.free_port()
        cfg = {
            "admin.enableServer": "true",
            "admin.serverAddress": harness.HOST,
            "admin.serverPort": port,
            "admin.forceHttps": "true",
            "ssl.quorum.keyStore.location":
                os.path.join(certs, "server-keystore.pem"),
            "ssl.quorum.trustStore.location": os.path.join(certs, "ca.pem"),
        }
        cfg.update(extra)
        srv = server_factory(**cfg)
        if wait:
            wait_https(port, certs)
        return srv, port
    return factory


def tls_exchange(port, request, certs, suppress_ragged_eofs=True):
    """Send request over TLS (certificate checked for localhost) and read
    until the server closes; returns the bytes."""
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    with socket.create_connection((harness.HOST, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost",
                             suppress_ragged_eofs=suppress_ragged_eofs) as s:
            s.sendall(request)
            got = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return got
                got += b


def test_commands_over_https(admin_tls, certs):
    """forceHttps: the commands answer over HTTPS with the ssl.quorum key
    store's certificate (curl checks it against the CA and the name), and
    the answers carry Strict-Transport-Security as Jetty's does."""
    _, port = admin_tls()
    status, head, body = https(port, "/commands/ruok", certs)
    assert status == 200, (head, body)
    assert '"command" : "ruok"' in body or '"command": "ruok"' in body
    assert "strict-transport-security: max-age=86400; includesubdomains" \
        in head.lower(), head
    status, _, body = https(port, "/commands/monitor", certs)
    assert status == 200 and "znode_count" in body
    status, _, body = https(port, "/commands", certs)
    assert status == 200 and "ruok" in body


@pytest.mark.roost_only("ZooKeeper 3.8's AdminServer has no /metrics (its "
                        "Prometheus provider listens on a port of its own)")
def test_metrics_over_https(admin_tls, certs):
    _, port = admin_tls()
    status, head, body = https(port, "/metrics", certs)
    assert status == 200, head
    assert "znode_count" in body


def test_server_certificate_checked_by_the_client(admin_tls, certs):
    """A client that trusts another CA refuses the admin server."""
    _, port = admin_tls()
    assert https(port, "/commands/ruok", certs, ca="rogue-ca.pem")[0] == 0


def test_no_client_certificate_requested(admin_tls, certs):
    """As ZooKeeper 3.8's Jetty: no client certificate is asked for, so a
    client without one is served, and one with one is served too."""
    _, port = admin_tls()
    assert https(port, "/commands/ruok", certs)[0] == 200
    assert https(port, "/commands/ruok", certs,
                 "--cert", os.path.join(certs, "client1.pem"),
                 "--key", os.path.join(certs, "client1.key"))[0] == 200


def test_plain_http_refused_when_https_is_forced(admin_tls, certs):
    """forceHttps: a plain HTTP request gets no HTTP answer; the port keeps
    serving HTTPS."""
    _, port = admin_tls()
    status, head, _ = curl(port, "/commands/ruok")
    assert status == 0, head
    with socket.create_connection((harness.HOST, port), timeout=10) as s:
        s.sendall(b"GET /commands/ruok HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        got = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except (ConnectionResetError, socket.timeout):
            pass
    assert not got.startswith(b"HTTP/"), got
    assert https(port, "/commands/ruok", certs)[0] == 200


def test_port_unification_serves_both(admin_tls, certs):
    """admin.portUnification: HTTPS and plain HTTP on the same port."""
    _, port = admin_tls(**{"admin.forceHttps": "false",
                           "admin.portUnification": "true"})
    assert https(port, "/commands/ruok", certs)[0] == 200
    status, _, body = curl(port, "/commands/ruok")
    assert status == 200, body
    assert https(port, "/commands/stat", certs)[0] == 200


def test_garbage_and_truncated_handshakes(admin_tls, certs, target):
    """Garbage, a truncated ClientHello and a silent connection on the
    HTTPS admin port: the server neither crashes nor stops serving HTTPS
    or ZooKeeper clients."""
    srv, port = admin_tls()
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x11" * 40
    silent = socket.create_connection((harness.HOST, port), timeout=5)
    for payload in (os.urandom(4096), hello, b"\x16\x03\x03\xff\xff" +
                    os.urandom(100), b"\x16", b"\x80\x00garbage\r\n\r\n"):
        with socket.create_connection((harness.HOST, port), timeout=5) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
    assert https(port, "/commands/ruok", certs)[0] == 200
    zk = KazooClient(hosts=srv.hosts, timeout=10)
    zk.start(timeout=15)
    try:
        assert zk.exists("/") is not None
    finally:
        zk.stop()
        zk.close()
    silent.close()
    assert srv.alive()


def test_close_notify_after_the_answer(admin_tls, certs):
    """A connection the server closes after its answer ends with a TLS
    close_notify, not a bare TCP close (Python's ssl raises SSLEOFError
    on the latter when ragged EOFs are not suppressed)."""
    _, port = admin_tls()
    got = tls_exchange(port, b"GET /commands/ruok HTTP/1.1\r\nHost: localhost"
                       b"\r\nConnection: close\r\n\r\n", certs,
                       suppress_ragged_eofs=False)
    assert got.startswith(b"HTTP/1.1 200"), got


@pytest.mark.roost_only("ZooKeeper 3.8's AdminServer loads its stores once "
                        "at start; Roost reloads them like the others")
def test_certificate_rotation(admin_tls, certs):
    """Replacing the ssl.quorum key store file: new HTTPS connections get
    the new certificate without a restart."""
    d = tempfile.mkdtemp(prefix="roost-admin-rot-")
    try:
        ks = os.path.join(d, "keystore.pem")
        shutil.copy(os.path.join(certs, "server-keystore.pem"), ks)
        srv, port = admin_tls(**{"ssl.quorum.keyStore.location": ks})

        def served_cert():
            ctx = ssl.create_default_context(
                cafile=os.path.join(certs, "ca.pem"))
            with socket.create_connection((harness.HOST, port),
                                          timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    return s.getpeercert(binary_form=True)

        def der(name):
            with open(os.path.join(certs, name)) as f:
                return ssl.PEM_cert_to_DER_cert(f.read())

        assert served_cert() == der("server.pem")
        tmp = ks + ".new"
        shutil.copy(os.path.join(certs, "server2-keystore.pem"), tmp)
        os.rename(tmp, ks)
        deadline = time.monotonic() + 15
        while served_cert() != der("server2.pem"):
            assert time.monotonic() < deadline, srv.log_tail()
            time.sleep(0.2)
        assert https(port, "/commands/ruok", certs)[0] == 200
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.roost_only("admin.needClientAuth is ZooKeeper 3.9's key; 3.8 "
                        "never asks for a client certificate")
def test_need_client_auth(admin_tls, certs):
    """admin.needClientAuth=true: a certificate the ssl.quorum trust store
    accepts is required."""
    _, port = admin_tls(**{"admin.needClientAuth": "true"}, wait=False)
    mine = ("--cert", os.path.join(certs, "client1.pem"),
            "--key", os.path.join(certs, "client1.key"))
    deadline = time.monotonic() + 30
    while https(port, "/commands/ruok", certs, *mine)[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert https(port, "/commands/ruok", certs)[0] == 0
    assert https(port, "/commands/ruok", certs,
                 "--cert", os.path.join(certs, "rogue.pem"),
                 "--key", os.path.join(certs, "rogue.key"))[0] == 0


def test_unloadable_key_store_leaves_the_admin_server_off(admin_tls, certs):
    """Stores that cannot be loaded: no admin server, a warning, and the
    ZooKeeper service runs (ZooKeeper falls back to no AdminServer)."""
    srv, port = admin_tls(wait=False, **{
        "ssl.quorum.keyStore.location": os.path.join(certs, "missing.pem")})
    zk = KazooClient(hosts=srv.hosts, timeout=10)
    zk.start(timeout=15)
    try:
        assert zk.exists("/") is not None
    finally:
        zk.stop()
        zk.close()
    with pytest.raises(OSError):
        socket.create_connection((harness.HOST, port), timeout=2).close()
