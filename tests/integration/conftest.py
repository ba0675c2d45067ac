"""pytest wiring for the integration tests: --target, server fixtures, markers.

See README.md in this directory for the contract.
"""

import faulthandler
import os
import signal
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--target", action="store", default="roost",
                     choices=("roost", "zookeeper"),
                     help="server to test: roost ($ROOST_SERVER) or Apache "
                          "ZooKeeper 3.8 from Debian")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "roost_only(reason): run only with --target roost")
    config.addinivalue_line(
        "markers", "zookeeper_only(reason): run only with --target zookeeper")
    # kazoo 2.8 calls Event.isSet(), deprecated in Python 3.10+.
    config.addinivalue_line(
        "filterwarnings", "ignore:isSet\\(\\) is deprecated:DeprecationWarning")


def pytest_collection_modifyitems(config, items):
    target = config.getoption("--target")
    for item in items:
        for name, other in (("roost_only", "roost"),
                            ("zookeeper_only", "zookeeper")):
            m = item.get_closest_marker(name)
            if m is not None and target != other:
                why = m.args[0] if m.args else m.kwargs.get("reason", "")
                item.add_marker(pytest.mark.skip(
                    reason="%s (%s only)" % (why, other) if why
                    else "%s only" % other))


# Per-phase watchdog (setup, call, teardown each): a server that stops
# answering must fail the test, not hang the run.  Override with
# ROOST_IT_TIMEOUT=<seconds> (0 disables).
PHASE_TIMEOUT = float(os.environ.get("ROOST_IT_TIMEOUT", "90"))


def _on_alarm(signum, frame):
    sys.stderr.write("\n*** integration test phase exceeded %.0f s; "
                     "thread stacks:\n" % PHASE_TIMEOUT)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    pytest.fail("timed out after %.0f s (ROOST_IT_TIMEOUT)" % PHASE_TIMEOUT,
                pytrace=True)


def _watchdog():
    if PHASE_TIMEOUT <= 0 or not hasattr(signal, "setitimer"):
        return None
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, PHASE_TIMEOUT)
    return old


def _disarm(old):
    if old is not None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    old = _watchdog()
    try:
        yield
    finally:
        _disarm(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    old = _watchdog()
    try:
        yield
    finally:
        _disarm(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    old = _watchdog()
    try:
        yield
    finally:
        _disarm(old)


@pytest.fixture(scope="session")
def target(pytestconfig):
    return pytestconfig.getoption("--target")


@pytest.fixture(scope="session")
def _server_base_dir():
    d = tempfile.mkdtemp(prefix="roost-it-")
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)


def _make(target, base_dir, overrides):
    return harness.Server(target, base_dir, overrides,
                          roost_bin=os.environ.get("ROOST_SERVER")).start()


@pytest.fixture(scope="session")
def server(target, _server_base_dir):
    """A running server shared by the whole session."""
    srv = _make(target, _server_base_dir, {})
    try:
        yield srv
    finally:
        srv.stop()  # raises (an error in the last test) on sanitizer reports


@pytest.fixture
def server_factory(target, _server_base_dir):
    """factory(**cfg) -> a fresh server with extra zoo.cfg keys; every
    server made is stopped when the test ends."""
    made = []

    def factory(**cfg):
        srv = _make(target, _server_base_dir, cfg)
        made.append(srv)
        return srv

    yield factory
    errors = []
    for srv in made:
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def ensemble_factory(target, _server_base_dir):
    """factory(n=3, route=None, observers=(), **cfg) -> a started ensemble
    of the --target (harness.Ensemble, a plain zoo.cfg); every server is
    stopped when the test ends."""
    made = []

    def factory(n=3, route=None, observers=(), client_in_lines=False,
                start=True, **cfg):
        ens = harness.Ensemble(_server_base_dir, n, cfg,
                               roost_bin=os.environ.get("ROOST_SERVER"),
                               route=route, observers=observers,
                               target=target,
                               client_in_lines=client_in_lines)
        made.append(ens)
        return ens.start() if start else ens

    yield factory
    errors = []
    for ens in made:
        errors.extend(ens.stop())
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)
