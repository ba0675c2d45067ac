"""The official ZooKeeper C client against the server: the zk_c_client test
program ($ZKC_TEST) and the cli_mt shell from zookeeper-bin."""

import os
import queue
import re
import shutil
import subprocess
import threading
import time
import uuid

import pytest

CLI_MT_CANDIDATES = ("/usr/bin/cli_mt", "/usr/lib/zookeeper/bin/cli_mt")


def test_zk_c_client_program(server):
    """zk_c_client (libzookeeper_mt: create/create2/get/wget/exists/wexists/
    children/delete/multi/async/acl/close) passes every check against the
    server."""
    prog = os.environ.get("ZKC_TEST")
    if not prog:
        pytest.skip("ZKC_TEST is not set (absolute path of "
                    "build/tests/zk_c_client; `make build/tests/zk_c_client`)")
    assert os.access(prog, os.X_OK), "ZKC_TEST=%s is not executable" % prog
    r = subprocess.run([prog, server.hosts], capture_output=True, text=True,
                       timeout=90)
    out = r.stdout
    failed = [ln for ln in out.splitlines() if ln.startswith("not ok")]
    assert r.returncode == 0 and not failed, (
        "zk_c_client exit %d\n%s\nstderr tail:\n%s"
        % (r.returncode, out, r.stderr[-3000:]))
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m and int(m.group(1)) >= 60 and m.group(2) == "0", out


def test_zk_c_client_acl_program(server):
    """zk_c_client_acl (libzookeeper_mt: zoo_add_auth, ZOO_CREATOR_ALL_ACL,
    zoo_get_acl/zoo_set_acl with aversion, NoAuth for another session,
    InvalidACL, ip ACLs with CIDR masks, zoo_create2 of a container,
    zoo_create_ttl with TTL disabled, zoo_remove_watches, AuthFailed) passes
    every check against the server (issue 3)."""
    prog = os.environ.get("ZKC_ACL_TEST")
    if not prog:
        pytest.skip("ZKC_ACL_TEST is not set (absolute path of "
                    "build/tests/zk_c_client_acl; tools/ctests.mk)")
    assert os.access(prog, os.X_OK), "ZKC_ACL_TEST=%s is not executable" % prog
    r = subprocess.run([prog, server.hosts], capture_output=True, text=True,
                       timeout=90)
    out = r.stdout
    failed = [ln for ln in out.splitlines() if ln.startswith("not ok")]
    assert r.returncode == 0 and not failed, (
        "zk_c_client_acl exit %d\n%s\nstderr tail:\n%s"
        % (r.returncode, out, r.stderr[-3000:]))
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m and int(m.group(1)) >= 30 and m.group(2) == "0", out


def find_cli_mt():
    for p in CLI_MT_CANDIDATES:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("cli_mt")


class CliMt:
    """Drives cli_mt one command at a time: it runs every command
    asynchronously, so each send waits for the command's answer."""

    def __init__(self, path, hosts):
        self.proc = subprocess.Popen(
            [path, hosts], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.lines = queue.Queue()
        self.transcript = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern, timeout=10.0):
        """Consume output until a line matches; return all lines read."""
        seen = []
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            self.transcript.append(line)
            if rx.search(line):
                return seen
        raise AssertionError("cli_mt: no line matching %r within %ss; "
                             "transcript:\n%s"
                             % (pattern, timeout, "\n".join(self.transcript)))

    def cmd(self, line, pattern, timeout=10.0):
        self.transcript.append(">>> " + line)
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.expect(pattern, timeout)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)


def test_cli_mt_session(server):
    """cli_mt (the C client shell) can create, set, get, list, create
    ephemeral and sequential nodes, see a child watch fire, sync, and gets
    the right error codes for NodeExists, NotEmpty and NoNode."""
    path = find_cli_mt()
    if not path:
        pytest.skip("cli_mt not found (Debian package zookeeper-bin)")
    node = "/cli-%s" % uuid.uuid4().hex[:8]
    cli = CliMt(path, server.hosts)
    try:
        cli.expect(r"Got a new session id: 0x[0-9a-f]+")

        out = cli.cmd("create " + node, r"^\[%s\]: rc = " % node)
        assert out[-1] == "[%s]: rc = 0" % node
        assert cli.expect(r"name = ")[-1].strip() == "name = " + node
        out = cli.cmd("create " + node, r"^\[%s\]: rc = " % node)
        assert out[-1] == "[%s]: rc = -110" % node  # ZNODEEXISTS

        out = cli.cmd("set %s hello" % node, r"^%s: rc = " % node)
        assert out[-1].startswith("%s: rc = 0" % node)
        out = cli.expect(r"version=")
        assert re.search(r"version=1\s+aversion=0", out[-1])

        cli.cmd("get " + node, r"^%s: rc = 0$" % node)
        out = cli.expect(r"ephemeralOwner")
        text = "\n".join(out)
        assert "value_len = 5" in text and "\nhello\n" in text, text
        assert re.search(r"version=1\s", text)

        out = cli.cmd("ls /", r"^/: rc = ")
        assert out[-1] == "/: rc = 0"
        out = cli.expect(r"^time = ")
        names = {ln.strip() for ln in out[:-1]}
        assert {node[1:], "zookeeper"} <= names, names

        out = cli.cmd("create +e %s/eph" % node, r"rc = ")
        assert out[-1] == "[%s/eph]: rc = 0" % node
        assert cli.expect(r"name = ")[-1].strip() == "name = %s/eph" % node
        out = cli.cmd("create +s %s/seq-" % node, r"rc = ")
        assert out[-1] == "[%s/seq-]: rc = 0" % node
        assert (cli.expect(r"name = ")[-1].strip()
                == "name = %s/seq-0000000001" % node)

        # ls2 leaves a child watch on the node
        out = cli.cmd("ls2 " + node, r"^%s: rc = " % node)
        assert out[-1] == "%s: rc = 0" % node
        out = cli.expect(r"^time = ")
        assert sorted(ln.strip() for ln in out[:-1]) == [
            "eph", "seq-0000000001"]
        cli.expect(r"ephemeralOwner")

        out = cli.cmd("delete " + node, r"^%s: rc = " % node)
        assert out[-1] == "%s: rc = -111" % node  # ZNOTEMPTY
        out = cli.cmd("delete %s/nope" % node, r"rc = ")
        assert out[-1] == "%s/nope: rc = -101" % node  # ZNONODE
        out = cli.cmd("exists %s/nope" % node, r"Error ")
        assert out[-1] == "Error -101 for %s/nope" % node

        out = cli.cmd("delete %s/eph" % node, r"^%s/eph: rc = " % node)
        text = "\n".join(out)
        assert out[-1] == "%s/eph: rc = 0" % node
        if "CHILD_EVENT" not in text:
            cli.expect(r"CHILD_EVENT")
        assert any(re.search(r"CHILD_EVENT state = CONNECTED_STATE for path "
                             + re.escape(node) + "$", ln)
                   for ln in cli.transcript), "\n".join(cli.transcript)

        out = cli.cmd("sync " + node, r"^\[%s\]: rc = " % node)
        assert out[-1] == "[%s]: rc = 0" % node
        assert cli.expect(r"name = ")[-1].strip() == "name = " + node
        out = cli.cmd("delete %s/seq-0000000001" % node, r"rc = ")
        assert out[-1] == "%s/seq-0000000001: rc = 0" % node
        out = cli.cmd("delete " + node, r"^%s: rc = " % node)
        assert out[-1] == "%s: rc = 0" % node
        out = cli.cmd("exists " + node, r"Error ")
        assert out[-1] == "Error -101 for " + node

        cli.proc.stdin.write(b"quit\n")
        cli.proc.stdin.flush()
        assert cli.proc.wait(10) == 0
    finally:
        cli.close()
