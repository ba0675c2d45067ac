"""ZooKeeper's own Java shell, zkCli.sh (Debian's zookeeper package), against
the server: each call runs one command, as operators script it."""

import os
import re
import subprocess
import uuid

import pytest

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"


def zkcli(server, *args):
    r = subprocess.run([ZKCLI, "-server", server.hosts] + list(args),
                       capture_output=True, text=True, timeout=60)
    # zkCli prints log lines and watcher noise around the answer.
    lines = [ln for ln in (r.stdout + r.stderr).splitlines()
             if ln.strip() and not re.match(r"^(SLF4J|log4j|WATCHER::|"
                                            r"WatchedEvent|\d{4}-\d\d-\d\d)",
                                            ln)]
    return r.returncode, lines


@pytest.fixture(scope="module")
def have_zkcli():
    if not os.access(ZKCLI, os.X_OK):
        pytest.skip("zkCli.sh not installed (Debian package zookeeper)")


def test_zkcli_create_get_set_ls_delete(server, have_zkcli):
    """zkCli creates, reads with -s, sets, lists and deletes a znode, and the
    Stat it prints has the values ZooKeeper gives (versions, lengths)."""
    base = "/zkcli-" + uuid.uuid4().hex[:8]
    rc, out = zkcli(server, "create", base, "hello")
    assert rc == 0 and ("Created " + base) in out, out
    rc, out = zkcli(server, "create", base + "/child", "c")
    assert ("Created %s/child" % base) in out, out
    rc, out = zkcli(server, "set", base, "world")
    assert rc == 0, out
    rc, out = zkcli(server, "get", "-s", base)
    assert "world" in out, out
    assert "dataVersion = 1" in out and "dataLength = 5" in out, out
    assert "numChildren = 1" in out and "cversion = 1" in out, out
    assert "ephemeralOwner = 0x0" in out, out
    rc, out = zkcli(server, "ls", base)
    assert "[child]" in out, out
    rc, out = zkcli(server, "delete", base)
    assert any("not empty" in ln.lower() for ln in out), out
    rc, out = zkcli(server, "deleteall", base)
    assert rc == 0, out
    rc, out = zkcli(server, "stat", base)
    assert any(("does not exist" in ln) or ("NoNode" in ln) for ln in out), out


def test_zkcli_sequential_and_ephemeral(server, have_zkcli):
    """zkCli's -s and -e flags give a sequential name with a 10-digit suffix
    and an ephemeral node owned by a session (zkCli exits without closing its
    session, so the node lives on until that session expires, on ZooKeeper
    as well)."""
    base = "/zkcli-" + uuid.uuid4().hex[:8]
    zkcli(server, "create", base, "")
    rc, out = zkcli(server, "create", "-s", base + "/q-", "x")
    assert any(re.search(r"Created %s/q-\d{10}$" % re.escape(base), ln)
               for ln in out), out
    rc, out = zkcli(server, "create", "-e", base + "/eph", "x")
    assert ("Created %s/eph" % base) in out, out
    rc, out = zkcli(server, "stat", base + "/eph")
    owner = [ln for ln in out if ln.startswith("ephemeralOwner = ")]
    assert owner and owner[0] != "ephemeralOwner = 0x0", out
    rc, out = zkcli(server, "stat", base + "/q-0000000000")
    assert "ephemeralOwner = 0x0" in out, out
    zkcli(server, "deleteall", base)
