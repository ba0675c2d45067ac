"""libroost (client/) end to end: small C programs linked with the library,
run against the `server` fixture.

Needs LIBROOST_BIN_DIR (build/tests: libroost_ops, libroost_recipes,
libroost_session) and LIBROOST_EXAMPLES_DIR (build/examples: register,
discover); `make integration` / `make test-zk` set both.  Unset, the tests
skip with a message.
"""

import os
import signal
import subprocess
import threading
import time

import pytest

BIN_DIR = os.environ.get("LIBROOST_BIN_DIR")
EX_DIR = os.environ.get("LIBROOST_EXAMPLES_DIR")

pytestmark = pytest.mark.skipif(
    not BIN_DIR or not EX_DIR,
    reason="LIBROOST_BIN_DIR / LIBROOST_EXAMPLES_DIR not set")


def prog(name):
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        pytest.skip("%s not built" % path)
    return path


def example(name):
    path = os.path.join(EX_DIR, name)
    if not os.access(path, os.X_OK):
        pytest.skip("%s not built" % path)
    return path


class Proc:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(self, argv):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for(self, pred, timeout=20.0, what="condition"):
        """Wait until pred(lines) is true; return its value."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                v = pred(self.lines)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s; %s said:\n%s"
                                         % (what, self.argv[0],
                                            "\n".join(self.lines[-40:])))
                self.cv.wait(min(left, 0.2))

    def wait_line(self, text, timeout=20.0, start=0):
        return self.wait_for(
            lambda ls: next((l for l in ls[start:] if text in l), None),
            timeout, repr(text))

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def finish(self, timeout=20.0):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.t.join(5)
        return rc

    def output(self):
        with self.cv:
            return "\n".join(self.lines)


@pytest.fixture
def procs():
    made = []

    def start(*argv):
        p = Proc([str(a) for a in argv])
        made.append(p)
        return p

    yield start
    for p in made:
        if p.p.poll() is None:
            p.p.kill()
        p.finish(5)


def test_ops_end_to_end(server):
    """Every operation (blocking and async), errors, multi, ACLs, and watch
    events ordered before the replies that follow them."""
    r = subprocess.run([prog("libroost_ops"), server.hosts],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout


def test_ops_under_chroot(server):
    """The same operations through a chrooted connect string: paths are
    prefixed on the wire and stripped from results and events."""
    r = subprocess.run([prog("libroost_ops"),
                        server.hosts + "/it-chroot-%d" % os.getpid()],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout


def test_service_discovery_example(server, procs):
    """The README pair: three registered instances are discovered; one that
    unregisters (SIGTERM) disappears at once, one that dies (SIGKILL)
    disappears when its session expires."""
    svc = "it-svc-%d" % os.getpid()
    disc = procs(example("discover"), server.hosts, svc, "rr")
    regs = [procs(example("register"), server.hosts, svc, "10.0.0.%d" % i,
                  8000 + i) for i in range(3)]
    for r in regs:
        r.wait_line("registered /services/%s/i-" % svc)
    disc.wait_line("instances 3")
    # Round robin walks all three.
    disc.wait_for(lambda ls: len({l.split()[1] for l in ls
                                  if l.startswith("pick ")}) == 3,
                  what="three different picks")
    n = len(disc.lines)
    regs[0].signal(signal.SIGTERM)
    assert regs[0].finish() == 0
    disc.wait_line("instances 2", start=n, timeout=10)
    n = len(disc.lines)
    regs[1].p.kill()
    regs[1].finish()
    disc.wait_line("instances 1", start=n, timeout=30)
    assert "10.0.0.2" in disc.output().splitlines()[-1] or \
        "10.0.0.2" in disc.wait_line("10.0.0.2", start=n)
    disc.signal(signal.SIGTERM)
    assert disc.finish() == 0
    regs[2].signal(signal.SIGTERM)
    assert regs[2].finish() == 0


def test_election_three_contenders(server, procs):
    """Exactly one of three contenders leads; when it resigns, exactly one
    other takes over, and the last one standing leads too."""
    d = "/it-election-%d" % os.getpid()
    ps = [procs(prog("libroost_recipes"), server.hosts, "election", d,
                "c%d" % i) for i in range(3)]
    for p in ps:
        p.wait_line("joined")

    def leaders():
        out = []
        for p in ps:
            states = [l.split()[0] for l in p.lines
                      if l.startswith(("leader", "follower"))]
            if states and states[-1] == "leader" and p.p.poll() is None:
                out.append(p)
        return out

    deadline = time.monotonic() + 15
    while len(leaders()) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    first = leaders()
    assert len(first) == 1, [p.output() for p in ps]
    first[0].signal(signal.SIGTERM)
    assert first[0].finish() == 0
    rest = [p for p in ps if p is not first[0]]
    deadline = time.monotonic() + 15
    while len(leaders()) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    second = leaders()
    assert len(second) == 1 and second[0] in rest
    time.sleep(0.5)
    assert len(leaders()) == 1  # no second leader shows up
    second[0].signal(signal.SIGTERM)
    assert second[0].finish() == 0
    last = [p for p in rest if p is not second[0]][0]
    last.wait_line("leader", timeout=15)
    last.signal(signal.SIGTERM)
    assert last.finish() == 0


def test_lock_three_contenders(server, procs):
    """Three processes take the same lock three times each; never two
    holders at once (an ephemeral marker node proves it), nobody starves."""
    d = "/it-lock-%d" % os.getpid()
    ps = [procs(prog("libroost_recipes"), server.hosts, "lock", d,
                "c%d" % i, 3) for i in range(3)]
    for p in ps:
        assert p.finish(90) == 0, p.output()
        assert "VIOLATION" not in p.output()
        assert p.output().count("acquired ") == 3


def test_restart_keeps_session_and_watches(server_factory, procs):
    """The single server restarts within the session timeout: the client
    reconnects with the same session, its ephemeral node is still there and
    its watch, re-armed with setWatches, fires."""
    srv = server_factory()
    p = procs(prog("libroost_session"), srv.hosts)
    p.wait_line("ready")
    srv.stop()
    time.sleep(1.0)
    srv.restart()
    assert p.finish(90) == 0, p.output()
    assert "PASSED" in p.output()


def test_zk36_calls_end_to_end(server):
    """addWatch (persistent and recursive) keeps the server's event order
    under a pipelined burst of creates/sets/deletes; removeWatches and
    checkWatches for every watcher type, with NoWatcher; removeWatches
    racing the event it would prevent (each watcher is called exactly once,
    consistent with the reply); multiRead, getEphemerals,
    getAllChildrenNumber, whoAmI (blocking and async)."""
    r = subprocess.run([prog("libroost_watch"), server.hosts, "ops"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout


def test_zk36_calls_under_chroot(server):
    """The same through a chroot: watch paths and event paths, ephemeral
    paths are stripped of it."""
    chroot = "/it-wchroot-%d" % os.getpid()
    mk = subprocess.run([prog("libroost_ops"), server.hosts + chroot],
                        capture_output=True, text=True, timeout=60)
    assert mk.returncode == 0, mk.stdout + mk.stderr  # also makes the chroot
    r = subprocess.run([prog("libroost_watch"), server.hosts + chroot, "ops"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout


def test_recursive_watch_survives_restart(server_factory, procs):
    """A recursive watch across a server restart within the session
    timeout: the events of the bursts before and after are exactly the
    tree's history (nothing lost, nothing twice); setWatches2 re-armed the
    watch with the last zxid."""
    srv = server_factory()
    p = procs(prog("libroost_watch"), srv.hosts, "reconnect")
    p.wait_line("ready", timeout=60)
    srv.stop()
    time.sleep(1.0)
    srv.restart()
    assert p.finish(120) == 0, p.output()
    assert "PASSED" in p.output()


def test_health_aware_discovery(server):
    """roost_service_watch on one recursive watch: instance payloads in the
    agreed JSON (Consul-like, with status and weights), Curator's JSON and
    host:port are parsed; critical instances are skipped unless asked for;
    weighted picks follow the passing/warning weights; a status change by
    setData (no membership change) reaches the cache."""
    r = subprocess.run([prog("libroost_watch"), server.hosts, "discovery"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout


def test_mirror_example(server_factory, procs):
    """examples/mirror keeps a copy of a subtree with one recursive watch
    and prints each change in order; after a server restart it reloads and
    keeps following."""
    from kazoo.client import KazooClient
    srv = server_factory()
    root = "/it-mirror-%d" % os.getpid()
    zk = KazooClient(hosts=srv.hosts, timeout=15)
    zk.start(timeout=20)
    try:
        zk.create(root)
        zk.create(root + "/a", b"1")
        m = procs(example("mirror"), srv.hosts, root)
        m.wait_line("synced 1")
        assert "+ %s/a 1" % root in m.lines
        n = len(m.lines)
        zk.create(root + "/b", b"2")
        zk.create(root + "/b/c", b"3")
        zk.set(root + "/a", b"4")
        zk.delete(root + "/b/c")
        m.wait_line("- %s/b/c" % root, start=n)
        assert m.lines[n:n + 4] == ["+ %s/b 2" % root, "+ %s/b/c 3" % root,
                                    "~ %s/a 4" % root, "- %s/b/c" % root]
    finally:
        zk.stop()
        zk.close()
    n = len(m.lines)
    srv.stop()
    time.sleep(1.0)
    srv.restart()
    m.wait_line("synced 2", start=n, timeout=60)
    zk = KazooClient(hosts=srv.hosts, timeout=15)
    zk.start(timeout=20)
    try:
        n = len(m.lines)
        zk.delete(root + "/b")
        m.wait_line("- %s/b" % root, start=n)
    finally:
        zk.stop()
        zk.close()
    m.signal(signal.SIGTERM)
    assert m.finish() == 0
    assert "bye" in m.output()


class FakeReadOnlyServer:
    """A server that accepts sessions in read-only mode (ConnectResponse
    with readOnly = 1, as a ZooKeeper member that lost its quorum does with
    readonlymode.enabled), answers pings, refuses every request with
    NotReadOnly, and answers the "isro" four-letter word with "ro".  A
    stand-in that needs no ensemble and fixes the order of events; the
    real read-only member (readonlymode.enabled) is test_read_only.py's."""

    def __init__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stop:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(s)
            threading.Thread(target=self._serve, args=(s,),
                             daemon=True).start()

    @staticmethod
    def _read(s, n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            if not chunk:
                raise EOFError
            b += chunk
        return b

    def _serve(self, s):
        import struct
        try:
            head = self._read(s, 4)
            if head == b"isro":
                s.sendall(b"ro")
                return
            self._read(s, struct.unpack(">i", head)[0])  # ConnectRequest
            body = struct.pack(">iiqi", 0, 30000, 0x5eed0001, 16) + \
                b"\0" * 16 + b"\x01"
            s.sendall(struct.pack(">i", len(body)) + body)
            while True:
                n = struct.unpack(">i", self._read(s, 4))[0]
                xid, _ = struct.unpack(">ii", self._read(s, n)[:8])
                err = 0 if xid == -2 else -119  # ping / NotReadOnly
                rep = struct.pack(">iqi", xid, 0, err)
                s.sendall(struct.pack(">i", len(rep)) + rep)
        except (EOFError, OSError):
            pass
        finally:
            s.close()

    def close(self):
        self.stop = True
        self.sock.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


def test_read_only_mode_moves_to_read_write_server(server_factory, procs):
    """With read_only set, the client accepts a read-only server (event
    CONNECTED_READ_ONLY, state READ_ONLY), probes the other host with
    "isro" while the read-write server is down, and moves to it as soon as
    it answers "rw", with a new session (a read-only server's session is
    not offered elsewhere, as in ZooKeeper's client)."""
    srv = server_factory()
    srv.stop()
    fake = FakeReadOnlyServer()
    try:
        hosts = "127.0.0.1:%d,%s" % (fake.port, srv.hosts)
        p = procs(prog("libroost_watch"), hosts, "readonly")
        p.wait_line("read-only ", timeout=60)
        srv.restart()
        assert p.finish(120) == 0, p.output()
        out = p.output().splitlines()
        assert "PASSED" in out
        # CONNECTED_READ_ONLY (5), DISCONNECTED (0), then CONNECTED (3)
        ev = [l for l in out if l.startswith("session ")]
        assert ev[:3] == ["session 5", "session 0", "session 3"], out
    finally:
        fake.close()


def test_auth_failed_is_terminal_by_default(server):
    """As the official client: an identity the server refuses moves the
    client to the terminal AUTH_FAILED state: its event, every later
    request failing with AUTHFAILED, watchers released with NOT_WATCHING,
    and no reconnect."""
    r = subprocess.run([prog("libroost_watch"), server.hosts, "authfail"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout


def test_auth_failed_reconnect_keeps_the_session(server):
    """With auth_failed_reconnect (the shell's choice) the event comes, the
    refused identity is dropped and the client is back on the same
    session; its ephemeral node is still there."""
    r = subprocess.run([prog("libroost_watch"), server.hosts,
                        "authfail-reconnect"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASSED" in r.stdout


class FakeOldServer:
    """A ZooKeeper server from before 3.6, reduced to what service
    discovery needs: a small in-memory tree, getChildren2 / getData /
    exists with one-shot watches, pings, and UNIMPLEMENTED for addWatch.
    add_child() changes the tree and fires the child watches."""

    def __init__(self, tree):
        import socket
        self.tree = dict(tree)  # path -> data (bytes)
        self.lock = threading.Lock()
        self.child_watchers = {}  # path -> [(sock, lock)]
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.addwatch_seen = 0
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(s)
            threading.Thread(target=self._serve, args=(s,),
                             daemon=True).start()

    def children(self, path):
        pre = path.rstrip("/") + "/"
        return sorted(p[len(pre):] for p in self.tree
                      if p.startswith(pre) and "/" not in p[len(pre):])

    @staticmethod
    def _stat(nchildren, dlen):
        import struct
        return struct.pack(">qqqqiiiqiiq", 1, 1, 0, 0, 0, 0, 0, 0, dlen,
                           nchildren, 1)

    def add_child(self, path, data):
        import struct
        with self.lock:
            self.tree[path] = data
            parent = path.rsplit("/", 1)[0]
            ws = self.child_watchers.pop(parent, [])
        ev = struct.pack(">iqiii", -1, 2, 0, 4, 3) + \
            struct.pack(">i", len(parent)) + parent.encode()
        for s, lk in ws:
            with lk:
                try:
                    s.sendall(struct.pack(">i", len(ev)) + ev)
                except OSError:
                    pass

    def _serve(self, s):
        import struct
        lk = threading.Lock()

        def read(n):
            b = b""
            while len(b) < n:
                c = s.recv(n - len(b))
                if not c:
                    raise EOFError
                b += c
            return b

        def send(xid, err, body=b""):
            rep = struct.pack(">iqi", xid, 2, err) + body
            with lk:
                s.sendall(struct.pack(">i", len(rep)) + rep)

        def ustr(b, off):
            n = struct.unpack(">i", b[off:off + 4])[0]
            return b[off + 4:off + 4 + n].decode(), off + 4 + n

        try:
            read(struct.unpack(">i", read(4))[0])  # ConnectRequest
            body = struct.pack(">iiqi", 0, 6000, 0x01d0001, 16) + \
                b"\0" * 16 + b"\0"
            with lk:
                s.sendall(struct.pack(">i", len(body)) + body)
            while True:
                f = read(struct.unpack(">i", read(4))[0])
                xid, op = struct.unpack(">ii", f[:8])
                if op == 11:
                    send(-2, 0)
                elif op == 106:
                    self.addwatch_seen += 1
                    send(xid, -6)  # what a 3.5 server says
                elif op == -11:
                    send(xid, 0)
                    return
                elif op in (3, 4, 12):
                    path, off = ustr(f, 8)
                    watch = f[off] != 0
                    with self.lock:
                        if path not in self.tree:
                            send(xid, -101)
                            continue
                        kids = self.children(path)
                        data = self.tree[path]
                        if watch and op == 12:
                            self.child_watchers.setdefault(
                                path, []).append((s, lk))
                    st = self._stat(len(kids), len(data))
                    if op == 3:
                        send(xid, 0, st)
                    elif op == 4:
                        send(xid, 0, struct.pack(">i", len(data)) + data +
                             st)
                    else:
                        out = struct.pack(">i", len(kids))
                        for k in kids:
                            out += struct.pack(">i", len(k)) + k.encode()
                        send(xid, 0, out + st)
                else:
                    send(xid, -6)
        except (EOFError, OSError):
            pass
        finally:
            s.close()

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.mark.roost_only("a fake pre-3.6 server stands in for the target")
def test_service_watch_falls_back_without_addwatch(procs):
    """Against a server that answers addWatch with UNIMPLEMENTED (before
    3.6), roost_service_watch falls back to re-armed child watches: the
    discover example still loads the list and follows a new instance."""
    fake = FakeOldServer({
        "/": b"", "/services": b"", "/services/old": b"",
        "/services/old/i-0000000001": b'{"host":"10.1.0.1","port":1}',
    })
    try:
        d = procs(example("discover"), "127.0.0.1:%d" % fake.port, "old",
                  "rr")
        d.wait_line("instances 1")
        assert fake.addwatch_seen >= 1
        n = len(d.lines)
        # The fake registered the child watch before it answered the read
        # whose result "instances 1" shows.
        fake.add_child("/services/old/i-0000000002",
                       b'{"host":"10.1.0.2","port":2}')
        d.wait_line("instances 2", start=n, timeout=20)
        assert "10.1.0.2" in d.output()
        d.signal(signal.SIGTERM)
        assert d.finish() == 0
    finally:
        fake.close()
