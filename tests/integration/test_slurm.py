"""The Slurm backend against a real slurmctld + slurmd on this machine (4 fake NPUs as
GRES "npu", see scripts/start-slurm) and a real Docker daemon.

Every Slurm job runs in the session's log folder, so the session fixture cancels any
left over; every container npuhub-job-{id} a test may start is removed at module end.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from npuhub.hub.jobs.node_facts import facts_path, parse_node_facts
from npuhub.hub.jobs.sbatch import JobSpec, SlurmConfig
from npuhub.hub.jobs.slurm import (
    SlurmBackend,
    SlurmError,
    SlurmJobUnknown,
    npu_indices,
    parse_details,
)
from tests.slurm_fixture import ROOT, slurm_env

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

IMAGE = "npuhub/base:latest"
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")
_ids = iter(random.sample(range(900000, 999999), 50))
_used: list[int] = []


def next_id() -> int:
    job_id = next(_ids)
    _used.append(job_id)
    return job_id


def wait_for(what: str, predicate, timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s")


def containers(name: str) -> list[str]:
    out = subprocess.run(
        [DOCKER, "ps", "-aq", "--filter", f"name=^{name}$"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


@pytest.fixture(scope="module")
def docker_image():
    subprocess.run([str(ROOT / "scripts" / "start-dockerd")], check=True, capture_output=True)
    if subprocess.run([DOCKER, "image", "inspect", IMAGE], capture_output=True).returncode:
        pytest.fail(f"{IMAGE} is missing: build it with images/build base")
    yield IMAGE
    for job_id in _used:
        for cid in containers(f"npuhub-job-{job_id}"):
            subprocess.run([DOCKER, "rm", "-f", cid], capture_output=True)


@pytest.fixture(scope="module")
def backend(slurm, docker_image):
    # no hub here to write a job's record: the script starts without waiting for it
    return SlurmBackend(SlurmConfig(**slurm, docker=DOCKER, provenance_wait=0))


@pytest.fixture
def home(tmp_path):
    """A host folder as the user's home, owned by the container user (uid 1000)."""
    path = tmp_path / "home"
    path.mkdir()
    os.chown(path, 1000, 100)
    return path


def spec(home: Path, runner: str, **kw) -> JobSpec:
    values = dict(
        id=next_id(),
        user="npuhubtest-alice",
        name="npuhubtest-job",
        source="work/train.ipynb",
        image=IMAGE,
        home_volume=str(home),
    )
    values.update(kw)
    return JobSpec(**values), runner


def with_runner(backend: SlurmBackend, runner: str) -> SlurmBackend:
    """The backend with the container command replaced by `sh -c RUNNER`, so that a test
    sees what the real runner would see: $0 is the source, $1 the parameters JSON."""
    cfg = backend.cfg
    fields = {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}
    fields["runner_command"] = ("sh", "-c", runner)
    return SlurmBackend(SlurmConfig(**fields))


def finish(backend: SlurmBackend, slurm_id: str, timeout: float = 60.0):
    return wait_for(
        f"Slurm job {slurm_id} to end",
        lambda: (s := backend.state(slurm_id)) and s[0] in TERMINAL and s,
        timeout,
    )


def read_log(backend: SlurmBackend, slurm_id: str) -> str:
    path = Path(backend.log(slurm_id))
    return path.read_text(errors="replace") if path.exists() else ""


# --- Slurm itself: GRES npu -------------------------------------------------------------


def test_gres_grants_distinct_npus_and_no_ascend_variable(slurm, backend):
    """Two jobs of npu:2 run side by side on distinct chips; a third waits for them."""
    env = slurm_env(slurm["slurm_conf"])
    logs = Path(slurm["log_dir"])
    flag = logs / f"release-{os.getpid()}"
    script = (
        "#!/bin/bash\n"
        f'scontrol show job -d "$SLURM_JOB_ID" > {logs}/show-$SLURM_JOB_ID\n'
        f"env > {logs}/env-$SLURM_JOB_ID\n"
        f"while [ ! -e {flag} ]; do sleep 0.1; done\n"
    )

    def sbatch(npus: int) -> str:
        out = subprocess.run(
            [
                "sbatch",
                "--parsable",
                "--job-name=npuhubtest-gres",
                f"--partition={slurm['partition']}",
                f"--gres=npu:{npus}",
                f"--output={logs}/slurm-%j.out",
                f"--chdir={logs}",
            ],
            input=script,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.strip().split(";")[0]

    a, b = sbatch(2), sbatch(2)
    for job in (a, b):
        wait_for(f"job {job} running", lambda j=job: backend.state(j)[0] == "running")
    third = sbatch(1)
    assert wait_for(
        "third job held back",
        lambda: (s := backend.state(third)) and s[2] != "waiting to be scheduled" and s,
    ) == ("queued", None, "waiting for free NPUs, CPUs or memory")

    granted = {job: backend.granted_devices(job) for job in (a, b)}
    assert len(granted[a]) == len(granted[b]) == 2
    assert sorted(granted[a] + granted[b]) == [0, 1, 2, 3]
    for job in (a, b):
        show = wait_for("scontrol output", lambda j=job: (logs / f"show-{j}").exists())
        assert show
        details = parse_details((logs / f"show-{job}").read_text())
        assert npu_indices(details[0]["GRES"]) == granted[job]
        job_env = wait_for(
            "env output", lambda j=job: (p := logs / f"env-{j}").exists() and p.read_text()
        )
        assert f"SLURM_JOB_ID={job}" in job_env
        assert "ASCEND_VISIBLE_DEVICES" not in job_env  # as docs/ENVIRONMENT.md says
        assert "CUDA_VISIBLE_DEVICES" not in job_env

    flag.touch()
    try:
        for job in (a, b, third):
            assert finish(backend, job) == ("succeeded", 0, "completed")
        assert len(parse_details((logs / f"show-{third}").read_text())) == 1
    finally:
        flag.unlink()


# --- the job script: a container through Slurm --------------------------------------------

E2E_RUNNER = r"""
echo "args: $0 | $1"
echo "devices: $(ls /dev | grep davinci | sort | tr '\n' ' ')"
echo "env: ASCEND_VISIBLE_DEVICES=$ASCEND_VISIBLE_DEVICES NPUHUB_NPUS=$NPUHUB_NPUS"
echo "uid=$(id -u) gid=$(id -g) cwd=$PWD net=$(ls /sys/class/net | tr '\n' ' ')"
mkdir -p "$NPUHUB_OUTPUT_DIR" && echo "result of $0" > "$NPUHUB_OUTPUT_DIR/result.txt"
echo "to stderr" >&2
"""


def test_container_job_end_to_end(backend, home):
    """The job script from job_script() runs the user's image through Slurm with two
    granted NPUs as /dev/davinciN, the parameters as one verbatim JSON argument, the
    outputs in ~/jobs/{id}, stdout and stderr in the Slurm log."""
    params = {"lr": 0.1, "note": "$(touch /tmp/npuhubtest-pwned) 'quoted' `id`"}
    job, runner = spec(home, E2E_RUNNER, npus=2, parameters=params, time_limit=600)
    be = with_runner(backend, runner)

    t0 = time.monotonic()
    slurm_id = be.submit(job)
    wait_for("job running", lambda: be.state(slurm_id)[0] in ("running", *TERMINAL))
    print(f"\nsubmit -> running: {time.monotonic() - t0:.2f}s")
    state = finish(be, slurm_id)
    print(f"submit -> succeeded (container run): {time.monotonic() - t0:.2f}s")
    log = read_log(be, slurm_id)
    assert state == ("succeeded", 0, "completed"), log

    granted = re.search(r"NPUs: ([0-9,]+)", log)
    assert granted, log
    indices = [int(i) for i in granted.group(1).split(",")]
    assert len(indices) == 2
    visible = sorted(f"davinci{i}" for i in indices)
    assert f"devices: {' '.join(sorted(visible + ['davinci_manager']))} \n" in log
    assert f"env: ASCEND_VISIBLE_DEVICES={granted.group(1)} NPUHUB_NPUS=2\n" in log
    assert '"note":"$(touch /tmp/npuhubtest-pwned) \'quoted\' `id`"' in log
    assert "args: work/train.ipynb | {" in log
    assert "uid=1000 gid=100 cwd=/home/jovyan net=lo \n" in log
    assert "to stderr" in log
    assert f"npuhub: job {job.id} exited with code 0" in log
    assert not os.path.exists("/tmp/npuhubtest-pwned")
    result = home / "jobs" / str(job.id) / "result.txt"
    assert result.read_text() == "result of work/train.ipynb\n"
    assert containers(f"npuhub-job-{job.id}") == []  # --rm
    # what it ran on, written by the script on its node beside the Slurm log
    facts = parse_node_facts(Path(facts_path(be.cfg.log_dir, slurm_id)).read_text())
    image_id = subprocess.run([DOCKER, "image", "inspect", "-f", "{{.Id}}", IMAGE],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert (facts["node"], facts["devices"], facts["image_id"]) == ("n1", indices, image_id)


def test_failing_job_reports_its_exit_code(backend, home):
    job, runner = spec(home, "echo 'no such notebook' >&2; exit 3")
    be = with_runner(backend, runner)
    slurm_id = be.submit(job)
    state = finish(be, slurm_id)
    log = read_log(be, slurm_id)
    assert state == ("failed", 3, "exited with code 3"), log
    assert "no such notebook" in log
    assert "NPUs: none" in log


def test_cancel_stops_the_container(backend, home):
    runner = "echo started; exec sleep 300"
    job, runner = spec(home, runner, npus=1)
    be = with_runner(backend, runner)
    slurm_id = be.submit(job)
    wait_for("container started", lambda: "started" in read_log(be, slurm_id))
    assert be.state(slurm_id)[0] == "running"
    assert len(be.granted_devices(slurm_id)) == 1
    assert containers(f"npuhub-job-{job.id}")

    t0 = time.monotonic()
    be.cancel(slurm_id)
    state = finish(be, slurm_id, timeout=30)
    assert state[0] == "cancelled" and state[2] == "cancelled", state
    wait_for("container removed", lambda: not containers(f"npuhub-job-{job.id}"), 15)
    print(f"\nscancel -> container gone: {time.monotonic() - t0:.2f}s")
    assert "stopped by signal" in read_log(be, slurm_id)
    be.cancel(slurm_id)  # already ended: nothing happens
    assert be.granted_devices(slurm_id) == []


def test_sbatch_refuses_more_npus_than_a_node_has(backend, home):
    job, _ = spec(home, "true", npus=8)
    with pytest.raises(SlurmError, match="Requested node configuration is not available"):
        backend.submit(job)


def test_unknown_job(backend):
    with pytest.raises(SlurmJobUnknown):
        backend.state("987654321")
    with pytest.raises(SlurmJobUnknown):
        backend.cancel("987654321")


@pytest.mark.slow
def test_time_limit_reached(backend, home):
    """A real TIMEOUT: Slurm counts in minutes (--time=1) and checks limits every 30 s,
    so this takes 60-90 s; the container is stopped as on scancel."""
    job, runner = spec(home, "echo started; exec sleep 300", time_limit=60)
    be = with_runner(backend, runner)
    t0 = time.monotonic()
    slurm_id = be.submit(job)
    state = finish(be, slurm_id, timeout=150)
    print(f"\nsubmit -> timed_out: {time.monotonic() - t0:.1f}s")
    assert state[0] == "timed_out" and state[2] == "time limit of 00:01:00 reached", state
    wait_for("container removed", lambda: not containers(f"npuhub-job-{job.id}"), 15)
    assert "stopped by signal" in read_log(be, slurm_id)


def test_start_slurm_is_a_no_op_when_running(slurm):
    t0 = time.monotonic()
    out = subprocess.run(
        [str(ROOT / "scripts" / "start-slurm")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"export SLURM_CONF={slurm['slurm_conf']}"
    assert time.monotonic() - t0 < 5
    assert shutil.which("slurmctld")
