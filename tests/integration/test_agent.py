"""roost-agent (agent/) end to end: a real roost-server, real check targets
(an HTTP app, a TCP listener, scripts, a python3-grpcio health server), the
agent binary, and kazoo reading the instance nodes it writes.

Needs ROOST_AGENT (build-san/roost-agent; `make integration` sets it).
Roost-only: the agent is Roost's own program (the node layout it writes is
plain ZooKeeper, but what is tested here is the agent's behaviour).
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
from kazoo.client import KazooClient

from harness import SANITIZER_MARKERS

AGENT = os.environ.get("ROOST_AGENT")

pytestmark = [
    pytest.mark.roost_only("tests the roost-agent program"),
    pytest.mark.skipif(not AGENT, reason="ROOST_AGENT not set"),
]

INSTANCE_KEYS = ["name", "id", "address", "host", "port", "tags", "meta",
                 "weight", "weights", "status", "checks"]
CHECK_KEYS = ["id", "name", "type", "status", "output"]


# ---------------------------------------------------------------------
# Helpers

class Agent:
    """A roost-agent process; stderr collected by a thread."""

    def __init__(self, hosts, defs, tmp, timeout_ms=4000, extra=()):
        self.sock = os.path.join(tmp, "agent-%d.sock" % id(self))
        self.argv = [AGENT, "-s", hosts, "-c", defs, "-S", self.sock,
                     "-t", str(timeout_ms)] + list(extra)
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
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

    def output(self):
        with self.cv:
            return "\n".join(self.lines)

    def wait_line(self, text, timeout=20.0, start=0):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for l in self.lines[start:]:
                    if text in l:
                        return l
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and
                                 not self.t.is_alive()):
                    raise AssertionError("agent never said %r:\n%s" % (
                        text, "\n".join(self.lines[-60:])))
                self.cv.wait(min(left, 0.2))

    def ttl(self, verb, check_id, *note):
        return subprocess.run([AGENT, "-S", self.sock, verb, check_id]
                              + list(note), capture_output=True, text=True,
                              timeout=10)

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self, timeout=15.0):
        """SIGTERM; the exit must be clean (status 0, no sanitizer
        report)."""
        self.signal(signal.SIGTERM)
        rc = self.p.wait(timeout)
        self.t.join(5)
        self.check_log()
        assert rc == 0, self.output()[-3000:]

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(10)
        self.t.join(5)

    def check_log(self):
        text = self.output()
        for m in SANITIZER_MARKERS:
            assert m not in text, text[-6000:]


@pytest.fixture
def agents():
    made = []

    def start(*a, **kw):
        ag = Agent(*a, **kw)
        made.append(ag)
        return ag

    yield start
    for ag in made:
        if ag.p.poll() is None:
            ag.kill()
        ag.check_log()


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="roost-agent-it-")
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def zk(server):
    k = KazooClient(hosts=server.hosts, timeout=10)
    k.start(timeout=10)
    yield k
    k.stop()
    k.close()


def write_defs(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def uniq(name):
    return "%s-%d-%d" % (name, os.getpid(), int(time.monotonic() * 1000))


def instances(zk, service):
    """{child: (json, stat)} under /services/<service>."""
    out = {}
    try:
        kids = zk.get_children("/services/" + service)
    except Exception:
        return out
    for c in kids:
        try:
            data, st = zk.get("/services/%s/%s" % (service, c))
        except Exception:
            continue
        out[c] = (json.loads(data.decode()), st)
    return out


def wait_for(pred, timeout=20.0, what="condition", step=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def one_instance(zk, service, status=None, timeout=20.0, output=None):
    """Wait for exactly one instance (with that status, and if output is
    given, whose first check's output contains it, case-insensitively);
    return (child, json, stat).  A check starts critical with no output
    (docs/agent.md), so a wait for "critical" alone can see the
    registration before the first run."""
    def f():
        ins = instances(zk, service)
        if len(ins) != 1:
            return None
        (c, (j, st)), = ins.items()
        if status is not None and j["status"] != status:
            return None
        if output is not None and \
                output.lower() not in j["checks"][0]["output"].lower():
            return None
        return (c, j, st)
    return wait_for(f, timeout, "one %s instance of %s" % (status, service))


class FlipApp:
    """A small HTTP app whose /health answers 200 or 500 as the test says;
    every answer carries a counter so that the output changes each run."""

    def __init__(self):
        self.code = 200
        self.hits = 0
        app = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                app.hits += 1
                body = ("health %d #%d" % (app.code, app.hits)).encode()
                self.send_response(app.code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def app():
    a = FlipApp()
    yield a
    a.close()


# ---------------------------------------------------------------------
# Tests

def test_http_check_flips_status_and_node_json(server, zk, agents, tmp, app):
    """An HTTP check drives the instance from passing to critical within
    interval x failures_before_critical when the app answers 500, and back;
    the node holds exactly the agreed JSON and is rewritten only when a
    status changes (not on each run, although the output changes)."""
    svc = uniq("payment")
    defs = write_defs(os.path.join(tmp, "payment.json"), {"service": {
        "name": svc, "id": svc + "-1", "address": "127.0.0.2", "port": 8080,
        "tags": ["v2", "eu"], "meta": {"team": "pay"},
        "weights": {"passing": 3, "warning": 1},
        "check": {"id": "pay-http", "name": "payment health",
                  "http": "http://127.0.0.1:%d/health" % app.port,
                  "interval": "300ms", "timeout": "2s",
                  "failures_before_critical": 2}}})
    ag = agents(server.hosts, defs, tmp)
    c, j, st = one_instance(zk, svc, "passing")
    assert list(j.keys()) == INSTANCE_KEYS
    assert j["name"] == svc and j["id"] == svc + "-1"
    assert j["address"] == j["host"] == "127.0.0.2"
    assert j["port"] == 8080 and isinstance(j["port"], int)
    assert j["tags"] == ["v2", "eu"] and j["meta"] == {"team": "pay"}
    assert j["weight"] == 3 and j["weights"] == {"passing": 3, "warning": 1}
    assert len(j["checks"]) == 1
    chk = j["checks"][0]
    assert list(chk.keys()) == CHECK_KEYS
    assert chk["id"] == "pay-http" and chk["name"] == "payment health"
    assert chk["type"] == "http" and chk["status"] == "passing"
    assert "200" in chk["output"]
    assert st.ephemeralOwner != 0

    # Several runs with changing output: no write.
    hits = app.hits
    wait_for(lambda: app.hits >= hits + 4, 10, "four more check runs")
    _, st2 = zk.get("/services/%s/%s" % (svc, c))
    assert st2.version == st.version, "node rewritten without a status change"

    t0 = time.monotonic()
    app.code = 500
    c2, j2, _ = one_instance(zk, svc, "critical", timeout=10)
    took = time.monotonic() - t0
    print("\n500 -> critical node in %.2f s (interval 0.3 s x 2)" % took)
    assert c2 == c  # same node, new data
    assert j2["checks"][0]["status"] == "critical"
    assert "500" in j2["checks"][0]["output"]
    # interval 0.3 s x 2 failures, plus a run in flight and a loaded box
    assert took < 5.0, took

    app.code = 200
    one_instance(zk, svc, "passing", timeout=10)
    ag.stop()


def test_https_check_and_headers(server, zk, agents, tmp):
    """An https check against a self-signed certificate: refused (critical,
    the verification error in the output) unless tls_skip_verify; the
    configured method and headers reach the app; a 429 answer is
    warning."""
    import ssl
    key, crt = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=127.0.0.1"], check=True,
                   capture_output=True, timeout=60)
    got = []
    state = {"code": 200}

    class H(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            got.append((self.command, self.headers.get_all("X-Probe")))
            self.send_response(state["code"])
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "https://127.0.0.1:%d/h" % srv.server_address[1]
        s1, s2 = uniq("tls-skip"), uniq("tls-verify")
        chk = {"http": url, "method": "PUT", "interval": "300ms",
               "header": {"X-Probe": ["a", "b"]}}
        defs = write_defs(os.path.join(tmp, "tls.json"), {"services": [
            {"name": s1, "port": 1, "check": dict(chk, tls_skip_verify=True)},
            {"name": s2, "port": 1, "check": chk}]})
        ag = agents(server.hosts, defs, tmp)
        _, j, _ = one_instance(zk, s1, "passing")
        assert "200" in j["checks"][0]["output"]
        assert ("PUT", ["a", "b"]) in got
        one_instance(zk, s2, "critical", output="certificate")
        state["code"] = 429
        one_instance(zk, s1, "warning", timeout=10)
        ag.stop()
    finally:
        srv.shutdown()
        srv.server_close()


def test_tcp_args_ttl_checks(server, zk, agents, tmp):
    """tcp (listener closed -> critical), args (exit 0/1/2 -> passing/
    warning/critical, output captured and truncated, a hung script killed
    at its timeout) and ttl (roost-agent pass/warn/fail, expiry ->
    critical) each drive their own instance."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    tport = lst.getsockname()[1]
    code_file = os.path.join(tmp, "code")
    with open(code_file, "w") as f:
        f.write("0")
    script = os.path.join(tmp, "check.sh")
    hang = "sleep %d" % (3000 + os.getpid() % 997)  # recognisable
    with open(script, "w") as f:
        f.write("#!/bin/sh\nc=$(cat %s)\nprintf 'x%%.0s' $(seq 1 300)\n"
                "echo ' code '$c >&2\n"
                "[ \"$c\" = hang ] && { %s; echo after; }\nexit $c\n"
                % (code_file, hang))
    os.chmod(script, 0o755)
    s_tcp, s_args, s_ttl = uniq("tcp"), uniq("args"), uniq("ttl")
    defs = write_defs(os.path.join(tmp, "svc.json"), {"services": [
        {"name": s_tcp, "port": tport,
         "check": {"tcp": "127.0.0.1:%d" % tport, "interval": "300ms",
                   "timeout": "1s"}},
        {"name": s_args, "port": 1,
         "check": {"args": [script], "interval": "300ms", "timeout": "1s",
                   "output_max_size": 100}},
        {"name": s_ttl, "port": 2,
         "check": {"id": "ttl-check", "ttl": "2s"}},
    ]})
    ag = agents(server.hosts, defs, tmp)
    _, j, _ = one_instance(zk, s_tcp, "passing")
    assert j["checks"][0]["id"] == "service:" + s_tcp  # Consul's default
    assert j["checks"][0]["type"] == "tcp"
    _, j, _ = one_instance(zk, s_args, "passing")
    out = j["checks"][0]["output"]
    assert out.startswith("x" * 100) and "truncated" in out, out

    # ttl: critical until pushed
    _, j, _ = one_instance(zk, s_ttl, "critical")
    r = ag.ttl("pass", "ttl-check", "all", "good")
    assert r.returncode == 0, r.stderr
    _, j, _ = one_instance(zk, s_ttl, "passing")
    assert j["checks"][0]["output"] == "all good"
    assert ag.ttl("warn", "ttl-check").returncode == 0
    one_instance(zk, s_ttl, "warning")
    r = ag.ttl("pass", "no-such-check")
    assert r.returncode == 1 and "no check" in r.stderr
    r = ag.ttl("fail", "service:" + s_tcp)
    assert r.returncode == 1 and "not a TTL check" in r.stderr
    assert ag.ttl("pass", "ttl-check").returncode == 0
    one_instance(zk, s_ttl, "passing")
    # not pushed again within 2 s: expires
    _, j, _ = one_instance(zk, s_ttl, "critical", timeout=8)
    assert "TTL expired" in j["checks"][0]["output"]
    assert ag.ttl("fail", "ttl-check", "down").returncode == 0

    # tcp: close the listener
    lst.close()
    _, j, _ = one_instance(zk, s_tcp, "critical", timeout=10)
    assert "refused" in j["checks"][0]["output"].lower(), j

    # args: exit 1 warning, 2 critical, hang -> killed at the timeout
    for code, want in (("1", "warning"), ("2", "critical"), ("0", "passing")):
        with open(code_file, "w") as f:
            f.write(code)
        _, j, _ = one_instance(zk, s_args, want, timeout=10)
    with open(code_file, "w") as f:
        f.write("hang")
    _, j, _ = one_instance(zk, s_args, "critical", timeout=10)
    assert "Timed out" in j["checks"][0]["output"], j
    # The shell's child (the sleep) is killed with it (the whole process
    # group): seen running while hung, none left once the script is quick.
    def running():
        return subprocess.run(["pgrep", "-fx", hang],
                              capture_output=True).returncode == 0
    wait_for(running, 10, "%r running" % hang)
    with open(code_file, "w") as f:
        f.write("0")
    one_instance(zk, s_args, "passing", timeout=10)
    wait_for(lambda: not running(), 5, "no %r left running" % hang)
    ag.stop()


def test_bounded_concurrency(server, zk, agents, tmp):
    """With -j 1 no two checks run at once although three are due all the
    time: every script run's [start, end] interval is disjoint from the
    others'."""
    log = os.path.join(tmp, "runs.log")
    script = os.path.join(tmp, "slow.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho \"s $(date +%%s.%%N) $1\" >> %s\n"
                "sleep 0.2\necho \"e $(date +%%s.%%N) $1\" >> %s\n"
                % (log, log))
    os.chmod(script, 0o755)
    names = [uniq("conc%d" % i) for i in range(3)]
    defs = write_defs(os.path.join(tmp, "c.json"), {"services": [
        {"name": n, "port": 1, "check": {"args": [script, n],
                                         "interval": "50ms"}}
        for n in names]})
    ag = agents(server.hosts, defs, tmp, extra=["-j", "1"])
    for n in names:
        one_instance(zk, n, "passing")
    ag.stop()
    spans, open_ = [], {}
    with open(log) as f:
        for line in f:
            kind, t, who = line.split()
            if kind == "s":
                open_[who] = float(t)
            elif who in open_:
                spans.append((open_.pop(who), float(t)))
    assert len(spans) >= 3, spans
    spans.sort()
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert s1 >= e0, "overlapping runs %r %r" % ((s0, e0), (s1, e1))


def test_grpc_health_check(server, zk, agents, tmp):
    """A grpc check speaks grpc.health.v1.Health/Check (h2c) to a
    python3-grpcio server with a generic handler: SERVING -> passing,
    NOT_SERVING -> critical, an unknown service (NOT_FOUND) -> critical."""
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    state = {"status": 1}
    seen = []

    def check(req, ctx):
        # HealthCheckRequest: field 1 (0x0a), length, service name
        svc_name = req[2:2 + req[1]].decode() if len(req) > 2 else ""
        seen.append(svc_name)
        if svc_name == "nope":
            ctx.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return bytes([0x08, state["status"]])

    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(check)})
    gs = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    gs.add_generic_rpc_handlers((handler,))
    gport = gs.add_insecure_port("127.0.0.1:0")
    gs.start()
    try:
        s1, s2 = uniq("grpc"), uniq("grpc-nf")
        defs = write_defs(os.path.join(tmp, "grpc.json"), {"services": [
            {"name": s1, "port": gport,
             "check": {"grpc": "127.0.0.1:%d/my.Service" % gport,
                       "interval": "300ms"}},
            {"name": s2, "port": gport,
             "check": {"grpc": "127.0.0.1:%d/nope" % gport,
                       "interval": "300ms"}}]})
        ag = agents(server.hosts, defs, tmp)
        _, j, _ = one_instance(zk, s1, "passing")
        assert j["checks"][0]["type"] == "grpc"
        assert "SERVING" in j["checks"][0]["output"]
        assert "my.Service" in seen
        state["status"] = 2  # NOT_SERVING
        _, j, _ = one_instance(zk, s1, "critical", timeout=10)
        assert "NOT_SERVING" in j["checks"][0]["output"]
        state["status"] = 1
        one_instance(zk, s1, "passing", timeout=10)
        _, j, _ = wait_for(lambda: (lambda r: r if "grpc-status 5" in
                                    r[1]["checks"][0]["output"] else None)(
            one_instance(zk, s2, "critical")), 10, "NOT_FOUND output")
        ag.stop()
    finally:
        gs.stop(0)


def test_kill9_node_gone_after_session_timeout(server, zk, agents, tmp, app):
    """An agent killed with -9 leaves its node until its session expires
    (the heartbeat pattern), then the node is gone."""
    svc = uniq("k9")
    defs = write_defs(os.path.join(tmp, "k9.json"), {"service": {
        "name": svc, "port": 1,
        "check": {"http": "http://127.0.0.1:%d/" % app.port,
                  "interval": "500ms"}}})
    ag = agents(server.hosts, defs, tmp, timeout_ms=4000)
    one_instance(zk, svc, "passing")
    ag.kill()
    t0 = time.monotonic()
    time.sleep(1.0)
    assert len(instances(zk, svc)) == 1  # the session still lives
    wait_for(lambda: len(instances(zk, svc)) == 0, 20, "node gone")
    took = time.monotonic() - t0
    assert 2.0 < took < 15.0, took


def test_deregister_critical_service_after(server, zk, agents, tmp, app):
    """After deregister_critical_service_after in critical the node is
    removed; when the check passes again the instance comes back."""
    svc = uniq("dereg")
    defs = write_defs(os.path.join(tmp, "d.json"), {"service": {
        "name": svc, "port": 1,
        "check": {"http": "http://127.0.0.1:%d/" % app.port,
                  "interval": "200ms",
                  "deregister_critical_service_after": "1500ms"}}})
    ag = agents(server.hosts, defs, tmp)
    c1, _, _ = one_instance(zk, svc, "passing")
    app.code = 503
    one_instance(zk, svc, "critical", timeout=10)
    t0 = time.monotonic()
    wait_for(lambda: len(instances(zk, svc)) == 0, 15, "node removed")
    assert time.monotonic() - t0 > 0.8
    time.sleep(1.0)
    assert len(instances(zk, svc)) == 0  # stays away while critical
    app.code = 200
    c2, j, _ = one_instance(zk, svc, "passing", timeout=15)
    assert c2 != c1 and j["checks"][0]["status"] == "passing"
    ag.stop()


def test_sighup_adds_removes_keeps(server, zk, agents, tmp, app):
    """SIGHUP reloads a directory of definitions: a new file's instance is
    registered, a deleted one's node removed, a changed one replaced, and
    an unchanged one keeps its very node (same name, same czxid, same
    session); an invalid file changes nothing."""
    d = os.path.join(tmp, "defs")
    os.mkdir(d)
    a, b, c, n = uniq("keep"), uniq("gone"), uniq("chg"), uniq("new")

    def svc(name, port):
        return {"service": {"name": name, "port": port, "check": {
            "http": "http://127.0.0.1:%d/" % app.port, "interval": "300ms"}}}
    write_defs(os.path.join(d, "a.json"), svc(a, 1))
    write_defs(os.path.join(d, "b.json"), svc(b, 2))
    write_defs(os.path.join(d, "c.json"), svc(c, 3))
    ag = agents(server.hosts, d, tmp)
    ka, _, sa = one_instance(zk, a, "passing")
    one_instance(zk, b, "passing")
    kc, _, _ = one_instance(zk, c, "passing")

    os.unlink(os.path.join(d, "b.json"))
    write_defs(os.path.join(d, "c.json"), svc(c, 33))
    write_defs(os.path.join(d, "n.json"), svc(n, 4))
    ag.signal(signal.SIGHUP)
    ag.wait_line("reload: 1 kept, 1 added, 1 changed, 1 removed")
    one_instance(zk, n, "passing")
    wait_for(lambda: len(instances(zk, b)) == 0, 10, "removed instance")
    kc2, jc, _ = one_instance(zk, c, "passing")
    assert jc["port"] == 33 and kc2 != kc
    ka2, _, sa2 = one_instance(zk, a, "passing")
    assert (ka2, sa2.czxid, sa2.ephemeralOwner) == (ka, sa.czxid,
                                                   sa.ephemeralOwner)

    # an invalid definition: refused, nothing changes
    with open(os.path.join(d, "z.json"), "w") as f:
        f.write('{"service": {"name": "x", "port": "eighty"}}')
    mark = len(ag.lines)
    ag.signal(signal.SIGHUP)
    line = ag.wait_line("reload refused", start=mark)
    assert "z.json" in line and "service.port" in line
    time.sleep(0.5)
    ka3, _, sa3 = one_instance(zk, a, "passing")
    assert (ka3, sa3.czxid) == (ka, sa.czxid)
    assert len(instances(zk, n)) == 1
    ag.stop()


def test_sigterm_deregisters_at_once(server, zk, agents, tmp, app):
    """SIGTERM closes the session: every instance node goes at once (well
    before a session timeout), and the agent exits 0 with a clean
    sanitizer log."""
    s1, s2 = uniq("term-a"), uniq("term-b")
    defs = write_defs(os.path.join(tmp, "t.json"), {"services": [
        {"name": s1, "port": 1},  # no checks: passing
        {"name": s2, "port": 2, "check": {
            "http": "http://127.0.0.1:%d/" % app.port, "interval": "1s"}}]})
    ag = agents(server.hosts, defs, tmp, timeout_ms=30000)
    _, j, _ = one_instance(zk, s1, "passing")
    assert j["checks"] == [] and j["status"] == "passing"
    one_instance(zk, s2, "passing")
    t0 = time.monotonic()
    ag.stop()
    wait_for(lambda: not instances(zk, s1) and not instances(zk, s2), 5,
             "nodes gone")
    assert time.monotonic() - t0 < 10  # session timeout is 30 s


def test_session_expiry_reregisters(server, zk, agents, tmp, app):
    """A stopped (SIGSTOP) agent loses its session: the node vanishes; on
    SIGCONT it gets a new session and registers the instance again, with
    the status it has now."""
    svc = uniq("expire")
    defs = write_defs(os.path.join(tmp, "e.json"), {"service": {
        "name": svc, "port": 1,
        "check": {"http": "http://127.0.0.1:%d/" % app.port,
                  "interval": "300ms"}}})
    ag = agents(server.hosts, defs, tmp, timeout_ms=4000)
    c1, _, st1 = one_instance(zk, svc, "passing")
    ag.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: len(instances(zk, svc)) == 0, 20, "expired node")
        app.code = 500
    finally:
        ag.signal(signal.SIGCONT)
    c2, j, st2 = one_instance(zk, svc, "critical", timeout=20)
    assert st2.ephemeralOwner != st1.ephemeralOwner
    ag.wait_line("expired")
    app.code = 200
    one_instance(zk, svc, "passing", timeout=10)
    ag.stop()


def test_invalid_definitions_stop_the_start(server, tmp):
    """An invalid field stops the start naming the file, the field and
    why; an unknown field is only a notice."""
    cases = [
        ({"service": {"name": "a", "port": 70000}}, "service.port"),
        ({"service": {"name": "a", "check": {"http": "http://x/",
                                             "interval": "10x"}}},
         "service.check.interval"),
        ({"service": {"name": "a", "checks": [{"ttl": "5s"}, {
            "tcp": "nohost", "interval": "1s"}]}}, "service.checks[1].tcp"),
        ({"service": {"name": "a/b"}}, "service.name"),
        ({"service": {"name": "a", "check": {"http": "http://x/"}}},
         "service.check.interval"),
        ({"services": [{"name": "a", "check": {"h2ping": "x:1",
                                               "interval": "1s"}}]},
         "services[0].check"),
    ]
    for i, (obj, field) in enumerate(cases):
        p = write_defs(os.path.join(tmp, "bad%d.json" % i), obj)
        r = subprocess.run([AGENT, "-s", server.hosts, "-c", p, "-S",
                            os.path.join(tmp, "s.sock")],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1, (obj, r.stderr)
        assert p in r.stderr and field in r.stderr, (field, r.stderr)
        for m in SANITIZER_MARKERS:
            assert m not in r.stderr
    p = write_defs(os.path.join(tmp, "ok.json"), {"service": {
        "Name": "a", "Port": 1, "EnableTagOverride": True,
        "Check": {"TTL": "5s", "DeregisterCriticalServiceAfter": "1m"}}})
    r = subprocess.run([AGENT, "-c", p, "--check-config"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "service.EnableTagOverride: unknown field" in r.stderr
    r = subprocess.run([AGENT, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "SYNOPSIS" in r.stdout
    # Numbers on the command line are whole numbers in range, not atoi's
    # best guess ("-j x" used to mean 0 checks at once).
    for flag, val in (("-j", "x"), ("-j", "0"), ("-t", "5s"), ("-t", "")):
        r = subprocess.run([AGENT, "-s", server.hosts, "-c", p, flag, val],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (flag, val, r.stderr)
        assert "%s %s: expected a whole number" % (flag, val) in r.stderr


def test_ensemble_failover_keeps_node_and_session(ensemble_factory, agents,
                                                  tmp, app):
    """Against a 3-member ensemble: kill -9 the member holding the agent's
    session, then the leader; the agent resumes its session elsewhere,
    its node stays the same node, and status changes made after each
    fail-over still reach it."""
    ens = ensemble_factory()
    ens.wait_serving(timeout=20)
    svc = uniq("ens")
    defs = write_defs(os.path.join(tmp, "ens.json"), {"service": {
        "name": svc, "port": 1,
        "check": {"http": "http://127.0.0.1:%d/" % app.port,
                  "interval": "300ms"}}})
    ag = agents(ens.hosts, defs, tmp, timeout_ms=8000)
    z = KazooClient(hosts=ens.hosts, timeout=10)
    z.start(timeout=15)
    try:
        def inst(status):
            def f():
                try:
                    z.sync("/")
                except Exception:
                    return None
                return one_instance(z, svc, status, timeout=0.5)
            return wait_for(lambda: _quiet(f), 30, "%s instance" % status)

        c0, _, st0 = inst("passing")
        sid = st0.ephemeralOwner

        def holder():
            tag = "sid=0x%x," % sid
            for srv in ens.servers:
                if srv.alive():
                    try:
                        if tag in srv.four_letter("cons", timeout=2.0):
                            return srv
                    except OSError:
                        pass
            return None

        victim = wait_for(holder, 10, "the agent's server")
        victim.kill()
        ens.wait_serving(timeout=30)
        app.code = 500
        c1, _, st1 = inst("critical")
        assert (c1, st1.ephemeralOwner) == (c0, sid)
        victim.restart()
        leader = ens.wait_serving(timeout=30)
        leader.kill()
        ens.wait_serving(timeout=30)
        app.code = 200
        c2, _, st2 = inst("passing")
        assert (c2, st2.ephemeralOwner) == (c0, sid)
        ag.stop()
        print("\n" + "\n".join(l for l in ag.lines if "session" in l
                                or "->" in l))
    finally:
        z.stop()
        z.close()


def _quiet(f):
    try:
        return f()
    except AssertionError:
        return None
    except Exception:
        return None
