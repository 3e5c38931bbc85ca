"""The idle watch in the platform service, every `watch_interval` seconds: read the use
of every device held by a server, decide (:mod:`.decide`), keep the warnings (shown in
/me and on the hub's home page) and the idle clocks (a restarted service goes on
counting; the operators' page and the metrics read them), stop what stayed idle through
JupyterHub's REST API (the home volume stays) and record it (:mod:`.models`)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from sqlalchemy import select
from tornado.ioloop import PeriodicCallback

from npuhub.hub import clock
from npuhub.hub.jobs.models import Job
from npuhub.hub.line.models import LineRequest
from npuhub.hub.orm import Node

from . import models, sources
from .decide import Idle, Policy, Server, Verdict, decide

log = logging.getLogger("npuhub.idle")


def waiting_for_npus(session_factory) -> int:
    """How many wait for NPUs now: servers waiting in the line and queued local batch
    jobs that ask for NPUs."""
    with session_factory() as s:
        rows = s.scalars(select(Job.npus).where(
            Job.state == "queued", Job.backend == "local", Job.npus > 0)).all()
        servers = s.scalars(select(LineRequest.id).where(LineRequest.state == "waiting")).all()
        return len(rows) + len(servers)


def policy_of(settings) -> Policy:
    return Policy(threshold=settings.npu_idle_threshold, timeout=settings.npu_idle_timeout,
                  grace=settings.npu_idle_grace, reclaim=settings.npu_idle_reclaim)


def _nodes(session_factory) -> dict[str, sources.NodeInfo]:
    with session_factory() as s:
        return {name: sources.NodeInfo(name, type_, device_dir) for name, type_, device_dir
                in s.execute(select(Node.name, Node.type, Node.device_dir))}


class IdleWatch:
    def __init__(self, platform, hub, settings):
        self.platform = platform
        self.hub = hub  # npuhub.hub.hubapi.AsyncHubAPI
        self.settings = settings
        self.policy = policy_of(settings)
        self.known: dict[int, Idle] | None = None  # read from the database at the first tick

    async def _blocking(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def servers(self) -> list[Server]:
        """Servers holding NPUs, with each device's use now."""
        held = [a for a in await self._blocking(
            lambda: self.platform.ledger.usage.active(kind="server")) if a["devices"]]
        if not held:
            return []
        nodes = await self._blocking(_nodes, self.platform.session_factory)
        wanted: dict[str, set[int]] = defaultdict(set)
        for a in held:
            for node, index in a["devices"]:
                wanted[node].add(int(index))
        use: dict[tuple[str, int], float] = {}
        for name, indices in wanted.items():
            node = nodes.get(name)
            if node is None:
                continue
            read = await sources.read_node(self.settings.npu_utilization_source,
                                           self.settings.npu_utilization_url, node,
                                           sorted(indices))
            use.update({(name, i): u for i, u in read.items()})
        return [
            Server(a["id"], a["user"], a["holder"], a["account"],
                   tuple((str(n), int(i)) for n, i in a["devices"]),
                   tuple(use.get((str(n), int(i))) for n, i in a["devices"]))
            for a in held
        ]

    async def tick(self) -> list[Verdict]:
        if self.known is None:  # a restarted service goes on counting
            self.known = await self._blocking(models.load_clocks, self.platform.session_factory)
        servers = await self.servers()
        waiting = 0
        if self.policy.reclaim == "when_waiting" and servers:
            waiting = await self._blocking(waiting_for_npus, self.platform.session_factory)
        now = clock.utcnow()
        self.known, verdicts = decide(servers, self.known, now, self.policy, waiting)
        await self._blocking(models.save_clocks, self.platform.session_factory, self.known)
        standing = [v for v in verdicts if v.action in ("warn", "stop")]  # stop: until done
        await self._blocking(models.sync_warnings, self.platform.session_factory, standing)
        for v in verdicts:
            if v.action == "stop":
                await self.stop(v)
            elif v.action == "clear":
                log.info("NPUs of %s/%s are in use again: warning withdrawn", v.server.user,
                         v.server.name)
        return verdicts

    async def stop(self, v: Verdict) -> None:
        s = v.server
        log.warning("Stopping server %r of %s: its %d NPU(s) idle since %s",
                    s.name, s.user, len(s.devices), v.idle_since.isoformat())
        try:
            await self.hub.stop_server(s.user, s.name)
        except Exception:
            log.exception("Stopping idle server %r of %s failed", s.name, s.user)
            return
        if self.known is not None:
            self.known.pop(s.allocation_id, None)
        await self._blocking(models.record_stop, self.platform.session_factory, v,
                             clock.utcnow())

    def start(self, interval_s: float) -> PeriodicCallback:
        async def tick():
            try:
                await self.tick()
            except Exception:
                log.exception("Watching idle NPUs failed; will retry")

        pc = PeriodicCallback(tick, interval_s * 1000)
        pc.start()
        return pc

