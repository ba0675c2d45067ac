"""Smoke test of tools/roost-bench: every workload runs for about two seconds
against the server under test, and the JSON it prints is complete and
consistent (operations done, no errors, percentiles in order, CPU figures
present); a run that cannot connect says so and exits non-zero.

The binary comes from $ROOST_BENCH (set by `make integration` / `make
test-zk` through tools/bench.mk).
"""

import json
import os
import subprocess
import uuid

import pytest

import harness
import zkraw

WORKLOADS = ("create", "set", "get", "exists", "children", "mixed",
             "watch-fanout", "churn")
# Few sessions: the fixture's server allows 60 connections per address.
SESSIONS = 4


def bench_bin():
    path = os.environ.get("ROOST_BENCH")
    if not path:
        pytest.skip("ROOST_BENCH is not set (make integration sets it)")
    assert os.access(path, os.X_OK), "ROOST_BENCH=%s is not executable" % path
    return path


def run_bench(args, timeout=60):
    """Runs roost-bench --json and returns (exit status, parsed JSON, stderr)."""
    proc = subprocess.run([bench_bin(), "--json", "--quiet"] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 1, "expected one JSON line, got:\n%s\n%s" % (out, err)
    return proc.returncode, json.loads(lines[0]), err


@pytest.mark.parametrize("workload", WORKLOADS)
def test_workload_runs_clean(server, workload):
    """Each workload completes operations without a single error and
    reports ordered percentiles and both CPU figures."""
    # create gets no --keys: a bounded key space would end it early.
    keys = [] if workload == "create" else ["--keys", "100"]
    rc, r, err = run_bench(["--hosts", server.hosts, "--workload", workload,
                            "--sessions", str(SESSIONS), "--outstanding", "4",
                            "--value-size", "64", "--duration", "2",
                            "--server-pid", str(server.pid)] + keys)
    assert rc == 0, "exit %d: %s\n%s" % (rc, r, err)
    assert r["workload"] == workload
    assert not r["failed"], r["message"]
    assert r["errors"] == 0 and r["errors_by_code"] == {}, r
    assert r["ops"] > 0, r
    assert r["elapsed_s"] > 1.0, r
    assert r["throughput_ops_s"] > 0
    lat = r["latency_us"]
    assert lat["count"] == r["ops"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] \
        <= lat["p99_9"] <= lat["max"], lat
    assert lat["min"] <= lat["mean"] <= lat["max"], lat
    assert r["bench_cpu_us_per_op"] > 0
    assert r["server_cpu_us_per_op"] is not None, r
    if workload == "watch-fanout":
        # Every round waits for the event on every watcher.
        assert r["events"] == r["ops"] * SESSIONS, r
    if workload in ("set", "get", "exists", "children", "mixed"):
        assert r["setup_items"] == 100, r


def test_ops_bound_is_exact(server):
    """--ops N measures exactly N operations."""
    rc, r, err = run_bench(["--hosts", server.hosts, "--workload", "get",
                            "--sessions", "2", "--outstanding", "8",
                            "--keys", "50", "--ops", "777"])
    assert rc == 0, err
    assert r["ops"] == 777 and r["latency_us"]["count"] == 777, r


def test_create_cleans_up(server):
    """A create run deletes what it created: a second run with the same
    bounded key space under the same root finds nothing left over."""
    root = "/bench-it-cleanup"
    for _ in range(2):
        rc, r, err = run_bench(["--hosts", server.hosts, "--workload",
                                "create", "--sessions", "2", "--keys", "300",
                                "--root", root, "--duration", "5"])
        assert rc == 0, err
        assert r["ops"] == 300 and r["errors"] == 0, r
    # Nothing left: the root is empty (or gone) after the second run.
    rc2, kids = 0, None
    with zkraw.Conn(server.host, server.port) as c:
        c.handshake()
        rep, kids = c.get_children(root)
        rc2 = rep.err
    assert rc2 == zkraw.E_NONODE or kids == [], (rc2, kids)


def test_unreachable_server_fails_loudly():
    """Nothing listening: the run fails, says why, counts the error and
    exits 1 — never a silent zero."""
    port = harness.free_port()
    rc, r, err = run_bench(["--hosts", "127.0.0.1:%d" % port, "--duration",
                            "1"], timeout=30)
    assert rc == 1
    assert r["failed"] and r["ops"] == 0, r
    assert r["errors_by_code"].get("CONNECT_FAILED") == 1, r
    assert "connect" in r["message"]


def test_bad_usage_exits_2():
    """Contradictory bounds are refused before anything is sent."""
    proc = subprocess.run([bench_bin(), "--ops", "5", "--duration", "1"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=10)
    assert proc.returncode == 2
    assert b"--ops" in proc.stderr


def test_server_cpu_needs_every_pid(server):
    """--server-pid takes a list; when one of the processes cannot be read
    (no such pid: above any pid_max) the server CPU figure is unknown, not
    a partial sum."""
    missing = 1 << 30
    rc, r, err = run_bench(["--hosts", server.hosts, "--workload", "get",
                            "--sessions", "2", "--keys", "50", "--ops", "500",
                            "--server-pid", "%d,%d" % (server.pid, missing)])
    assert rc == 0, err
    assert r["server_pids"] == [server.pid, missing], r
    assert r["server_pid"] == server.pid, r
    assert r["server_cpu_us"] is None and r["server_cpu_us_per_op"] is None, r


@pytest.mark.roost_only
def test_ensemble_sessions_spread_cpu_summed(ensemble_factory):
    """Against an ensemble's full connect string the sessions go to every
    member (each follower forwards the setup creates of its own sessions),
    reads through followers find every key created through the others (the
    setup ends with a sync per session), and the server CPU is summed over
    the member pids given."""
    ens = ensemble_factory()
    leader = ens.wait_serving()
    followers = [s for s in ens.servers if s is not leader]

    def forwarded(s):
        return int(ens.mntr(s).get("roost_forwarded", "0"))

    before = [forwarded(s) for s in followers]
    pids = [s.pid for s in ens.servers]
    rc, r, err = run_bench(["--hosts", ens.hosts, "--workload", "get",
                            "--sessions", "3", "--outstanding", "4",
                            "--keys", "300", "--duration", "1",
                            "--server-pid", ",".join(map(str, pids))])
    assert rc == 0, "exit %d: %s\n%s" % (rc, r, err)
    assert r["ops"] > 0 and r["errors"] == 0, r
    assert r["server_pids"] == pids, r
    assert r["server_cpu_us_per_op"] is not None, r
    after = [forwarded(s) for s in followers]
    assert all(a > b for a, b in zip(after, before)), (before, after)


def test_bad_server_pid_list_exits_2():
    """A malformed pid list is refused before anything is sent."""
    proc = subprocess.run([bench_bin(), "--server-pid", "12,,13"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=10)
    assert proc.returncode == 2
    assert b"--server-pid" in proc.stderr


def test_acl_ip_watch_fanout(server):
    """--acl-ip puts an ip ACL on the znodes of the run: with the sessions'
    own address the watch fan-out runs clean (every getData and every event
    passes a real ACL check); with another address the run is refused
    (NoAuth), so the ACL is really there."""
    common = ["--hosts", server.hosts, "--workload", "watch-fanout",
              "--sessions", str(SESSIONS), "--duration", "1"]
    rc, r, err = run_bench(common + ["--acl-ip", "127.0.0.1", "--root",
                                     "/bench-acl-" + uuid.uuid4().hex[:8]])
    assert rc == 0 and not r["failed"] and r["errors"] == 0, (r, err)
    assert r["events"] == r["ops"] * SESSIONS > 0, r
    rc, r, err = run_bench(common + ["--acl-ip", "10.9.9.9", "--root",
                                     "/bench-acl-" + uuid.uuid4().hex[:8]])
    assert rc != 0 and (r["failed"] or r["errors"] > 0), r
    assert "NOAUTH" in json.dumps(r).upper(), r
