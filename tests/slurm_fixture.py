"""pytest plugin: the real three-node Slurm cluster (slurmctld + slurmd n1, n2, n3 with 4
fake NPUs each) that every Slurm and cluster test shares.

Load it with ``pytest_plugins = ["tests.slurm_fixture"]`` in ``tests/conftest.py`` (or
``-p tests.slurm_fixture``). The session fixture ``slurm`` runs ``scripts/start-slurm``
once — a no-op when the cluster already runs — and yields the keyword arguments of a
:class:`npuhub.hub.jobs.sbatch.SlurmConfig` for the one-node partition "batch" (n1: the
batch-backend tests count its four NPUs)::

    {"slurm_conf": ".../slurm.conf", "device_dir": ".../devices/n1",
     "log_dir": "/tmp/npuhubtest-slurm-…", "partition": "batch"}

The cluster tests use the partition "npu" (n1-n3) and ``cluster_dir(slurm)``.

At the end of the session every Slurm job whose name contains ``npuhubtest`` is
cancelled and the log folder removed. The cluster itself is left running (as Docker is):
starting it again costs nothing.
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


def cancel_test_jobs(slurm_conf: str) -> None:
    env = slurm_env(slurm_conf)
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True, env=env, check=False
    ).stdout
    ids = [line.split()[0] for line in out.splitlines() if TEST_PREFIX in line]
    if ids:
        subprocess.run(["scancel", *ids], env=env, check=False, capture_output=True)


def cluster_dir(slurm: dict) -> Path:
    """The cluster's folder (slurm.conf, devices/nN/davinciN)."""
    return Path(slurm["slurm_conf"]).parent


@pytest.fixture(scope="session")
def slurm():
    conf, elapsed = start_slurm()
    print(f"\nscripts/start-slurm: {elapsed:.2f}s")
    log_dir = tempfile.mkdtemp(prefix=f"{TEST_PREFIX}-slurm-")
    os.chmod(log_dir, 0o755)
    try:
        yield {
            "slurm_conf": conf,
            "device_dir": str(Path(conf).parent / "devices" / "n1"),
            "log_dir": log_dir,
            "partition": "batch",
        }
    finally:
        cancel_test_jobs(conf)
        shutil.rmtree(log_dir, ignore_errors=True)
