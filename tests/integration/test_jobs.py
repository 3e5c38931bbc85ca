"""Batch jobs through the real stack: the service's REST API, the local queue running
jobs as containers with NPUs from the ledger, the runner in npuhub/base, the Slurm
backend against a real slurmctld/slurmd, a service restart in the middle of a job.

Test files are written into the user's home from the user's own running server
(run_code), and outputs are read back the same way, as the user would."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from tests.conftest import new_hub, remove_prefixed
from tests.hubclient import Hub, run_code

pytestmark = pytest.mark.integration
FINAL = ("succeeded", "failed", "cancelled", "timed_out")

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "source": "lr = 1\n",
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": "import os\nprint('learning rate', lr)\n"
            # a relative path: the run's own folder ~/jobs/ID, not the notebook's (work/)
            "open('lr.txt', 'w').write(repr(lr))\n"
            "os.environ['ASCEND_VISIBLE_DEVICES']",
        },
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def new_user(hub: Hub, groups=()) -> tuple[str, str]:
    name = "j" + uuid.uuid4().hex[:8]
    hub.create_user(name, groups=groups)
    return name, hub.user_token(name)


def write_files(hub: Hub, user: str, token: str, files: dict[str, str]) -> None:
    code = (
        "import json, os\n"
        f"for path, text in json.loads({json.dumps(json.dumps(files))}).items():\n"
        "    p = os.path.expanduser('~/' + path)\n"
        "    os.makedirs(os.path.dirname(p), exist_ok=True)\n"
        "    open(p, 'w').write(text)\n"
        "print('ok')"
    )
    assert run_code(hub, user, token, code).strip() == "ok"


def submit(hub: Hub, token: str, **body):
    return hub.request("POST", "/jobs", token=token, base=hub.service, json=body)


def job(hub: Hub, token: str, job_id: int) -> dict:
    r = hub.request("GET", f"/jobs/{job_id}", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(hub, token, job_id, states=FINAL, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = job(hub, token, job_id)
        if j["state"] in states:
            return j
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not {states} after {timeout}s: {j}")


def full_log(hub, token, job_id) -> str:
    text, offset = "", 0
    for _ in range(100):
        r = hub.request(
            "GET", f"/jobs/{job_id}/logs?offset={offset}", token=token, base=hub.service
        )
        assert r.status_code == 200, r.text
        chunk = r.json()
        text, offset = text + chunk["text"], chunk["offset"]
        if chunk["done"]:
            return text
        time.sleep(0.3)
    raise AssertionError(f"log of job {job_id} never done: {text}")


@pytest.fixture(scope="module")
def researcher(hub):
    """A user with a running server (no NPUs) and the test notebooks in the home."""
    user, token = new_user(hub)
    hub.spawn(user, options={"profile": "base", "npus": 0})
    bad = dict(
        NOTEBOOK,
        cells=[
            *NOTEBOOK["cells"],
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": "raise ValueError('bad input')",
            },
        ],
    )
    write_files(
        hub,
        user,
        token,
        {
            "work/train.ipynb": json.dumps(NOTEBOOK),
            "work/bad.ipynb": json.dumps(bad),
            "sleep.py": "import sys, time\nprint('sleeping', flush=True)\ntime.sleep(float(sys.argv[2]))\n",
            "loud.py": "for i in range(12000):\n    print(f'{i:08d}' + 'x' * 91)\n",
        },
    )
    yield user, token
    hub.stop_server(user)


def test_notebook_with_parameter_succeeds_outputs_in_home(hub, researcher):
    user, token = researcher
    r = submit(hub, token, source="work/train.ipynb", npus=1, parameters={"lr": 0.05})
    assert r.status_code == 201, r.text
    submitted = r.json()
    assert submitted["state"] == "queued" and submitted["name"] == "train"
    done = wait_job(hub, token, submitted["id"])
    assert done["state"] == "succeeded", (done, full_log(hub, token, done["id"]))
    assert done["exit_code"] == 0 and done["started"] and done["finished"]
    assert len(done["devices"]) == 1
    log = full_log(hub, token, done["id"])
    assert "learning rate 0.05" in log
    out = run_code(
        hub,
        user,
        token,
        (
            f"import os, json; d = os.path.expanduser('~/jobs/{done['id']}'); "
            "nb = json.load(open(d + '/train.ipynb')); "
            "print(sorted(os.listdir(d)), open(d + '/lr.txt').read(), "
            "nb['cells'][1]['metadata']['tags'], ''.join(nb['cells'][-1]['outputs'][-1]['data']['text/plain']), "
            "'learning rate 0.05' in open(d + '/train.html').read(), "
            "os.path.exists(os.path.expanduser('~/work/lr.txt')))"
        ),
    )
    assert out.strip() == (
        f"['log.txt', 'lr.txt', 'provenance.json', 'train.html', 'train.ipynb'] 0.05 "
        "['injected-parameters'] "
        f"'{done['devices'][0]}' True False"
    )
    # the job's NPU is back, and its usage record is closed
    usage = hub.request("GET", f"/usage?account={user}", token=token, base=hub.service).json()
    assert usage["active_npus"] == 0 and usage["npu_hours"] > 0


def test_failing_notebook_is_failed_with_the_error_in_the_log(hub, researcher):
    user, token = researcher
    r = submit(hub, token, source="work/bad.ipynb", name="bad-one")
    assert r.status_code == 201, r.text
    done = wait_job(hub, token, r.json()["id"])
    assert done["state"] == "failed" and done["exit_code"] == 1
    assert done["reason"] == "ValueError: bad input"
    log = full_log(hub, token, done["id"])
    assert "ValueError: bad input" in log and "Traceback" in log


def test_missing_source_fails_readably(hub, researcher):
    _, token = researcher
    r = submit(hub, token, source="nope/missing.py")
    done = wait_job(hub, token, r.json()["id"])
    assert (done["state"], done["reason"]) == (
        "failed",
        "no such file in your home: nope/missing.py",
    )


def test_cancel_while_running(hub, researcher):
    _, token = researcher
    r = submit(hub, token, source="sleep.py", npus=1, parameters={"seconds": 300})
    job_id = r.json()["id"]
    running = wait_job(hub, token, job_id, states=("running",) + FINAL, timeout=60)
    assert running["state"] == "running"
    deadline = time.monotonic() + 60
    while "sleeping" not in full_log_now(hub, token, job_id) and time.monotonic() < deadline:
        time.sleep(0.3)
    r = hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    again = hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service)
    assert again.status_code == 409 and "already ended" in again.json()["message"]
    assert hub.request("GET", "/devices", base=hub.service).json()  # admin view works
    assert not [
        d
        for d in hub.request("GET", "/devices", base=hub.service).json()
        if d["holder"] and d["holder"]["holder"] == str(job_id)
    ]
    assert "sleeping" in full_log(hub, token, job_id)


def test_a_loud_job_log_is_answered_in_bounded_pieces(hub, researcher):
    """A job printing 1.2 MB: each answer of the logs API holds at most 256 KiB, and the
    pieces make up the whole log, line by line."""
    _, token = researcher
    r = submit(hub, token, source="loud.py")
    assert r.status_code == 201, r.text
    done = wait_job(hub, token, r.json()["id"])
    assert done["state"] == "succeeded", done
    first = hub.request(
        "GET", f"/jobs/{done['id']}/logs?offset=0", token=token, base=hub.service
    ).json()
    assert 0 < len(first["text"].encode()) == first["offset"] <= 256 * 1024
    assert not first["done"] and first["text"].endswith("x\n")
    lines = [ln for ln in full_log(hub, token, done["id"]).splitlines() if ln.endswith("x")]
    assert lines == [f"{i:08d}" + "x" * 91 for i in range(12000)]


def full_log_now(hub, token, job_id) -> str:
    r = hub.request("GET", f"/jobs/{job_id}/logs", token=token, base=hub.service)
    return r.json()["text"]


def test_time_limit_reached(hub, researcher):
    _, token = researcher
    r = submit(hub, token, source="sleep.py", parameters={"seconds": 300}, time_limit=3)
    done = wait_job(hub, token, r.json()["id"], timeout=90)
    assert done["state"] == "timed_out"
    assert done["reason"] == "time limit of 0:00:03 reached"


def test_job_mounts_the_datasets_read_only(hub, researcher, tmp_root):
    user, token = researcher
    name = "jd" + uuid.uuid4().hex[:6]
    folder = tmp_root / f"data-{name}"
    folder.mkdir(mode=0o755)
    (folder / "hello.txt").write_text("hello data")
    r = hub.request(
        "POST",
        "/datasets",
        base=hub.service,
        json={"name": name, "source": str(folder), "access": "public"},
    )
    assert r.status_code in (200, 201), r.text
    write_files(
        hub,
        user,
        token,
        {
            "readds.py": (
                "import os, sys\nd = os.path.expanduser('~/datasets/' + sys.argv[2])\n"
                "print(open(d + '/hello.txt').read())\n"
                "try:\n    open(d + '/new.txt', 'w')\nexcept OSError as e:\n    print('read-only', e.errno)\n"
            )
        },
    )
    r = submit(hub, token, source="readds.py", datasets=[name], parameters={"name": name})
    assert r.status_code == 201, r.text
    assert r.json()["datasets"] == [name]
    done = wait_job(hub, token, r.json()["id"])
    log = full_log(hub, token, done["id"])
    assert done["state"] == "succeeded", log
    assert "hello data" in log and "read-only 30" in log  # EROFS
    r = submit(hub, token, source="readds.py", datasets=["no-such-data"])
    assert r.status_code == 400 and "There is no dataset 'no-such-data'" in r.json()["message"]


def test_users_see_only_their_own_jobs(hub, researcher):
    user, token = researcher
    other, other_token = new_user(hub)
    mine = hub.request("GET", "/jobs", token=token, base=hub.service).json()
    assert mine and {j["user"] for j in mine} == {user}
    assert hub.request("GET", "/jobs", token=other_token, base=hub.service).json() == []
    some = mine[0]["id"]
    for method, path in (
        ("GET", f"/jobs/{some}"),
        ("GET", f"/jobs/{some}/logs"),
        ("DELETE", f"/jobs/{some}"),
    ):
        r = hub.request(method, path, token=other_token, base=hub.service)
        assert r.status_code == 404, (method, path, r.text)
    everyone = hub.request("GET", "/jobs", base=hub.service).json()  # admin
    assert {j["id"] for j in mine} <= {j["id"] for j in everyone}


def test_refusals(hub, researcher):
    _, token = researcher
    cases = [
        ({"source": "../etc/x.py"}, 400, "without '..'"),
        ({"source": "x.sh"}, 400, "a notebook (.ipynb) or a script (.py)"),
        ({"source": "x.py", "parameters": {"a": [1]}}, 400, "string, number"),
        ({"source": "x.py", "time_limit": 10**9}, 400, "time_limit must be"),
        ({"source": "x.py", "time_limit": "soon"}, 400, "time_limit 'soon' is not a duration"),
        ({"source": "x.py", "parameters": "lr"}, 400, "parameters: line 1 is not name=value"),
        ({"source": "x.py", "image": "evil/image:1"}, 400, "is not one of yours"),
        ({"source": "x.py", "npus": 5}, 403, "at most 4 per server"),
    ]
    for body, status, message in cases:
        r = submit(hub, token, **body)
        assert r.status_code == status and message in r.json()["message"], (body, r.text)


def submit_from_lab(hub: Hub, user: str, token: str, lang: str = "en", **typed):
    """POST /jobs as the Lab's job dialog does: through the server extension's forwarding
    route, with the body its `jobBody` builds (labextension/src/panel.ts: what was typed,
    trimmed time limit, untouched parameters text)."""
    body = {"source": typed["source"], "npus": 0}
    if typed.get("time_limit", "").strip():
        body["time_limit"] = typed["time_limit"].strip()
    if typed.get("parameters", "").strip():
        body["parameters"] = typed["parameters"]
    return requests.post(
        f"{hub.url}/user/{user}/npuhub/api/jobs", json=body, timeout=60,
        headers={"Authorization": f"token {token}", "Accept-Language": lang},
    )  # fmt: skip


def submit_from_python(hub: Hub, user: str, token: str, **kwargs) -> dict:
    """npuhub.extensions.jobs.submit(...) in the user's own kernel."""
    code = (
        "import json\nfrom npuhub.extensions import jobs\n"
        f"print(json.dumps(jobs.submit(**json.loads({json.dumps(json.dumps(kwargs))}))))"
    )
    return json.loads(run_code(hub, user, token, code).strip().splitlines()[-1])


@pytest.mark.parametrize(("typed", "seconds"), [("2h", 7200), ("1:30:00", 5400), ("90", 90)])
def test_lab_dialog_and_python_api_read_what_was_typed_the_same(hub, researcher, typed, seconds):
    user, token = researcher
    params = "msg=hello, world\nlr=0.01"
    lab = submit_from_lab(hub, user, token, source="sleep.py", time_limit=typed,
                          parameters=params)  # fmt: skip
    assert lab.status_code == 201, lab.text
    python = submit_from_python(hub, user, token, source="sleep.py", time_limit=typed,
                                parameters=params)  # fmt: skip
    as_dict = submit_from_python(hub, user, token, source="sleep.py", time_limit=seconds,
                                 parameters={"msg": "hello, world", "lr": 0.01})  # fmt: skip
    for j in (lab.json(), python, as_dict):
        hub.request("DELETE", f"/jobs/{j['id']}", token=token, base=hub.service)
        got = job(hub, token, j["id"])
        assert (got["time_limit"], got["parameters"]) == (
            seconds, {"msg": "hello, world", "lr": 0.01})


def test_nonsense_typed_in_the_lab_is_a_400_naming_the_field(hub, researcher):
    user, token = researcher
    r = submit_from_lab(hub, user, token, source="x.py", time_limit="2 hours")
    assert r.status_code == 400
    assert r.json()["error"] == "bad_time_limit" and r.json()["params"]["field"] == "time_limit"
    assert r.json()["message"].startswith("time_limit '2 hours' is not a duration")
    r = submit_from_lab(hub, user, token, lang="zh-CN,zh;q=0.9", source="x.py", time_limit="2 hours")
    assert r.status_code == 400 and r.json()["message"].startswith(
        "time_limit '2 hours' 不是有效的时长")
    r = submit_from_lab(hub, user, token, source="x.py", parameters="msg")
    assert r.status_code == 400 and r.json()["error"] == "bad_parameter_line"
    assert r.json()["params"]["field"] == "parameters"
    code = (
        "from npuhub.extensions import jobs\n"
        "try:\n    jobs.submit('sleep.py', time_limit='2 hours')\n"
        "except Exception as e:\n    print(type(e).__name__, e)"
    )
    assert run_code(hub, user, token, code).strip().startswith(
        "NPUHubError time_limit '2 hours' is not a duration")


def test_over_budget_refused_naming_the_budget(hub):
    group = "lab" + uuid.uuid4().hex[:6]
    user, token = new_user(hub, groups=[group])
    r = hub.request("PUT", f"/quotas/{group}", base=hub.service, json={"npu_hours": 0})
    assert r.status_code == 200, r.text
    r = submit(hub, token, source="train.ipynb", npus=1)
    assert r.status_code == 403
    assert r.json()["error"] == "budget_account"
    assert r.json()["message"].startswith(f"Group {group} has used 0 of 0 NPU-hours this week")
    assert r.json()["params"]["account"] == group
    r = requests.post(f"{hub.service}/jobs", json={"source": "train.ipynb", "npus": 1},
                      headers={"Authorization": f"token {token}", "Accept-Language": "zh-CN"},
                      timeout=60)  # fmt: skip
    assert r.status_code == 403
    assert r.json()["message"].startswith(f"组 {group} 本周已用 0 / 0 NPU 小时")


def test_queue_waits_for_npus_held_by_notebooks(hub, researcher):
    _, token = researcher
    holders = [new_user(hub)[0] for _ in range(2)]
    for h in holders:
        hub.spawn(h, options={"profile": "base", "npus": 4})
    stopped = False
    try:
        r = submit(hub, token, source="sleep.py", npus=1, parameters={"seconds": 1})
        job_id = r.json()["id"]
        time.sleep(5)
        waiting = job(hub, token, job_id)
        assert waiting["state"] == "queued" and "All 8 NPUs are in use" in waiting["reason"]
        # a waiting job can be cancelled; it never starts
        other = submit(hub, token, source="sleep.py", npus=1, parameters={"seconds": 1}).json()
        r = hub.request("DELETE", f"/jobs/{other['id']}", token=token, base=hub.service)
        assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
        hub.stop_server(holders[0])
        stopped = True
        done = wait_job(hub, token, job_id, timeout=60)
        assert done["state"] == "succeeded", done
        assert job(hub, token, other["id"])["started"] is None
    finally:
        for h in holders[int(stopped) :]:
            hub.stop_server(h)


def test_the_first_in_line_is_not_overtaken_but_a_short_job_backfills(hub, researcher):
    """A notebook holds one HCCS ring, a 2-NPU job half of the other for at most 2 min.
    A 4-NPU job waits for that ring and gets it when the job ends: a 1-NPU job that would
    run past then waits behind it, a 1-NPU job that ends before then starts at once."""
    _, token = researcher
    holder = new_user(hub)[0]
    hub.spawn(holder, options={"profile": "base", "npus": 4})
    try:
        first = submit(
            hub, token, source="sleep.py", npus=2, parameters={"seconds": 25}, time_limit=120
        ).json()
        wait_job(hub, token, first["id"], states=("running",), timeout=60)
        big = submit(hub, token, source="sleep.py", npus=4, parameters={"seconds": 1}).json()
        long_ = submit(
            hub, token, source="sleep.py", npus=1, parameters={"seconds": 1}, time_limit=3600
        ).json()
        short = submit(
            hub, token, source="sleep.py", npus=1, parameters={"seconds": 1}, time_limit=30
        ).json()
        assert wait_job(hub, token, short["id"], timeout=60)["state"] == "succeeded"
        waiting = job(hub, token, long_["id"])
        assert waiting["state"] == "queued", waiting
        assert waiting["reason"] == f"waiting behind job {big['id']}, first in line"
        assert job(hub, token, big["id"])["state"] == "queued"
        done_big = wait_job(hub, token, big["id"], timeout=120)
        done_long = wait_job(hub, token, long_["id"], timeout=120)
        assert done_big["state"] == done_long["state"] == "succeeded"
        assert done_big["started"] < done_long["started"]
        assert done_big["started"] >= job(hub, token, first["id"])["finished"]
    finally:
        hub.stop_server(holder)


def test_service_restart_while_a_job_runs(hub, researcher):
    user, token = researcher
    r = submit(hub, token, source="sleep.py", npus=2, parameters={"seconds": 12})
    job_id = r.json()["id"]
    wait_job(hub, token, job_id, states=("running",), timeout=60)
    hub.restart()
    done = wait_job(hub, token, job_id, timeout=90)
    assert done["state"] == "succeeded", done
    records = [a for a in usage_records(hub) if a == str(job_id)]
    assert records == [str(job_id)]  # one charge, closed once
    assert not [
        d
        for d in hub.request("GET", "/devices", base=hub.service).json()
        if d["holder"] and d["holder"]["holder"] == str(job_id)
    ]


def usage_records(hub) -> list[str]:
    """Holders of every job allocation ever recorded (from the platform database)."""
    import sqlite3

    con = sqlite3.connect(hub.state_dir / "npuhub.sqlite")
    try:
        return [h for (h,) in con.execute("SELECT holder FROM allocations WHERE kind = 'job'")]
    finally:
        con.close()


@pytest.fixture(scope="module")
def slurm_hub(tmp_root, slurm):
    from tests.cluster_config import slurm_jobs_config

    h = new_hub(tmp_root, extra_config=slurm_jobs_config(slurm))
    h.start()
    yield h
    h.stop()
    remove_prefixed(h.prefix)


@pytest.mark.slurm
def test_slurm_backend_end_to_end(slurm_hub, slurm):
    import subprocess

    hub = slurm_hub
    user, token = new_user(hub)
    hub.spawn(user, options={"profile": "base", "npus": 0})
    try:
        write_files(
            hub,
            user,
            token,
            {
                "env.py": "import os, time\nprint('visible', os.environ['ASCEND_VISIBLE_DEVICES'], "
                "sorted(d for d in os.listdir('/dev') if d.startswith('davinci') and d[7:].isdigit()), "
                "flush=True)\ntime.sleep(float(os.environ.get('NPUHUB_SLEEP', '0')))\n",
                "sleep.py": "import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n",
            },
        )
    finally:
        hub.stop_server(user)
    r = submit(hub, token, source="env.py", npus=2, name="npuhubtest-env")
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    done = wait_job(hub, token, job_id, timeout=120)
    assert done["state"] == "succeeded", (done, full_log(hub, token, job_id))
    assert done["backend"] == "slurm" and done["backend_id"]
    show = subprocess.run(
        ["scontrol", "show", "job", done["backend_id"]],
        capture_output=True,
        text=True,
        env={"SLURM_CONF": slurm["slurm_conf"], "PATH": "/usr/bin:/bin"},
    )
    assert "gres/npu=2" in show.stdout or "gres:npu:2" in show.stdout, show.stdout
    log = full_log(hub, token, job_id)
    line = next(x for x in log.splitlines() if x.startswith("visible"))
    _, visible, names = line.split(" ", 2)
    assert len(visible.split(",")) == 2
    assert eval(names) == [f"davinci{i}" for i in visible.split(",")]  # noqa: S307
    # cancel while it runs
    r = submit(hub, token, source="sleep.py", npus=1, name="npuhubtest-sleep")
    job_id = r.json()["id"]
    wait_job(hub, token, job_id, states=("running",), timeout=60)
    r = hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service)
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    slurm_id = r.json()["backend_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "-j", slurm_id],
            capture_output=True,
            text=True,
            env={"SLURM_CONF": slurm["slurm_conf"], "PATH": "/usr/bin:/bin"},
        ).stdout
        if not out.strip():
            break
        time.sleep(0.3)
    assert not out.strip(), out
    usage = hub.request("GET", f"/usage?account={user}", token=token, base=hub.service).json()
    assert usage["active_npus"] == 0 and usage["npu_hours"] > 0
