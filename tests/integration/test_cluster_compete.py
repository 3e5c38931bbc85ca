"""A batch job and servers compete for the same node's NPUs through one ledger, on the real
three-node cluster: the job (partition batch: n1 alone) takes n1's four NPUs; servers that
need four go to n2 and n3; one more that only n1 could serve waits in Slurm's queue, and
starts there by itself when the job ends. At each step the ledger's holders, both kinds,
are what `scontrol show job -d` says Slurm granted."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.integration.test_cluster import (
    granted,
    held_by_job,
    scontrol_job,
    sleeping_job,
    wait_for,
)
from tests.integration.test_cluster_line import busy_jobs, placed
from tests.integration.test_line import _stop_quietly, until
from tests.slurm_fixture import slurm_env

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def slurm_job(hub, slurm_id: str) -> dict:
    line = subprocess.run(["scontrol", "-o", "-d", "show", "job", slurm_id],
                          env=slurm_env(hub.slurm["slurm_conf"]), capture_output=True,
                          text=True, check=True).stdout
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def slurm_holders(hub, servers: list[str], slurm_ids: dict[str, str]) -> dict[str, tuple]:
    """node:index -> (kind, user) of what Slurm granted the running `servers` and the
    batch jobs `slurm_ids` (Slurm id -> user)."""
    out = {}
    for user in servers:
        for ref in placed(hub, user):
            out[ref] = ("server", user)
    for slurm_id, user in slurm_ids.items():
        job = slurm_job(hub, slurm_id)
        assert job["JobState"] == "RUNNING", job
        for i in granted(job):
            out[f"{job['NodeList']}:{i}"] = ("job", user)
    return out


def ledger_holders(hub, users: set[str]) -> dict[str, tuple]:
    """node:index -> (kind, user) of the devices the ledger holds for `users` (GET /devices)."""
    devices = hub.request("GET", "/devices", base=hub.service).json()
    return {f"{d['node']}:{d['index']}": (d["holder"]["kind"], d["holder"]["user"])
            for d in devices if d["holder"] and d["holder"]["user"] in users}


def test_a_batch_job_and_servers_compete_for_n1_through_one_ledger(cluster_hub):
    hub = cluster_hub
    until("the cluster's 12 NPUs free", lambda: busy_jobs(hub) == [], timeout=300, every=1)
    owner, a, b, c = ("c" + uuid.uuid4().hex[:8] for _ in range(4))
    for name in (owner, a, b, c):
        hub.create_user(name)
    token = hub.user_token(owner)
    job_id = None
    try:
        hub.spawn(owner, options={"profile": "npu", "npus": 0}, timeout=300)
        # the batch job (its script written from the owner's server) takes n1's four NPUs
        job_id, slurm_id = sleeping_job(hub, owner, token, npus=4, name="npuhubtest-compete",
                                        seconds=900)
        hub.stop_server(owner)
        assert held_by_job(hub, job_id) == [f"n1:{i}" for i in range(4)]

        # servers of four NPUs go elsewhere: n2 and n3
        for name in (a, b):
            r = hub.spawn(name, options={"profile": "npu", "npus": 4}, wait=False)
            assert r.status_code in (201, 202), r.text
        for name in (a, b):
            hub.wait_ready(name, timeout=300)
        assert {scontrol_job(hub, name)["NodeList"] for name in (a, b)} == {"n2", "n3"}
        users = {owner, a, b, c}
        expect = slurm_holders(hub, [a, b], {slurm_id: owner})
        assert len(expect) == 12
        assert ledger_holders(hub, users) == expect

        # one more, that only n1 could serve, waits in Slurm's queue holding nothing
        r = hub.spawn(c, options={"profile": "npu", "npus": 2}, wait=False)
        assert r.status_code == 202, r.text
        until("the third server pending", lambda: scontrol_job(hub, c)["JobState"] == "PENDING")
        assert ledger_holders(hub, users) == expect

        # the job ends: the waiting server starts on n1 by itself, and the ledger follows
        r = hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service)
        assert r.status_code == 200, r.text
        hub.wait_ready(c, timeout=300)
        assert [d.split(":")[0] for d in placed(hub, c)] == ["n1", "n1"]
        wait_for("the ledger holds what Slurm granted", lambda: ledger_holders(hub, users)
                 == slurm_holders(hub, [a, b, c], {}), 30)
    finally:
        if job_id is not None:
            hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service)
        for name in (owner, a, b, c):
            _stop_quietly(hub)(name)
