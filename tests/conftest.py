"""Fixtures: a real `npuhub up` per test session (prefix-named containers and volumes,
removed at the end), and on failure the container logs and the hub log."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.hubclient import Hub

pytest_plugins = [p for p in ("tests.conftest_db", "tests.slurm_fixture") if importlib.util.find_spec(p)]


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API keeps an event loop running in this
    thread while its session fixture lives, which other tests' asyncio.run() can't share."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def docker_client():
    import docker

    return docker.from_env()


def cleanup(hub: Hub) -> None:
    """Everything a test hub left: its containers and volumes, and its dataset mounts."""
    from npuhub.hub.datasets.mounter import unmount_all

    remove_prefixed(hub.prefix)
    unmount_all(hub.state_dir)


def remove_prefixed(prefix: str) -> None:
    from npuhub.hub import firewall

    client = docker_client()
    for c in client.containers.list(all=True, filters={"name": prefix}):
        c.remove(force=True)
    for v in client.volumes.list(filters={"name": prefix}):
        v.remove(force=True)
    for n in client.networks.list(filters={"name": prefix, "label": "npuhub.network"}):
        if n.name.startswith(prefix):
            bridge = n.attrs.get("Options", {}).get("com.docker.network.bridge.name", "")
            n.remove()
            if bridge:
                firewall.remove(bridge)


def dump(hub: Hub, header: str) -> None:
    print(f"\n===== {header}: containers of {hub.prefix}")
    for c in docker_client().containers.list(all=True, filters={"name": hub.prefix}):
        print(f"--- {c.name} ({c.status})")
        print(c.logs(tail=60).decode(errors="replace"))
    for path in (hub.log, getattr(hub, "stdout", None)):
        if path and Path(path).exists():
            print(f"--- {path} (last 80 lines)")
            print("\n".join(Path(path).read_text(errors="replace").splitlines()[-80:]))


def new_hub(tmp_root: Path, extra_config: str = "") -> Hub:
    prefix = "npuhubtest-" + uuid.uuid4().hex[:6]
    state = tmp_root / prefix
    state.mkdir(parents=True)
    return Hub(state_dir=state, prefix=prefix, extra_config=extra_config)


@pytest.fixture(scope="session")
def tmp_root():
    d = Path(tempfile.mkdtemp(prefix="npuhubtest-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def hub(tmp_root):
    """One platform for the session's integration tests."""
    h = new_hub(tmp_root)
    h.start()
    h.failed = False
    yield h
    if h.failed:
        dump(h, "session hub")
    h.stop()
    cleanup(h)


@pytest.fixture(autouse=True)
def _dump_on_failure(request):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed and "hub" in request.fixturenames:
        h = request.getfixturevalue("hub")
        dump(h, request.node.nodeid)


@pytest.fixture
def username():
    return "u" + uuid.uuid4().hex[:8]
