"""pytest wiring for the integration tests: --target, server fixtures, markers.

See README.md in this directory for the contract.
"""

import os
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
