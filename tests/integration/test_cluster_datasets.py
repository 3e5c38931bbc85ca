"""Live dataset mounts on a cluster server's node, through Slurm itself, on the real
three-node cluster: the job mounts the user's datasets on its node before its container
starts, a dataset mounted while the server runs appears in the container at once (a step
in the server's allocation runs the node helper, hub/datasets/node_step.py; the hub's
host mounts nothing in cluster mode), read-only, and unmounting removes it."""

from __future__ import annotations

import re

import pytest

from npuhub.hub.datasets import mounter
from tests.hubclient import run_code
from tests.integration.test_cluster import scontrol_job
from tests.integration.test_datasets import READ, WRITE, declare, make_source, mount, user
from tests.integration.test_line import _stop_quietly

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
EXISTS = "import os; print(os.path.exists('/home/jovyan/datasets/{name}'))"


def test_datasets_mount_and_unmount_live_on_the_server_s_node(cluster_hub):
    hub = cluster_hub
    name, token = user(hub)
    early = declare(hub, make_source(hub, {"z.txt": "zulu"}))
    live = declare(hub, make_source(hub, {"a.txt": "alpha", "sub/b.txt": "beta"}))
    try:
        # mounted with no server running: remembered, mounted by the job on its node
        r = mount(hub, token, early)
        assert r.status_code == 200, r.text
        hub.spawn(name, options={"profile": "npu", "npus": 0}, timeout=300)
        job = scontrol_job(hub, name)
        assert run_code(hub, name, token, READ.format(name=early, file="z.txt")).strip() \
            == "zulu"

        # mounted while it runs: a step of the server's job mounts it on the node
        r = mount(hub, token, live)
        assert r.status_code == 200, r.text
        assert run_code(hub, name, token, READ.format(name=live, file="sub/b.txt")).strip() \
            == "beta"
        assert run_code(hub, name, token, WRITE.format(name=live)).strip() == "EROFS"
        said = hub.log.read_text(errors="replace")
        assert re.search(rf"Datasets of {name} on {job['NodeList']} \(Slurm job "
                         rf"{job['id']}\): mounted \['{live}'\]", said), said[-3000:]

        # unmounted: gone from the container, the other stays
        r = mount(hub, token, live, "DELETE")
        assert r.status_code == 200, r.text
        assert run_code(hub, name, token, EXISTS.format(name=live)).strip() == "False"
        assert run_code(hub, name, token, EXISTS.format(name=early)).strip() == "True"
    finally:
        _stop_quietly(hub)(name)
        mounter.unmount_all(hub.state_dir / "mounts")
