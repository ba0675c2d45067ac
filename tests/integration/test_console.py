"""The web console in a real browser: Debian's headless chromium driven by
puppeteer-core (tests/console/console_test.mjs, installed by
`make console-deps`; it downloads no browser) against a server holding a
known tree, registered services and a live client.  Checks the rendered
tree (root children on the first page, lazy children, data as text /
JSON / hex, stat, ACL, an ACL-protected node refused), the services page,
sessions, ensemble and the live charts, that no request leaves the
server, and that the console changed nothing (the zxid advanced by the
test's own writes only).  Screenshots go to $ROOST_CONSOLE_SHOTS (docs/ keeps
the ones `make console-screenshots` took) or a temporary directory.

Roost only: ZooKeeper has no web console.
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

import harness
from test_admin import admin_server, command

pytestmark = pytest.mark.roost_only("ZooKeeper has no web console")

HERE = os.path.dirname(os.path.abspath(__file__))
CONSOLE_DIR = os.path.join(HERE, "..", "console")


def _ready():
    return (shutil.which("node") and os.path.exists("/usr/bin/chromium") and
            os.path.isdir(os.path.join(CONSOLE_DIR, "node_modules",
                                       "puppeteer-core")))


@pytest.mark.skipif(not _ready(), reason="run `make console-deps` "
                    "(chromium, nodejs, puppeteer-core)")
def test_console_in_chromium(server_factory):
    srv, port = admin_server(server_factory)
    zk = KazooClient(hosts=srv.hosts, timeout=10)
    zk.start()
    stop = threading.Event()
    try:
        zk.ensure_path("/app")
        zk.create("/app/config", json.dumps(
            {"db": {"host": "db1", "port": 5432},
             "features": ["a", "b"]}).encode())
        zk.set("/app/config", zk.get("/app/config")[0])  # version 1
        zk.create("/app/bin", bytes(range(40)))
        zk.create("/secret", b"hidden",
                  acl=[make_digest_acl("u", "p", all=True)])
        zk.ensure_path("/services/payment-service")
        for i, (port_, tags, st, out) in enumerate(
                [(8081, ["v1", "eu"], "passing", "HTTP 200"),
                 (8082, ["v2"], "critical", "HTTP 500")], 1):
            zk.create("/services/payment-service/i%d" % i, json.dumps({
                "name": "payment-service", "id": "i%d" % i,
                "address": "127.0.0.1", "port": port_, "tags": tags,
                "status": st,
                # roost-agent's layout (docs/agent.md)
                "checks": [{"id": "payment-http", "name": "payment /health",
                            "type": "http", "status": st,
                            "output": out}]}).encode(),
                ephemeral=True)
        zk.create("/load", b"")
        zxid = command(port, "server_stats")["server_stats"][
            "last_processed_zxid"]
        writes = [0]

        def reads():  # traffic for the charts; its writes are counted
            i = 0
            while not stop.is_set():
                zk.get("/app/config")
                if i % 5 == 0:
                    zk.set("/load", b"%d" % i)
                    writes[0] += 1
                i += 1
                stop.wait(0.01)

        t = threading.Thread(target=reads, daemon=True)
        t.start()
        shots = os.environ.get("ROOST_CONSOLE_SHOTS") or tempfile.mkdtemp()
        os.makedirs(shots, exist_ok=True)
        out = subprocess.run(
            ["node", os.path.join(CONSOLE_DIR, "console_test.mjs"),
             "http://%s:%d" % (harness.HOST, port), shots,
             "0x%x" % zk.client_id[0]],
            capture_output=True, text=True, timeout=240, cwd=CONSOLE_DIR)
        stop.set()
        t.join()
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.count("ok ") >= 19, out.stdout
        for name in ("tree", "services", "sessions", "ensemble", "charts"):
            assert os.path.getsize(os.path.join(
                shots, "console-%s.png" % name)) > 5000
        # read-only: the only writes are the load's own (one zxid each)
        assert command(port, "server_stats")["server_stats"][
            "last_processed_zxid"] == zxid + writes[0]
    finally:
        stop.set()
        zk.stop()
        zk.close()


@pytest.mark.skipif(not _ready(), reason="run `make console-deps` "
                    "(chromium, nodejs, puppeteer-core)")
def test_console_ensemble_lag(ensemble_factory):
    """The ensemble page on a 3-member ensemble: each member's lag in zxids
    and acknowledged zxid, from the leader's figures.  One follower is
    stopped (SIGSTOP) while 20 writes commit: the leader's page shows it
    behind by at least 20 and the other at 0; a follower's page sends the
    reader to the leader; after SIGCONT the lag returns to 0."""
    import signal
    from ens_util import wait_until
    from test_admin import admin_ensemble
    # syncLimit 300 ticks (60 s): the leader keeps the stopped follower.
    ens, leader, ports = admin_ensemble(ensemble_factory, syncLimit="300")
    stopped, running = [s for s in ens.servers if s is not leader]
    lport = ports[leader.myid]

    def lag(sid):
        return command(lport, "monitor").get(
            "roost_learner_lag_zxids_sid_%d" % sid)

    zk = KazooClient(hosts=leader.hosts, timeout=10)
    zk.start()
    try:
        zk.create("/lag", b"")
        os.kill(stopped.pid, signal.SIGSTOP)
        try:
            for i in range(20):
                zk.create("/lag/n%d" % i, b"x")
            wait_until(lambda: lag(running.myid) == 0, 10,
                       "the running follower at lag 0")
            shots = os.environ.get("ROOST_CONSOLE_SHOTS") or \
                tempfile.mkdtemp()
            os.makedirs(shots, exist_ok=True)
            out = subprocess.run(
                ["node", os.path.join(CONSOLE_DIR, "ensemble_test.mjs"),
                 "http://%s:%d" % (harness.HOST, lport),
                 "http://%s:%d" % (harness.HOST, ports[running.myid]),
                 str(stopped.myid), str(running.myid), "20", shots],
                capture_output=True, text=True, timeout=120, cwd=CONSOLE_DIR)
            assert out.returncode == 0, out.stdout + out.stderr
            assert out.stdout.count("ok ") == 7, out.stdout
        finally:
            os.kill(stopped.pid, signal.SIGCONT)
        wait_until(lambda: lag(stopped.myid) == 0, 20,
                   "the resumed follower back at lag 0")
    finally:
        zk.stop()
        zk.close()
