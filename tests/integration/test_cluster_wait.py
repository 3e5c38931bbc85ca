"""`wait: false` in cluster mode on the real three-node cluster: a request that may not
wait and that Slurm cannot start now is refused at once, with the capacity refusal of
single-host mode in the user's language, and leaves nothing behind (no Slurm job, no
ledger reservation, no pending server); with room it starts as usual."""

from __future__ import annotations

import subprocess
import uuid

import pytest
import requests

from tests.integration.test_cluster import ledger_devices
from tests.integration.test_cluster_line import NODES, busy_jobs, held, placed
from tests.integration.test_line import _stop_quietly, until
from tests.slurm_fixture import slurm_env

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
HASTY = {"profile": "npu", "npus": 2, "wait": False}


def fill(hub, node: str) -> str:
    """A plain Slurm job holding the four NPUs of `node` (in this session's log folder,
    so the session's cleanup cancels it)."""
    logs = hub.slurm["log_dir"]
    out = subprocess.run(
        ["sbatch", "--parsable", "--job-name=npuhubtest-fill", "--partition=npu",
         f"--nodelist={node}", "--gres=npu:4", "--mem=10M", f"--chdir={logs}",
         f"--output={logs}/fill-%j.out", "--wrap", "sleep 900"],
        env=slurm_env(hub.slurm["slurm_conf"]), capture_output=True, text=True, check=True,
    ).stdout
    return out.strip().split(";")[0]


def state_of(hub, job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"],
                          env=slurm_env(hub.slurm["slurm_conf"]), capture_output=True,
                          text=True, check=False).stdout.strip()


def spawn(hub, user: str, lang: str) -> requests.Response:
    return requests.post(
        f"{hub.api}/users/{user}/server", json=HASTY, timeout=60,
        headers={"Authorization": f"token {hub.admin_token}", "Accept-Language": lang},
    )


def server_jobs(hub, user: str) -> list[str]:
    return subprocess.run(["squeue", "-h", "-n", f"{hub.prefix}-{user}--", "-o", "%i %T"],
                          env=slurm_env(hub.slurm["slurm_conf"]), capture_output=True,
                          text=True, check=True).stdout.splitlines()


def test_a_request_that_may_not_wait_is_refused_at_once_on_a_full_cluster(cluster_hub):
    hub = cluster_hub
    until("the cluster's 12 NPUs free", lambda: busy_jobs(hub) == [], timeout=300, every=1)
    en, zh = ("h" + uuid.uuid4().hex[:8] for _ in range(2))
    for name in (en, zh):
        hub.create_user(name)
    fillers = {node: fill(hub, node) for node in NODES}
    try:
        for job in fillers.values():
            until(f"filler {job} running", lambda j=job: state_of(hub, j) == "RUNNING")

        r = spawn(hub, en, "en")
        assert r.status_code == 503, r.text
        assert "All 12 NPUs are in use" in r.json()["message"], r.text
        r = spawn(hub, zh, "zh-CN")
        assert r.status_code == 503, r.text
        assert "全部 12 个 NPU 都在使用中" in r.json()["message"], r.text
        # nothing left behind: the job cancelled, the reservation freed, no server
        for name in (en, zh):
            assert server_jobs(hub, name) == []
            assert ledger_devices(hub, name) == []
            assert hub.request("GET", f"/users/{name}").json()["servers"] == {}

        # room on n2: a request that may not wait starts there at once
        subprocess.run(["scancel", fillers.pop("n2")], env=slurm_env(hub.slurm["slurm_conf"]),
                       check=True)
        until("n2 free", lambda: len(busy_jobs(hub)) == 2, timeout=120)
        r = spawn(hub, en, "en")
        assert r.status_code in (201, 202), r.text
        hub.wait_ready(en, timeout=300)
        where = placed(hub, en)
        assert [d.split(":")[0] for d in where] == ["n2", "n2"]
        assert held(hub, en) == where
    finally:
        subprocess.run(["scancel", *fillers.values()], env=slurm_env(hub.slurm["slurm_conf"]),
                       check=False, capture_output=True)
        for name in (en, zh):
            _stop_quietly(hub)(name)
