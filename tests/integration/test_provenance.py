"""A record of every run, against the real stack: a job's ~/jobs/ID/provenance.json and
GET …/jobs/{id} name the image digest, its devices and the dataset versions; a re-run
with {"like": ID} runs on the same image digest, datasets and parameters."""

from __future__ import annotations

import hashlib
import json
import uuid

import docker
import pytest

from tests.hubclient import run_code
from tests.integration.test_jobs import full_log, new_user, submit, wait_job, write_files

pytestmark = pytest.mark.integration

SCRIPT = (
    "import os, sys\n"
    "d = os.path.expanduser('~/datasets/' + sys.argv[sys.argv.index('--name') + 1])\n"
    "print('data:', open(d + '/hello.txt').read())\n"
    "print('devices:', os.environ.get('ASCEND_VISIBLE_DEVICES'))\n"
)


def test_provenance_and_like(hub, tmp_root):
    user, token = new_user(hub)
    hub.spawn(user, token=token, options={"profile": "base", "npus": 0})
    name = "pv" + uuid.uuid4().hex[:6]
    folder = tmp_root / f"data-{name}"
    folder.mkdir(mode=0o755)
    (folder / "hello.txt").write_text("hello data")
    r = hub.request("POST", "/datasets", base=hub.service,
                    json={"name": name, "source": str(folder), "version": "2025.1"})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    write_files(hub, user, token, {"prov.py": SCRIPT})

    r = submit(hub, token, source="prov.py", npus=1, datasets=[name],
               parameters={"name": name, "seed": 7})  # fmt: skip
    assert r.status_code == 201, r.text
    done = wait_job(hub, token, r.json()["id"])
    assert done["state"] == "succeeded", full_log(hub, token, done["id"])
    prov = done["provenance"]
    image_id = docker.from_env().images.get("npuhub/base:latest").id
    assert prov["image"] == {"reference": "npuhub/base:latest", "digest": image_id}
    assert prov["devices"] == [{"node": prov["node"], "index": done["devices"][0]}]
    assert prov["datasets"] == [{"name": name, "version": "2025.1"}]
    assert prov["parameters"] == {"name": name, "seed": 7}
    assert prov["source"] == {"path": "prov.py", "sha256": hashlib.sha256(SCRIPT.encode()).hexdigest()}
    assert "npu_driver" in prov and "cann" in prov  # None here: no Ascend driver on this host
    # the same record in the job's folder, readable by the user
    text = run_code(hub, user, token, f"print(open('/home/jovyan/jobs/{done['id']}/provenance.json').read())")
    assert json.loads(text) == prov

    again = submit(hub, token, like=done["id"])
    assert again.status_code == 201, again.text
    rerun = wait_job(hub, token, again.json()["id"])
    assert rerun["state"] == "succeeded", full_log(hub, token, rerun["id"])
    assert rerun["rerun_of"] == done["id"] and rerun["image"] == image_id
    p2 = rerun["provenance"]
    assert p2["image"]["digest"] == image_id and p2["datasets"] == prov["datasets"]
    assert p2["parameters"] == prov["parameters"] and p2["source"] == prov["source"]
    assert len(p2["devices"]) == 1 and p2["rerun_of"] == done["id"]
    assert "data: hello data" in full_log(hub, token, rerun["id"])

    # another user cannot re-run it; a changed dataset version is refused readably
    _, other = new_user(hub)
    assert submit(hub, other, like=done["id"]).status_code == 404
    r = hub.request("PUT", f"/datasets/{name}", base=hub.service, json={"version": "2025.2"})
    assert r.status_code == 200, r.text
    drift = submit(hub, token, like=done["id"])
    assert drift.status_code == 409
    assert f"dataset {name} is now version 2025.2, job {done['id']} ran with version 2025.1" in drift.json()["message"]
    hub.stop_server(user)


def test_notebook_rerun_with_new_values_papermill_style(hub):
    from tests.integration.test_jobs import NOTEBOOK

    user, token = new_user(hub)
    hub.spawn(user, token=token, options={"profile": "base", "npus": 0})
    write_files(hub, user, token, {"nb/train.ipynb": json.dumps(NOTEBOOK)})
    first = wait_job(hub, token, submit(hub, token, source="nb/train.ipynb",
                                        parameters={"lr": 0.05}).json()["id"])  # fmt: skip
    assert first["state"] == "succeeded", full_log(hub, token, first["id"])
    assert first["provenance"]["source"]["path"] == "nb/train.ipynb"
    # like, with one value changed
    r = submit(hub, token, like=first["id"], parameters={"lr": 0.5})
    assert r.status_code == 201, r.text
    second = wait_job(hub, token, r.json()["id"])
    assert second["parameters"] == {"lr": 0.5} and second["rerun_of"] == first["id"]
    assert "learning rate 0.5" in full_log(hub, token, second["id"])
    # the executed notebook itself, run again: its injected cell is replaced, not shadowed
    executed = f"jobs/{first['id']}/train.ipynb"
    third = wait_job(hub, token, submit(hub, token, source=executed, parameters={"lr": 0.7}).json()["id"])
    assert third["state"] == "succeeded", full_log(hub, token, third["id"])
    out = run_code(hub, user, token, (
        f"import json; nb = json.load(open('/home/jovyan/jobs/{third['id']}/train.ipynb')); "
        "cells = [c for c in nb['cells'] if 'injected-parameters' in c['metadata'].get('tags', [])]; "
        "print(len(cells), ''.join(cells[0]['source']).splitlines()[-1], "
        "nb['metadata']['papermill']['parameters'])"
    ))
    assert out.strip() == "1 lr = 0.7 {'lr': 0.7}"
    hub.stop_server(user)
