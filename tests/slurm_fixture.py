"""pytest plugin: the real three-node Slurm cluster (slurmctld + slurmd n1, n2, n3 with 4
fake NPUs each) that every Slurm and cluster test shares.

Load it with ``pytest_plugins = ["tests.slurm_fixture"]`` in ``tests/conftest.py``, whose
``tmp_root`` (the session's folder) it uses. The session fixture ``slurm`` runs ``scripts/start-slurm``
once — a no-op when the cluster already runs — and yields the keyword arguments of a
:class:`npuhub.hub.jobs.sbatch.SlurmConfig` for the one-node partition "batch" (n1: the
batch-backend tests count its four NPUs)::

    {"slurm_conf": ".../slurm.conf", "device_dir": ".../devices/n1",
     "log_dir": "/tmp/npuhubtest-slurm-…", "partition": "batch"}

The cluster tests use the partition "npu" (n1-n3) and ``cluster_dir(slurm)``.

The cluster is shared: a CI run and a developer's session may use it at once, so a
session cancels only its own jobs. A job belongs to the session whose folders it runs in
(its Slurm working directory, ``--chdir``: the log folder of batch jobs, a test hub's
``STATE/slurm/logs`` of servers, both under the session's temporary folders). Each of
those folders holds ``session.pid``, the pytest process that owns it. At the start of a
session the jobs of sessions that no longer run (killed before their cleanup) are
cancelled, so the line tests start on a clean cluster; at its end its own jobs are
cancelled and the log folder removed. Jobs of a live session are never touched. The
cluster itself is left running (as Docker is): starting it again costs nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_PREFIX = "npuhubtest"
OWNER = "session.pid"  # in a session's folders: the pytest process that owns them


def slurm_env(slurm_conf: str) -> dict[str, str]:
    """The environment for running Slurm commands against the test cluster."""
    return {**os.environ, "SLURM_CONF": slurm_conf}


def start_slurm() -> tuple[str, float]:
    """Run scripts/start-slurm; returns (SLURM_CONF path, seconds it took)."""
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        pytest.fail("Slurm is not installed: apt-get install -y slurm-wlm munge")
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(ROOT / "scripts" / "start-slurm")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        pytest.fail(f"scripts/start-slurm failed:\n{proc.stdout}\n{proc.stderr}")
    for line in proc.stdout.splitlines():
        if line.startswith("export SLURM_CONF="):
            return line.split("=", 1)[1].strip(), elapsed
    pytest.fail(f"scripts/start-slurm printed no SLURM_CONF:\n{proc.stdout}")


def mark_session(folder: Path) -> None:
    """Mark `folder` as this session's: jobs that run in it are this session's."""
    (folder / OWNER).write_text(f"{os.getpid()}\n")


def session_root(workdir: str, tmp: str) -> str | None:
    """The test session folder (TMP/npuhubtest-…) that a job's working directory lies in,
    or None for a job that is no test's."""
    head, sep, rest = workdir.partition(tmp.rstrip("/") + "/")
    if head or not sep:
        return None
    top = rest.split("/", 1)[0]
    return f"{tmp.rstrip('/')}/{top}" if top.startswith(TEST_PREFIX) else None


def owner_alive(root: str) -> bool:
    """Whether the pytest process that marked `root` still runs (unmarked: assumed so,
    as a session being set up has not written its mark yet)."""
    try:
        pid = int(Path(root, OWNER).read_text().strip())
    except FileNotFoundError:
        return Path(root).exists()
    except (OSError, ValueError):
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"pytest" in cmdline


def jobs_to_cancel(squeue_out: str, tmp: str, mine: tuple[str, ...] = (),
              alive=owner_alive) -> list[str]:
    """Ids of the jobs (`squeue -o "%i|%Z"` lines) to cancel: those running in one of
    `mine` (this session's folders) and those of test sessions whose owner is gone."""
    ids = []
    for line in squeue_out.splitlines():
        job_id, sep, workdir = line.strip().partition("|")
        if not sep or not job_id:
            continue
        ours = any(workdir == m or workdir.startswith(m.rstrip("/") + "/") for m in mine)
        root = session_root(workdir, tmp)
        if ours or (root is not None and root not in mine and not alive(root)):
            ids.append(job_id)
    return ids


def cancel_test_jobs(slurm_conf: str, mine: tuple[str, ...] = ()) -> list[str]:
    """scancel this session's jobs (those in `mine`) and those of dead test sessions."""
    env = slurm_env(slurm_conf)
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i|%Z"], capture_output=True, text=True, env=env, check=False
    ).stdout
    ids = jobs_to_cancel(out, tempfile.gettempdir(), tuple(str(m) for m in mine))
    if ids:
        subprocess.run(["scancel", *ids], env=env, check=False, capture_output=True)
    return ids


def cluster_dir(slurm: dict) -> Path:
    """The cluster's folder (slurm.conf, devices/nN/davinciN)."""
    return Path(slurm["slurm_conf"]).parent


@pytest.fixture(scope="session")
def slurm(tmp_root):
    conf, elapsed = start_slurm()
    print(f"\nscripts/start-slurm: {elapsed:.2f}s")
    log_dir = tempfile.mkdtemp(prefix=f"{TEST_PREFIX}-slurm-")
    os.chmod(log_dir, 0o755)
    mark_session(Path(log_dir))
    mark_session(Path(tmp_root))
    mine = (log_dir, str(tmp_root))
    left = cancel_test_jobs(conf)  # of sessions killed before their cleanup
    if left:
        print(f"cancelled Slurm jobs of ended test sessions: {' '.join(left)}")
    try:
        yield {
            "slurm_conf": conf,
            "device_dir": str(Path(conf).parent / "devices" / "n1"),
            "log_dir": log_dir,
            "partition": "batch",
        }
    finally:
        cancel_test_jobs(conf, mine)
        shutil.rmtree(log_dir, ignore_errors=True)
