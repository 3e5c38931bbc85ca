"""The line on the three-node cluster (cluster mode: the line is Slurm's queue): the
cluster's twelve NPUs full of 2-NPU servers spread over its nodes, the next requests wait
in Slurm's queue with their place on the spawn page, and the first starts by itself when
a server stops. test_line.py covers the line of one host (the platform's scheduler)."""

from __future__ import annotations

import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.test_cluster import granted, ledger_devices, scontrol_job
from tests.integration.test_line import _stop_quietly, progress_until, until
from tests.slurm_fixture import slurm_env

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
TWO = {"profile": "npu", "npus": 2, "wait": True}
NODES, PER_NODE = ("n1", "n2", "n3"), 4


def busy_jobs(hub) -> list[str]:
    """Jobs of anyone that run, wait or complete (its Epilog still running) on the
    cluster, in any partition (partition batch shares node n1)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i %j %T"],
                         env=slurm_env(hub.slurm["slurm_conf"]), capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()


def placed(hub, user: str) -> list[str]:
    """node:index of the NPUs Slurm granted `user`'s server job."""
    job = scontrol_job(hub, user)
    assert job["JobState"] == "RUNNING", job
    return sorted(f"{job['NodeList']}:{i}" for i in granted(job))


def bound(hub, user: str) -> set[str]:
    """node:index of the NPU device files (DIR/devices/NODE/davinciN) of `user`'s container."""
    refs = set()
    for d in hub.container(user).attrs["HostConfig"]["Devices"]:
        node, file = d["PathOnHost"].rsplit("/", 2)[-2:]
        if file.removeprefix("davinci").isdigit():
            refs.add(f"{node}:{file.removeprefix('davinci')}")
    return refs


def held(hub, user: str) -> list[str]:
    (_, devices), = ledger_devices(hub, user)
    return sorted(devices.split(","))


def spawn(hub, user: str, lang: str) -> requests.Response:
    return requests.post(
        f"{hub.api}/users/{user}/server", json=TWO, timeout=60,
        headers={"Authorization": f"token {hub.admin_token}", "Accept-Language": lang},
    )


def test_a_full_cluster_puts_servers_in_slurms_line_and_starts_them_by_themselves(cluster_hub):
    hub = cluster_hub
    # the cluster is shared: jobs of other hubs' tests end first
    until("the cluster's 12 NPUs free", lambda: busy_jobs(hub) == [], timeout=300, every=1)
    names = ["s" + uuid.uuid4().hex[:8] for _ in range(8)]
    for name in names:
        hub.create_user(name)
    full = len(NODES) * PER_NODE // 2
    first, seventh, eighth = names[:full], names[full], names[full + 1]
    try:
        with ThreadPoolExecutor(full) as starters:
            answers = list(starters.map(lambda n: spawn(hub, n, "en"), first))
        assert all(r.status_code in (201, 202) for r in answers), [r.text for r in answers]
        for name in first:
            hub.wait_ready(name, timeout=300)

        # every NPU of the cluster given once, on every node, as Slurm, the ledger and
        # the containers say
        where = {name: placed(hub, name) for name in first}
        devices = sorted(d for ds in where.values() for d in ds)
        assert devices == sorted(f"{n}:{i}" for n in NODES for i in range(PER_NODE)), where
        assert {d.split(":")[0] for d in devices} == set(NODES)
        for name in first:
            assert held(hub, name) == where[name]
            assert bound(hub, name) == set(where[name])

        # the seventh waits in Slurm's queue, first; the eighth (in Chinese) second
        r = spawn(hub, seventh, "en")
        assert r.status_code == 202, r.text
        until("the seventh pending", lambda: scontrol_job(hub, seventh)["JobState"] == "PENDING")
        said = progress_until(hub, seventh, "position 1", "en", timeout=120)
        assert said.startswith("Waiting in the Slurm queue: position 1"), said
        r = spawn(hub, eighth, "zh-CN")
        assert r.status_code == 202, r.text
        said = progress_until(hub, eighth, "第 2 位", "zh-CN", timeout=120)
        assert said.startswith("正在 Slurm 队列中等待：第 2 位"), said
        # counted in the ledger (the quota), holding no device while it waits
        assert ledger_devices(hub, seventh) == [("[]", None)]

        # one server stops: the seventh starts by itself on the NPUs it gave back
        gone = first[0]
        freed = where[gone]
        hub.stop_server(gone)
        hub.wait_ready(seventh, timeout=300)
        assert placed(hub, seventh) == freed
        assert held(hub, seventh) == freed
        assert bound(hub, seventh) == set(freed)
        said = progress_until(hub, eighth, "第 1 位", "zh-CN", timeout=120)
        assert said.startswith("正在 Slurm 队列中等待：第 1 位"), said
        assert scontrol_job(hub, eighth)["JobState"] == "PENDING"
    finally:
        with ThreadPoolExecutor(8) as stoppers:
            list(stoppers.map(_stop_quietly(hub), names))
