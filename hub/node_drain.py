"""Draining a whole node, for `npuhub devices drain|undrain NODE` and
``POST /api/v1/nodes/{node}/drain|undrain``: every chip of the node in the ledger (a holder
keeps what it holds; a chip gone from the node stays drained) and, in cluster mode, the
node in Slurm (:mod:`.slurm_nodes`), so Slurm stops placing servers and jobs there.
Slurm first: a node Slurm refused to change is not changed in the ledger either.
Blocking (a subprocess and the database)."""

from __future__ import annotations

from . import slurm_nodes
from .ledger import LedgerError
from .refusals import Refusal


def set_node(ledger, settings, node: str, drain: bool, reason: str | None = None) -> dict:
    """Drain (`drain`) or undrain `node`: {node, state, devices, slurm}. Refusal
    ``no_node`` (404) for a node the ledger does not know, ``slurm_node_refused`` (502)
    when scontrol refuses."""
    devices = [d for d in ledger.inventory.devices() if d["node"] == node]
    if not devices:
        raise Refusal("no_node", node=node)
    slurm = settings.engine == "slurm"
    if slurm:
        conf = settings.config.SlurmNPUSpawner.get("slurm_conf") or None
        try:
            argv = (slurm_nodes.drain_argv(node, reason or slurm_nodes.DEFAULT_REASON)
                    if drain else slurm_nodes.resume_argv(node))
            slurm_nodes.run(argv, conf)
        except slurm_nodes.SlurmNodeError as e:
            raise Refusal("slurm_node_refused", node=node, detail=str(e)[:300]) from None
    change = ledger.inventory.drain if drain else ledger.inventory.undrain
    for d in devices:
        if d.get("drain_reason") == "inventory":
            continue
        try:
            change(node, d["index"])
        except LedgerError as e:  # a chip gone from the node stays drained
            if e.code != "device_gone":
                raise
    return {"node": node, "state": "drained" if drain else "available",
            "devices": len(devices), "slurm": slurm}
