"""wait: false in cluster mode (spawners/slurm_room.py): when a job that may not wait has
to, and the capacity refusal worded from Slurm's nodes (`scontrol -o -d show node`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from npuhub.hub.refusals import render
from npuhub.spawners.slurm_room import NodeRoom, must_wait, parse_room, refusal

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"


def cluster(used: dict[str, str], states: dict[str, str] | None = None) -> str:
    """The recorded test cluster with -d's GresUsed (e.g. {"n1": "npu:2(IDX:0-1)"})."""
    lines = []
    for line in (DATA / "scontrol-show-node-test-cluster.txt").read_text().splitlines():
        name = line.split()[0].removeprefix("NodeName=")
        line = line.replace(" Gres=npu:4 ", f" Gres=npu:4 GresDrain=N/A "
                            f"GresUsed={used.get(name, 'npu:0(IDX:N/A)')} ")
        lines.append(line.replace("State=IDLE", f"State={(states or {}).get(name, 'IDLE')}"))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("state, reason, want", [
    ("RUNNING", "None", False), ("CONFIGURING", "None", False), ("FAILED", "None", False),
    ("PENDING", "None", None), ("PENDING", "", None),
    ("PENDING", "Resources", True), ("PENDING", "Priority", True),
    ("PENDING", "ReqNodeNotAvail,_UnavailableNodes:n1", True),
])
def test_must_wait(state, reason, want):
    assert must_wait(state, reason) is want


def test_parse_room_reads_gres_used_of_the_partition_s_nodes_in_service():
    text = cluster({"n1": "npu:4(IDX:0-3)", "n2": "npu:2(IDX:1-2)"}, {"n3": "IDLE+DRAIN"})
    assert parse_room(text, "npu") == [NodeRoom("n1", 4, 4, "npu"), NodeRoom("n2", 4, 2, "npu")]
    assert parse_room(text, "batch") == [NodeRoom("n1", 4, 4, "npu")]
    assert parse_room(text, "npu", "Ascend910B") == []
    assert parse_room("", "npu") == []


def codes(npus, used, reason="Resources", waiting=0):
    nodes = parse_room(cluster(used), "npu")
    e = refusal(npus, None, nodes, waiting, reason)
    return e.code, e.params, e.transient


def test_refusal_words_slurm_s_numbers_as_single_host_mode_does():
    full = {n: "npu:4(IDX:0-3)" for n in ("n1", "n2", "n3")}
    assert codes(2, full, waiting=1) == (
        "capacity_all_busy", {"total": 12, "waiting": 1}, True)
    assert codes(4, {**full, "n2": "npu:3(IDX:0-2)"}) == (
        "capacity_few_free", {"free": 1, "total": 12, "npus": 4, "waiting": 0}, True)
    code, params, _ = codes(4, {**full, "n2": "npu:2(IDX:0-1)", "n3": "npu:2(IDX:2-3)"})
    assert (code, params["free"], params["largest"]) == ("capacity_not_on_node", 4, 2)
    assert codes(16, {})[0::2] == ("capacity_too_many", False)
    # room enough, yet Slurm waits (others ahead, memory): its reason is said
    code, params, _ = codes(2, {}, reason="Priority", waiting=3)
    assert (code, params["free"], params["reason"]) == ("slurm_not_now", 12, "Priority")
    assert codes(0, full, reason="Resources")[0] == "slurm_not_now"
    assert refusal(2, None, [], 0, "Resources").code == "capacity_none"
    # what Slurm says goes into the sentence only if it looks like a reason
    assert codes(2, {}, reason="x" * 200)[1]["reason"] == "?"


def test_slurm_not_now_in_both_languages():
    params = {"free": 4, "total": 12, "npus": 2, "reason": "Priority", "waiting": 2}
    assert render("slurm_not_now", params, "en") == (
        "4 of 12 NPUs are free, but Slurm cannot start 2 now (its reason: Priority); "
        "try again later (2 users waiting)")
    assert render("slurm_not_now", params, "zh_CN").startswith(
        "12 个 NPU 中有 4 个空闲，但 Slurm 现在无法启动 2 个（原因：Priority）；请稍后再试")
