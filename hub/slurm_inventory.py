"""In cluster mode the ledger's inventory follows Slurm: the nodes of the platform's
partitions and each node's GRES ``npu`` (:mod:`.ledger.slurm_discovery` parses
``scontrol show node -o``), at `npuhub up` and every ``c.NPUHub.slurm_sync_interval``
seconds in the platform service. A node that appears brings its chips; chips a node no
longer has, or of a node gone from Slurm, are drained as gone (a holder keeps them until
release); a node DOWN or DRAIN in Slurm is drained in the ledger ("slurm") and comes back
when Slurm resumes it (an operator's npuhub drain stays until undrain). A controller that
does not answer changes nothing."""

from __future__ import annotations

import asyncio
import logging

from tornado.ioloop import PeriodicCallback

from . import slurm_nodes
from .ledger.slurm_discovery import node_specs, parse_nodes
from .ledger.topology import NodeSpec

log = logging.getLogger("npuhub.slurm_inventory")


def partitions(settings) -> set[str] | None:
    """The partitions whose nodes the platform uses: its profiles' (else
    c.SlurmNPUSpawner.partition) and batch jobs' (c.JobsConfig.slurm_partition); None
    (every node) when a server or job goes to Slurm's default partition."""
    spawner = settings.config.SlurmNPUSpawner.get("partition") or ""
    names = set()
    for p in settings.profiles:
        name = p.get("partition") or spawner
        if not name:
            return None
        names.add(name)
    jobs = settings.config.JobsConfig
    if jobs.get("backend") == "slurm":
        if not jobs.get("slurm_partition"):
            return None
        names.add(jobs["slurm_partition"])
    return names


def slurm_conf(settings) -> str | None:
    return (settings.config.SlurmNPUSpawner.get("slurm_conf")
            or settings.config.JobsConfig.get("slurm_conf") or None)


def read_specs(settings) -> list[NodeSpec]:
    """Slurm's nodes as the inventory stores them. Raises slurm_nodes.SlurmNodeError when
    scontrol fails (the controller does not answer)."""
    text = slurm_nodes.run(["scontrol", "show", "node", "-o"], slurm_conf(settings))
    spawner = settings.config.SlurmNPUSpawner
    return node_specs(parse_nodes(text), partitions(settings),
                      spawner.get("device_dir") or "/dev", bool(spawner.get("per_node_devices")))


def sync_once(inventory, settings) -> bool:
    """Read Slurm and sync the inventory; whether anything changed. An operator's drain
    or undrain while Slurm was read wins: this round then changes nothing. Blocking."""
    version = inventory.version()
    specs = read_specs(settings)
    if not specs:
        log.warning("Slurm reports no node with npu GRES in the partitions %s",
                    sorted(partitions(settings) or []) or "(all)")
    changed = inventory.sync(specs, if_version=version)
    if changed:
        log.info("Inventory synced with Slurm: %s", ", ".join(
            f"{s.name} {len(s.indices)} npu{' drained' if s.drained else ''}" for s in specs))
    return changed


def start_sync(inventory, settings, interval_s: float) -> PeriodicCallback:
    """The service's watch over Slurm's nodes (cluster mode)."""
    async def tick():
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, sync_once, inventory, settings)
        except slurm_nodes.SlurmNodeError as e:
            log.warning("Slurm's nodes not read (inventory unchanged): %s", e)
        except Exception:
            log.exception("Syncing the inventory with Slurm failed; will retry")

    pc = PeriodicCallback(tick, interval_s * 1000)
    pc.start()
    return pc
