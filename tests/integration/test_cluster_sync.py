"""The ledger's inventory follows Slurm (cluster mode): a node drained in Slurm behind
npuhub's back shows drained in GET /devices within one sync (c.NPUHub.slurm_sync_interval,
1 s in the shared cluster hub), and available again once Slurm resumes it."""

from __future__ import annotations

import subprocess
import time

import pytest

from npuhub.hub.slurm_nodes import node_state
from tests.slurm_fixture import slurm_env

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
NODE = "n3"


def scontrol(hub, *args: str) -> str:
    return subprocess.run(["scontrol", *args], env=slurm_env(hub.slurm["slurm_conf"]),
                          capture_output=True, text=True, check=True).stdout


def chips(hub) -> list[tuple[str, str | None]]:
    devices = hub.request("GET", "/devices", base=hub.service).json()
    return [(d["state"], d["drain_reason"]) for d in devices if d["node"] == NODE]


def until(what: str, check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


def test_a_node_drained_in_slurm_is_drained_in_the_ledger_and_comes_back(cluster_hub):
    hub = cluster_hub
    assert "DRAIN" not in node_state(scontrol(hub, "-o", "show", "node", NODE)), \
        "the test needs n3 in service"
    # Slurm's nodes and their GRES, not a list in the config
    devices = hub.request("GET", "/devices", base=hub.service).json()
    assert {(d["node"], d["index"]) for d in devices} >= {
        (n, i) for n in ("n1", "n2", "n3") for i in range(4)}
    assert {d["path"] for d in devices if d["node"] == NODE} == {
        f"{hub.slurm['slurm_conf'].rsplit('/', 1)[0]}/devices/{NODE}/davinci{i}"
        for i in range(4)}
    until("n3 available", lambda: chips(hub) == [("available", None)] * 4)
    try:
        scontrol(hub, "update", f"nodename={NODE}", "state=drain", "reason=npuhubtest sync")
        until("n3 drained in the ledger", lambda: chips(hub) == [("drained", "slurm")] * 4)
        scontrol(hub, "update", f"nodename={NODE}", "state=resume")
        until("n3 back in the ledger", lambda: chips(hub) == [("available", None)] * 4)
    finally:
        subprocess.run(["scontrol", "update", f"nodename={NODE}", "state=resume"],
                       env=slurm_env(hub.slurm["slurm_conf"]), capture_output=True,
                       check=False)
