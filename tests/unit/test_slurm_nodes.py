"""The argv that drains or resumes a node in Slurm (cluster mode's `npuhub devices drain
NODE`), and what it refuses."""

import pytest

from npuhub.hub.slurm_nodes import (
    SlurmNodeError,
    drain_argv,
    node_state,
    resume_argv,
)


def test_drain_and_resume_argv():
    assert drain_argv("n2", "fan failure") == [
        "scontrol", "update", "nodename=n2", "state=drain", "reason=fan failure"]
    assert drain_argv("node01") == [
        "scontrol", "update", "nodename=node01", "state=drain", "reason=drained by npuhub"]
    assert resume_argv("n2") == ["scontrol", "update", "nodename=n2", "state=resume"]


@pytest.mark.parametrize("node", ["", "n1,n2", "n[1-3]", "-x", "a b", "n1;rm", "x" * 65])
def test_a_node_name_that_is_not_one_node_is_refused(node):
    with pytest.raises(SlurmNodeError, match="not a Slurm node name"):
        drain_argv(node)
    with pytest.raises(SlurmNodeError):
        resume_argv(node)


@pytest.mark.parametrize("reason", ["", "x" * 101, "line\nbreak", "维护"])
def test_a_reason_must_be_short_printable_ascii(reason):
    with pytest.raises(SlurmNodeError, match="reason"):
        drain_argv("n1", reason)


def test_node_state():
    line = ("NodeName=n3 Arch=x86_64 CoresPerSocket=1 CPUAlloc=0 Gres=npu:4 "
            "State=IDLE+DRAIN ThreadsPerCore=1 Reason=fan [root@2026-12-06T18:20:00]")
    assert node_state(line) == "IDLE+DRAIN"
    assert node_state("") == ""
