"""Walls between tenants that a hub's own configuration raises, through the real stack.

Leaving a group revokes what the group gave: the live mount of
a dataset granted to the group disappears from the running server (the admin removed the
user on the hub's REST API, npuhub was not told), while a member who stays keeps it; a job
queued with that dataset, waiting for NPUs, ends with the reason when its turn comes
instead of starting with data its user no longer has.

A home volume gets c.NPUSpawner.home_size where Docker can enforce it (XFS with project
quotas); here Docker's volumes are on ext4, so Docker refuses the size, the server starts
anyway and the hub's log says once that the limit is not enforced."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import cleanup, new_hub
from tests.integration.test_datasets import make_source, visible

pytestmark = pytest.mark.integration


def until(what, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(message)


@pytest.fixture(scope="module")
def h(tmp_root):
    hub = new_hub(tmp_root, extra_config="c.NPUHub.watch_interval = 1\n"
                                         "c.NPUSpawner.home_size = '1G'\n")
    hub.start()
    yield hub
    hub.stop()
    cleanup(hub)


def test_leaving_a_group_drops_its_mounts_and_its_queued_jobs_datasets(h):
    group = "g" + uuid.uuid4().hex[:6]
    a, b, leaver, stayer = ("r" + uuid.uuid4().hex[:8] for _ in range(4))
    for name in (a, b):
        h.create_user(name)
    for name in (leaver, stayer):
        h.create_user(name, groups=[group])
    r = h.request("POST", "/datasets", base=h.service,
                  json={"name": "d" + group, "source": str(make_source(h, {"x.txt": "x"})),
                        "access": [group]})
    assert r.status_code == 201, r.text
    ds, path = "d" + group, "/home/jovyan/datasets/d" + group
    tokens = {n: h.user_token(n) for n in (leaver, stayer)}
    for name in (leaver, stayer):
        h.spawn(name, options={"profile": "base", "npus": 0})
        r = h.request("POST", f"/datasets/{ds}/mount", token=tokens[name], base=h.service)
        assert r.status_code == 200, r.text
        assert visible(h, name, f"{path}/x.txt")
    # the host is full: the leaver's job with the dataset waits for an NPU
    h.spawn(a, options={"profile": "base", "npus": 4})
    h.spawn(b, options={"profile": "base", "npus": 4})
    r = h.request("POST", "/jobs", token=tokens[leaver], base=h.service,
                  json={"source": "train.py", "npus": 1, "datasets": [ds]})
    assert r.status_code == 201, r.text
    job = f"/jobs/{r.json()['id']}"
    assert h.request("GET", job, base=h.service).json()["state"] == "queued"

    r = h.request("DELETE", f"/groups/{group}/users", json={"users": [leaver]})
    assert r.status_code == 200, r.text
    until(lambda: not visible(h, leaver, path), 30, "the leaver still sees the dataset")
    me = h.request("GET", "/me", token=tokens[leaver], base=h.service).json()
    assert me["datasets"] == []
    assert visible(h, stayer, f"{path}/x.txt"), "a member who stayed lost the dataset"

    h.stop_server(b)  # NPUs free: the job's turn
    done = until(lambda: (j := h.request("GET", job, base=h.service).json())["state"]
                 not in ("queued", "starting") and j, 60, "the job neither started nor ended")
    assert done["state"] == "failed", done
    # the job was charged to the group (its account), and used its dataset
    assert done["reason"] == (f"not started: {leaver} is no longer a member of {group}, "
                              "the account the job is charged to"), done


def test_home_size_where_docker_cannot_enforce_it(h):
    import docker

    user = "h" + uuid.uuid4().hex[:8]
    h.create_user(user)
    h.spawn(user, options={"profile": "base", "npus": 0})
    volume = docker.from_env().volumes.get(f"{h.prefix}-home-{user}")
    assert volume.attrs["Labels"] == {"org.npuhub.home": user}
    said = [line for line in h.log.read_text().splitlines()
            if "home_size=1G is not enforced" in line]
    assert len(said) == 1 and "quota" in said[0], said
    h.stop_server(user)
