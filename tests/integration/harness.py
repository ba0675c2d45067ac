"""Start and stop a ZooKeeper-protocol server for the integration tests.

Two targets share one contract (see README.md in this directory):

* ``roost``     -- ``$ROOST_SERVER <zoo.cfg>``, stderr captured to a log file;
* ``zookeeper`` -- Apache ZooKeeper 3.8 from Debian, run standalone through
  ``QuorumPeerMain`` with a log4j configuration that writes to a file.

Both get the same zoo.cfg (tickTime, dataDir, clientPort, clientPortAddress,
maxClientCnxns, 4lw whitelist, admin server off) plus per-test overrides.
"""

import atexit
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HOST = "127.0.0.1"

ZK_CLASSPATH = ":".join([
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
    # ZooKeeper's AdminServer (Jetty + Jackson, dependencies of Debian's
    # libzookeeper-java): the admin HTTP cases compare against it.
    "/usr/share/java/servlet-api.jar",
    "/usr/share/java/jetty9-server.jar",
    "/usr/share/java/jetty9-http.jar",
    "/usr/share/java/jetty9-io.jar",
    "/usr/share/java/jetty9-util.jar",
    "/usr/share/java/jetty9-servlet.jar",
    "/usr/share/java/jetty9-security.jar",
    "/usr/share/java/jackson-core.jar",
    "/usr/share/java/jackson-databind.jar",
    "/usr/share/java/jackson-annotations.jar",
    # The Netty connection factory (TLS, test_tls.py) needs netty-codec,
    # which zookeeper.jar's manifest leaves out (libnetty-java, a
    # dependency of libzookeeper-java, ships it).
    "/usr/share/java/netty-codec.jar",
])

# Markers in a sanitizer build's output that mean the run failed.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:")

READY_TIMEOUT = {"roost": 10.0, "zookeeper": 20.0}

# zoo.cfg keys that ZooKeeper reads as JVM system properties only (or also):
# the harness writes them to zoo.cfg for both targets (Roost reads them
# there) and passes them to java as -D<property>=<value> as well.  Either
# spelling of a key gives the same property.
JVM_PROPERTY_KEYS = (
    ("extendedTypesEnabled", "zookeeper.extendedTypesEnabled"),
    ("jute.maxbuffer", "jute.maxbuffer"),
    ("DigestAuthenticationProvider.superDigest",
     "zookeeper.DigestAuthenticationProvider.superDigest"),
    ("zookeeper.DigestAuthenticationProvider.superDigest",
     "zookeeper.DigestAuthenticationProvider.superDigest"),
    ("znode.container.checkIntervalMs", "znode.container.checkIntervalMs"),
    ("znode.container.maxPerMinute", "znode.container.maxPerMinute"),
    ("znode.container.maxNeverUsedIntervalMs",
     "znode.container.maxNeverUsedIntervalMs"),
    # Read-only mode: only ever a JVM property in ZooKeeper.
    ("readonlymode.enabled", "readonlymode.enabled"),
)
# SIGTERM to exit: a sanitizer build's exit (LeakSanitizer's scan) on a
# machine loaded 10x over its cores can take several seconds of wall time.
STOP_GRACE = 15.0


_live = set()  # servers started and not yet stopped


@atexit.register
def _kill_leftovers():
    """Safety net: no server outlives the test process."""
    for srv in list(_live):
        try:
            if srv.proc.poll() is None:
                os.killpg(srv.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _die_with_parent():
    """preexec_fn: SIGKILL the server if the test process dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class HarnessError(AssertionError):
    """A server could not be started, or misbehaved when stopped."""


# Ports the tests hand to servers come from PORT_RANGE, below Linux's
# ephemeral range (32768-60999 by default): an outgoing connection (a
# client, a member dialling a peer) never takes one of them as its local
# port between the pick and the server's bind, as it could take a port
# that bind(0) had just returned.  The next port to try is one counter in
# a file shared by every test process on the machine, advanced under
# flock: two suites running at once (other checkouts, make test and make
# test-zk) do not get the same port until the counter has gone round the
# whole range.
PORT_RANGE = (12000, 32000)
PORT_COUNTER = os.path.join(tempfile.gettempdir(), "roost-it-next-port")


def _bindable(port):
    """True if nothing holds port on HOST (not even in TIME_WAIT)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _fallback_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now and
    that no other test process has been given recently (see PORT_RANGE)."""
    lo, hi = PORT_RANGE
    try:
        fd = os.open(PORT_COUNTER, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return _fallback_port()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, 32, 0).strip()
        try:
            nxt = int(raw)
        except ValueError:
            # A fresh counter starts somewhere per process: a stale file
            # from an older harness cannot pin everyone to one spot.
            nxt = lo + (os.getpid() * 7919) % (hi - lo)
        for _ in range(hi - lo):
            port = lo + (nxt - lo) % (hi - lo)
            nxt = port + 1
            if _bindable(port):
                break
        else:
            port = None
        data = b"%d\n" % (lo + (nxt - lo) % (hi - lo))
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        return port if port is not None else _fallback_port()
    finally:
        os.close(fd)  # releases the lock


def four_letter(host, port, word, timeout=5.0):
    """Send a four-letter word and return everything until the server closes."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word.encode("ascii"))
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("utf-8", "replace")


class Server:
    """One running server process (roost or zookeeper)."""

    def __init__(self, target, base_dir, overrides=None, roost_bin=None,
                 port=None):
        """overrides: zoo.cfg keys to add or change (None removes a key);
        port: the client port (default: a free one)."""
        if target not in ("roost", "zookeeper"):
            raise ValueError("unknown target %r" % (target,))
        self.target = target
        self.host = HOST
        self.dir = tempfile.mkdtemp(prefix="%s-" % target, dir=base_dir)
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir)
        self.port = port if port is not None else free_port()
        self.hosts = "%s:%d" % (self.host, self.port)
        self.roost_bin = roost_bin
        self.extra_env = {}  # set before start(): e.g. test hooks
        self.proc = None
        self.pid = None
        self.stopped = False
        self.problems = []

        cfg = {
            "tickTime": "2000",
            "dataDir": self.data_dir,
            "clientPort": str(self.port),
            "clientPortAddress": self.host,
            "maxClientCnxns": "60",
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
        }
        for k, v in (overrides or {}).items():
            if v is None:  # None: leave the key out (the server's default)
                cfg.pop(k, None)
                continue
            if isinstance(v, bool):
                v = "true" if v else "false"
            cfg[k] = str(v)
        self.cfg = cfg
        self.tick_ms = int(cfg["tickTime"])
        self.cfg_path = os.path.join(self.dir, "zoo.cfg")
        with open(self.cfg_path, "w") as f:
            for k, v in cfg.items():
                f.write("%s=%s\n" % (k, v))
        self.log_path = os.path.join(self.dir, "server.log")

    # -- lifecycle -----------------------------------------------------

    def _command(self):
        if self.target == "roost":
            if not self.roost_bin:
                raise HarnessError("ROOST_SERVER is not set: give the absolute "
                                   "path of roost-server (or use --target "
                                   "zookeeper)")
            if not os.access(self.roost_bin, os.X_OK):
                raise HarnessError("ROOST_SERVER=%s is not an executable"
                                   % self.roost_bin)
            return [self.roost_bin, self.cfg_path]
        log4j = os.path.join(self.dir, "log4j.properties")
        with open(log4j, "w") as f:
            f.write("log4j.rootLogger=INFO, FILE\n"
                    "log4j.appender.FILE=org.apache.log4j.FileAppender\n"
                    "log4j.appender.FILE.File=%s\n"
                    "log4j.appender.FILE.Append=true\n"
                    "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
                    "log4j.appender.FILE.layout.ConversionPattern="
                    "%%d{ISO8601} [%%t] %%-5p %%c{1} - %%m%%n\n" % self.log_path)
        jvm = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-cp", ZK_CLASSPATH,
               "-Dlog4j.configuration=file:" + log4j,
               "-Dzookeeper.admin.enableServer=%s"
               % self.cfg.get("admin.enableServer", "false")]
        for key, prop in JVM_PROPERTY_KEYS:
            val = self.cfg.get(key)
            if val is not None:
                jvm.append("-D%s=%s" % (prop, val))
        return jvm + ["org.apache.zookeeper.server.quorum.QuorumPeerMain",
                      self.cfg_path]

    def start(self, wait=True):
        """Start the process; with wait, return once it answers srvr with a
        Mode: line (else call wait_ready())."""
        cmd = self._command()
        env = dict(os.environ)
        if self.target == "roost":
            # Make sanitizer reports land in the log and fail loudly.
            env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.extra_env)
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf,
                                         cwd=self.dir, env=env,
                                         start_new_session=True,
                                         preexec_fn=_die_with_parent)
        finally:
            logf.close()
        self.pid = self.proc.pid
        _live.add(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        try:
            self._wait_ready(READY_TIMEOUT[self.target])
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError("%s exited with status %s before it was "
                                   "ready; log tail:\n%s"
                                   % (self.target, self.proc.returncode,
                                      self.log_tail()))
            try:
                last = four_letter(self.host, self.port, "srvr", timeout=1.0)
                if "Mode:" in last:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise HarnessError("%s did not answer srvr with a Mode: line within "
                           "%.0f s (last answer %r); log tail:\n%s"
                           % (self.target, timeout, last, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def restart(self, wait=True):
        """Start the server again on the same dataDir, port and zoo.cfg
        after stop() or kill() (durability tests).  The log file is
        appended to; sanitizer scans cover every run."""
        if self.proc is not None and not self.stopped:
            raise HarnessError("restart() of a server that is still running")
        self.proc = None
        self.pid = None
        self.stopped = False
        return self.start(wait=wait)

    def run_to_exit(self, timeout=20.0):
        """Start the server when it is expected to refuse to start (a
        corrupt data directory): wait for it to exit and return its exit
        status.  Raises if it is still running (answering) after timeout."""
        if self.proc is not None and not self.stopped:
            raise HarnessError("run_to_exit() of a server that is running")
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self._command(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf,
                                         cwd=self.dir,
                                         start_new_session=True,
                                         preexec_fn=_die_with_parent)
        finally:
            logf.close()
        self.pid = self.proc.pid
        self.stopped = False
        _live.add(self)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise HarnessError("%s kept running; it was expected to refuse "
                               "to start; log tail:\n%s"
                               % (self.target, self.log_tail()))
        self.stopped = True
        self._cleanup_children()
        if self.target == "roost":
            self._scan_sanitizers()
            self._raise_problems()
        return rc

    def stop(self):
        """SIGTERM, wait up to 5 s, then SIGKILL.  For roost, raise if the
        exit status is bad or the log holds a sanitizer report."""
        if self.proc is None or self.stopped:
            return
        self.stopped = True
        killed = False
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                killed = True
                self._sigkill()
        self._cleanup_children()
        if self.target == "roost":
            rc = self.proc.returncode
            if killed:
                self.problems.append("roost-server did not exit within %.0f s "
                                     "of SIGTERM" % STOP_GRACE)
            elif rc not in (0, -signal.SIGTERM):
                self.problems.append("roost-server exited with status %s"
                                     % rc)
            self._scan_sanitizers()
            self._raise_problems()

    def kill(self):
        """SIGKILL the server (no graceful shutdown)."""
        if self.proc is None or self.stopped:
            return
        self.stopped = True
        self._sigkill()
        self._cleanup_children()
        if self.target == "roost":
            self._scan_sanitizers()
            self._raise_problems()

    def _sigkill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def _cleanup_children(self):
        # The server runs in its own process group (start_new_session);
        # make sure nothing it spawned outlives it.
        _live.discard(self)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _scan_sanitizers(self):
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                start = text.rfind("\n", 0, max(0, i - 200)) + 1
                self.problems.append("sanitizer report in roost log (%r):\n%s"
                                     % (marker, text[start:start + 4000]))
                break

    def _raise_problems(self):
        if self.problems:
            msg = "\n".join(self.problems)
            self.problems = []
            raise HarnessError(msg + "\n(log: %s)" % self.log_path)

    # -- inspection ----------------------------------------------------

    def four_letter(self, word, timeout=5.0):
        return four_letter(self.host, self.port, word, timeout)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def remove_files(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __repr__(self):
        return "<Server %s %s pid=%s>" % (self.target, self.hosts,
                                          getattr(self, "pid", None))


class Ensemble:
    """N servers forming one ensemble on loopback: each has its own dataDir
    with a myid file, a free client port and free peer and election ports;
    all share the server.N lines.  The config is a plain ZooKeeper zoo.cfg
    (tickTime, initLimit, syncLimit, server.N, myid) and nothing else, so
    the same ensemble runs on Roost and on Apache ZooKeeper (target)."""

    def __init__(self, base_dir, n=3, overrides=None, roost_bin=None,
                 route=None, observers=(), target="roost",
                 client_in_lines=False):
        """route(i, j, port) -> the port server i dials to reach server j
        (1-based ids; default: j's own peer port).  Lets a test put a
        fault-injecting proxy on a link.  observers: the 1-based ids of
        the members that are observers (`server.N=...:observer`); the
        others are participants.  client_in_lines: ZooKeeper 3.5+'s form,
        each member's client address only on its server.N line
        (`;127.0.0.1:port`), no clientPort / clientPortAddress keys."""
        self.target = target
        client_ports = [free_port() for _ in range(n)]
        self.observers = frozenset(observers)
        bad = [i for i in self.observers if not 1 <= i <= n]
        if bad:
            raise ValueError("observer ids out of range 1..%d: %r" % (n, bad))
        self.peer_ports = [free_port() for _ in range(n)]
        # Roost carries elections on the peer port and only checks the
        # election port; ZooKeeper listens on it, so it must be free.
        self.elect_ports = [free_port() for _ in range(n)]
        base = {
            "tickTime": "200",
            "initLimit": "10",
            "syncLimit": "5",
        }
        self.servers = []
        for i in range(n):
            cfg = dict(base)
            for j in range(n):
                port = self.peer_ports[j]
                if route is not None and i != j:
                    port = route(i + 1, j + 1, port)
                line = "%s:%d:%d" % (HOST, port, self.elect_ports[j])
                if j + 1 in self.observers:
                    line += ":observer"
                if client_in_lines:
                    line += ";%s:%d" % (HOST, client_ports[j])
                cfg["server.%d" % (j + 1)] = line
            if client_in_lines:
                cfg["clientPort"] = None
                cfg["clientPortAddress"] = None
            if target == "zookeeper" and i + 1 in self.observers:
                cfg["peerType"] = "observer"  # ZooKeeper wants both
            cfg.update(overrides or {})
            srv = Server(target, base_dir, cfg, roost_bin=roost_bin,
                         port=client_ports[i])
            with open(os.path.join(srv.data_dir, "myid"), "w") as f:
                f.write("%d\n" % (i + 1))
            srv.myid = i + 1
            srv.observer = srv.myid in self.observers
            self.servers.append(srv)
        self.hosts = ",".join(s.hosts for s in self.servers)

    def start(self):
        # A ZooKeeper member answers srvr with a Mode: line only once a
        # quorum is up: start them all, then wait.
        for srv in self.servers:
            srv.start(wait=False)
        for srv in self.servers:
            srv.wait_ready()
        return self

    def restart_all(self):
        """Start every stopped or killed member again (same dataDirs and
        ports), all before waiting for any."""
        down = [s for s in self.servers if not s.alive()]
        for srv in down:
            srv.restart(wait=False)
        for srv in down:
            srv.wait_ready()
        return self

    def mode(self, srv):
        """'leader', 'follower', 'looking', or None when down."""
        if not srv.alive():
            return None
        try:
            out = srv.four_letter("srvr", timeout=1.0)
        except OSError:
            return None
        for line in out.splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
        return None

    def mntr(self, srv, timeout=10.0):
        """mntr as a dict.  The server closes after its answer, so the
        timeout only bounds a server that hangs; a short one made a slow
        answer on a loaded machine read as {} (no figures)."""
        out = srv.four_letter("mntr", timeout=timeout)
        d = {}
        for line in out.splitlines():
            if "\t" in line:
                k, v = line.split("\t", 1)
                d[k] = v
        return d

    def wait_serving(self, timeout=15.0, servers=None):
        """Wait until one leader and every other live server is serving
        under it; returns the leader."""
        servers = [s for s in (servers or self.servers) if s.alive()]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            modes = [self.mode(s) for s in servers]
            if modes.count("leader") == 1 and all(
                    m in ("leader", "follower", "observer") for m in modes):
                if self.target != "roost" or all(
                        self.mntr(s).get("roost_serving") == "1"
                        for s in servers):
                    return servers[modes.index("leader")]
            time.sleep(0.05)
        raise HarnessError("no serving ensemble within %.0f s: %r" % (
            timeout, [(s.myid, self.mode(s)) for s in servers]))

    def stop(self):
        errors = []
        for srv in self.servers:
            try:
                if srv.proc is not None and not srv.stopped:
                    srv.stop()
            except AssertionError as e:
                errors.append(str(e))
        return errors
