"""A record of every run in cluster mode, on the real three-node Slurm cluster: a cluster
server's session record names the node and NPUs Slurm granted; a Slurm batch job's names
its node, devices, image digest, source hash, the node's driver and CANN versions and
the dataset versions, in GET …/jobs/{id}, on its usage record and in ~/jobs/ID; a re-run
with {"like": ID} runs on the same image digest, datasets and parameters."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid

import docker
import pytest

from npuhub.hub.containers import home_volume
from tests.integration.test_cluster import granted, scontrol_job
from tests.integration.test_jobs import full_log, submit, wait_job, write_files

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

SCRIPT = (
    "import os, sys\n"
    "d = os.path.expanduser('~/datasets/' + sys.argv[sys.argv.index('--name') + 1])\n"
    "print('data:', open(d + '/hello.txt').read())\n"
)
CANN = {"version": "7.0.RC1", "inner_version": "7.0.0.5.242"}  # tests/data/ascend


def job_usage_record(hub, job_id: int) -> dict | None:
    con = sqlite3.connect(hub.state_dir / "npuhub.sqlite")
    try:
        (text,) = con.execute("SELECT provenance FROM allocations WHERE kind = 'job' AND"
                              " holder = ?", (str(job_id),)).fetchone()  # fmt: skip
    finally:
        con.close()
    return json.loads(text) if text else None


def test_cluster_session_and_slurm_job_records_and_like(cluster_hub, tmp_root):
    hub = cluster_hub
    user = "pv" + uuid.uuid4().hex[:8]
    hub.create_user(user)
    token = hub.user_token(user)
    image_id = docker.from_env().images.get("npuhub/base:latest").id
    from npuhub.hub.platform import platform_for

    usage = platform_for(f"sqlite:///{hub.state_dir / 'npuhub.sqlite'}").ledger.usage

    # a cluster server: the node and NPUs Slurm granted, the image digest, driver and CANN
    r = hub.spawn(user, options={"profile": "npu", "npus": 2}, timeout=300)  # shared cluster
    assert r.status_code < 400, r.text
    fields = scontrol_job(hub, user)
    r = hub.request("GET", "/me/session", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["kind"] == "session" and session["backend"] == "slurm"
    assert session["node"] == fields["NodeList"]
    assert session["devices"] == [{"node": fields["NodeList"], "index": i} for i in granted(fields)]
    assert session["image"] == {"reference": "npuhub/base:latest", "digest": image_id}
    assert session["cann"] == CANN and session["npu_driver"]["version"] == "23.0.rc3"
    assert usage.provenance(user, "server", "") == session

    # a Slurm batch job
    name = "cp" + uuid.uuid4().hex[:6]
    folder = tmp_root / f"data-{name}"
    folder.mkdir(mode=0o755)
    (folder / "hello.txt").write_text("hello data")
    r = hub.request("POST", "/datasets", base=hub.service,
                    json={"name": name, "source": str(folder), "version": "2025.1"})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    write_files(hub, user, token, {"prov.py": SCRIPT})
    hub.stop_server(user)  # its NPUs back: the cluster is shared
    r = submit(hub, token, source="prov.py", npus=1, datasets=[name], name="npuhubtest-prov",
               parameters={"name": name, "seed": 7})  # fmt: skip
    assert r.status_code == 201, r.text
    done = wait_job(hub, token, r.json()["id"], timeout=600)
    assert done["state"] == "succeeded", full_log(hub, token, done["id"])
    prov = done["provenance"]
    assert prov["backend"] == "slurm" and prov["node"] == "n1"  # partition batch: n1
    assert prov["devices"] == [{"node": "n1", "index": done["devices"][0]}]
    assert prov["image"] == {"reference": "npuhub/base:latest", "digest": image_id}
    assert prov["datasets"] == [{"name": name, "version": "2025.1"}]
    assert prov["parameters"] == {"name": name, "seed": 7} and prov["user"] == user
    assert prov["source"] == {"path": "prov.py",
                              "sha256": hashlib.sha256(SCRIPT.encode()).hexdigest()}  # fmt: skip
    assert prov["cann"] == CANN and prov["npu_driver"]["version"] == "23.0.rc3"
    assert job_usage_record(hub, done["id"]) == prov  # on its usage record too
    # the same record in the job's folder, the user's own
    path = f"/home/jovyan/jobs/{done['id']}/provenance.json"
    out = docker.from_env().containers.run(
        "npuhub/base:latest", ["sh", "-c", f"stat -c '%u:%g %a' {path}; cat {path}"],
        user="1000:100", network_mode="none", remove=True,
        volumes={home_volume(hub.prefix, user): {"bind": "/home/jovyan", "mode": "ro"}},
    ).decode()  # fmt: skip
    owner, _, text = out.partition("\n")
    assert owner == "1000:100 644" and json.loads(text) == prov

    again = submit(hub, token, like=done["id"])
    assert again.status_code == 201, again.text
    rerun = wait_job(hub, token, again.json()["id"], timeout=600)
    assert rerun["state"] == "succeeded", full_log(hub, token, rerun["id"])
    assert rerun["rerun_of"] == done["id"] and rerun["image"] == image_id
    p2 = rerun["provenance"]
    assert p2["image"]["digest"] == image_id and p2["datasets"] == prov["datasets"]
    assert p2["parameters"] == prov["parameters"] and p2["source"] == prov["source"]
    assert p2["rerun_of"] == done["id"] and p2["node"] == "n1" and len(p2["devices"]) == 1
    assert "data: hello data" in full_log(hub, token, rerun["id"])
