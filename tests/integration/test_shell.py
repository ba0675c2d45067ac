"""`roost`, the shell (tools/roost.c), against the server: one-shot commands
and their exit codes, scripts piped on stdin, --json output, data rendering,
services, watches, and the interactive line editor driven through tmux.

Needs ROOST_SHELL (the binary; `make integration` / `make test-zk` set it
from tools/shell.mk).  Unset, the tests skip with a message.
"""

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
from kazoo.client import KazooClient

SHELL = os.environ.get("ROOST_SHELL")

pytestmark = pytest.mark.skipif(
    not SHELL or not os.access(SHELL or "", os.X_OK),
    reason="ROOST_SHELL not set or not executable")


def run(server, *args, stdin=None, json_out=False, extra=()):
    """Runs `roost -s HOSTS [--json] ARGS...`; returns (rc, stdout, stderr)."""
    argv = [SHELL, "-s", server.hosts] + list(extra)
    if json_out:
        argv.append("--json")
    argv += list(args)
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                       timeout=60)
    # A sanitizer report would also show in stderr; never accept one.
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, \
        r.stderr
    return r.returncode, r.stdout, r.stderr


def base_path(tag):
    return "/sh-%s-%s" % (tag, uuid.uuid4().hex[:8])


@pytest.fixture
def zk(server):
    c = KazooClient(hosts=server.hosts, timeout=15)
    c.start(timeout=20)
    try:
        yield c
    finally:
        c.stop()
        c.close()


# ---------------------------------------------------------------------------
# One-shot mode and exit codes


def test_oneshot_exit_codes(server):
    """One-shot commands exit 0 on success, 1 when the operation fails (with
    the ZooKeeper error name and message on stderr) and 2 on a usage error."""
    p = base_path("rc")
    rc, out, err = run(server, "create", p, "hello")
    assert rc == 0 and out.strip() == "Created " + p, (out, err)
    rc, out, err = run(server, "get", p)
    assert rc == 0 and out == "hello\n", (out, err)
    rc, out, err = run(server, "create", p, "again")
    assert rc == 1 and "NODEEXISTS" in err and "node exists" in err, err
    rc, out, err = run(server, "get", p + "/missing")
    assert rc == 1 and "NONODE" in err and "no node" in err, err
    rc, out, err = run(server, "set", "-v", "7", p, "x")
    assert rc == 1 and "BADVERSION" in err, err
    rc, out, err = run(server, "nosuchcommand")
    assert rc == 2 and "unknown command" in err, err
    rc, out, err = run(server, "get")
    assert rc == 2 and "usage: get" in err, err
    rc, out, err = run(server, "ls", "-Z", "/")
    assert rc == 2 and "unknown option" in err, err
    rc, out, err = run(server, "delete", "-v", "abc", p)
    assert rc == 2, err
    rc, out, err = run(server, "create", p + "/a", "two", "words")
    assert rc == 2 and "too many" in err, err
    rc, _, err = run(server, "deleteall", p)
    assert rc == 0, err


def test_oneshot_cannot_connect_is_an_error():
    """With no server at the address, a one-shot command fails with status 1
    and says it could not connect, within the connect timeout."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t0 = time.monotonic()
    r = subprocess.run([SHELL, "-s", "127.0.0.1:%d" % port, "-t", "1000",
                        "ls", "/"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "could not connect" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 10
    r = subprocess.run([SHELL, "-s", "127.0.0.1:notaport", "ls", "/"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "ECONNSTR" in r.stderr, r.stderr


def test_versions_stat_and_delete(server):
    """set and delete honour -v VERSION, and stat prints the Stat fields
    with the values the server keeps (dataVersion, dataLength, numChildren)."""
    p = base_path("ver")
    assert run(server, "create", p, "one")[0] == 0
    assert run(server, "set", "-v", "0", p, "three")[0] == 0
    rc, out, err = run(server, "stat", p)
    assert rc == 0, err
    assert "dataVersion = 1" in out and "dataLength = 5" in out, out
    assert "numChildren = 0" in out and "ephemeralOwner = 0x0" in out, out
    rc, out, err = run(server, "delete", "-v", "0", p)
    assert rc == 1 and "BADVERSION" in err, err
    rc, out, err = run(server, "delete", "-v", "1", p)
    assert rc == 0, err
    rc, out, err = run(server, "stat", p)
    assert rc == 1 and "NONODE" in err, err


def test_create_modes(server, zk):
    """create -s appends a 10-digit sequence, -c makes a container and -e an
    ephemeral node that goes away with the one-shot shell's session."""
    p = base_path("mode")
    assert run(server, "create", p)[0] == 0
    rc, out, err = run(server, "create", "-s", p + "/n-", "x")
    assert rc == 0, err
    created = out.strip().split()[-1]
    assert created.startswith(p + "/n-") and len(created) == len(p) + 3 + 10
    assert zk.exists(created) is not None
    rc, out, err = run(server, "create", "-c", p + "/box")
    assert rc == 0, err
    rc, out, err = run(server, "create", "-e", p + "/eph", "x")
    assert rc == 0, err
    # The shell closed its session on exit: the ephemeral node is gone.
    assert zk.exists(p + "/eph") is None
    rc, out, err = run(server, "create", "-c", "-e", p + "/bad")
    assert rc == 2, err
    assert run(server, "deleteall", p)[0] == 0


def test_create_ttl(server_factory):
    """create -t TTL makes a TTL node where the server enables extended
    types, and the result is a node with the data given."""
    srv = server_factory(extendedTypesEnabled="true")
    p = base_path("ttl")
    rc, out, err = run(srv, "create", "-t", "60000", p, "ttl-data")
    assert rc == 0, err
    rc, out, err = run(srv, "get", p)
    assert rc == 0 and out == "ttl-data\n", (out, err)
    rc, out, err = run(srv, "create", "-t", "0", p + "x")
    assert rc == 2, err


# ---------------------------------------------------------------------------
# Scripts on stdin


def test_piped_script_stops_at_first_error(server, zk):
    """Commands piped on stdin run one per line (comments and blank lines
    skipped, quotes honoured); the first failing command stops the script
    with status 1, and -k keeps going but still exits 1."""
    p = base_path("pipe")
    script = ("# set up\ncreate %s\n\ncreate %s/a 'two words'\n"
              "create %s/b \"say \\\"hi\\\"\"\nget %s/a\nget %s/b\n"
              "get %s/missing\ncreate %s/after\n") % ((p,) * 7)
    rc, out, err = run(server, stdin=script)
    assert rc == 1, (out, err)
    assert "two words\n" in out and 'say "hi"\n' in out, out
    assert "NONODE" in err, err
    assert zk.exists(p + "/after") is None
    rc, out, err = run(server, stdin=script.replace("create %s\n" % p, ""),
                       extra=["-k"])
    assert rc == 1, (out, err)
    assert zk.exists(p + "/after") is not None
    rc, out, err = run(server, stdin="ls %s\nquit\nget /nothing-here\n" % p)
    assert rc == 0 and out.split() == ["a", "after", "b"], (out, err)
    rc, out, err = run(server, stdin="get '%s\n" % p)
    assert rc == 2, err
    assert run(server, "deleteall", p)[0] == 0


def test_ls_recursive_tree_and_deleteall(server, zk):
    """ls -R lists every path of a subtree in sorted pre-order, tree indents
    it by depth, and deleteall removes it all."""
    p = base_path("tree")
    for sub in ("", "/b", "/a", "/a/y", "/a/x", "/a/x/deep"):
        zk.create(p + sub, b"")
    rc, out, err = run(server, "ls", p)
    assert rc == 0 and out.split() == ["a", "b"], out
    rc, out, err = run(server, "ls", "-R", p)
    assert rc == 0, err
    assert out.split() == [p, p + "/a", p + "/a/x", p + "/a/x/deep",
                           p + "/a/y", p + "/b"], out
    rc, out, err = run(server, "tree", p)
    assert rc == 0, err
    assert out.splitlines() == [p, "  a", "    x", "      deep", "    y",
                                "  b"], out
    rc, out, err = run(server, "ls", "-s", p + "/")  # trailing '/' accepted
    assert rc == 0 and "numChildren = 2" in out, out
    rc, out, err = run(server, "delete", p)
    assert rc == 1 and "NOTEMPTY" in err, err
    rc, out, err = run(server, "deleteall", p)
    assert rc == 0, err
    assert zk.exists(p) is None
    rc, out, err = run(server, "deleteall", "/")
    assert rc == 2, err


# ---------------------------------------------------------------------------
# --json


def test_json_output_for_every_command(server, zk):
    """With --json every command prints exactly one JSON object per result
    line (errors as {"error": NAME, "code": N, "message": ...}), for the
    whole command set run as one script."""
    p = base_path("json")
    zk.create("/services/js-%s/i-0000000001" % p[-8:],
              b'{"host":"10.1.1.1","port":7000,"version":"3.0"}',
              makepath=True)
    script = "\n".join([
        "create %s '{\"k\": [1, 2]}'" % p,
        "create -s %s/seq- x" % p,
        "get -s %s" % p,
        "set %s plain" % p,
        "stat %s" % p,
        "ls -s %s" % p,
        "ls -R %s" % p,
        "tree %s" % p,
        "sync %s" % p,
        "getacl %s" % p,
        "setacl %s world:anyone:cdrwa" % p,
        "addauth digest user:secret",
        "services",
        "help",
        "get %s/none" % p,
        "frobnicate",
        "deleteall %s" % p,
        "delete /services/js-%s/i-0000000001" % p[-8:],
        "delete /services/js-%s" % p[-8:],
    ]) + "\n"
    rc, out, err = run(server, stdin=script, json_out=True, extra=["-k"])
    assert rc == 2, (out, err)  # the last failure was the unknown command
    objs = [json.loads(line) for line in out.splitlines()]
    assert len(objs) == script.count("\n"), out
    by = {}
    for o in objs:
        by.setdefault(o.get("command", o.get("error")), []).append(o)
    create = by["create"]
    assert create[0]["path"] == p
    assert create[1]["path"].startswith(p + "/seq-")
    get = by["get"][0]
    assert get["encoding"] == "json" and get["data"] == {"k": [1, 2]}
    assert get["stat"]["dataLength"] == len('{"k": [1, 2]}')
    assert by["set"][0]["stat"]["version"] == 1
    assert by["stat"][0]["stat"]["version"] == 1
    assert by["ls"][0]["children"] == [create[1]["path"].split("/")[-1]]
    assert by["ls"][0]["stat"]["numChildren"] == 1
    assert by["ls"][1]["paths"] == [p, create[1]["path"]]
    tree = by["tree"][0]["tree"]
    assert tree["path"] == p and len(tree["children"]) == 1
    assert tree["children"][0]["children"] == []
    assert by["sync"][0]["ok"] is True
    assert by["getacl"][0]["acl"] == [{"scheme": "world", "id": "anyone",
                                       "perms": "cdrwa"}]
    assert "stat" in by["setacl"][0]
    assert by["addauth"][0]["ok"] is True
    svc = [s for s in by["services"][0]["services"]
           if s["name"] == "js-" + p[-8:]]
    assert svc and svc[0]["instances"][0]["port"] == 7000
    assert len(by["help"][0]["commands"]) >= 16
    nonode = by["NONODE"][0]
    assert nonode["code"] == -101 and nonode["message"] == "no node"
    assert nonode["path"] == p + "/none"
    assert by["USAGE"][0]["code"] == 2
    assert by["deleteall"][0]["deleted"] == 2
    assert len(by["delete"]) == 2


def test_json_oneshot_error(server):
    """A failing one-shot command with --json prints its error as a JSON
    object on stdout and still exits 1."""
    rc, out, err = run(server, "get", "/no/such/node", json_out=True)
    assert rc == 1, err
    o = json.loads(out)
    assert o == {"error": "NONODE", "code": -101, "message": "no node",
                 "path": "/no/such/node"}


# ---------------------------------------------------------------------------
# Data rendering


def test_data_rendering_text_json_hex(server, zk):
    """get prints UTF-8 text as is, JSON objects pretty-printed, null data
    as (null), and anything else as a hexdump; --json gives the text, the
    embedded JSON value, or base64."""
    p = base_path("data")
    zk.create(p, None)
    zk.create(p + "/text", "héllo wörld\nline 2".encode())
    zk.create(p + "/json", b'{"name":"x","list":[1,2.5,true,null],'
                           b'"o":{},"s":"a\\"b"}')
    raw = bytes(range(0, 40)) + b"\xff\xfe"
    zk.create(p + "/bin", raw)
    zk.create(p + "/badjson", b'{"a": 1,}')
    zk.create(p + "/empty", b"")

    rc, out, _ = run(server, "get", p + "/text")
    assert rc == 0 and out == "héllo wörld\nline 2\n"
    rc, out, _ = run(server, "get", p + "/json")
    assert out == ('{\n  "name": "x",\n  "list": [\n    1,\n    2.5,\n'
                   '    true,\n    null\n  ],\n  "o": {},\n'
                   '  "s": "a\\"b"\n}\n'), out
    rc, out, _ = run(server, "get", p + "/bin")
    lines = out.splitlines()
    assert lines[0].startswith("00000000  00 01 02 03 04 05 06 07  08 09"), out
    assert lines[2].startswith("00000020  20 21 22 23 24 25 26 27  ff fe"), out
    assert lines[2].endswith('| !"#$%&\'..|'), out
    rc, out, _ = run(server, "get", p + "/badjson")
    assert out == '{"a": 1,}\n'  # not JSON: shown as the text it is
    rc, out, _ = run(server, "get", p + "/empty")
    assert rc == 0 and out == ""
    rc, out, _ = run(server, "get", p)
    # kazoo's None is stored as empty data by ZooKeeper's Java server but
    # may be null elsewhere; both are legitimate renderings.
    assert out in ("", "(null)\n")

    def jget(path):
        return json.loads(run(server, "get", path, json_out=True)[1])

    o = jget(p + "/text")
    assert o["encoding"] == "text" and o["data"] == "héllo wörld\nline 2"
    o = jget(p + "/json")
    assert o["encoding"] == "json" and o["data"]["list"] == [1, 2.5, True,
                                                            None]
    o = jget(p + "/bin")
    assert o["encoding"] == "base64"
    assert base64.b64decode(o["data"]) == raw
    assert run(server, "deleteall", p)[0] == 0


# ---------------------------------------------------------------------------
# ACLs


def test_acl_round_trip_and_auth(server):
    """setacl takes zkCli's syntax (several entries, digest ids with colons,
    ip ranges, auth::), getacl prints it back in the same syntax, and a node
    restricted to an authenticated identity refuses another session."""
    p = base_path("acl")
    assert run(server, "create", p, "secret")[0] == 0
    # world keeps ADMIN: without it getacl would show the digest as bob:x.
    acl = ("world:anyone:cdrwa,ip:10.0.0.0/8:r,"
           "digest:bob:yVz0ivGgzQ1Bbl4ORYiK1KfPnhY=:rw")
    rc, out, err = run(server, "setacl", p, acl)
    assert rc == 0, err
    rc, out, err = run(server, "getacl", p)
    assert rc == 0, err
    assert out.splitlines() == ["world:anyone:cdrwa", "ip:10.0.0.0/8:r",
                                "digest:bob:yVz0ivGgzQ1Bbl4ORYiK1KfPnhY=:rw"]
    rc, out, err = run(server, "setacl", p, "world:anyone:rx")
    assert rc == 2 and "perms" in err, err
    rc, out, err = run(server, "setacl", p, "nocolons")
    assert rc == 2, err
    # Only the identity added with addauth may read the node afterwards.
    q = p + "-auth"
    script = ("addauth digest alice:pw\ncreate %s mine\n"
              "setacl %s auth::cdrwa\nget %s\n") % (q, q, q)
    rc, out, err = run(server, stdin=script)
    assert rc == 0 and out.endswith("mine\n"), (out, err)
    rc, out, err = run(server, "get", q)
    assert rc == 1 and "NOAUTH" in err, err
    rc, out, err = run(server, stdin="addauth digest alice:pw\ndelete %s\n" % q)
    assert rc == 0, err
    assert run(server, "delete", p)[0] == 0


# ---------------------------------------------------------------------------
# Services


def test_services_lists_registered_instances(server, zk):
    """services lists every service under /services with each instance's
    node name, host:port, health and tags as libroost's instance parser
    reads them (libroost's {"host","port"}, Curator's "address", a
    roost-agent payload with status and tags), and shows a service without
    instances; instances registered as ephemeral sequential nodes by
    another client (kazoo) appear, and those without health data are
    passing."""
    svc = "pay-" + uuid.uuid4().hex[:6]
    empty = "idle-" + uuid.uuid4().hex[:6]
    a = zk.create("/services/%s/i-" % svc,
                  b'{"host":"10.0.0.7","port":8080,"version":"1.4.2"}',
                  ephemeral=True, sequence=True, makepath=True)
    b = zk.create("/services/%s/i-" % svc,
                  b'{"address":"fe80::1","port":9090}',
                  ephemeral=True, sequence=True)
    c = zk.create("/services/%s/i-" % svc,
                  b'{"name":"%s","id":"c","address":"10.0.0.9","host":'
                  b'"10.0.0.9","port":7070,"tags":["v2","blue"],"meta":{},'
                  b'"weight":1,"weights":{"passing":1,"warning":1},'
                  b'"status":"critical","checks":[]}' % svc.encode(),
                  ephemeral=True, sequence=True)
    rc, _, err = run(server, "create", "/services/" + empty)
    assert rc == 0, err
    rc, out, err = run(server, "services")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["SERVICE", "INSTANCE", "ADDRESS", "STATUS",
                                "TAGS"]
    rows = [ln.split() for ln in lines[1:]]
    assert [svc, a.split("/")[-1], "10.0.0.7:8080", "passing", "-"] in rows, out
    assert [svc, b.split("/")[-1], "[fe80::1]:9090", "passing", "-"] in rows, out
    assert [svc, c.split("/")[-1], "10.0.0.9:7070", "critical",
            "v2,blue"] in rows, out
    assert [empty, "(none)", "-", "-", "-"] in rows, out

    rc, out, err = run(server, "services", json_out=True)
    services = {s["name"]: s for s in json.loads(out)["services"]}
    inst = services[svc]["instances"]
    assert [i["instance"] for i in inst] == sorted(
        [a.split("/")[-1], b.split("/")[-1], c.split("/")[-1]])
    assert inst[0]["host"] == "10.0.0.7" and inst[0]["port"] == 8080
    assert inst[0]["status"] == "passing" and inst[0]["tags"] == []
    assert inst[0]["data"]["version"] == "1.4.2"
    assert inst[2]["status"] == "critical" and inst[2]["tags"] == ["v2",
                                                                  "blue"]
    assert services[empty]["instances"] == []
    zk.delete(c)

    zk.delete(a)
    rc, out, err = run(server, "services")
    assert a.split("/")[-1] not in out and b.split("/")[-1] in out
    zk.delete(b)
    zk.delete("/services/" + svc)
    zk.delete("/services/" + empty)


# ---------------------------------------------------------------------------
# Watches


class ShellProc:
    """A long-running one-shot shell (watch) whose stdout and stderr are
    read line by line without stdio buffering (select sees every byte)."""

    def __init__(self, server, *args, json_out=False, script=None):
        argv = [SHELL, "-s", server.hosts] + (["--json"] if json_out else [])
        self.p = subprocess.Popen(argv + list(args), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = {self.p.stdout.fileno(): b"", self.p.stderr.fileno(): b""}
        if script is not None:
            self.p.stdin.write(script.encode())
            self.p.stdin.flush()

    def _line(self, fd, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf[fd]:
            left = deadline - time.monotonic()
            r, _, _ = select.select([fd], [], [], max(left, 0))
            assert r, "no output from the shell within %.0f s" % timeout
            chunk = os.read(fd, 4096)
            assert chunk, "the shell closed its output; had %r" % self.buf[fd]
            self.buf[fd] += chunk
        line, self.buf[fd] = self.buf[fd].split(b"\n", 1)
        return line.decode()

    def stderr_line(self, timeout=20):
        return self._line(self.p.stderr.fileno(), timeout)

    def line(self, timeout=20):
        return self._line(self.p.stdout.fileno(), timeout)

    def close(self):
        if not self.p.stdin.closed:
            self.p.stdin.close()
        rc = self.p.wait(timeout=30)
        err = (self.buf[self.p.stderr.fileno()] + self.p.stderr.read()).decode()
        assert "Sanitizer" not in err and "runtime error:" not in err, err
        return rc


def test_watch_prints_events_and_rearms(server, zk):
    """watch PATH prints each event as it comes — creation, data change,
    children change, deletion — re-arming ZooKeeper's one-shot watches
    after each, and ends with status 0 at the end of its input."""
    p = base_path("watch")
    sh = ShellProc(server, "watch", p)
    assert "watching " + p in sh.stderr_line()
    zk.create(p, b"1")
    assert sh.line().split() == ["NodeCreated", p]
    zk.set(p, b"2")
    assert sh.line().split() == ["NodeDataChanged", p]
    zk.set(p, b"3")
    assert sh.line().split() == ["NodeDataChanged", p]
    zk.create(p + "/c", b"")
    assert sh.line().split() == ["NodeChildrenChanged", p]
    zk.delete(p + "/c")
    assert sh.line().split() == ["NodeChildrenChanged", p]
    zk.delete(p)
    assert sh.line().split() == ["NodeDeleted", p]  # once, not twice
    zk.create(p, b"again")
    assert sh.line().split() == ["NodeCreated", p]
    assert sh.close() == 0
    zk.delete(p)


def test_watch_reports_changes_made_between_event_and_rearm(server, zk):
    """A burst of changes faster than the watch can re-arm is still shown:
    the re-arm's stat is compared with what was printed, so a burst of
    sets yields at least one NodeDataChanged and a delete-and-recreate
    ends with the node shown as created, never silently lost."""
    p = base_path("burst")
    zk.create(p, b"0")
    sh = ShellProc(server, "watch", p)
    assert "watching" in sh.stderr_line()
    for i in range(5):
        zk.set(p, str(i).encode())
    zk.create(p + "/c", b"")
    got = []
    while "NodeChildrenChanged" not in got:
        got.append(sh.line().split()[0])
    assert "NodeDataChanged" in got and 1 <= got.count("NodeDataChanged") <= 5
    zk.delete(p + "/c")
    zk.delete(p)
    zk.create(p, b"")
    seq = []
    while not seq or seq[-1] != "NodeCreated":
        seq.append(sh.line().split()[0])
    assert "NodeDeleted" in seq, seq
    assert sh.close() == 0
    zk.delete(p)


def test_watch_json_and_count(server, zk):
    """watch --json prints one JSON object per event, and -n COUNT stops
    after that many events with status 0."""
    p = base_path("wjson")
    zk.create(p, b"")
    sh = ShellProc(server, "watch", "-n", "2", p, json_out=True)
    assert "watching" in sh.stderr_line()
    zk.set(p, b"x")
    assert json.loads(sh.line()) == {"event": "NodeDataChanged", "path": p}
    zk.create(p + "/k", b"")
    assert json.loads(sh.line()) == {"event": "NodeChildrenChanged",
                                     "path": p}
    assert sh.p.wait(timeout=20) == 0
    sh.close()
    zk.delete(p, recursive=True)


def test_watch_stops_on_sigint(server, zk):
    """Ctrl-C (SIGINT) ends a watch cleanly with status 0."""
    import signal
    p = base_path("wint")
    sh = ShellProc(server, "watch", p)
    assert "watching" in sh.stderr_line()
    sh.p.send_signal(signal.SIGINT)
    assert sh.p.wait(timeout=20) == 0
    sh.close()


def test_get_w_in_script_prints_watcher(server, zk):
    """get -w sets a data watch whose event is printed while the shell is
    still running (here: waiting inside a later watch command of the same
    piped script)."""
    p = base_path("getw")
    zk.create(p, b"v1")
    sh = ShellProc(server, script="get -w %s\nwatch -n 1 %s-2\n" % (p, p))
    assert sh.line() == "v1"
    assert "watching" in sh.stderr_line()
    zk.set(p, b"v2")
    assert sh.line() == "WATCHER: NodeDataChanged " + p
    zk.create(p + "-2", b"")
    assert sh.line() == "NodeCreated %s-2" % p
    assert sh.close() == 0
    zk.delete(p)
    zk.delete(p + "-2")


# ---------------------------------------------------------------------------
# Interactive: tmux


class Tmux:
    """One tmux server (its own socket) running the shell in a 120x40
    pane; HOME is a fresh directory so the history file is the test's."""

    def __init__(self, server):
        if shutil.which("tmux") is None:
            pytest.skip("tmux not installed")
        self.home = tempfile.mkdtemp(prefix="roost-sh-home-")
        self.start(server)

    def start(self, server):
        # A fresh tmux server (socket) per start: reusing the name of one
        # just killed can race with its exit.
        if hasattr(self, "sock"):
            self.old_socks = getattr(self, "old_socks", []) + [self.sock]
        self.sock = "roost-sh-" + uuid.uuid4().hex[:8]
        cmd = ("env HOME=%s TERM=xterm %s -s %s; echo EXIT=$?; sleep 60"
               % (self.home, SHELL, server.hosts))
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "t",
                  cmd)
        self.wait_for(lambda s: s.rstrip().endswith(">"), "the prompt")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock] + list(args),
                              capture_output=True, text=True, timeout=20)

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t").stdout

    def last_line(self):
        lines = [ln for ln in self.screen().splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def wait_for(self, pred, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            if pred(s):
                return s
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; screen:\n%s"
                             % (what, self.screen()))

    def quit(self):
        self.keys("C-u", "quit", "Enter")
        s = self.wait_for(lambda s: "EXIT=" in s, "the shell to exit")
        assert "EXIT=0" in s and "Sanitizer" not in s, s

    def close(self):
        self.tmux("kill-server")
        shutil.rmtree(self.home, ignore_errors=True)
        self.remove_sockets()

    def remove_sockets(self):
        # kill-server leaves its socket file behind in tmux's directory.
        d = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"),
                         "tmux-%d" % os.getuid())
        for sock in getattr(self, "old_socks", []) + [self.sock]:
            try:
                os.unlink(os.path.join(d, sock))
            except OSError:
                pass


@pytest.fixture
def tmux_shell(server):
    t = Tmux(server)
    try:
        yield t
    finally:
        t.close()


def test_tmux_tab_completes_paths_and_commands(server, zk, tmux_shell):
    """TAB completes a command name, then a path component from the live
    tree (the parent's children read from the server), adding '/' after a
    node with children and listing the choices when several match."""
    t = tmux_shell
    p = base_path("tab")
    zk.create(p + "/alpha-node/leaf", b"x", makepath=True)
    zk.create(p + "/beta1", b"")
    zk.create(p + "/beta2", b"")
    t.keys("tre", "Tab")
    t.wait_for(lambda s: t.last_line().endswith("> tree"), "command completion")
    t.keys("C-u", "get %s/al" % p, "Tab")
    t.wait_for(lambda s: t.last_line().endswith("get %s/alpha-node/" % p),
               "path completion with a trailing /")
    t.keys("l", "Tab")
    t.wait_for(lambda s: t.last_line().endswith(
        "get %s/alpha-node/leaf" % p), "a second level")
    t.keys("Enter")
    t.wait_for(lambda s: "\nx\n" in s, "the data of the completed path")
    t.keys("get %s/be" % p, "Tab")
    t.wait_for(lambda s: t.last_line().endswith("get %s/beta" % p),
               "the common prefix")
    t.keys("Tab")
    t.wait_for(lambda s: "beta1  beta2" in s, "the list of choices")
    t.quit()
    zk.delete(p, recursive=True)


def test_tmux_line_editing_and_history(server, zk, tmux_shell):
    """Up-arrow recalls the previous command, the line can be edited in
    place (Ctrl-A, Ctrl-E, backspace), and the history is saved in
    ~/.roost_history for the next session."""
    t = tmux_shell
    p = base_path("hist")
    zk.create(p, b"first")
    zk.create(p + "x", b"second")
    t.keys("get %s" % p, "Enter")
    t.wait_for(lambda s: "\nfirst\n" in s, "the first get")
    t.keys("Up")
    t.wait_for(lambda s: t.last_line().endswith("> get %s" % p),
               "the recalled command")
    t.keys("x", "Enter")  # edit the recalled line, then run it
    t.wait_for(lambda s: "\nsecond\n" in s, "the edited command's output")
    t.keys("Up")
    t.wait_for(lambda s: t.last_line().endswith("> get %sx" % p),
               "the edited command, recalled")
    t.keys("C-a", "C-d", "C-d", "C-d", "stat", "C-e", "Enter")
    t.wait_for(lambda s: "dataVersion = 0" in s, "stat after editing")
    t.keys("C-c")  # Ctrl-C at the prompt: a fresh prompt, not an exit
    t.wait_for(lambda s: t.last_line().rstrip().endswith(">"), "a new prompt")
    t.quit()
    with open(os.path.join(t.home, ".roost_history")) as f:
        hist = f.read()
    assert "get\\040%sx" % p in hist and "stat\\040%sx" % p in hist, hist
    # A new session starts with that history: Up gives the last command.
    t.tmux("kill-server")
    t.start(server)
    t.keys("Up")
    t.wait_for(lambda s: t.last_line().endswith("> quit") or
               t.last_line().endswith("> stat %sx" % p), "saved history")
    t.keys("C-u")
    t.quit()
    zk.delete(p)
    zk.delete(p + "x")


def test_addwatch_recursive_prints_every_event(server, zk):
    """addwatch -r PATH prints every change in the subtree as it comes, in
    order, with the path that changed (one persistent recursive watch, no
    re-arming); addwatch without -r sees the node itself, children changes
    included.  The end of input stops it with status 0."""
    p = base_path("addw")
    zk.create(p, b"")
    sh = ShellProc(server, "addwatch", "-r", p)
    assert "watching " + p in sh.stderr_line()
    zk.create(p + "/a", b"1")
    zk.create(p + "/a/b", b"")
    zk.set(p + "/a/b", b"2")
    zk.delete(p + "/a/b")
    zk.set(p, b"3")
    want = [["NodeCreated", p + "/a"], ["NodeCreated", p + "/a/b"],
            ["NodeDataChanged", p + "/a/b"], ["NodeDeleted", p + "/a/b"],
            ["NodeDataChanged", p]]
    assert [sh.line().split() for _ in want] == want
    assert sh.close() == 0
    sh = ShellProc(server, "addwatch", p)
    assert "watching " + p in sh.stderr_line()
    zk.create(p + "/c", b"")
    zk.set(p + "/a", b"deeper: not seen")
    zk.set(p, b"4")
    assert sh.line().split() == ["NodeChildrenChanged", p]
    assert sh.line().split() == ["NodeDataChanged", p]
    assert sh.close() == 0


def test_addwatch_count_json(server, zk):
    """-n COUNT stops after COUNT events; --json prints one object each."""
    p = base_path("addwn")
    zk.create(p, b"")
    sh = ShellProc(server, "addwatch", "-r", "-n", "2", p, json_out=True)
    assert "watching" in sh.stderr_line()
    zk.create(p + "/x", b"")
    zk.delete(p + "/x")
    assert json.loads(sh.line()) == {"event": "NodeCreated",
                                     "path": p + "/x"}
    assert json.loads(sh.line()) == {"event": "NodeDeleted",
                                     "path": p + "/x"}
    assert sh.close() == 0


def test_removewatches_getephemerals_whoami(server):
    """removewatches removes the shell's own watch (get -w in a script) and
    prints its removal; a second one is NOWATCHER.  getephemerals lists the
    session's ephemerals by prefix; whoami shows the ip identity and an
    added digest one."""
    p = base_path("rmw")
    script = "\n".join([
        "create %s x" % p,
        "create -e %s/e1" % p,
        "create -e %s/e2" % p,
        "get -w %s" % p,
        "removewatches -t data %s" % p,
        "getephemerals %s/e" % p,
        "addauth digest shu:shp",
        "whoami",
        "removewatches %s" % p,
    ]) + "\n"
    rc, out, err = run(server, stdin=script)
    assert rc == 1 and "NOWATCHER" in err, (out, err)
    lines = out.splitlines()
    assert "WATCHER: DataWatchRemoved " + p in lines, out
    assert lines.index(p + "/e1") + 1 == lines.index(p + "/e2"), out
    assert "ip 127.0.0.1" in lines and "digest shu" in lines, out
    rc, out, err = run(server, "getephemerals", json_out=True)
    assert rc == 0 and json.loads(out)["paths"] == [], out
    rc, out, err = run(server, "removewatches", "-t", "bogus", "/")
    assert rc == 2 and "TYPE is" in err, err
