"""TLS on the secure client port (issue 19): ZooKeeper's secureClientPort
and ssl.* keys, side by side with the plain port, with real clients.

Certificates are made at test time by tests/tls/mkcerts.sh (a CA, server
certificates, two clients, an untrusted CA, an expired and a wrong-host
certificate).  The same cases run against Apache ZooKeeper 3.8 (make
test-zk) through its Netty connection factory with the same zoo.cfg keys
(serverCnxnFactory, authProvider.x509), except where marked with the
reason.
"""

import os
import socket
import ssl
import subprocess
import tempfile
import time
import shutil

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
MKCERTS = os.path.join(HERE, "..", "tls", "mkcerts.sh")
NETTY = "org.apache.zookeeper.server.NettyServerCnxnFactory"
X509_PROVIDER = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"
CLIENT1_DN = "CN=client1,O=Roost"
CLIENT2_DN = "CN=client2,O=Roost"


@pytest.fixture(scope="session")
def certs():
    d = tempfile.mkdtemp(prefix="roost-tls-it-")
    subprocess.run(["sh", MKCERTS, d], check=True, stdout=subprocess.DEVNULL)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def cert(certs, name):
    return os.path.join(certs, name)


@pytest.fixture
def tls_server(server_factory, certs):
    """factory(**cfg) -> a server with a secure client port (srv.tls_port)
    using server-keystore.pem and trusting ca.pem unless cfg says
    otherwise."""
    def factory(**extra):
        port = harness.free_port()
        cfg = {
            "secureClientPort": port,
            "serverCnxnFactory": NETTY,
            "authProvider.x509": X509_PROVIDER,
            "ssl.keyStore.location": cert(certs, "server-keystore.pem"),
            "ssl.trustStore.location": cert(certs, "ca.pem"),
        }
        cfg.update(extra)
        srv = server_factory(**cfg)
        srv.tls_port = port
        wait_port(port)
        return srv
    return factory


def wait_port(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((harness.HOST, port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "port %d never opened" % port
            time.sleep(0.1)


def kazoo(srv, certs, name="client1", ca="ca.pem", timeout=15.0):
    """A started kazoo client over TLS (name=None: no client cert)."""
    kw = {}
    if name is not None:
        kw = {"certfile": cert(certs, name + ".pem"),
              "keyfile": cert(certs, name + ".key")}
    k = KazooClient(hosts="%s:%d" % (harness.HOST, srv.tls_port),
                    use_ssl=True, ca=cert(certs, ca), timeout=10.0, **kw)
    k.start(timeout=timeout)
    return k


def kazoo_refused(srv, certs, name, ca="ca.pem"):
    k = KazooClient(hosts="%s:%d" % (harness.HOST, srv.tls_port),
                    use_ssl=True, ca=cert(certs, ca), timeout=4.0,
                    certfile=cert(certs, name + ".pem") if name else None,
                    keyfile=cert(certs, name + ".key") if name else None,
                    connection_retry={"max_tries": 1, "delay": 0.1})
    try:
        with pytest.raises(Exception):
            k.start(timeout=4.0)
    finally:
        k.stop()
        k.close()


def handshake(port, certs, name="client1", server_hostname="localhost",
              ca="ca.pem"):
    """A TLS handshake with Python's ssl (hostname checked); returns the
    server's certificate (DER) or raises ssl.SSLError."""
    ctx = ssl.create_default_context(cafile=cert(certs, ca))
    if name:
        ctx.load_cert_chain(cert(certs, name + ".pem"), cert(certs, name + ".key"))
    with socket.create_connection((harness.HOST, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
            der = s.getpeercert(binary_form=True)
            # TLS 1.3: a refused client certificate shows on the first read.
            s.settimeout(0.5)
            try:
                s.recv(1)
            except socket.timeout:
                pass
            return der


def pem_to_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def log_has(srv, needle, timeout=5.0):
    deadline = time.monotonic() + timeout
    while needle not in srv.log_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# ----------------------------------------------------------------------


def test_kazoo_over_tls_beside_the_plain_port(tls_server, certs):
    """kazoo (use_ssl, certfile, keyfile, ca) works on the secure port, the
    plain port keeps serving, and both see the same tree."""
    srv = tls_server()
    k = kazoo(srv, certs)
    plain = KazooClient(hosts=srv.hosts, timeout=10.0)
    plain.start(timeout=15)
    try:
        k.create("/tls-a", b"over tls")
        assert plain.get("/tls-a")[0] == b"over tls"
        seen = []
        assert k.exists("/tls-b", watch=seen.append) is None
        plain.create("/tls-b", b"x" * 200000)  # a large value, many records
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen and seen[0].path == "/tls-b"
        assert k.get("/tls-b")[0] == b"x" * 200000
        assert sorted(k.get_children("/")) == sorted(plain.get_children("/"))
    finally:
        k.stop()
        plain.stop()


def test_pkcs12_key_store(tls_server, certs):
    """A PKCS12 key store (ssl.keyStore.type=PKCS12 with its password)."""
    srv = tls_server(**{"ssl.keyStore.location": cert(certs, "server.p12"),
                        "ssl.keyStore.password": "secret",
                        "ssl.keyStore.type": "PKCS12"})
    k = kazoo(srv, certs)
    try:
        assert k.exists("/") is not None
    finally:
        k.stop()


@pytest.mark.parametrize("client,ca,why", [
    ("rogue", "ca.pem", "certificate verify failed: unable to get local issuer"),
    ("expired", "ca.pem", "certificate verify failed: certificate has expired"),
    (None, "ca.pem", "peer did not return a certificate"),
], ids=["untrusted-ca", "expired", "no-cert-need"])
def test_bad_client_certificate_refused(tls_server, certs, target, client, ca,
                                        why):
    """A client certificate from an untrusted CA, an expired one, or none
    under clientAuth=need: no connection, no session, a clear log line."""
    srv = tls_server()
    kazoo_refused(srv, certs, client, ca)
    if target == "roost":
        assert log_has(srv, "TLS handshake failed: " + why), srv.log_tail()
        assert "new session" not in srv.log_text()
    # The server goes on serving good clients.
    k = kazoo(srv, certs)
    k.stop()


def test_server_from_untrusted_ca_refused_by_client(tls_server, certs):
    """kazoo refuses a server whose certificate its CA did not sign."""
    srv = tls_server(**{"ssl.keyStore.location":
                        cert(certs, "rogue-keystore.pem")})
    kazoo_refused(srv, certs, "client1")


def test_wrong_host_refused_with_hostname_verification(tls_server, certs):
    """A server certificate for another name fails the client's hostname
    check; the right name passes (Python's ssl checks names; kazoo does
    not, libroost's case is in test_libroost_tls)."""
    srv = tls_server(**{"ssl.keyStore.location":
                        cert(certs, "wronghost-keystore.pem")})
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(srv.tls_port, certs, server_hostname="localhost")
    handshake(srv.tls_port, certs, server_hostname="wrong.example")


def test_client_auth_want(tls_server, certs):
    """clientAuth=want: a client without a certificate connects."""
    srv = tls_server(**{"ssl.clientAuth": "want"})
    k = kazoo(srv, certs, name=None)
    try:
        assert k.exists("/") is not None
    finally:
        k.stop()


def test_x509_acl_and_super_user(tls_server, certs):
    """x509:<subject DN> in an ACL lets that certificate read and refuses
    another; the superUser DN passes every ACL."""
    srv = tls_server(**{"X509AuthenticationProvider.superUser":
                        "CN=superclient,O=Nobody"})
    k1 = kazoo(srv, certs, "client1")
    k2 = kazoo(srv, certs, "client2")
    try:
        k1.create("/x509-owned", b"mine",
                  acl=[make_acl("x509", CLIENT1_DN, all=True)])
        assert k1.get("/x509-owned")[0] == b"mine"
        with pytest.raises(NoAuthError):
            k2.get("/x509-owned")
        acl, _ = k1.get_acls("/x509-owned")
        assert [(a.id.scheme, a.id.id) for a in acl] == [("x509", CLIENT1_DN)]
        # "auth" expands to the certificate identity.
        k2.create("/x509-auth", b"2", acl=[make_acl("auth", "", all=True)])
        acl, _ = k2.get_acls("/x509-auth")
        assert ("x509", CLIENT2_DN) in [(a.id.scheme, a.id.id) for a in acl]
        with pytest.raises(NoAuthError):
            k1.get("/x509-auth")
    finally:
        k1.stop()
        k2.stop()
    srv.stop()
    srv2 = tls_server(**{"X509AuthenticationProvider.superUser": CLIENT2_DN})
    k1 = kazoo(srv2, certs, "client1")
    k2 = kazoo(srv2, certs, "client2")
    try:
        k1.create("/x509-owned", b"mine",
                  acl=[make_acl("x509", CLIENT1_DN, all=True)])
        assert k2.get("/x509-owned")[0] == b"mine"  # super
    finally:
        k1.stop()
        k2.stop()


@pytest.mark.roost_only("ZooKeeper 3.8 reloads client-port certificates "
                        "only when client.certReload is set, through its "
                        "own file watcher; this checks Roost's reload")
def test_rotation_keeps_sessions(tls_server, certs):
    """Replacing the key store on disk: new connections get the new
    certificate, the established session goes on (same session id)."""
    live = cert(certs, "live-keystore.pem")
    shutil.copy(cert(certs, "server-keystore.pem"), live)
    srv = tls_server(**{"ssl.keyStore.location": live})
    assert handshake(srv.tls_port, certs) == \
        pem_to_der(cert(certs, "server.pem"))
    k = kazoo(srv, certs)
    try:
        sid = k.client_id[0]
        k.create("/rot", b"before")
        tmp = live + ".tmp"
        shutil.copy(cert(certs, "server2-keystore.pem"), tmp)
        os.rename(tmp, live)
        assert log_has(srv, "new connections get certificate", timeout=10)
        assert handshake(srv.tls_port, certs) == \
            pem_to_der(cert(certs, "server2.pem"))
        k.set("/rot", b"after")
        assert k.get("/rot")[0] == b"after"
        assert k.client_id[0] == sid
        # A broken file is reported and changes nothing.
        with open(live, "w") as f:
            f.write("-----BEGIN nonsense\n")
        assert log_has(srv, "could not be loaded", timeout=10)
        assert handshake(srv.tls_port, certs) == \
            pem_to_der(cert(certs, "server2.pem"))
    finally:
        k.stop()


def test_hostile_bytes_on_the_tls_port(tls_server, certs, target):
    """Garbage, a plain ZooKeeper client, and truncated or stalled
    handshakes on the secure port: the server keeps serving TLS clients
    meanwhile and afterwards."""
    srv = tls_server()
    stalled = []
    try:
        # A ClientHello cut in half, left open (the loop must not wait).
        ctx = ssl.create_default_context(cafile=cert(certs, "ca.pem"))
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
        with pytest.raises(ssl.SSLWantReadError):
            obj.do_handshake()
        hello = out.read()
        s = socket.create_connection((harness.HOST, srv.tls_port), timeout=5)
        s.sendall(hello[:len(hello) // 2])
        stalled.append(s)
        # Only a TLS record header promising a large record.
        s = socket.create_connection((harness.HOST, srv.tls_port), timeout=5)
        s.sendall(b"\x16\x03\x01\x40\x00")
        stalled.append(s)
        for junk in (b"GET / HTTP/1.0\r\n\r\n", os.urandom(4096),
                     b"\x00\x00\x00\x2c" + b"\x00" * 44, b"ruok",
                     hello + os.urandom(64)):
            with socket.create_connection((harness.HOST, srv.tls_port),
                                          timeout=5) as g:
                g.sendall(junk)
                g.settimeout(5)
                try:
                    while g.recv(4096):
                        pass
                except (ConnectionResetError, socket.timeout):
                    pass
        k = kazoo(srv, certs)
        k.create("/after-junk", b"ok")
        k.stop()
        assert harness.four_letter(srv.host, srv.port, "ruok") == "imok"
    finally:
        for s in stalled:
            s.close()
    if target == "roost":
        assert log_has(srv, "TLS handshake failed")


# ----------------------------------------------------------------------
# libroost (tests/integration/libroost_tls.c) and the roost shell.

def libroost_prog():
    d = os.environ.get("LIBROOST_BIN_DIR")
    if not d:
        pytest.skip("LIBROOST_BIN_DIR not set (make integration sets it)")
    return os.path.join(d, "libroost_tls")


def run_libroost(mode, hosts, certs):
    r = subprocess.run([libroost_prog(), mode, hosts, certs],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    return r.returncode, r.stdout


def test_libroost_over_tls(tls_server, certs, target):
    """libroost with ca/cert/key and with the "ca,cert,key" form of
    zookeeper_init_ssl: connects, writes, reads, and the session carries
    the certificate's x509 identity."""
    srv = tls_server()
    rc, out = run_libroost("ok", "localhost:%d" % srv.tls_port, certs)
    assert rc == 0, out
    assert "id x509 " + CLIENT1_DN in out, out


def test_libroost_refuses_wrong_host_and_untrusted_server(tls_server, certs):
    """libroost checks the server's name against its certificate (and
    says why it could not connect); with verification off it connects."""
    srv = tls_server(**{"ssl.keyStore.location":
                        cert(certs, "wronghost-keystore.pem")})
    hosts = "localhost:%d" % srv.tls_port
    rc, out = run_libroost("refused", hosts, certs)
    assert rc == 0 and "hostname mismatch" in out, out
    rc, out = run_libroost("refused", "127.0.0.1:%d" % srv.tls_port, certs)
    assert rc == 0 and "IP address mismatch" in out, out
    rc, out = run_libroost("noverify", hosts, certs)
    assert rc == 0, out
    srv2 = tls_server(**{"ssl.keyStore.location":
                         cert(certs, "rogue-keystore.pem")})
    rc, out = run_libroost("refused", "localhost:%d" % srv2.tls_port, certs)
    assert rc == 0 and "unable to get local issuer" in out, out


def test_roost_shell_over_tls(tls_server, certs):
    """roost -s host:port --tls --ca --cert --key; a missing file is a
    usage error naming it."""
    shell = os.environ.get("ROOST_SHELL")
    if not shell:
        pytest.skip("ROOST_SHELL not set (make integration sets it)")
    srv = tls_server()
    base = [shell, "-s", "127.0.0.1:%d" % srv.tls_port, "--tls",
            "--ca", cert(certs, "ca.pem"),
            "--cert", cert(certs, "client1.pem"),
            "--key", cert(certs, "client1.key")]
    r = subprocess.run(base + ["create", "/shell-tls", "hi"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(base + ["get", "/shell-tls"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "hi", r.stderr
    bad = list(base)
    bad[bad.index("--cert") + 1] = cert(certs, "missing.pem")
    r = subprocess.run(bad + ["get", "/shell-tls"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "missing.pem" in r.stderr, r.stderr


# ----------------------------------------------------------------------
# Quorum TLS (sslQuorum, ssl.quorum.*).

def quorum_cfg(certs, keystore="server-keystore.pem"):
    return {"sslQuorum": "true",
            "ssl.quorum.keyStore.location": cert(certs, keystore),
            "ssl.quorum.trustStore.location": cert(certs, "ca.pem")}


def rewrite_cfg(srv, **keys):
    srv.cfg.update(keys)
    with open(srv.cfg_path, "w") as f:
        for k, v in srv.cfg.items():
            f.write("%s=%s\n" % (k, v))


@pytest.mark.roost_only("Roost's peer protocol is its own (docs/ensemble.md): "
                        "this is Roost's quorum over TLS, not ZooKeeper's")
def test_quorum_over_tls(ensemble_factory, certs):
    """Three members with sslQuorum elect a leader and replicate over TLS
    peer links."""
    ens = ensemble_factory(n=3, **quorum_cfg(certs))
    leader = ens.wait_serving(timeout=30)
    k = KazooClient(hosts=leader.hosts, timeout=10.0)
    k.start(timeout=15)
    try:
        k.create("/over-tls-quorum", b"replicated")
    finally:
        k.stop()
    for srv in ens.servers:
        c = KazooClient(hosts=srv.hosts, timeout=10.0)
        c.start(timeout=15)
        try:
            c.sync("/")
            assert c.get("/over-tls-quorum")[0] == b"replicated"
        finally:
            c.stop()
        assert "peer links use TLS" in srv.log_text()
    # A member that stops ends its links with close_notify: the others
    # see the TLS session closed, not a bare end of stream.
    ens.servers[2].stop()
    assert log_has(ens.servers[0], "dropped: closed by peer (TLS)",
                   timeout=10), ens.servers[0].log_tail()


@pytest.mark.roost_only("Roost's peer protocol is its own (docs/ensemble.md): "
                        "this is Roost's quorum over TLS, not ZooKeeper's")
def test_untrusted_member_cannot_join(ensemble_factory, certs):
    """A member whose certificate the others' trust store does not accept
    (and which does not trust theirs) never joins: the two others elect a
    leader and serve, it stays out, and both sides log why."""
    ens = ensemble_factory(n=3, start=False, **quorum_cfg(certs))
    s1, s2, s3 = ens.servers
    rewrite_cfg(s3, **{"ssl.quorum.keyStore.location":
                       cert(certs, "rogue-keystore.pem"),
                       "ssl.quorum.trustStore.location":
                       cert(certs, "rogue-ca.pem")})
    for srv in ens.servers:
        srv.start(wait=False)
    s1.wait_ready()
    s2.wait_ready()
    ens.wait_serving(timeout=30, servers=[s1, s2])
    k = KazooClient(hosts=s1.hosts, timeout=10.0)
    k.start(timeout=15)
    try:
        k.create("/without-rogue", b"ok")
        time.sleep(2.0)  # ticks of 200 ms: time enough to join if it could
        assert ens.mode(s3) not in ("leader", "follower")
        k.set("/without-rogue", b"still serving")
    finally:
        k.stop()
    assert log_has(s1, "certificate verify failed", timeout=10), \
        s1.log_tail()
    assert log_has(s3, "certificate verify failed", timeout=10), \
        s3.log_tail()


@pytest.mark.roost_only("Roost's accept path (docs/overload.md): its "
                        "roost_* mntr lines and log lines")
def test_secure_port_out_of_descriptors(tls_server, certs):
    """The secure client port accepts like the plain one: out of
    descriptors, connections are closed at once, counted in
    zk_connection_rejected and logged; then TLS clients are served."""
    import resource
    from test_overload import _lowest_free_fd, _sock_count, _wait_socks, mntr
    srv = tls_server(maxClientCnxns="0")
    base_socks = _sock_count(srv.pid)
    kazoo(srv, certs).stop()  # wait_port's connection was accepted first
    _wait_socks(srv.pid, base_socks)
    before = int(mntr(srv)["zk_connection_rejected"])
    soft, hard = resource.prlimit(srv.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(srv.pid, resource.RLIMIT_NOFILE,
                     (_lowest_free_fd(srv.pid), hard))
    closed = 0
    try:
        socks = [socket.create_connection((harness.HOST, srv.tls_port),
                                          timeout=5) for _ in range(10)]
        for s in socks:
            s.settimeout(5)
            try:
                s.sendall(b"\x16\x03\x01\x00\x05hello")
                if not s.recv(4):
                    closed += 1
            except (ConnectionResetError, BrokenPipeError):
                closed += 1
            s.close()
    finally:
        resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (soft, hard))
    assert closed == 10
    _wait_socks(srv.pid, base_socks)
    m = mntr(srv)
    assert int(m["zk_connection_rejected"]) - before == 10, srv.log_tail()
    assert int(m["roost_connection_rejected_no_fd"]) == 10
    assert "WARN  accept: Too many open files" in srv.log_text()
    k = kazoo(srv, certs)
    try:
        assert k.exists("/") is not None
    finally:
        k.stop()


def test_client_port_unification(server_factory, certs):
    """client.portUnification=true: TLS and plain clients on the one
    client port (told apart by the first byte), no secure port; a TLS
    client's certificate still gives its x509 identity."""
    srv = server_factory(**{
        "client.portUnification": "true",
        "serverCnxnFactory": NETTY,
        "authProvider.x509": X509_PROVIDER,
        "ssl.keyStore.location": cert(certs, "server-keystore.pem"),
        "ssl.trustStore.location": cert(certs, "ca.pem")})
    srv.tls_port = srv.port
    plain = KazooClient(hosts=srv.hosts, timeout=10.0)
    plain.start(timeout=15)
    k = kazoo(srv, certs)
    try:
        k.create("/unified", b"tls", acl=[make_acl("x509", CLIENT1_DN,
                                                    all=True)])
        with pytest.raises(NoAuthError):
            plain.get("/unified")
        plain.create("/unified-plain", b"plain")
        assert k.get("/unified-plain")[0] == b"plain"
        assert k.get("/unified")[0] == b"tls"
        # Garbage that looks like a handshake record, and a truncated one:
        # the connection goes, the port keeps serving both kinds.
        for junk in (b"\x16" + os.urandom(300), b"\x16\x03\x01\x02"):
            with socket.create_connection((harness.HOST, srv.port),
                                          timeout=5) as s:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(10)
                try:
                    while s.recv(4096):
                        pass
                except (ConnectionResetError, socket.timeout):
                    pass
        assert plain.exists("/unified-plain") is not None
        assert k.exists("/unified") is not None
    finally:
        k.stop()
        plain.stop()


def tls_client_socket(srv, certs):
    ctx = ssl.create_default_context(cafile=cert(certs, "ca.pem"))
    ctx.load_cert_chain(cert(certs, "client1.pem"), cert(certs, "client1.key"))
    raw = socket.create_connection((harness.HOST, srv.tls_port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost",
                           suppress_ragged_eofs=False)


def read_to_eof(s):
    """Everything until the server's close_notify; Python's ssl raises
    SSLEOFError instead when the TCP stream ends without one."""
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            return got
        got += b


def test_close_notify_on_close_session(tls_server, certs):
    """closeSession on the secure port: the answer, then the server's
    close_notify before the TCP close."""
    import zkraw
    srv = tls_server()
    with tls_client_socket(srv, certs) as s:
        s.sendall(zkraw.frame(zkraw.connect_request(30000)))
        s.sendall(zkraw.request(1, zkraw.OP_CLOSESESSION))
        got = read_to_eof(s)
    assert len(got) > 40, got


@pytest.mark.roost_only("what Roost does with a malformed frame; "
                        "ZooKeeper's Netty factory closes it its own way")
def test_close_notify_on_protocol_error(tls_server, certs):
    """A connection Roost drops for bad input also ends with close_notify."""
    import struct
    srv = tls_server()
    with tls_client_socket(srv, certs) as s:
        s.sendall(struct.pack(">i", -5) + b"junk")
        read_to_eof(s)


def member3_elsewhere(ens, certs, verify):
    """Member 3 listens on 127.0.0.3 with a certificate that names only
    that address, while its own links to the others leave from 127.0.0.1
    (the kernel's source address towards 127.0.0.1)."""
    line = ens.servers[2].cfg["server.3"].replace(harness.HOST, "127.0.0.3", 1)
    for srv in ens.servers:
        rewrite_cfg(srv, **{"server.3": line,
                            "ssl.quorum.hostnameVerification": verify})
    rewrite_cfg(ens.servers[2], **{"ssl.quorum.keyStore.location":
                                   cert(certs, "member3-keystore.pem")})
    for srv in ens.servers:
        srv.start(wait=False)


@pytest.mark.roost_only("Roost's peer protocol is its own (docs/ensemble.md): "
                        "this is Roost's quorum over TLS, not ZooKeeper's")
def test_acceptor_checks_the_dialling_members_address(ensemble_factory,
                                                      certs):
    """ssl.quorum.hostnameVerification on the accepting side: a member
    whose certificate does not name the address its links come from is
    refused by the others (ZooKeeper checks the dialler's address too),
    while its own listener's address passes the diallers' check; with
    verification off it joins."""
    ens = ensemble_factory(n=3, start=False, **quorum_cfg(certs))
    s1, s2, s3 = ens.servers
    member3_elsewhere(ens, certs, "true")
    s1.wait_ready()
    s2.wait_ready()
    ens.wait_serving(timeout=30, servers=[s1, s2])
    time.sleep(2.0)  # ticks of 200 ms: time enough to join if it could
    assert ens.mode(s3) not in ("leader", "follower")
    assert log_has(s1, "IP address mismatch", timeout=10), s1.log_tail()
    for srv in ens.servers:
        srv.stop()

    ens = ensemble_factory(n=3, start=False, **quorum_cfg(certs))
    member3_elsewhere(ens, certs, "false")
    for srv in ens.servers:
        srv.wait_ready()
    ens.wait_serving(timeout=30)
    deadline = time.monotonic() + 30
    while ens.mode(ens.servers[2]) not in ("leader", "follower"):
        assert time.monotonic() < deadline, ens.servers[2].log_tail()
        time.sleep(0.2)


# ----------------------------------------------------------------------
# ZooKeeper's Java shell (ZooKeeperMain, what zkCli.sh runs) with its TLS
# properties.  zkCli.sh sets its own classpath, without the Netty jars the
# TLS socket needs, so the class is started the way zkCli.sh starts it.

ZKCLI_CP = ":".join("/usr/share/java/%s.jar" % j for j in (
    "zookeeper", "netty-codec", "netty-resolver", "slf4j-log4j12",
    "log4j-1.2"))


def zkcli_tls(port, certs, name, *args):
    cmd = ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", ZKCLI_CP,
           "-Dlog4j.configuration=file:/dev/null",
           "-Dzookeeper.clientCnxnSocket="
           "org.apache.zookeeper.ClientCnxnSocketNetty",
           "-Dzookeeper.client.secure=true",
           "-Dzookeeper.ssl.keyStore.location=" + cert(certs, name),
           "-Dzookeeper.ssl.keyStore.password=" + (
               "secret" if name.endswith(".p12") else ""),
           "-Dzookeeper.ssl.trustStore.location=" + cert(certs, "ca.pem"),
           "org.apache.zookeeper.ZooKeeperMain",
           "-server", "127.0.0.1:%d" % port] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    return r.stdout + r.stderr


def test_zkcli_over_tls(tls_server, certs):
    """zkCli (ZooKeeper's Java client with the Netty socket) connects with
    a PEM key store, and with a PKCS12 one, creates and reads a znode."""
    if not os.path.exists("/usr/share/java/netty-codec.jar"):
        pytest.skip("libnetty-java not installed")
    srv = tls_server()
    out = zkcli_tls(srv.tls_port, certs, "client1-keystore.pem",
                    "create", "/zkcli-tls", "hello")
    assert "Created /zkcli-tls" in out, out
    out = zkcli_tls(srv.tls_port, certs, "client2.p12", "get", "/zkcli-tls")
    assert "hello" in out.splitlines(), out


@pytest.mark.roost_only("ZooKeeper reads JKS (it is Java); Roost cannot and "
                        "says how to convert the store")
def test_jks_key_store_refused_with_the_conversion_command(server_factory,
                                                           certs, tmp_path):
    """A JKS key store stops the start with the keytool command that
    converts it; the converted PKCS12 file then works."""
    if shutil.which("keytool") is None:
        pytest.skip("keytool (default-jre-headless) not installed")
    jks = str(tmp_path / "server.jks")
    subprocess.run(["keytool", "-importkeystore", "-srckeystore",
                    cert(certs, "server.p12"), "-srcstoretype", "PKCS12",
                    "-srcstorepass", "secret", "-destkeystore", jks,
                    "-deststoretype", "JKS", "-deststorepass", "secret",
                    "-noprompt"], check=True, capture_output=True)
    port = harness.free_port()
    cfg = {"secureClientPort": port, "ssl.keyStore.location": jks,
           "ssl.keyStore.password": "secret",
           "ssl.trustStore.location": cert(certs, "ca.pem")}
    srv = harness.Server("roost", str(tmp_path), cfg,
                         roost_bin=os.environ.get("ROOST_SERVER"))
    assert srv.run_to_exit() != 0
    log = srv.log_text()
    assert "is a JKS store" in log, log
    assert ("keytool -importkeystore -srckeystore '%s' -srcstoretype JKS "
            "-destkeystore '%s.p12' -deststoretype PKCS12" % (jks, jks)) in log
    subprocess.run(["keytool", "-importkeystore", "-srckeystore", jks,
                    "-srcstoretype", "JKS", "-srcstorepass", "secret",
                    "-destkeystore", jks + ".p12", "-deststoretype", "PKCS12",
                    "-deststorepass", "secret", "-noprompt"],
                   check=True, capture_output=True)
    srv2 = server_factory(**dict(cfg, **{"ssl.keyStore.location": jks + ".p12",
                                         "ssl.keyStore.type": "PKCS12"}))
    srv2.tls_port = port
    wait_port(port)
    k = kazoo(srv2, certs)
    k.stop()
