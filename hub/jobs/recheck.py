"""What a job was allowed at submission, checked again when it starts: a queued job may
wait for hours, and meanwhile its user can leave the group it is charged to, or lose a
dataset (a course re-applied without it, a grant revoked, a group left). The job then
ends with the reason instead of starting with what its user no longer has; otherwise it
starts with the user's groups of now and the datasets' storage folders of now.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

from npuhub.hub.datasets.catalog import may_mount
from npuhub.hub.hubapi import HubAPIError

log = logging.getLogger("npuhub.jobs.recheck")


@dataclass(frozen=True)
class Recheck:
    groups: list[str]
    datasets: list[list[str]]  # [[host folder, name]], as Job.datasets
    refused: str | None = None


def recheck(job, model: dict | None, lookup) -> Recheck:
    """Pure: `job` (models.Job) against its user's hub model now (`model`: groups, admin;
    None if the user is gone) and `lookup(name)` of the datasets catalog."""
    if model is None:
        return Recheck(job.groups, job.datasets, f"user {job.user} no longer exists")
    groups, admin = list(model.get("groups") or []), bool(model.get("admin"))
    if job.account not in (job.user, *groups) and not admin:
        return Recheck(groups, job.datasets,
                       f"{job.user} is no longer a member of {job.account}, the account "
                       "the job is charged to")
    datasets = []
    for _, name in job.datasets or []:
        d = lookup(name)
        if d is None or not may_mount(d["access"], d["grants"], groups, admin):
            return Recheck(groups, job.datasets, f"dataset {name} is no longer yours")
        datasets.append([d["source"], name])
    return Recheck(groups, datasets)


def make_recheck(hub, datasets_store):
    """The service's check: `hub` an AsyncHubAPI, `datasets_store` the DatasetStore. When
    the hub cannot be asked (restarting), what was checked at submission stands."""

    async def check(job) -> Recheck:
        try:
            model = await hub.user(job.user)
        except HubAPIError as e:
            log.warning("Job %s starts on its submission's groups: the hub did not answer "
                        "(%s)", job.id, e)
            return Recheck(job.groups, job.datasets)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, partial(recheck, job, model, datasets_store.get))

    return check
