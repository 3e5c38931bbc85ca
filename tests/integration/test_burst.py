"""A class starting at once: 30 users click Start in the same moment; all 30 servers
become ready, none fails (stock DockerSpawner lost 27 of 30 on this machine)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 30


def test_burst_of_30_all_ready(hub):
    names = [f"burst{i:02d}" for i in range(N)]
    for n in names:
        hub.create_user(n)

    def start(name):
        r = hub.spawn(name, wait=False)
        assert r.status_code in (201, 202), r.text
        return name

    with ThreadPoolExecutor(N) as pool:
        list(pool.map(start, names))
    deadline = time.monotonic() + 600
    ready, failed = set(), {}
    while time.monotonic() < deadline and len(ready) + len(failed) < N:
        for n in names:
            if n in ready or n in failed:
                continue
            s = hub.request("GET", f"/users/{n}").json()["servers"].get("")
            if s is None:
                failed[n] = "server vanished (spawn failed)"
            elif s["ready"]:
                ready.add(n)
        time.sleep(1)
    assert not failed, failed
    assert len(ready) == N
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hub.stop_server, names))
