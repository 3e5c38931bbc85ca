"""The configuration of an `npuhub up` in cluster mode on the test cluster
(tests/slurm_fixture, scripts/start-slurm), shared by the cluster tests' hub
(tests/integration/conftest.py) and the cluster benchmark (benchmarks/spawn.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from npuhub.hub.jobs.provenance import CANN_CFG, DRIVER_INFO

DATA = Path(__file__).resolve().parent / "data" / "ascend"


def node_root(under: Path) -> Path:
    """A node's root with its NPU driver and CANN version files, where job scripts read
    them (`under`/cluster-node-root)."""
    root = under / "cluster-node-root"
    for name, rel in (("driver-version.info", DRIVER_INFO), ("toolkit-version.cfg", CANN_CFG)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / name, root / rel)
    return root


def slurm_jobs_config(slurm: dict) -> str:
    """Config lines: batch jobs on the test cluster, in the fixture's partition (n1)."""
    return (
        "c.JobsConfig.backend = 'slurm'\n"
        f"c.JobsConfig.slurm_partition = {slurm['partition']!r}\n"
        f"c.JobsConfig.slurm_conf = {slurm['slurm_conf']!r}\n"
        f"c.JobsConfig.slurm_device_dir = {slurm['device_dir']!r}\n"
        f"c.JobsConfig.slurm_log_dir = {slurm['log_dir']!r}\n"
        "c.JobsConfig.poll_interval = 0.5\n"
    )


def cluster_config(slurm: dict, root: Path) -> str:
    """Config lines: servers as Slurm jobs in partition npu (n1-n3), batch jobs in the
    fixture's partition (n1); `root` from :func:`node_root`."""
    cluster = Path(slurm["slurm_conf"]).parent
    return (
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
        f"c.SlurmNPUSpawner.device_dir = '{cluster}/devices'\n"
        "c.SlurmNPUSpawner.per_node_devices = True\n"
        "c.SlurmNPUSpawner.slurm_memory = '100M'\n"
        "c.SlurmNPUSpawner.slurm_poll = 0.3\n"
    ) + slurm_jobs_config(slurm) + (  # batch jobs on the same cluster: partition batch (n1)
        f"c.JobsConfig.node_root = {str(root)!r}\n"
        f"c.SlurmNPUSpawner.node_root = {str(root)!r}\n"
    )
