"""The cluster-mode hub that every cluster test shares (test_cluster*.py): one `npuhub up`
in cluster mode on the session's three-node Slurm cluster (tests/slurm_fixture)."""

from __future__ import annotations

import subprocess

import pytest

from npuhub.hub.datasets.mounter import unmount_all
from tests.cluster_config import cluster_config, node_root
from tests.conftest import new_hub, remove_prefixed
from tests.slurm_fixture import slurm_env


@pytest.fixture(scope="session")
def cluster_hub(tmp_root, slurm):
    extra = cluster_config(slurm, node_root(tmp_root))
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
