"""A batch job that Slurm ends on a node gives its NPUs back in npuhub's ledger, however
it ends: killed outright (its script gets SIGKILL and cannot stop its container: Slurm's
Epilog, written by scripts/start-slurm, removes it) or cancelled behind the platform's
back (`scancel`: the script's trap stops it). The service's watch records the end and
releases the ledger's devices, so the next job on that node holds them."""

from __future__ import annotations

import subprocess
import uuid

import docker
import pytest

from tests.hubclient import run_code
from tests.integration.test_cluster import held_by_job, wait_for
from tests.integration.test_jobs import full_log
from tests.slurm_fixture import slurm_env

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
N1 = [f"n1:{i}" for i in range(4)]  # partition batch: node n1, four NPUs
FINAL = ("succeeded", "failed", "cancelled", "timed_out")


def submit(hub, token: str, name: str) -> int:
    r = hub.request("POST", "/jobs", token=token, base=hub.service,
                    json={"source": "sleep.py", "npus": 4, "name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def job(hub, token: str, job_id: int) -> dict:
    r = hub.request("GET", f"/jobs/{job_id}", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    return r.json()


def running(hub, token: str, job_id: int) -> dict:
    """The job once it runs with the ledger holding what Slurm granted it."""
    def holds():
        j = job(hub, token, job_id)
        return j if j["state"] == "running" and held_by_job(hub, job_id) else None
    return wait_for(f"job {job_id} running", holds, 120)


def containers(slurm_id: str) -> list:
    return docker.from_env().containers.list(
        all=True, filters={"label": f"npuhub.slurm_job={slurm_id}"})


def free_in_ledger(hub, refs: list[str]) -> bool:
    devices = hub.request("GET", "/devices", base=hub.service).json()
    free = {f"{d['node']}:{d['index']}" for d in devices if d["holder"] is None}
    return set(refs) <= free


def test_a_batch_job_killed_on_its_node_frees_its_npus_for_the_next(cluster_hub):
    hub = cluster_hub
    user = "k" + uuid.uuid4().hex[:8]
    hub.create_user(user)
    token = hub.user_token(user)
    hub.spawn(user, options={"profile": "npu", "npus": 0}, timeout=120)
    code = ("import os\nopen(os.path.expanduser('~/sleep.py'), 'w')"
            ".write('import time\\ntime.sleep(600)\\n')\nprint('ok')")
    assert run_code(hub, user, token, code).strip() == "ok"
    hub.stop_server(user)
    env = slurm_env(hub.slurm["slurm_conf"])

    # killed outright: SIGKILL to the job's script, no trap runs; the Epilog removes the
    # container, the service's watch frees the ledger's devices
    first = submit(hub, token, "npuhubtest-killed")
    slurm_id = running(hub, token, first)["backend_id"]
    assert held_by_job(hub, first) == N1
    assert wait_for("its container", lambda: [c for c in containers(slurm_id)
                                              if c.status == "running"], 60)
    subprocess.run(["scancel", "--batch", "--signal=KILL", slurm_id], env=env, check=True)
    ended = wait_for("the end recorded", lambda: (j := job(hub, token, first))["state"]
                     in FINAL and j, 60)
    assert ended["state"] == "failed", ended
    wait_for("the killed job's container removed", lambda: containers(slurm_id) == [], 60)
    wait_for("its NPUs free in the ledger", lambda: held_by_job(hub, first) == [], 30)
    assert free_in_ledger(hub, N1)
    said = full_log(hub, token, first)
    assert f"is Slurm job {slurm_id}" in said and "stopped by signal" not in said, said

    # the next job on n1 holds the same NPUs in the ledger; then scancel behind the
    # platform's back ends it the same way
    second = submit(hub, token, "npuhubtest-after")
    slurm_id = running(hub, token, second)["backend_id"]
    assert held_by_job(hub, second) == N1
    # its script has its container running (a job cancelled while Slurm still launches its
    # script ends before the script can say anything)
    assert wait_for("its container", lambda: [c for c in containers(slurm_id)
                                              if c.status == "running"], 60)
    subprocess.run(["scancel", slurm_id], env=env, check=True)
    ended = wait_for("the end recorded", lambda: (j := job(hub, token, second))["state"]
                     in FINAL and j, 60)
    assert ended["state"] == "cancelled", ended
    wait_for("its container removed", lambda: containers(slurm_id) == [], 60)
    wait_for("its NPUs free in the ledger", lambda: held_by_job(hub, second) == [], 30)
    assert free_in_ledger(hub, N1)
    assert "stopped by signal" in full_log(hub, token, second)  # its trap ran
