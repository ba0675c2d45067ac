"""End-to-end scenarios with real sessions: service discovery and a
Kafka-style controller election, including session close and session expiry.

Sessions are made to expire in two ways:
  * a raw-socket client that does the handshake (4000 ms timeout), creates
    its node and then goes silent;
  * a KazooClient connected through a small TCP proxy that is switched to
    "black hole" (a network partition): kazoo stops hearing the server, the
    server stops hearing kazoo's pings, and the session times out.

Each test runs inside its own chroot (/it-scen-<random>), so the paths in
the code are the literal /services/..., /brokers/ids/..., /controller.
"""

import json
import socket
import struct
import threading
import time
import uuid

import pytest

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.protocol.states import EventType, KazooState, KeeperState

SESSION_MS = 4000  # = 2 x tickTime, the server's minimum
WAIT = 10.0
# A silent session must be gone by timeout + one tick (+ scheduling slack).
EXPIRY_BOUND = SESSION_MS / 1000.0 + 2.0 + 3.0
# A partitioned kazoo client pinged at most timeout/3 before the partition.
EARLIEST_PARTITIONED = SESSION_MS / 1000.0 * 2 / 3 - 0.2


def wait_for(pred, timeout=WAIT, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------------
# A minimal raw-socket client (enough for handshake, create, ping, close)

OP_CREATE, OP_PING, OP_CLOSE, OP_EXISTS = 1, 11, -11, 3
FLAG_EPHEMERAL, FLAG_SEQUENTIAL = 1, 2


def _ustring(s):
    b = s.encode("utf-8")
    return struct.pack(">i", len(b)) + b


def _buffer(b):
    return struct.pack(">i", len(b)) + b


# vector<ACL> with one entry: perms ALL, world:anyone
OPEN_ACL = struct.pack(">ii", 1, 31) + _ustring("world") + _ustring("anyone")


class RawClient:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.xid = 0

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("server closed the connection")
            data += chunk
        return data

    def send_frame(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_frame(self):
        (n,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(n)

    def handshake(self, timeout_ms, session_id=0, passwd=b"\0" * 16):
        """Returns (negotiated timeout, session id, password)."""
        self.send_frame(struct.pack(">iqiq", 0, 0, timeout_ms, session_id)
                        + _buffer(passwd) + b"\0")
        r = self.recv_frame()
        _proto, to, sid, plen = struct.unpack(">iiqi", r[:20])
        return to, sid, r[20:20 + plen]

    def request(self, op, body=b""):
        """Send one request and return (err, body) of its reply, skipping
        watch notifications."""
        self.xid += 1
        self.send_frame(struct.pack(">ii", self.xid, op) + body)
        while True:
            r = self.recv_frame()
            xid, _zxid, err = struct.unpack(">iqi", r[:16])
            if xid == self.xid:
                return err, r[16:]

    def create(self, path, data, flags):
        err, body = self.request(
            OP_CREATE, _ustring(path) + _buffer(data) + OPEN_ACL
            + struct.pack(">i", flags))
        if err:
            return err, None
        (n,) = struct.unpack(">i", body[:4])
        return 0, body[4:4 + n].decode("utf-8")

    def ping(self):
        self.send_frame(struct.pack(">ii", -2, OP_PING))
        r = self.recv_frame()
        xid, _zxid, err = struct.unpack(">iqi", r[:16])
        assert (xid, err) == (-2, 0)

    def wait_closed(self, timeout):
        """True if the server closes the connection within timeout s."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------
# A TCP proxy that can be switched to black-hole mode


class Proxy:
    """Forwards 127.0.0.1:self.port to the server.  partition() makes it
    swallow everything in both directions (and accept new connections
    without answering); heal() closes the swallowed connections and
    forwards again."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.hosts = "127.0.0.1:%d" % self.port
        self.blackhole = False
        self.closing = False
        self.lock = threading.Lock()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            up = None
            with self.lock:
                hole = self.blackhole
            if not hole:
                try:
                    up = socket.create_connection(self.target, timeout=5)
                    up.settimeout(None)
                except OSError:
                    c.close()
                    continue
            with self.lock:
                self.conns.append((c, up))
            threading.Thread(target=self._pump, args=(c, up),
                             daemon=True).start()
            if up is not None:
                threading.Thread(target=self._pump, args=(up, c),
                                 daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    hole = self.blackhole
                if not hole and dst is not None:
                    dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def partition(self):
        with self.lock:
            self.blackhole = True

    def heal(self):
        with self.lock:
            self.blackhole = False
            conns, self.conns = self.conns, []
        for c, up in conns:
            for s in (c, up):
                if s is not None:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    s.close()

    def close(self):
        self.closing = True
        self.heal()
        try:
            self.lsock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------
# Fixtures


@pytest.fixture
def scen(server):
    """Per-test namespace: .new_client(), .new_proxied_client(), .raw(),
    .root (the chroot), .view (a chrooted observer client); everything is
    closed at the end."""

    class Scen:
        def __init__(self):
            self.root = "/it-scen-%s" % uuid.uuid4().hex[:10]
            self.clients, self.proxies, self.raws = [], [], []
            admin = KazooClient(hosts=server.hosts, timeout=10)
            admin.start(10)
            admin.ensure_path(self.root)
            self.clients.append(admin)
            self.admin = admin  # not chrooted: set-up and clean-up
            self.view = self.new_client()  # chrooted observer

        def _client(self, hosts, timeout):
            c = KazooClient(hosts=hosts + self.root, timeout=timeout,
                            connection_retry={"max_tries": -1, "delay": 0.1,
                                              "max_delay": 0.5},
                            command_retry={"max_tries": 3, "delay": 0.1})
            c.start(10)
            self.clients.append(c)
            return c

        def new_client(self, timeout=10.0):
            return self._client(server.hosts, timeout)

        def new_proxied_client(self):
            """A 4 s-session KazooClient behind its own Proxy."""
            p = Proxy(server.host, server.port)
            self.proxies.append(p)
            c = self._client(p.hosts, SESSION_MS / 1000.0)
            return c, p

        def raw(self):
            r = RawClient(server.host, server.port)
            self.raws.append(r)
            return r

        def close(self):
            for r in self.raws:
                r.close()
            for c in self.clients[1:]:
                try:
                    c.stop()
                    c.close()
                except Exception:
                    pass
            for p in self.proxies:
                p.close()
            try:
                self.admin.delete(self.root, recursive=True)
            except Exception:
                pass
            self.admin.stop()
            self.admin.close()

    s = Scen()
    yield s
    s.close()


def state_recorder(client):
    states = []
    client.add_listener(lambda st: states.append(st))
    return states


# ---------------------------------------------------------------------
# a) Service discovery

SERVICE = "/services/payment-service"


class Discoverer:
    """Keeps the current instance list via get_children(watch=...)."""

    def __init__(self, zk):
        self.zk = zk
        self.cond = threading.Condition()
        self.events = []
        self.children = None
        self.refresh()

    def _watch(self, event):
        with self.cond:
            self.events.append((time.monotonic(), event))
        threading.Thread(target=self._refresh_quietly, daemon=True).start()

    def _refresh_quietly(self):
        try:
            self.refresh()
        except Exception:
            pass  # the discoverer's own client is closing (test teardown)

    def refresh(self):
        kids = self.zk.get_children(SERVICE, watch=self._watch)
        with self.cond:
            self.children = sorted(kids)
            self.cond.notify_all()

    def wait_children(self, pred, timeout=WAIT):
        with self.cond:
            return self.cond.wait_for(
                lambda: self.children is not None and pred(self.children),
                timeout)

    def instances(self):
        out = {}
        for name in self.children:
            try:
                data, _ = self.zk.get(SERVICE + "/" + name)
            except NoNodeError:
                continue
            out[name] = json.loads(data.decode())
        return out


def register(zk, port, version="1.4.2"):
    info = {"host": "10.0.0.%d" % (port % 250), "port": port,
            "version": version}
    path = zk.create(SERVICE + "/instance-", json.dumps(info).encode(),
                     ephemeral=True, sequence=True, makepath=True)
    return path.rsplit("/", 1)[1], info


def test_service_discovery_close_and_expiry(scen):
    """Service discovery: three instances register ephemeral sequential
    nodes with JSON; the discoverer's child watch sees a closed session's
    instance vanish at once and a partitioned (expired) one vanish after the
    session timeout; the expired client is then told its session expired."""
    inst_a = scen.new_client()
    inst_b = scen.new_client()
    inst_c, proxy_c = scen.new_proxied_client()
    states_c = state_recorder(inst_c)
    sid_c = inst_c.client_id[0]
    regs = [register(c, 9000 + i) for i, c in
            enumerate((inst_a, inst_b, inst_c))]
    names = [n for n, _ in regs]
    assert len(set(names)) == 3
    assert names == sorted(names)  # sequence numbers increase
    for n in names:
        assert n.startswith("instance-") and len(n) == len("instance-") + 10

    disc = Discoverer(scen.new_client())
    assert disc.wait_children(lambda k: k == sorted(names))
    insts = disc.instances()
    assert insts == {n: info for n, info in regs}
    owner_c = scen.view.exists(SERVICE + "/" + names[2]).ephemeralOwner
    assert owner_c == sid_c

    # 1. a clean shutdown: the node goes away immediately
    n_events = len(disc.events)
    t0 = time.monotonic()
    inst_a.stop()
    inst_a.close()
    assert disc.wait_children(lambda k: names[0] not in k)
    assert time.monotonic() - t0 < 3.0
    assert disc.children == sorted(names[1:])
    assert len(disc.events) > n_events
    ev = disc.events[n_events][1]
    assert ev.type == EventType.CHILD and ev.path == SERVICE

    # 2. a partition: pings stop, the session expires on the server
    n_events = len(disc.events)
    proxy_c.partition()
    t0 = time.monotonic()
    # kazoo's last ping may have reached the server up to timeout/3 before
    # the partition, so "not before its timeout" means not before ~2.67 s.
    time.sleep(EARLIEST_PARTITIONED)
    assert names[2] in disc.children  # not expired before its timeout
    assert disc.wait_children(lambda k: names[2] not in k, EXPIRY_BOUND)
    took = time.monotonic() - t0
    assert EARLIEST_PARTITIONED <= took <= EXPIRY_BOUND
    assert disc.children == [names[1]]
    assert disc.events[n_events][1].type == EventType.CHILD
    assert list(disc.instances().values()) == [regs[1][1]]

    # 3. the partition heals: kazoo resumes with its old id and password
    #    and is told the session expired, then starts a new session
    proxy_c.heal()
    assert wait_for(lambda: KazooState.LOST in states_c, WAIT)
    assert wait_for(lambda: inst_c.state == KazooState.CONNECTED, WAIT)
    assert inst_c.client_id[0] != sid_c
    assert states_c.index(KazooState.SUSPENDED) < states_c.index(
        KazooState.LOST)
    # the instance re-registers under a new name
    name_c2, _ = register(inst_c, 9002)
    assert disc.wait_children(lambda k: k == sorted([names[1], name_c2]))
    assert name_c2 > names[2]


def test_raw_session_expiry_and_reconnect(scen, server):
    """A raw-socket instance with a 4000 ms session stays registered while
    it pings past its timeout, disappears between timeout and timeout plus a
    tick or so after it goes silent (the discoverer gets a child event), its
    connection is closed, and resuming with its id and password gets the
    expired answer (timeout 0, session id 0, zero password)."""
    inst = scen.new_client()
    name_a, _ = register(inst, 9100)
    disc = Discoverer(scen.new_client())

    raw = scen.raw()
    to, sid, pw = raw.handshake(SESSION_MS)
    assert to == SESSION_MS and sid != 0 and len(pw) == 16
    info = {"host": "10.0.0.99", "port": 9199, "version": "2.0.0"}
    err, path = raw.create(scen.root + SERVICE + "/instance-",
                           json.dumps(info).encode(),
                           FLAG_EPHEMERAL | FLAG_SEQUENTIAL)
    assert err == 0, "create failed with %d" % err
    name_r = path.rsplit("/", 1)[1]
    assert disc.wait_children(lambda k: k == sorted([name_a, name_r]))
    assert disc.instances()[name_r] == info
    assert scen.view.exists(SERVICE + "/" + name_r).ephemeralOwner == sid

    # pinging keeps it alive well past the session timeout
    t_end = time.monotonic() + SESSION_MS / 1000.0 + 2.5
    while time.monotonic() < t_end:
        raw.ping()
        time.sleep(1.0)
    assert name_r in disc.children

    # silence: expires after the timeout, not before
    n_events = len(disc.events)
    raw.ping()
    t0 = time.monotonic()
    time.sleep(SESSION_MS / 1000.0 - 1.0)
    assert name_r in disc.children
    assert disc.wait_children(lambda k: name_r not in k, EXPIRY_BOUND)
    took = time.monotonic() - t0
    assert SESSION_MS / 1000.0 - 1.0 <= took <= EXPIRY_BOUND
    assert disc.children == [name_a]
    assert disc.events[n_events][1].type == EventType.CHILD
    assert raw.wait_closed(3.0), "server kept the expired session's socket"

    # resume attempt with the old credentials
    again = scen.raw()
    to2, sid2, pw2 = again.handshake(SESSION_MS, sid, pw)
    assert (to2, sid2, pw2) == (0, 0, b"\0" * 16)
    assert again.wait_closed(3.0)

    # a wrong password for a live session is refused the same way
    raw3 = scen.raw()
    to3, sid3, pw3 = raw3.handshake(SESSION_MS)
    assert to3 == SESSION_MS
    bad = bytes(b ^ 0xFF for b in pw3)
    wrong = scen.raw()
    assert wrong.handshake(SESSION_MS, sid3, bad) == (0, 0, b"\0" * 16)


def test_closed_session_cannot_be_resumed(scen, server):
    """After an explicit close (closeSession), resuming that session id with
    its password gets the expired answer."""
    raw = scen.raw()
    _to, sid, pw = raw.handshake(SESSION_MS)
    err, _ = raw.request(OP_CLOSE)
    assert err == 0
    assert raw.wait_closed(3.0)
    again = scen.raw()
    assert again.handshake(SESSION_MS, sid, pw) == (0, 0, b"\0" * 16)


# ---------------------------------------------------------------------
# b) Kafka-style broker registry and controller election


class Broker:
    """Registers /brokers/ids/<id> and contends for /controller."""

    def __init__(self, zk, broker_id, log):
        self.zk = zk
        self.id = broker_id
        self.log = log  # shared list of (broker id, "won"/"lost")
        self.owner = None
        self.cond = threading.Condition()
        self.zk.create("/brokers/ids/%d" % broker_id,
                       json.dumps({"host": "broker%d" % broker_id,
                                   "port": 9092}).encode(),
                       ephemeral=True, makepath=True)

    def elect(self):
        try:
            self.zk.create("/controller",
                           json.dumps({"brokerid": self.id}).encode(),
                           ephemeral=True)
            self.log.append((self.id, "won"))
        except NodeExistsError:
            self.log.append((self.id, "lost"))
        except Exception:
            return  # session gone (the stopped/partitioned broker)
        self.watch()

    def watch(self):
        try:
            data, _ = self.zk.get("/controller", watch=self._changed)
        except NoNodeError:
            return self.elect()
        except Exception:
            return
        with self.cond:
            self.owner = json.loads(data.decode())["brokerid"]
            self.cond.notify_all()

    def _changed(self, event):
        if event.type == EventType.DELETED:
            with self.cond:
                self.owner = None
            threading.Thread(target=self.elect, daemon=True).start()
        elif event.type != EventType.NONE:
            threading.Thread(target=self.watch, daemon=True).start()

    def wait_owner(self, pred, timeout=WAIT):
        with self.cond:
            return self.cond.wait_for(lambda: pred(self.owner), timeout)


def _race(brokers):
    barrier = threading.Barrier(len(brokers))

    def go(b):
        barrier.wait()
        b.elect()

    ts = [threading.Thread(target=go, args=(b,), daemon=True)
          for b in brokers]
    for t in ts:
        t.start()
    for t in ts:
        t.join(WAIT)


def _check_single_owner(brokers, log, alive):
    winners = [b for b, r in log if r == "won"]
    assert len(winners) == 1, log
    owner = winners[0]
    for b in brokers:
        if b.id in alive:
            assert b.wait_owner(lambda o: o == owner), (b.id, b.owner, owner)
    return owner


def _kafka_scenario(scen, ending):
    n = 4
    zks, proxies = [], []
    for i in range(n):
        if ending == "expire":
            zk, p = scen.new_proxied_client()
        else:
            zk, p = scen.new_client(), None
        zks.append(zk)
        proxies.append(p)
    log = []
    brokers = [Broker(zks[i], i + 1, log) for i in range(n)]
    assert sorted(scen.view.get_children("/brokers/ids")) == [
        str(i + 1) for i in range(n)]

    _race(brokers)
    alive = {b.id for b in brokers}
    first = _check_single_owner(brokers, log, alive)
    assert sorted(r for _, r in log) == ["lost"] * (n - 1) + ["won"]
    data, st = scen.view.get("/controller")
    assert json.loads(data.decode()) == {"brokerid": first}
    assert st.ephemeralOwner == zks[first - 1].client_id[0]

    del log[:]
    t0 = time.monotonic()
    if ending == "close":
        zks[first - 1].stop()
        zks[first - 1].close()
    else:
        proxies[first - 1].partition()
    alive.discard(first)
    bound = 5.0 if ending == "close" else EXPIRY_BOUND + 2.0
    assert wait_for(lambda: any(r == "won" for _, r in log), bound), (
        "nobody took over after the controller's session ended")
    took = time.monotonic() - t0
    if ending == "expire":
        assert took >= EARLIEST_PARTITIONED, "expired too early"
    second = _check_single_owner(brokers, log, alive)
    assert second != first and second in alive
    time.sleep(0.5)  # late contenders would show up here
    assert [b for b, r in log if r == "won"] == [second]
    data, st = scen.view.get("/controller")
    assert json.loads(data.decode()) == {"brokerid": second}
    assert st.ephemeralOwner == zks[second - 1].client_id[0]
    assert sorted(scen.view.get_children("/brokers/ids")) == sorted(
        str(i) for i in alive)
    return first, second


def test_kafka_controller_failover_on_close(scen):
    """Kafka-style: four brokers register ephemeral ids and race for the
    ephemeral /controller; exactly one wins and all agree on it; when the
    winner closes its session exactly one other broker takes over and
    everyone sees the new owner."""
    _kafka_scenario(scen, "close")


def test_kafka_controller_failover_on_expiry(scen):
    """Kafka-style: as above, but the controller is partitioned away and its
    session expires; after the timeout exactly one other broker takes over,
    everyone sees it, and the old controller's id node is gone too."""
    _kafka_scenario(scen, "expire")
