"""`make install` / `make uninstall` (issue 21): the installed layout, the
man pages (rendered by man-db with --warnings, and every configuration key
of README.md's table documented in roost-server(8)), the systemd units
(`systemd-analyze verify` and `security --offline`, no running systemd
needed), the installed server started with the installed unit's command
line and the installed default configuration, and that uninstall leaves
no file behind.

Runs `make install` of the build that `make integration` tested
(ROOST_MAKE_SAN=1 for build-san/), into temporary DESTDIRs.  Roost-only:
it installs Roost's own programs; there is nothing of ZooKeeper's to check.
"""

import os
import re
import shlex
import shutil
import subprocess
import tempfile

import pytest
from kazoo.client import KazooClient

import harness

pytestmark = pytest.mark.roost_only("installs and runs Roost's own programs")

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SAN = os.environ.get("ROOST_MAKE_SAN", "1")

# What install must lay out for PREFIX=/usr (relative to DESTDIR).
CORE_FILES = {
    "etc/roost/roost.cfg",
    "usr/sbin/roost-server",
    "usr/sbin/roost-agent",
    "usr/bin/roost",
    "usr/bin/roost-dump",
    "usr/bin/roost-bench",
    "usr/share/man/man8/roost-server.8",
    "usr/share/man/man8/roost-agent.8",
    "usr/share/man/man1/roost.1",
    "usr/share/man/man1/roost-dump.1",
    "usr/share/man/man1/roost-bench.1",
    "usr/lib/systemd/system/roost.service",
    "usr/lib/systemd/system/roost@.service",
    "usr/lib/sysusers.d/roost.conf",
    "usr/include/roost.h",
    "usr/lib/libroost.a",
    "usr/lib/libroost.so",
    "usr/lib/libroost.so.0",
    "usr/lib/libroost.so.0.1.0",
    "usr/lib/pkgconfig/roost.pc",
}


def make(*args):
    """Runs make in the source tree; the parent make's jobserver flags are
    not ours to use."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    r = subprocess.run(["make", "--no-print-directory", "-C", SRC,
                        "SAN=" + SAN] + list(args),
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, "make %s failed:\n%s%s" % (
        " ".join(args), r.stdout[-4000:], r.stderr[-4000:])
    return r.stdout


def files_under(root):
    """Relative paths of every file and symlink under root."""
    out = set()
    for d, _dirs, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


@pytest.fixture(scope="module")
def staged():
    """DESTDIR with `make install PREFIX=/usr` done once for the module."""
    d = tempfile.mkdtemp(prefix="roost-install-")
    make("install", "PREFIX=/usr", "DESTDIR=" + d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_install_lays_out_every_file(staged):
    have = files_under(staged)
    assert CORE_FILES <= have, "missing: %s" % sorted(CORE_FILES - have)
    # Anything beyond the core is a program some module's Makefile fragment
    # added (INSTALL_BINS/INSTALL_SBINS), and it brings its man page.
    for extra in sorted(have - CORE_FILES):
        m = re.fullmatch(r"usr/s?bin/([^/]+)", extra)
        if m:
            pages = [p for p in have
                     if re.fullmatch(r"usr/share/man/man\d/%s\.\d"
                                     % re.escape(m.group(1)), p)]
            assert pages, "%s installed without a man page" % extra
        else:
            assert re.fullmatch(r"usr/share/man/man\d/[^/]+\.\d", extra), \
                "unexpected file installed: %s" % extra
    for p in have:
        if re.fullmatch(r"usr/s?bin/.*", p):
            assert os.access(os.path.join(staged, p), os.X_OK), p
    cfg = open(os.path.join(staged, "etc/roost/roost.cfg")).read()
    # Safe on any single machine: loopback only, data under /var/lib.
    assert re.search(r"^dataDir=/var/lib/roost$", cfg, re.M), cfg
    assert re.search(r"^clientPortAddress=127\.0\.0\.1$", cfg, re.M), cfg
    assert not re.search(r"^server\.", cfg, re.M), cfg
    unit = open(os.path.join(staged,
                             "usr/lib/systemd/system/roost.service")).read()
    assert "ExecStart=/usr/sbin/roost-server /etc/roost/roost.cfg" in unit
    pc = open(os.path.join(staged, "usr/lib/pkgconfig/roost.pc")).read()
    assert "prefix=/usr\n" in pc


def test_install_other_prefix_keeps_files_under_it():
    d = tempfile.mkdtemp(prefix="roost-install-")
    try:
        make("install", "PREFIX=/opt/roost", "DESTDIR=" + d)
        have = files_under(d)
        assert all(p.startswith("opt/roost/") for p in have), sorted(have)
        cfg = open(os.path.join(d, "opt/roost/etc/roost/roost.cfg")).read()
        # The unit's StateDirectory= is /var/lib/roost whatever the prefix.
        assert re.search(r"^dataDir=/var/lib/roost$", cfg, re.M)
        unit = open(os.path.join(
            d, "opt/roost/lib/systemd/system/roost.service")).read()
        assert ("ExecStart=/opt/roost/sbin/roost-server "
                "/opt/roost/etc/roost/roost.cfg") in unit
        make("uninstall", "PREFIX=/opt/roost", "DESTDIR=" + d)
        assert files_under(d) == set()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def installed_pages(staged):
    mandir = os.path.join(staged, "usr/share/man")
    return sorted(os.path.join(dp, n) for dp, _d, ns in os.walk(mandir)
                  for n in ns)


def test_programs_tell_version_and_manual(staged):
    """Every installed program answers --version with the release the man
    pages and the package carry, and its --help names its man page."""
    mk = open(os.path.join(SRC, "proto", "proto.h")).read()
    version = re.search(r'#define PROTO_ROOST_VERSION "([^"]+)"', mk).group(1)
    progs = sorted(p for p in files_under(staged)
                   if re.fullmatch(r"usr/s?bin/roost[^/]*", p))
    assert len(progs) >= 5, progs
    for rel in progs:
        exe = os.path.join(staged, rel)
        name = os.path.basename(rel)
        r = subprocess.run([exe, "--version"], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith(
            "%s %s" % (name, version)), (name, r)
        if name == "roost-agent":
            continue  # its --help is the manual's text itself
        r = subprocess.run([exe, "--help"], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, (name, r)
        assert re.search(r"%s\(\d\)" % re.escape(name), r.stdout), (
            name, r.stdout)


def test_man_pages_render_without_warnings(staged):
    pages = installed_pages(staged)
    assert len(pages) >= 4
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    for page in pages:
        r = subprocess.run(["man", "--warnings", "-l", page],
                           capture_output=True, text=True, env=env,
                           timeout=60)
        assert r.returncode == 0 and r.stderr == "", (page, r.stderr)
        name, sect = os.path.basename(page).rsplit(".", 1)
        assert re.search(r"^NAME\n\s+%s - \S" % re.escape(name), r.stdout,
                         re.M), (page, r.stdout[:400])
        for head in ("SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
            assert re.search("^%s$" % head, r.stdout, re.M), (page, head)
        # groff's own checks, all warnings on.
        g = subprocess.run(["groff", "-ww", "-z", "-man", page],
                           capture_output=True, text=True, timeout=60)
        assert g.returncode == 0 and g.stderr == "", (page, g.stderr)
    # `man roost-server` finds the installed page by name.
    r = subprocess.run(["man", "-M", os.path.join(staged, "usr/share/man"),
                        "-w", "roost-server"], capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.strip().endswith("man8/roost-server.8"), r


def readme_config_keys():
    """The keys in the first column of README.md's configuration table
    (the one headed `| key | default | meaning |`)."""
    lines = open(os.path.join(SRC, "README.md")).read().splitlines()
    start = next(i for i, ln in enumerate(lines)
                 if re.match(r"\|\s*key\s*\|\s*default\s*\|", ln))
    keys = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        first = ln.split("|")[1]
        keys += re.findall(r"`([^`]+)`", first)
    return keys


def test_every_readme_config_key_is_in_roost_server_8(staged):
    keys = readme_config_keys()
    assert len(keys) >= 15 and "tickTime" in keys and "dataDir" in keys, keys
    roff = open(os.path.join(staged,
                             "usr/share/man/man8/roost-server.8")).read()
    # The CONFIGURATION section (and its Ensemble subsection), font
    # escapes and zero-width marks removed.
    m = re.search(r'^\.SH "?CONFIGURATION"?\n(.*?)^\.SH ', roff, re.M | re.S)
    assert m, "roost-server.8 has no CONFIGURATION section"
    text = re.sub(r"\\f[BIRP]|\\&", "", m.group(1)).replace("\\-", "-")
    # Each key is a bold term of its own paragraph there.
    terms = set()
    for ln in text.splitlines():
        terms.update(re.findall(r"^([A-Za-z0-9_.]+)(?=[ ,=]|$)", ln))
        terms.update(re.findall(r", ([A-Za-z0-9_.]+)", ln)
                     if re.match(r"^[A-Za-z0-9_.]+,", ln) else [])
    missing = [k for k in keys if k not in terms]
    assert not missing, ("README.md's configuration keys missing from "
                         "roost-server(8) (man/roost-server.8.scd): %s"
                         % missing)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed")
def test_systemd_units_verify(staged, tmp_path):
    """verify and security --offline read unit files only: no running
    systemd needed.  ExecStart is pointed at the staged binary (verify
    checks that it exists) and MANPATH at the staged man pages (verify
    checks Documentation=man:)."""
    unitdir = os.path.join(staged, "usr/lib/systemd/system")
    env = dict(os.environ, MANPATH=os.path.join(staged, "usr/share/man"))
    for name in ("roost.service", "roost@.service"):
        text = open(os.path.join(unitdir, name)).read()
        text = text.replace("ExecStart=/usr/sbin/",
                            "ExecStart=%s/usr/sbin/" % staged)
        # A template is verified through an instance of it.
        path = tmp_path / name.replace("@.", "@test.")
        path.write_text(text)
        r = subprocess.run(["systemd-analyze", "verify", str(path)],
                           capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0 and r.stderr.strip() == "" \
            and r.stdout.strip() == "", (name, r.stdout, r.stderr)
        # Exposure 2.0 or less ("OK" in systemd's words) on the 0-10 scale.
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                            "--threshold=20", str(path)],
                           capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0, (name, r.stdout[-3000:], r.stderr)


class InstalledServer(harness.Server):
    """The installed roost-server, started with roost.service's command
    line (paths inside DESTDIR) and the installed roost.cfg, on a free port
    and a temporary data directory given as --key=value overrides."""

    def __init__(self, staged, base_dir):
        super().__init__("roost", base_dir, {})
        unit = open(os.path.join(
            staged, "usr/lib/systemd/system/roost.service")).read()
        argv = shlex.split(re.search(r"^ExecStart=(.*)$", unit,
                                     re.M).group(1))
        assert argv[0] == "/usr/sbin/roost-server", argv
        assert argv[-1] == "/etc/roost/roost.cfg", argv
        self.argv = ([staged + argv[0]] + argv[1:-1] +
                     ["--clientPort=%d" % self.port,
                      "--dataDir=" + self.data_dir, staged + argv[-1]])
        self.roost_bin = self.argv[0]

    def _command(self):
        return self.argv


def test_installed_server_serves_with_installed_config(staged, tmp_path):
    srv = InstalledServer(staged, str(tmp_path)).start()
    try:
        assert srv.four_letter("ruok") == "imok"
        assert "Mode: standalone" in srv.four_letter("srvr")
        zk = KazooClient(hosts=srv.hosts, timeout=15)
        zk.start(timeout=20)
        try:
            zk.create("/installed", b"yes")
            assert zk.get("/installed")[0] == b"yes"
        finally:
            zk.stop()
            zk.close()
        # The installed shell reads what kazoo wrote.
        r = subprocess.run([os.path.join(staged, "usr/bin/roost"), "-s",
                            srv.hosts, "get", "/installed"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "yes", r
        # The data went to the overriding dataDir.
        assert any(n.startswith("log.") for n in os.listdir(srv.data_dir))
    finally:
        srv.stop()


def test_uninstall_removes_everything_but_an_edited_config():
    d = tempfile.mkdtemp(prefix="roost-install-")
    try:
        make("install", "PREFIX=/usr", "DESTDIR=" + d)
        make("uninstall", "PREFIX=/usr", "DESTDIR=" + d)
        assert files_under(d) == set()
        assert not os.path.exists(os.path.join(d, "etc/roost"))

        # An operator's edits survive a second install and an uninstall.
        make("install", "PREFIX=/usr", "DESTDIR=" + d)
        cfg = os.path.join(d, "etc/roost/roost.cfg")
        with open(cfg, "a") as f:
            f.write("maxClientCnxns=100\n")
        edited = open(cfg).read()
        make("install", "PREFIX=/usr", "DESTDIR=" + d)
        assert open(cfg).read() == edited
        make("uninstall", "PREFIX=/usr", "DESTDIR=" + d)
        assert files_under(d) == {"etc/roost/roost.cfg"}
    finally:
        shutil.rmtree(d, ignore_errors=True)
