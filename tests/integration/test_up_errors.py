"""`npuhub up` refuses bad starts with one line that names the problem and the fix."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.hubclient import free_port

pytestmark = pytest.mark.integration


def run_up(tmp_path, *args, env=None, config=None):
    cmd = [sys.executable, "-m", "npuhub.hub.cli"]
    if config is not None:
        cfg = tmp_path / "config.py"
        cfg.write_text(config)
        cmd += ["--config", str(cfg)]
    cmd += ["--state-dir", str(tmp_path / "state"), "up", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ, **(env or {}))
    )


def test_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_up(tmp_path, "--port", str(port))
    assert r.returncode == 1
    assert f"port {port}" in r.stderr and "in use" in r.stderr
    assert f"held by pid {os.getpid()} (" in r.stderr  # the holder is named
    assert len(r.stderr.strip().splitlines()) == 1


def test_no_docker_daemon(tmp_path):
    r = run_up(tmp_path, "--port", str(free_port()),
               env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert r.returncode == 1
    assert "Docker daemon" in r.stderr and "start-dockerd" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "state" / "jupyterhub.pid").exists()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("c.NPUHub.spawn_concurency = 3\n", "unknown setting c.NPUHub.spawn_concurency; did you mean c.NPUHub.spawn_concurrency?"),
        ("c.NPUHub.spawn_concurrency = 'many'\n", "c.NPUHub.spawn_concurrency = 'many' is wrong"),
        ("c.NPUSpawnr.binding_mode = 'devices'\n", "unknown section c.NPUSpawnr; did you mean c.NPUSpawner?"),
    ],
)
def test_bad_config(tmp_path, config, expected):
    r = run_up(tmp_path, "--port", str(free_port()), config=config)
    assert r.returncode == 1
    assert expected in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_refusals_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Nonsense\n")
    env = dict(os.environ, NPUHUB_STATE_DIR=str(tmp_path / "state"))
    for args, expected in (
        (["apply", "-f", str(bad)], "unknown kind 'Nonsense'"),
        (["devices", "drain", "nonode:1"], "There is no device nonode:1"),
        (["devices", "drain", "nonode:x"], "is not NODE:INDEX"),
        (["devices", "drain", "garbage"], "There is no node garbage"),
    ):
        r = subprocess.run([sys.executable, "-m", "npuhub.hub.cli", *args], capture_output=True,
                           text=True, env=env, timeout=60)
        assert r.returncode == 1, r
        assert expected in r.stderr and "Traceback" not in r.stderr
