"""The cluster-mode hub that every cluster test shares (test_cluster*.py): one `npuhub up`
in cluster mode on the session's three-node Slurm cluster (tests/slurm_fixture)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from npuhub.hub.datasets.mounter import unmount_all
from npuhub.hub.jobs.provenance import CANN_CFG, DRIVER_INFO
from tests.conftest import new_hub, remove_prefixed
from tests.slurm_fixture import cluster_dir, slurm_env


@pytest.fixture(scope="session")
def cluster_hub(tmp_root, slurm):
    root = cluster_dir(slurm)
    # the nodes' NPU driver and CANN version files, where the job scripts read them
    node_root = tmp_root / "cluster-node-root"
    data = Path(__file__).parents[1] / "data" / "ascend"
    for name, rel in (("driver-version.info", DRIVER_INFO), ("toolkit-version.cfg", CANN_CFG)):
        (node_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data / name, node_root / rel)
    extra = (
        "c.NPUHub.engine = 'slurm'\n"
        # the inventory is Slurm's nodes, read again every second (test_cluster_sync)
        "c.NPUHub.slurm_sync_interval = 1\n"
        "c.NPUHub.profiles = [\n"
        "    {'slug': 'npu', 'image': 'npuhub/base:latest', 'npus': [0, 2, 4],\n"
        "     'partition': 'npu'},\n"
        "    {'slug': 'broken', 'image': 'npuhubtest/no-such-image:latest', 'npus': [0],\n"
        "     'partition': 'npu'},\n"
        "]\n"
        f"c.SlurmNPUSpawner.slurm_conf = {slurm['slurm_conf']!r}\n"
        f"c.SlurmNPUSpawner.device_dir = '{root}/devices'\n"
        "c.SlurmNPUSpawner.per_node_devices = True\n"
        "c.SlurmNPUSpawner.slurm_memory = '100M'\n"
        "c.SlurmNPUSpawner.slurm_poll = 0.3\n"
        # batch jobs on the same cluster: partition batch (n1)
        "c.JobsConfig.backend = 'slurm'\n"
        f"c.JobsConfig.slurm_partition = {slurm['partition']!r}\n"
        f"c.JobsConfig.slurm_conf = {slurm['slurm_conf']!r}\n"
        f"c.JobsConfig.slurm_device_dir = {slurm['device_dir']!r}\n"
        f"c.JobsConfig.slurm_log_dir = {slurm['log_dir']!r}\n"
        "c.JobsConfig.poll_interval = 0.5\n"
        f"c.JobsConfig.node_root = {str(node_root)!r}\n"
        f"c.SlurmNPUSpawner.node_root = {str(node_root)!r}\n"
    )
    h = new_hub(tmp_root, extra_config=extra)
    h.start()
    h.slurm = slurm
    yield h
    h.stop()
    cancel_prefixed(slurm["slurm_conf"], h.prefix)
    remove_prefixed(h.prefix)
    unmount_all(h.state_dir)  # the nodes' dataset mounts (one host here)


def cancel_prefixed(slurm_conf: str, prefix: str) -> None:
    """scancel every Slurm job of this hub (server jobs are named PREFIX-USER--SERVER)."""
    env = slurm_env(slurm_conf)
    out = subprocess.run(["squeue", "-h", "-o", "%i %j"], env=env, capture_output=True,
                         text=True, check=False).stdout
    ids = [i for i, _, name in (line.partition(" ") for line in out.splitlines())
           if name.startswith(prefix + "-")]
    if ids:
        subprocess.run(["scancel", *ids], env=env, capture_output=True, check=False)
