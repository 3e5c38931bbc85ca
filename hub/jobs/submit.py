"""The use case behind POST /jobs: a checked request (npuhub.hub.jobs.common.
parse_request) of one user becomes a queued job, or a `JobRefused` that says why: too many
jobs at once, a profile or image not theirs, over quota, more NPUs than the platform has,
a dataset they may not use, a re-run whose datasets changed."""

from __future__ import annotations

import asyncio
from functools import partial

from npuhub.hub import profiles
from npuhub.hub.datasets.catalog import may_mount
from npuhub.hub.hubapi import HubAPIError
from npuhub.hub.ledger import CapacityError
from npuhub.hub.profile_lookup import profile_rules
from npuhub.hub.refusals import Refusal

from . import rerun
from .cpu_hours import CpuBudget
from .queue import check_quota


class JobRefused(Exception):
    """A submission declined; `status` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def choose_profile(
    rules: profiles.ProfileRules,
    groups: list[str],
    image: str | None,
    running: str | None,
    account: str | None = None,
) -> dict:
    """The profile a job runs with, among those the user may use (:mod:`npuhub.hub.profiles`):
    the one of the requested `image`, else of the user's running server (`running`: its
    profile slug), else the first."""
    mine = profiles.usable(rules, groups, account)
    if not mine:
        raise JobRefused("No profile is available to you", 403)
    if image is not None:
        chosen = profiles.choose(mine, image=image)
        if chosen is not None:
            return chosen
        allowed = ", ".join(sorted({p["image"] for p in mine}))
        raise JobRefused(f"image {image[:100]!r} is not one of yours: {allowed}")
    return profiles.choose(mine, slug=running) or mine[0]


def dataset_mounts(
    store, user: str, groups: list[str], names: list[str] | None, admin: bool = False
) -> list[list[str]]:
    """[[host folder, name]] of the datasets a job mounts read-only at ~/datasets/{name}:
    the ones named (each one the user may use), or by default those the user has
    mounted now (the datasets catalog's remembered mounts). `store`: the DatasetStore."""
    chosen = store.mounted(user) if names is None else [store.get(n) for n in names]
    for name, d in zip(names or [d["name"] for d in chosen], chosen, strict=True):
        if d is None or not may_mount(d["access"], d["grants"], groups, admin):
            raise Refusal("no_dataset_for_you", name=repr(name))
    return [[d["source"], d["name"]] for d in chosen]


async def running_profile(hub, user: str) -> str | None:
    """Profile slug of the user's running default server (`hub`: AsyncHubAPI)."""
    try:
        model = await hub.user(user)
    except HubAPIError:  # the hub busy or restarting: the first profile the user may use
        return None
    server = ((model or {}).get("servers") or {}).get("") or {}
    return (server.get("user_options") or {}).get("profile")


async def submit_job(
    jobs, platform, hub, configured: list[dict], *, db_url: str, user: str,
    groups: list[str], is_admin: bool, req: dict, like=None,
) -> dict:
    """Queue `req` (parse_request's fields) for `user`; the job as the API shows it.
    `like`: the job (models.Job) this one re-runs, on its pinned image and datasets."""
    loop = asyncio.get_running_loop()
    ledger = platform.ledger

    def blocking(fn, *args, **kwargs):
        return loop.run_in_executor(None, partial(fn, *args, **kwargs))

    cfg = jobs.cfg
    active = await blocking(jobs.queue.active_count, user)  # early; submit checks again
    if active >= cfg.max_active_per_user:
        raise Refusal("too_many_jobs", active=active)
    rules = await blocking(profile_rules, ledger, db_url, configured, user, groups)
    if like is not None:
        profile = next(
            (p for p in profiles.usable(rules, groups) if p["slug"] == like.profile), None
        )
        if profile is None:
            raise JobRefused(f"The profile {like.profile} of job {like.id} is not yours", 403)
        current = {}
        for name in req["datasets"] or []:
            d = await blocking(platform.datasets.get, name)
            current[name] = d["version"] if d else None
        drift = rerun.dataset_drift(like, current)
        if drift:
            why = "; ".join(drift)
            raise JobRefused(f"Job {like.id} cannot be re-run the same way: {why}", 409)
    else:
        running = None if req["image"] else await running_profile(hub, user)
        profile = choose_profile(rules, groups, req["image"], running, req["account"])
    account = await blocking(  # a QuotaError is a coded refusal of its own
        check_quota, ledger, user=user, groups=groups, account=req["account"],
        npus=req["npus"], profile=profile["slug"], holding=False,
    )
    if cfg.backend == "local" and req["npus"]:
        kind = profile.get("device_type")
        devices = await blocking(ledger.inventory.devices)
        total = sum(d["state"] == "available" and kind in (None, d["type"]) for d in devices)
        if req["npus"] > total:
            where = {"device_type": kind} if kind else {}
            numbers = {"npus": req["npus"], "total": total, **where}
            raise CapacityError("capacity_too_many", 400, transient=False, **numbers)
    datasets = await blocking(
        dataset_mounts, platform.datasets, user, groups, req["datasets"], is_admin
    )
    job = await blocking(
        jobs.queue.submit, user=user, groups=groups, account=account, name=req["name"],
        source=req["source"], npus=req["npus"],
        image=rerun.pinned_image(like) if like is not None else profile["image"],
        profile=profile["slug"], rerun_of=like.id if like is not None else None,
        device_type=profile.get("device_type"), datasets=datasets,
        parameters=req["parameters"], time_limit=req["time_limit"], priority=req["priority"],
        backend=cfg.backend, max_active=cfg.max_active_per_user,
        max_cpu=cfg.max_cpu_jobs_per_user,
        cpu_budget=CpuBudget(cores=cfg.cpu_limit, per_user=cfg.cpu_hours_per_user,
                             per_account=dict(cfg.cpu_hours_per_account),
                             period=cfg.cpu_hours_period),
    )
    jobs.wake()
    return job
