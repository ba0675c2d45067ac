"""The DNS interface of roost-server (issue 16, docs/dns.md) with real
clients: dig (dnsutils) and dnspython, instances registered with kazoo in
the layouts real registrars write (Roost's JSON, Curator's ServiceInstance
JSON as Curator 5's JsonInstanceSerializer writes it, a plain host:port).

Roost only: ZooKeeper has no DNS interface."""

import json
import os
import random
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from kazoo.client import KazooClient

from harness import HOST, Ensemble

pytestmark = pytest.mark.roost_only("the DNS interface is Roost's own")


def free_dns_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind((HOST, 0))
            port = t.getsockname()[1]
            u.bind((HOST, port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise AssertionError("no free port for UDP and TCP")


def kz(srv):
    z = KazooClient(hosts=srv.hosts, timeout=10.0)
    z.start(timeout=15)
    return z


def q(port, name, rtype, tcp=False, **kw):
    m = dns.message.make_query(name, rtype, **kw)
    if tcp:
        return dns.query.tcp(m, HOST, port=port, timeout=5)
    return dns.query.udp(m, HOST, port=port, timeout=5)


def dig(port, *args):
    out = subprocess.run(["dig", "@" + HOST, "-p", str(port), "+time=5",
                          "+tries=2"] + list(args),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def srv_set(resp):
    """{(port, target, priority, weight)} of the SRV answers."""
    return {(r.port, r.target.to_text(), r.priority, r.weight)
            for rr in resp.answer for r in rr
            if rr.rdtype == dns.rdatatype.SRV}


def addrs(resp, section="answer"):
    return sorted(r.address for rr in getattr(resp, section) for r in rr
                  if rr.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA))


CURATOR = {
    # What Curator 5's JsonInstanceSerializer writes for a ServiceInstance.
    "name": "payment-service", "id": "0b7f3bc8-9f3a-4bb4-8b55-4a1f0c0d2c11",
    "address": "10.0.0.3", "port": 9090, "sslPort": None, "payload": None,
    "registrationTimeUTC": 1700000000000, "serviceType": "DYNAMIC",
    "uriSpec": {"parts": [{"value": "scheme", "variable": True},
                          {"value": "://", "variable": False}]},
    "enabled": True,
}


def register_payment(z):
    """Six instances: three answered over IPv4 (Roost JSON, Curator JSON,
    plain host:port), one IPv6, one host name, and one critical."""
    base = "/services/payment-service/"
    z.create(base + "roost-1", json.dumps({
        "name": "payment-service", "id": "roost-1", "address": "10.0.0.1",
        "port": 8080, "tags": ["primary", "v2"], "meta": {"az": "a"},
        "weights": {"passing": 10, "warning": 1}, "status": "passing",
        "checks": [{"id": "http", "status": "passing"}]}).encode(),
        ephemeral=True, makepath=True)
    z.create(base + "curator-" + CURATOR["id"], json.dumps(CURATOR).encode(),
             ephemeral=True)
    z.create(base + "i-0000000001", b"10.0.0.2:8081", ephemeral=True)
    z.create(base + "v6", json.dumps({"address": "::1", "port": 8443,
                                      "status": "warning",
                                      "weight": 3}).encode(), ephemeral=True)
    z.create(base + "named", json.dumps({"host": "pay.example.com",
                                         "port": 80}).encode(),
             ephemeral=True)
    z.create(base + "sick", json.dumps({"address": "10.0.0.9", "port": 8080,
                                        "status": "critical"}).encode(),
             ephemeral=True)


@pytest.fixture
def dns_server(server_factory):
    port = free_dns_port()
    srv = server_factory(**{"dns.port": port})
    srv.dns_port = port
    return srv


def test_dig_srv_and_addresses(dns_server):
    """dig sees SRV records for the passing and warning instances of every
    layout, with A/AAAA glue for IP targets and a host name target as is;
    the critical instance is not answered; A and AAAA answer directly."""
    port = dns_server.dns_port
    z = kz(dns_server)
    try:
        register_payment(z)
        out = dig(port, "payment-service.service.roost", "SRV", "+noall",
                  "+answer", "+additional")
        lines = [l.split() for l in out.splitlines() if l.strip()]
        srv = sorted((int(f[6]), f[7], int(f[4]), int(f[5]))
                     for f in lines if f[3] == "SRV")
        assert srv == sorted([
            (8080, "0a000001.addr.roost.", 1, 10),
            (9090, "0a000003.addr.roost.", 1, 1),
            (8081, "0a000002.addr.roost.", 1, 1),
            (8443, "00000000000000000000000000000001.addr.roost.", 1, 3),
            (80, "pay.example.com.", 1, 1)]), out
        glue = sorted((f[0], f[4]) for f in lines if f[3] in ("A", "AAAA"))
        assert glue == sorted([
            ("0a000001.addr.roost.", "10.0.0.1"),
            ("0a000002.addr.roost.", "10.0.0.2"),
            ("0a000003.addr.roost.", "10.0.0.3"),
            ("00000000000000000000000000000001.addr.roost.", "::1")]), out
        out = dig(port, "payment-service.service.roost", "A", "+short")
        assert sorted(out.split()) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        out = dig(port, "payment-service.service.roost", "AAAA", "+short")
        assert out.split() == ["::1"]
        # The SRV target resolves on its own too.
        out = dig(port, "0a000003.addr.roost", "A", "+short")
        assert out.split() == ["10.0.0.3"]
    finally:
        z.stop()
        z.close()


def test_names_and_rcodes(dns_server):
    """Tag filters (both spellings), RFC 2782 names, case-insensitive
    names, NXDOMAIN vs NODATA (with the SOA for negative caching),
    REFUSED outside the zone, NOTIMP for other opcodes, FORMERR for a
    malformed query."""
    port = dns_server.dns_port
    z = kz(dns_server)
    try:
        register_payment(z)
        r = q(port, "primary.payment-service.service.roost", "SRV")
        assert srv_set(r) == {(8080, "0a000001.addr.roost.", 1, 10)}
        r = q(port, "_payment-service._primary.roost", "SRV")
        assert srv_set(r) == {(8080, "0a000001.addr.roost.", 1, 10)}
        r = q(port, "_payment-service._tcp.roost", "SRV")
        assert len(srv_set(r)) == 5
        r = q(port, "PAYMENT-Service.SERVICE.Roost", "A")
        assert addrs(r) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        assert r.question[0].name.to_text() == "PAYMENT-Service.SERVICE.Roost."
        assert r.flags & dns.flags.AA

        r = q(port, "nope.service.roost", "SRV")
        assert r.rcode() == dns.rcode.NXDOMAIN
        assert r.authority and r.authority[0].rdtype == dns.rdatatype.SOA
        r = q(port, "canary.payment-service.service.roost", "SRV")
        assert r.rcode() == dns.rcode.NXDOMAIN
        r = q(port, "payment-service.service.roost", "TXT")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer
        assert r.authority[0].rdtype == dns.rdatatype.SOA
        z.create("/services/v4only/a", b"10.1.1.1:80", ephemeral=True,
                 makepath=True)
        r = q(port, "v4only.service.roost", "AAAA")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer  # NODATA

        r = q(port, "example.com", "A")
        assert r.rcode() == dns.rcode.REFUSED
        assert not r.flags & dns.flags.AA

        m = dns.message.make_query("payment-service.service.roost", "A")
        m.set_opcode(dns.opcode.NOTIFY)
        r = dns.query.udp(m, HOST, port=port, timeout=5)
        assert r.rcode() == dns.rcode.NOTIMP

        raw = struct.pack(">HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + \
            b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(raw, (HOST, port))
            resp = s.recv(4096)
        assert resp[:2] == b"\xbe\xef"
        assert resp[3] & 0xF == dns.rcode.FORMERR
    finally:
        z.stop()
        z.close()


def test_tcp_edns_truncation(dns_server):
    """EDNS: our OPT comes back with our payload size and answers fill up
    to the client's size; an answer that does not fit a UDP message is
    truncated with TC set, and the same query over TCP carries every
    instance."""
    port = dns_server.dns_port
    z = kz(dns_server)
    try:
        t = z.transaction()
        z.ensure_path("/services/big")
        for i in range(200):
            t.create("/services/big/i-%03d" % i, json.dumps({
                "address": "10.2.%d.%d" % (i // 200, i % 200 + 1),
                "port": 2000 + i}).encode(), ephemeral=True)
        assert all(not isinstance(x, Exception) for x in t.commit())

        r = q(port, "big.service.roost", "SRV", use_edns=False)
        assert r.flags & dns.flags.TC
        assert len(r.to_wire()) <= 512
        n512 = len(srv_set(r))
        assert 0 < n512 < 200

        r = q(port, "big.service.roost", "SRV", use_edns=0, payload=4096)
        assert r.flags & dns.flags.TC
        assert r.edns == 0 and r.payload == 1232
        assert n512 < len(srv_set(r)) < 200

        r = q(port, "big.service.roost", "SRV", tcp=True)
        assert not r.flags & dns.flags.TC
        assert len(srv_set(r)) == 200
        assert len(addrs(r, "additional")) == 200
        # dig falls back to TCP on TC by itself.
        out = dig(port, "big.service.roost", "A", "+short", "+noedns")
        assert len(out.split()) == 200
    finally:
        z.stop()
        z.close()


def test_tree_changes_visible(dns_server):
    """A status flip, a new instance, a closed session: each shows in the
    very next query."""
    port = dns_server.dns_port
    a, b = kz(dns_server), kz(dns_server)
    try:
        a.create("/services/api/one", json.dumps(
            {"address": "10.3.0.1", "port": 80}).encode(),
            ephemeral=True, makepath=True)
        b.create("/services/api/two", b"10.3.0.2:80", ephemeral=True)
        assert addrs(q(port, "api.service.roost", "A")) == ["10.3.0.1",
                                                            "10.3.0.2"]
        a.set("/services/api/one", json.dumps(
            {"address": "10.3.0.1", "port": 80,
             "status": "critical"}).encode())
        assert addrs(q(port, "api.service.roost", "A")) == ["10.3.0.2"]
        a.set("/services/api/one", json.dumps(
            {"address": "10.3.0.1", "port": 80,
             "status": "warning"}).encode())
        assert addrs(q(port, "api.service.roost", "A")) == ["10.3.0.1",
                                                            "10.3.0.2"]
        b.stop()
        b.close()  # the session ends: its ephemeral goes
        assert addrs(q(port, "api.service.roost", "A")) == ["10.3.0.1"]
        a.delete("/services/api/one")
        r = q(port, "api.service.roost", "A")
        assert r.rcode() == dns.rcode.NXDOMAIN
    finally:
        a.stop()
        a.close()


def hostile_packets(rng):
    hdr = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    yield b""
    yield b"\x00" * 5
    yield hdr + b"\xc0\x0c\x00\x01\x00\x01"                # pointer to self
    yield hdr + b"\x01a\xc0\x0c\x00\x01\x00\x01"           # loop via header
    yield hdr + b"\xc0\x40\x00\x01\x00\x01" + b"\x00" * 80  # forward pointer
    yield hdr + (b"\x3f" + b"x" * 63) * 5 + b"\x00\x00\x01\x00\x01"  # > 255
    yield hdr + b"\x07service"                                # truncated
    yield struct.pack(">HHHHHH", 1, 0x0100, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)
    yield struct.pack(">HHHHHH", 1, 0x8100, 1, 0, 0, 0) + b"\x00\x00\x01\x00\x01"
    for _ in range(300):
        n = rng.randrange(0, 300)
        body = bytes(rng.randrange(256) for _ in range(n))
        yield hdr[:2] + bytes([rng.randrange(256) & 0x7F]) + hdr[3:] + body \
            if rng.random() < 0.7 else body


def test_hostile_packets(dns_server):
    """Malformed and random packets over UDP and TCP (incl. a length
    prefix longer than what follows, and a connection that closes midway)
    neither crash the server nor change its tree; it answers afterwards."""
    port = dns_server.dns_port
    z = kz(dns_server)
    try:
        z.create("/services/web/a", b"10.4.0.1:80", ephemeral=True,
                 makepath=True)
        before = z.get("/services/web/a")[1].mzxid, z.get("/services")[1]
        seed = int(os.environ.get("ROOST_FUZZ_SEED", random.randrange(1 << 30)))
        print("dns hostile seed %d (replay: ROOST_FUZZ_SEED=%d)" % (seed, seed))
        rng = random.Random(seed)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for p in hostile_packets(rng):
                s.sendto(p, (HOST, port))
        for p in list(hostile_packets(random.Random(seed + 1)))[:60]:
            with socket.create_connection((HOST, port), timeout=5) as c:
                c.sendall(struct.pack(">H", len(p)) + p)
                c.settimeout(2)
                try:
                    c.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    pass
        with socket.create_connection((HOST, port), timeout=5) as c:
            c.sendall(b"\xff\xff" + b"\x00" * 100)  # claims 65535, sends 100
        r = q(port, "web.service.roost", "A")
        assert addrs(r) == ["10.4.0.1"]
        r = q(port, "web.service.roost", "A", tcp=True)
        assert addrs(r) == ["10.4.0.1"]
        after = z.get("/services/web/a")[1].mzxid, z.get("/services")[1]
        assert before == after
        assert dns_server.alive()
    finally:
        z.stop()
        z.close()


def test_tcp_pipelined(dns_server):
    """Several queries on one TCP connection, sent at once, are all
    answered in order (RFC 7766)."""
    port = dns_server.dns_port
    z = kz(dns_server)
    try:
        z.create("/services/web/a", b"10.5.0.1:80", ephemeral=True,
                 makepath=True)
        msgs = []
        for i in range(5):
            m = dns.message.make_query("web.service.roost", "A")
            m.id = 100 + i
            w = m.to_wire()
            msgs.append(struct.pack(">H", len(w)) + w)
        with socket.create_connection((HOST, port), timeout=5) as c:
            c.sendall(b"".join(msgs))
            buf = b""
            ids = []
            while len(ids) < 5:
                chunk = c.recv(65536)
                assert chunk, "connection closed early"
                buf += chunk
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(
                        ">H", buf[:2])[0]:
                    n = struct.unpack(">H", buf[:2])[0]
                    r = dns.message.from_wire(buf[2:2 + n])
                    ids.append(r.id)
                    assert addrs(r) == ["10.5.0.1"]
                    buf = buf[2 + n:]
        assert ids == [100, 101, 102, 103, 104]
    finally:
        z.stop()
        z.close()


def test_config(server_factory, _server_base_dir):
    """dns.domain and dns.ttl apply; a bad domain stops the start with a
    message naming it; dns.port=0 (the default) opens no DNS port."""
    port = free_dns_port()
    srv = server_factory(**{"dns.port": port, "dns.domain": "disco.test.",
                            "dns.ttl": 30,
                            "dns.curatorBasePath": "/discovery"})
    z = kz(srv)
    try:
        z.create("/discovery/web/x", json.dumps(CURATOR).encode(),
                 ephemeral=True, makepath=True)
        r = q(port, "web.service.disco.test", "SRV")
        assert srv_set(r) == {(9090, "0a000003.addr.disco.test.", 1, 1)}
        assert r.answer[0].ttl == 30
        assert q(port, "web.service.roost", "SRV").rcode() == \
            dns.rcode.REFUSED
    finally:
        z.stop()
        z.close()
    from harness import Server
    bad = Server("roost", _server_base_dir,
                 {"dns.port": free_dns_port(), "dns.domain": "a..b"},
                 roost_bin=os.environ.get("ROOST_SERVER"))
    assert bad.run_to_exit() != 0
    assert "dns.domain 'a..b'" in bad.log_text()
    off = server_factory()
    assert "dns:" not in off.log_text()


def test_ensemble_members_answer(_server_base_dir):
    """On a 3-member ensemble every member answers DNS from its own tree:
    an instance registered through one member is answered by all three,
    and its removal too."""
    ports = [free_dns_port() for _ in range(3)]
    ens = Ensemble(_server_base_dir, 3,
                   roost_bin=os.environ.get("ROOST_SERVER"))
    for srv, p in zip(ens.servers, ports):
        srv.cfg["dns.port"] = str(p)
        with open(srv.cfg_path, "a") as f:
            f.write("dns.port=%d\n" % p)
    ens.start()
    try:
        ens.wait_serving(timeout=30)
        z = KazooClient(hosts=ens.servers[0].hosts, timeout=10.0)
        z.start(timeout=20)
        try:
            z.create("/services/ens/a", b"10.6.0.1:80", makepath=True)

            def all_answer(want):
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    got = [addrs(q(p, "ens.service.roost", "A"))
                           for p in ports]
                    if all(g == want for g in got):
                        return True
                    time.sleep(0.05)
                raise AssertionError("members answered %r, want %r"
                                     % (got, want))
            all_answer(["10.6.0.1"])
            z.delete("/services/ens/a")
            all_answer([])
        finally:
            z.stop()
            z.close()
    finally:
        errors = ens.stop()
        assert not errors, errors
