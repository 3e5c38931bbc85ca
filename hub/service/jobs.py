"""POST|GET /api/v1/jobs, GET|DELETE /api/v1/jobs/{id}, GET /api/v1/jobs/{id}/logs.

Users see, follow and cancel only their own jobs (another's job is a 404, as if it did
not exist); administrators see and cancel all. A submission is validated field by field
(:func:`npuhub.hub.jobs.common.parse_request`), checked against the quota (what could
never fit is refused at once, with the ledger's message naming the budget), then queued.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from npuhub.hub.jobs.common import InvalidRequest, parse_request
from npuhub.hub.jobs.queue import check_quota
from npuhub.hub.ledger import LedgerError
from npuhub.hub.schemas.jobs import Job, JobLog, JobRequest

from .base import APIHandler
from .openapi import Op, Route

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
            raise web.HTTPError(400, f"There is no dataset {name!r} you may use")
    return [[d["source"], d["name"]] for d in chosen]


class JobsHandler(APIHandler):
    @property
    def jobs(self):
        return self.settings["jobs"]

    async def own_job(self, job_id: str):
        job = await self.blocking(self.jobs.queue.get, int(job_id))
        if job is None or (job.user != self.user_name and not self.is_admin):
            raise web.HTTPError(404, f"No job {job_id} of yours")
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
            raise web.HTTPError(403, "Jobs are submitted by users, with their own token")
        cfg = self.jobs.cfg
        try:
            req = parse_request(
                self.body(JobRequest).model_dump(exclude_unset=True),
                max_time_limit=cfg.max_time_limit,
                default_time_limit=cfg.default_time_limit,
                is_admin=self.is_admin,
            )
        except InvalidRequest as e:
            raise web.HTTPError(400, str(e)) from None
        active = await self.blocking(self.jobs.queue.active_count, self.user_name)
        if active >= cfg.max_active_per_user:
            raise web.HTTPError(
                429,
                f"You have {active} jobs queued or running, the most allowed; "
                "wait for one to finish or cancel one",
            )
        running = None if req["image"] else await self.running_profile()
        profile = choose_profile(self.npuhub.profiles, self.groups, req["image"], running)
        try:
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
        except LedgerError as e:
            raise web.HTTPError(403, f"Job refused: {e}") from None
        if cfg.backend == "local" and req["npus"]:
            kind = profile.get("device_type")
            devices = await self.blocking(self.ledger.devices)
            total = sum(d["state"] == "available" and kind in (None, d["type"]) for d in devices)
            if req["npus"] > total:
                raise web.HTTPError(
                    400,
                    f"Job refused: you asked for {req['npus']} NPUs, "
                    f"but this platform has only {total} in service",
                )
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
            raise web.HTTPError(409, f"Job {id} has already ended: {job.as_dict()['state']}")
        self.write_json((await self.own_job(id)).as_dict())


class JobLogHandler(JobsHandler):
    async def get(self, id):
        job = await self.own_job(id)
        try:
            offset = int(self.get_query_argument("offset", "0"))
        except ValueError:
            raise web.HTTPError(400, "offset must be a whole number") from None
        self.write_json(await self.jobs.logs(job, offset))


routes = [
    Route(r"/api/v1/jobs", JobListHandler, {
        "GET": Op("Your batch jobs, newest first (admins: everyone's; ?user= filters)",
                  {200: [Job]}, query={"user": {"type": "string"}}),
        "POST": Op("Submit a notebook or script of your home to the batch queue",
                   {201: Job}, body=JobRequest, errors=(429,)),
    }),
    Route(rf"/api/v1/jobs/{JOB_ID}", JobHandler, {
        "GET": Op("One job: state, reason, exit code, timestamps", {200: Job}, errors=(404,)),
        "DELETE": Op("Cancel a queued or running job", {200: Job}, errors=(404, 409)),
    }),
    Route(rf"/api/v1/jobs/{JOB_ID}/logs", JobLogHandler, {
        "GET": Op("The job's log from byte offset: {text, offset, done}", {200: JobLog},
                  query={"offset": {"type": "integer", "minimum": 0}}, errors=(400, 404)),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
