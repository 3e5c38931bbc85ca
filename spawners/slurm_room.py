"""``wait: false`` in cluster mode: start now or be refused at once, as in single-host mode.

The server's job is submitted as usual; the controller decides at once whether it starts
(``SchedulerParameters=batch_sched_delay=0``, a job submitted while there is room starts
in the submission's own scheduling pass). A job still PENDING with a reason (Resources,
Priority, ReqNodeNotAvail, a limit, ...) cannot start now: the spawner cancels it, frees
its ledger reservation and refuses with the capacity refusal of single-host mode
(:mod:`npuhub.hub.refusals`), its numbers taken from Slurm's nodes of the job's partition
(``scontrol -o -d show node``: ``Gres`` and ``GresUsed``). When those numbers show room
that Slurm still does not give (the job waits behind others, or for memory or CPUs), the
refusal says so with Slurm's reason (``slurm_not_now``).

Asking ``sbatch --test-only`` first would not do: its answer may be stale by the time
the real job is submitted, so the job's own state must be read anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from npuhub.hub.ledger.capacity import CapacityError, by_counts
from npuhub.hub.ledger.slurm_discovery import _field, node_drained, npu_gres

from .slurm_query import JobInfo, run, slurm_env

NOT_DECIDED = ("None", "")  # a PENDING job's reason before the controller looked at it
_REASON = re.compile(r"^[A-Za-z0-9_(),:.+ -]{1,80}$")


@dataclass(frozen=True)
class NodeRoom:
    name: str
    total: int  # NPUs of the node (Gres)
    used: int  # NPUs Slurm gave to jobs (GresUsed)
    gres_type: str

    @property
    def free(self) -> int:
        return max(self.total - self.used, 0)


def must_wait(state: str, reason: str) -> bool | None:
    """Whether a job that may not wait has to: True (PENDING, and the controller said
    why), False (it left PENDING: it starts, or it ended and the start fails as usual),
    None (not decided yet)."""
    if state != "PENDING":
        return False
    return None if reason in NOT_DECIDED else True


def parse_room(text: str, partition: str, device_type: str | None = None) -> list[NodeRoom]:
    """The nodes of `partition` in service, with their NPUs and those in use, from
    ``scontrol -o -d show node``; only those of `device_type` when given."""
    nodes = []
    for raw in text.splitlines():
        line = re.split(r"\sReason=", raw, maxsplit=1)[0]
        name = _field(line, "NodeName")
        parts = (_field(line, "Partitions") or "").split(",")
        if not name or partition not in parts or node_drained(_field(line, "State") or ""):
            continue
        total, gres_type = npu_gres(_field(line, "Gres") or "")
        used, _ = npu_gres(_field(line, "GresUsed") or "")
        if total <= 0 or (device_type is not None and gres_type != device_type):
            continue
        nodes.append(NodeRoom(name, total, used, gres_type))
    return nodes


def refusal(npus: int, device_type: str | None, nodes: list[NodeRoom], waiting: int,
            reason: str) -> CapacityError:
    """Why Slurm does not start `npus` NPUs now, in the words of single-host mode's
    capacity refusals (their code and numbers); `waiting`: other jobs pending in the
    partition; `reason`: Slurm's reason for the pending job."""
    kind = {"device_type": device_type} if device_type else {}
    total = sum(n.total for n in nodes)
    free = sum(n.free for n in nodes)
    largest = max((n.free for n in nodes), default=0)
    if npus > 0:  # without NPUs, Slurm waits for something else (memory, CPUs, a limit)
        short = by_counts(npus, total=total, free=free, largest=largest, waiting=waiting,
                          **kind)
        if short is not None:
            return short
    return CapacityError("slurm_not_now", free=free, total=total, npus=npus,
                         reason=_reason(reason), waiting=waiting, **kind)


async def why_not_now(info: JobInfo, npus: int, device_type: str | None,
                      slurm_conf: str | None) -> CapacityError:
    """The refusal for the pending job `info`, from Slurm's nodes and line now (numbers
    Slurm did not give are left out: an empty partition reads as "none in service")."""
    env = slurm_env(slurm_conf)
    waiting = 0
    if info.partition:
        code, out, _ = await run(
            ["squeue", "-h", "-t", "PD", "-p", info.partition, "-o", "%i"], env)
        waiting = len([i for i in out.split() if i != info.job_id]) if code == 0 else 0
    code, nodes, _ = await run(["scontrol", "-o", "-d", "show", "node"], env)
    if code != 0:  # the controller answered a moment ago; its numbers are not known now
        return CapacityError("slurm_not_now", free="?", total="?", npus=npus,
                             reason=_reason(info.reason), waiting=waiting)
    return refusal(npus, device_type, parse_room(nodes, info.partition, device_type),
                   waiting, info.reason)


def _reason(reason: str) -> str:
    return reason if _REASON.match(reason) else "?"
