"""Prometheus /metrics: the text exposition parsed by python3-prometheus-
client's parser (Debian), ZooKeeper's metric names present with sane
values after a workload, Roost's histograms consistent, and the same
exposition on metricsProvider.httpHost:httpPort when zoo.cfg names
ZooKeeper's Prometheus provider.

Roost only: Debian's ZooKeeper does not ship the Prometheus provider
(zookeeper-prometheus-metrics is not packaged), so there is no reference
exposition to run against; the names are ZooKeeper's mntr/Prometheus names.
"""

import subprocess

import pytest
from kazoo.client import KazooClient
from prometheus_client.parser import text_string_to_metric_families

import harness
from test_admin import admin_ensemble, admin_server, curl, wait_http

pytestmark = pytest.mark.roost_only(
    "Debian's ZooKeeper has no Prometheus metrics provider to compare with")

PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"

# ZooKeeper metric names a Grafana dashboard for ZooKeeper reads.
ZK_NAMES = ["znode_count", "watch_count", "ephemerals_count",
            "num_alive_connections", "outstanding_requests",
            "approximate_data_size", "avg_latency", "min_latency",
            "max_latency", "packets_received", "packets_sent",
            "quorum_size", "global_sessions", "open_file_descriptor_count",
            "max_file_descriptor_count", "uptime", "fsynctime",
            "snapshottime"]


def scrape(port, path="/metrics"):
    status, head, body = curl(port, path)
    assert status == 200, (status, body)
    assert "text/plain; version=0.0.4" in head
    fams = {}
    for fam in text_string_to_metric_families(body):
        assert fam.name not in fams, "family %s twice" % fam.name
        fams[fam.name] = fam
    return fams


def value(fams, name, sample=None, **labels):
    for s in fams[name].samples:
        if (sample is None or s.name == sample) and all(
                s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError((name, sample, labels))


def test_metrics_after_workload(server_factory):
    mport = harness.free_port()
    srv, aport = admin_server(server_factory,
                              **{"metricsProvider.className": PROVIDER,
                                 "metricsProvider.httpPort": mport})
    zk = KazooClient(hosts=srv.hosts, timeout=10)
    zk.start()
    try:
        zk.create("/m", b"")
        for i in range(50):
            zk.create("/m/n%d" % i, b"x" * 10)
        zk.create("/m/eph", b"", ephemeral=True)
        for i in range(20):
            zk.get("/m/n%d" % i, watch=lambda e: None)
        fams = scrape(aport)
        for name in ZK_NAMES:
            assert name in fams, name
        assert value(fams, "znode_count") >= 56
        assert value(fams, "ephemerals_count") == 1
        assert value(fams, "watch_count") == 20
        assert value(fams, "num_alive_connections") >= 1
        assert value(fams, "packets_received") >= 72
        assert value(fams, "packets_sent") >= 72
        assert value(fams, "quorum_size") == 1
        assert value(fams, "global_sessions") == 1
        assert value(fams, "approximate_data_size") > 500
        assert 0 <= value(fams, "min_latency") <= value(fams, "max_latency")
        assert fams["fsynctime"].type == "summary"
        assert value(fams, "fsynctime", "fsynctime_count") >= 1
        # Roost's histograms: per opcode, consistent buckets.
        lat = fams["roost_request_latency_seconds"]
        assert lat.type == "histogram"
        assert value(fams, "roost_request_latency_seconds",
                     "roost_request_latency_seconds_count",
                     op="create") == 52
        assert value(fams, "roost_request_latency_seconds",
                     "roost_request_latency_seconds_count",
                     op="getData") == 20
        inf = value(fams, "roost_request_latency_seconds",
                    "roost_request_latency_seconds_bucket", op="create",
                    le="+Inf")
        assert inf == 52
        buckets = [s for s in lat.samples
                   if s.name.endswith("_bucket") and s.labels["op"] == "create"]
        counts = [s.value for s in buckets]
        assert counts == sorted(counts)  # cumulative
        fsync = value(fams, "roost_fsync_latency_seconds",
                      "roost_fsync_latency_seconds_count")
        assert fsync >= 1
        assert value(fams, "roost_fsync_batch_txns",
                     "roost_fsync_batch_txns_sum") >= 52
        assert value(fams, "roost_sessions") == 1
        # The Prometheus provider's port serves the same families.
        wait_http(mport, "/metrics")
        fams2 = scrape(mport)
        assert set(fams2) == set(fams)
        assert value(fams2, "znode_count") == value(fams, "znode_count")
    finally:
        zk.stop()
        zk.close()


def test_metrics_port_only_with_provider(server_factory):
    aport, mport = harness.free_port(), harness.free_port()
    server_factory(**{"admin.enableServer": "false",
                      "admin.serverPort": aport,
                      "metricsProvider.className": PROVIDER,
                      "metricsProvider.httpPort": mport})
    wait_http(mport, "/metrics")
    assert "znode_count" in scrape(mport)
    # admin off: only /metrics, nothing else on the provider's port
    assert curl(mport, "/commands/ruok")[0] == 404
    out = subprocess.run(["curl", "-s", "--max-time", "2",
                          "http://%s:%d/" % (harness.HOST, aport)],
                         capture_output=True)
    assert out.returncode != 0  # nothing listens on the admin port


def test_dns_and_http_counters(server_factory):
    """The DNS interface's and the admin HTTP server's own counters: a
    scraper sees queries by rcode and the HTTP server's bad requests."""
    import dns.message
    import dns.query
    dport = harness.free_port()
    srv, aport = admin_server(server_factory, **{"dns.port": dport})
    zk = KazooClient(hosts=srv.hosts, timeout=10)
    zk.start()
    try:
        zk.create("/services/web/a", b'{"address": "127.0.0.1", "port": 80}',
                  makepath=True)
        for name, n in (("web.service.roost.", 3), ("nope.service.roost.", 2),
                        ("example.com.", 1)):
            for _ in range(n):
                q = dns.message.make_query(name, "SRV")
                dns.query.udp(q, harness.HOST, port=dport, timeout=5)
        assert curl(aport, "/no/such/route")[0] == 404
        fams = scrape(aport)
        assert value(fams, "roost_dns_queries", rcode="NOERROR") == 3
        assert value(fams, "roost_dns_queries", rcode="NXDOMAIN") == 2
        assert value(fams, "roost_dns_queries", rcode="REFUSED") == 1
        assert value(fams, "roost_dns_dropped") == 0
        assert value(fams, "roost_http_requests") >= 2
        assert value(fams, "roost_http_client_errors") >= 1
        assert value(fams, "roost_http_open_connections") >= 0
    finally:
        zk.stop()
        zk.close()


def test_commit_latency_on_the_leader(ensemble_factory):
    """roost_commit_latency_seconds times each proposal to its commit on
    the leader (the quorum's round trip plus fsyncs); followers propose
    nothing and count nothing."""
    from test_admin import command
    ens, _, ports = admin_ensemble(ensemble_factory)
    zk = KazooClient(hosts=ens.hosts, timeout=10)
    zk.start()
    try:
        zk.create("/lat", b"")
        for i in range(30):
            zk.create("/lat/n%d" % i, b"x")
        counts = {}
        for p in ports.values():
            fams = scrape(p)
            lead = command(p, "leader")["is_leader"]
            n = value(fams, "roost_commit_latency_seconds",
                      "roost_commit_latency_seconds_count")
            counts[lead] = counts.get(lead, 0) + n
            inf = value(fams, "roost_commit_latency_seconds",
                        "roost_commit_latency_seconds_bucket", le="+Inf")
            assert inf == n
        assert counts[True] >= 31, counts
        assert counts.get(False, 0) == 0, counts
    finally:
        zk.stop()
        zk.close()


def test_learner_lag_while_a_follower_is_stopped(ensemble_factory):
    """roost_learner_lag_zxids{sid} on the leader: a follower stopped
    (SIGSTOP) while the others commit falls behind by the writes it
    missed, the running one stays at 0; after SIGCONT it catches up to 0.
    Also election_time and pending_syncs under ZooKeeper's names."""
    import os
    import signal
    from test_admin import command
    from ens_util import wait_until
    # syncLimit 50 ticks (10 s): the leader keeps the stopped follower as
    # a learner (it would drop it after syncLimit, and its figure with it).
    ens, leader, ports = admin_ensemble(ensemble_factory, syncLimit="50")
    lport = ports[leader.myid]
    stopped, running = [s for s in ens.servers if s is not leader]

    def lag(sid):
        return command(lport, "monitor").get(
            "roost_learner_lag_zxids_sid_%d" % sid)

    zk = KazooClient(hosts=leader.hosts, timeout=10)
    zk.start()
    try:
        zk.create("/lag", b"")
        wait_until(lambda: lag(stopped.myid) == 0 and lag(running.myid) == 0,
                   10, "both learners at lag 0")
        fams = scrape(lport)
        assert value(fams, "roost_learner_lag_zxids",
                     sid=str(stopped.myid)) == 0
        assert fams["roost_learner_lag_zxids"].type == "gauge"
        acked = value(fams, "roost_learner_acked_zxid", sid=str(running.myid))
        assert acked == command(lport, "monitor")["roost_commit_zxid"]
        os.kill(stopped.pid, signal.SIGSTOP)
        try:
            for i in range(20):
                zk.create("/lag/n%d" % i, b"x")
            mon = command(lport, "monitor")
            assert mon["roost_learner_lag_zxids_sid_%d" % stopped.myid] >= 20
            wait_until(lambda: lag(running.myid) == 0, 10,
                       "the running follower at lag 0")
            fams = scrape(lport)
            assert value(fams, "roost_learner_lag_zxids",
                         sid=str(stopped.myid)) >= 20
        finally:
            os.kill(stopped.pid, signal.SIGCONT)
        wait_until(lambda: lag(stopped.myid) == 0, 20,
                   "the resumed follower back at lag 0")
        # ZooKeeper's names: election_time (ms) on every member; the
        # leader's pending_syncs.
        for sid, port in ports.items():
            fams = scrape(port)
            assert fams["election_time"].type == "summary"
            assert value(fams, "election_time", "election_time_count") >= 1
            mon = command(port, "monitor")
            assert mon["cnt_election_time"] >= 1
            # the mntr lines of the summary are not gauges of their own
            assert "avg_election_time" not in fams
            if sid == leader.myid:
                assert value(fams, "pending_syncs") == 0
                assert "roost_learner_lag_zxids" in fams
            else:
                assert "pending_syncs" not in fams
                assert "roost_learner_lag_zxids" not in fams
    finally:
        zk.stop()
        zk.close()


def test_pending_syncs_on_the_leader(ensemble_factory):
    """pending_syncs (ZooKeeper's name): a follower's sync waits at the
    leader until a confirmation round that started after it reaches a
    quorum.  With three of five members stopped (SIGSTOP) no round can,
    so the leader holds the sync (1); once they resume it is answered
    and the figure is back at 0."""
    import os
    import signal
    from ens_util import mntr, wait_until
    # syncLimit 100 ticks (20 s): the leader keeps leading meanwhile.
    ens = ensemble_factory(5, syncLimit="100")
    leader = ens.wait_serving()
    asker, *frozen = [s for s in ens.servers if s is not leader]

    def pending():
        return int(mntr(ens, leader).get("zk_pending_syncs", -1))

    assert pending() == 0
    zk = KazooClient(hosts=asker.hosts, timeout=30)
    zk.start()
    try:
        for f in frozen:
            os.kill(f.pid, signal.SIGSTOP)
        try:
            res = zk.sync_async("/")
            wait_until(lambda: pending() == 1, 10, "the sync pending")
            assert not res.ready()
        finally:
            for f in frozen:
                os.kill(f.pid, signal.SIGCONT)
        res.get(timeout=15)
        wait_until(lambda: pending() == 0, 10, "no sync pending")
        for f in frozen:
            assert "zk_pending_syncs" not in mntr(ens, f)
    finally:
        zk.stop()
        zk.close()
