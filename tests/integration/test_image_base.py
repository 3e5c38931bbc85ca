"""npuhub/base as users get it: built offline by images/build, run locked down."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
IMAGE = "npuhub/base:latest"
PREFIX = "npuhubtest-image-" + uuid.uuid4().hex[:6]


def docker_client():
    import docker

    return docker.from_env()


@pytest.fixture(scope="module")
def image():
    """Build (or find up to date) the image the way `make run` does."""
    out = subprocess.run(
        [str(REPO / "images" / "build"), "base"], capture_output=True, text=True, timeout=1800
    )
    assert out.returncode == 0, out.stdout + out.stderr
    yield IMAGE
    client = docker_client()
    for c in client.containers.list(all=True, filters={"name": PREFIX}):
        c.remove(force=True)


def run_locked_down(image: str, *command: str) -> str:
    """Run as a user's server runs: uid 1000, no network, no capabilities."""
    client = docker_client()
    name = f"{PREFIX}-{uuid.uuid4().hex[:6]}"
    container = client.containers.run(
        image,
        list(command),
        name=name,
        user="1000",
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        detach=True,
    )
    try:
        result = container.wait(timeout=120)
        logs = container.logs().decode(errors="replace")
        assert result["StatusCode"] == 0, f"{command} exited {result['StatusCode']}:\n{logs}"
        return logs
    finally:
        container.remove(force=True)


def test_user_kernel_imports_npuhub_extensions_and_the_notebook_stack(image):
    out = run_locked_down(
        image, "python", "-c", "import npuhub.extensions, jupyterlab, ipywidgets; print('ok')"
    )
    assert out.strip().endswith("ok")


def test_single_user_server_matches_the_hub_version(image):
    assert run_locked_down(image, "jupyterhub-singleuser", "--version").strip() == "6.1.1"


def test_runs_as_jovyan_uid_1000_in_its_home(image):
    assert run_locked_down(image, "id", "-u").strip() == "1000"
    assert run_locked_down(image, "sh", "-c", 'echo "$HOME $(pwd)"').split() == [
        "/home/jovyan",
        "/home/jovyan",
    ]


def test_image_defaults_are_tini_and_the_single_user_server(image):
    config = docker_client().images.get(image).attrs["Config"]
    assert config["Entrypoint"] == ["tini", "-g", "--"]
    assert config["Cmd"] == ["jupyterhub-singleuser"]
    assert config["User"] == "1000"
    assert "8888/tcp" in config["ExposedPorts"]


def test_rebuild_with_nothing_changed_takes_seconds(image):
    t0 = time.monotonic()
    out = subprocess.run(
        [str(REPO / "images" / "build"), "base"], capture_output=True, text=True, timeout=600
    )
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stdout + out.stderr
    # sources may change between the two builds while others edit the tree; then the
    # rebuild is a source-only one, which reuses the cached root file system and wheels
    if "up to date" in out.stdout:
        assert elapsed < 10, out.stdout
    else:
        assert "wheels: cached" in out.stdout and "mmdebstrap" not in out.stdout, out.stdout
