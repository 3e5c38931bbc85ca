"""An administrator drains and undrains a node of the cluster through the platform's REST
API (POST /api/v1/nodes/{node}/drain|undrain): its chips in the ledger and the node in
Slurm; refused to anyone else, readable in both languages."""

from __future__ import annotations

import subprocess
import uuid

import pytest
import requests

from npuhub.hub.slurm_nodes import node_state
from tests.slurm_fixture import slurm_env

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
NODE = "n3"


def slurm_node(hub) -> str:
    """Slurm's line for NODE (`scontrol -o show node`)."""
    return subprocess.run(["scontrol", "-o", "show", "node", NODE],
                          env=slurm_env(hub.slurm["slurm_conf"]), capture_output=True,
                          text=True, check=True).stdout


def chips(hub) -> set[str]:
    devices = hub.request("GET", "/devices", base=hub.service).json()
    return {d["state"] for d in devices if d["node"] == NODE}


def post(hub, what: str, token=None, lang="en", **kw):
    return requests.post(f"{hub.service}/nodes/{what}", timeout=60, **kw, headers={
        "Authorization": f"token {token or hub.admin_token}", "Accept-Language": lang})


def test_an_admin_drains_and_undrains_a_node_in_the_ledger_and_in_slurm(cluster_hub):
    hub = cluster_hub
    assert "DRAIN" not in node_state(slurm_node(hub)), "the test needs n3 in service"
    spec = hub.request("GET", "/openapi.json", base=hub.service).json()["paths"]
    assert "post" in spec["/nodes/{node}/drain"] and "post" in spec["/nodes/{node}/undrain"]

    # not for users; no unknown node, no reason Slurm could not take
    user = "d" + uuid.uuid4().hex[:8]
    hub.create_user(user)
    r = post(hub, f"{NODE}/drain", token=hub.user_token(user), json={})
    assert (r.status_code, r.json()["error"]) == (403, "admin_only"), r.text
    r = post(hub, "n9/drain", lang="zh-CN", json={})
    assert (r.status_code, r.json()["error"]) == (404, "no_node"), r.text
    assert r.json()["message"] == "没有节点 n9（参见 `npuhub devices`）"
    r = post(hub, f"{NODE}/drain", json={"reason": "维护"})
    assert r.status_code == 400 and "reason" in r.json()["message"], r.text
    r = post(hub, f"{NODE}/drain", json={"reason": "x" * 101})
    assert r.status_code == 400, r.text
    assert "DRAIN" not in node_state(slurm_node(hub)) and chips(hub) == {"available"}

    try:
        r = post(hub, f"{NODE}/drain", json={"reason": "npuhubtest maintenance"})
        assert r.status_code == 200, r.text
        assert r.json() == {"node": NODE, "state": "drained", "devices": 4, "slurm": True}
        line = slurm_node(hub)
        assert "DRAIN" in node_state(line) and "Reason=npuhubtest maintenance" in line, line
        assert chips(hub) == {"drained"}

        r = post(hub, f"{NODE}/undrain")
        assert r.status_code == 200, r.text
        assert r.json() == {"node": NODE, "state": "available", "devices": 4, "slurm": True}
        assert "DRAIN" not in node_state(slurm_node(hub))
        assert chips(hub) == {"available"}
    finally:
        subprocess.run(["scontrol", "update", f"nodename={NODE}", "state=resume"],
                       env=slurm_env(hub.slurm["slurm_conf"]), capture_output=True,
                       check=False)
