"""Autograding in the background, kept by the platform service: one run per assignment
at a time, each submission graded in its own isolated container (npuhub.hub.courses.
grader), `workers` at a time, off the event loop; each grade is stored as soon as it is
known, so a service restart loses only the progress record, never a grade.

`GradingRuns.start` is the use case behind POST .../autograde: a second start while a run
is going follows that run instead of starting another."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from docker.errors import DockerException

from npuhub.hub import clock

from . import grader, service_ops
from .course_file import CourseError

log = logging.getLogger("npuhub.courses.grading_runs")
IDLE = {"state": "idle", "total": 0, "done": 0, "graded": 0, "results": [], "error": None,
        "started": None, "finished": None}


class GradingRun:
    """The progress of grading one assignment."""

    def __init__(self, cid: str, name: str, total: int) -> None:
        self.cid, self.name, self.total = cid, name, total
        self.state = "running"
        self.results: list[dict] = []
        self.error: str | None = None
        self.started, self.finished = clock.utcnow(), None
        self.task: asyncio.Future | None = None

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "total": self.total,
            "done": len(self.results),
            "graded": sum(1 for r in self.results if r.get("score") is not None),
            "results": list(self.results),
            "error": self.error,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
        }

    async def grade(self, pool: ThreadPoolExecutor, grade_one, subs: list[dict]) -> None:
        loop = asyncio.get_running_loop()
        try:
            for done in asyncio.as_completed(
                [loop.run_in_executor(pool, grade_one, s) for s in subs]
            ):
                self.results.append(await done)
            self.state = "done"
            log.info("Autograded %s/%s: %d submissions", self.cid, self.name, self.total)
        except Exception as e:  # a bug, not a bad submission (those are graded 0)
            log.exception("Autograding %s/%s failed", self.cid, self.name)
            self.state, self.error = "failed", f"grading stopped: {e}"[:500]
        finally:
            self.finished = clock.utcnow()


class GradingRuns:
    """Every assignment's latest run in this service process."""

    def __init__(self, workers: int = 2, deployment: str = "npuhub") -> None:
        self.deployment = deployment  # the container prefix: whose graders are ours
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="npuhub-autograde")
        self.runs: dict[tuple[str, str], GradingRun] = {}
        self.cleanup: asyncio.Future | None = None

    def progress(self, cid: str, name: str) -> dict:
        run = self.runs.get((cid, name))
        return run.as_dict() if run else dict(IDLE)

    async def remove_stale(self) -> None:
        """Once per service process, before its first grading: remove the grading
        containers a previous service process of this deployment left behind (not the
        CLI's, nor another deployment's on the same Docker host: those may be grading)."""
        if self.cleanup is None:
            labels = {"org.npuhub.grader": "service", grader.DEPLOYMENT_LABEL: self.deployment}
            self.cleanup = asyncio.get_running_loop().run_in_executor(
                self.pool, partial(grader.remove_stale, labels=labels))
        try:
            removed = await asyncio.shield(self.cleanup)
        except DockerException as e:  # Docker unreachable: each submission will say so
            log.warning("Could not remove stale grading containers: %s", e)
            return
        if removed:
            log.info("Removed %d stale grading containers", removed)

    async def _run(self, run: GradingRun, grading) -> None:
        await self.remove_stale()
        await grading

    async def start(self, store, cid: str, name: str, blocking) -> GradingRun:
        """The running grading of `cid`/`name`, started now if none is going.
        `blocking(fn, *args)` runs store work off the event loop; CourseError(409) if
        the assignment is not released."""
        key = (cid, name)
        run = self.runs.get(key)
        if run is not None and run.state == "running":
            return run
        course = await blocking(store.get, cid)
        src = await blocking(store.source, cid, name)
        if src["released_at"] is None:
            raise CourseError(f"Assignment {name} is not released yet", 409)
        subs = await blocking(store.collected, cid, name)
        # checked again after the awaits, and registered before the next await: two
        # starts at once start one run
        if (run := self.runs.get(key)) is None or run.state != "running":
            run = self.runs[key] = GradingRun(cid, name, len(subs))
            grade = partial(service_ops.grade_one, store, course, src, by="service",
                            deployment=self.deployment)
            run.task = asyncio.ensure_future(self._run(run, run.grade(self.pool, grade, subs)))
            log.info("Autograding %s/%s: %d submissions", cid, name, len(subs))
        return run
