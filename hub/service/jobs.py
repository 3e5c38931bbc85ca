"""POST|GET /api/v1/jobs, GET|DELETE /api/v1/jobs/{id}, GET /api/v1/jobs/{id}/logs.

Users see, follow and cancel only their own jobs (another's job is a 404, as if it did
not exist); administrators see and cancel all. A submission is validated field by field
(:func:`npuhub.hub.jobs.common.parse_request`; time limits and parameters are read from
what people typed by hub/parsing.py), checked against the quota (what could never fit is
refused at once, with the ledger's refusal naming the budget), then queued. Refusals are
answered by the base handler.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from npuhub.hub.jobs.common import parse_request
from npuhub.hub.jobs.queue import check_quota
from npuhub.hub.ledger import CapacityError
from npuhub.hub.refusals import Refusal

from .base import APIHandler
from .openapi import op

JOB_ID = r"(?P<id>[0-9]{1,12})"


def visible_profiles(profiles: list[dict], groups: list[str]) -> list[dict]:
    return [p for p in profiles if not p.get("groups") or set(groups) & set(p["groups"])]


def choose_profile(
    profiles: list[dict], groups: list[str], image: str | None, running: str | None
) -> dict:
    """The profile a job runs with: the one of the requested `image`, else of the user's
    running server (`running`: its profile slug), else the first the user may use."""
    mine = visible_profiles(profiles, groups)
    if not mine:
        raise web.HTTPError(403, "No profile is available to you")
    if image is not None:
        for p in mine:
            if p["image"] == image:
                return p
        allowed = ", ".join(sorted({p["image"] for p in mine}))
        raise web.HTTPError(400, f"image {image[:100]!r} is not one of yours: {allowed}")
    return next((p for p in mine if p["slug"] == running), mine[0])


def dataset_mounts(
    ledger, user: str, groups: list[str], names: list[str] | None, admin: bool = False
) -> list[list[str]]:
    """[[host folder, name]] of the datasets a job mounts read-only at ~/datasets/{name}:
    the ones named (each one the user may use), or by default those the user has
    mounted now (the datasets catalog's remembered mounts)."""
    from npuhub.hub.datasets.catalog import may_mount
    from npuhub.hub.datasets.store import DatasetStore

    store = DatasetStore(ledger.session_factory)
    chosen = store.mounted(user) if names is None else [store.get(n) for n in names]
    for name, d in zip(names or [d["name"] for d in chosen], chosen, strict=True):
        if d is None or not may_mount(d["access"], d["grants"], groups, admin):
            raise Refusal("no_dataset_for_you", name=repr(name))
    return [[d["source"], d["name"]] for d in chosen]


class JobsHandler(APIHandler):
    @property
    def jobs(self):
        return self.settings["jobs"]

    async def own_job(self, job_id: str):
        job = await self.blocking(self.jobs.queue.get, int(job_id))
        if job is None or (job.user != self.user_name and not self.is_admin):
            raise Refusal("no_job", id=int(job_id))
        return job

    async def running_profile(self) -> str | None:
        """Profile slug of the user's running default server (hub REST API)."""
        url = f"{os.environ['JUPYTERHUB_API_URL'].rstrip('/')}/users/{quote(self.user_name)}"
        token = os.environ["JUPYTERHUB_API_TOKEN"]
        req = HTTPRequest(url, headers={"Authorization": f"token {token}"})
        resp = await AsyncHTTPClient().fetch(req, raise_error=False)
        if resp.code != 200:
            return None
        server = (json.loads(resp.body).get("servers") or {}).get("") or {}
        return (server.get("user_options") or {}).get("profile")


class JobListHandler(JobsHandler):
    async def get(self):
        user = self.get_query_argument("user", None)
        if not self.is_admin:
            user = self.user_name
        self.write_json(await self.blocking(self.jobs.queue.list, user))

    async def post(self):
        if self.model.get("kind") != "user":
            raise Refusal("jobs_by_users")
        cfg = self.jobs.cfg
        req = parse_request(
            self.json_body(),
            max_time_limit=cfg.max_time_limit,
            default_time_limit=cfg.default_time_limit,
            is_admin=self.is_admin,
        )
        active = await self.blocking(self.jobs.queue.active_count, self.user_name)
        if active >= cfg.max_active_per_user:
            raise Refusal("too_many_jobs", active=active)
        running = None if req["image"] else await self.running_profile()
        profile = choose_profile(self.npuhub.profiles, self.groups, req["image"], running)
        account = await self.blocking(
            check_quota,
            self.ledger,
            user=self.user_name,
            groups=self.groups,
            account=req["account"],
            npus=req["npus"],
            profile=profile["slug"],
            holding=False,
        )
        if cfg.backend == "local" and req["npus"]:
            kind = profile.get("device_type")
            devices = await self.blocking(self.ledger.devices)
            total = sum(d["state"] == "available" and kind in (None, d["type"]) for d in devices)
            if req["npus"] > total:
                where = {"device_type": kind} if kind else {}
                numbers = {"npus": req["npus"], "total": total, **where}
                raise CapacityError("capacity_too_many", 400, transient=False, **numbers)
        datasets = await self.blocking(
            dataset_mounts,
            self.ledger,
            self.user_name,
            self.groups,
            req["datasets"],
            self.is_admin,
        )
        job = await self.blocking(
            self.jobs.queue.submit,
            user=self.user_name,
            groups=self.groups,
            account=account,
            name=req["name"],
            source=req["source"],
            npus=req["npus"],
            image=profile["image"],
            profile=profile["slug"],
            device_type=profile.get("device_type"),
            datasets=datasets,
            parameters=req["parameters"],
            time_limit=req["time_limit"],
            priority=req["priority"],
            backend=cfg.backend,
        )
        self.jobs.wake()
        self.write_json(job, status=201)


class JobHandler(JobsHandler):
    async def get(self, id):
        self.write_json((await self.own_job(id)).as_dict())

    async def delete(self, id):
        job = await self.own_job(id)
        if not await self.jobs.cancel(job, self.user_name):
            job = await self.own_job(id)
            raise Refusal("job_ended", id=int(id), state=job.as_dict()["state"])
        self.write_json((await self.own_job(id)).as_dict())


class JobLogHandler(JobsHandler):
    async def get(self, id):
        job = await self.own_job(id)
        try:
            offset = int(self.get_query_argument("offset", "0"))
        except ValueError:
            raise Refusal("bad_offset") from None
        self.write_json(await self.jobs.logs(job, offset))


default_handlers = [
    (r"/api/v1/jobs", JobListHandler),
    (rf"/api/v1/jobs/{JOB_ID}", JobHandler),
    (rf"/api/v1/jobs/{JOB_ID}/logs", JobLogHandler),
]
openapi_paths = {
    "/jobs": {
        "get": op(
            "Your batch jobs, newest first (admins: everyone's; ?user= filters)", params=["user"]
        ),
        "post": op(
            "Submit a notebook or script of your home to the batch queue",
            body="source (.ipynb or .py, relative to the home), npus, account, image, "
            "datasets, time_limit (seconds, or text: 90, 1:30:00, 2h, 45m, 1h30m), "
            "parameters (flat object, or text: one name=value per line), name",
        ),
    },
    "/jobs/{id}": {
        "get": op("One job: state, reason, exit code, timestamps", params=["id"]),
        "delete": op("Cancel a queued or running job", params=["id"]),
    },
    "/jobs/{id}/logs": {
        "get": op("The job's log from byte offset: {text, offset, done}", params=["id", "offset"]),
    },
}
