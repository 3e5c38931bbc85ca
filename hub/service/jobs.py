"""POST|GET /api/v1/jobs, GET|DELETE /api/v1/jobs/{id}, GET /api/v1/jobs/{id}/logs.

Users see, follow and cancel only their own jobs (another's job is a 404, as if it did
not exist); administrators see and cancel all. A submission is validated field by field
(npuhub.hub.schemas.jobs, then :func:`npuhub.hub.jobs.common.parse_request`; time limits
and parameters are read from what people typed by hub/parsing.py), then submitted
(:func:`npuhub.hub.jobs.submit.submit_job`: the quota, the profile, the datasets; what
could never fit is refused at once). Refusals are answered by the base handler.
"""

from __future__ import annotations

from tornado import web

from npuhub.hub.jobs import rerun
from npuhub.hub.jobs.common import parse_request
from npuhub.hub.jobs.submit import JobRefused, submit_job
from npuhub.hub.refusals import Refusal
from npuhub.hub.schemas.jobs import Job, JobLog, JobRequest

from .base import APIHandler
from .openapi import Op, Route

JOB_ID = r"(?P<id>[0-9]{1,12})"


class JobsHandler(APIHandler):
    @property
    def jobs(self):
        return self.service.jobs

    async def own_job(self, job_id: str):
        job = await self.blocking(self.jobs.queue.get, int(job_id))
        if job is None or (job.user != self.user_name and not self.is_admin):
            raise Refusal("no_job", id=int(job_id))
        return job


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
        body, like = self.body(JobRequest).model_dump(exclude_unset=True), None
        if "like" in body:
            like = await self.own_job(str(rerun.like_id(body["like"])))
            if like.user != self.user_name:  # a re-run runs in its owner's home
                raise Refusal("no_job", id=like.id)
            body = rerun.like_body(like, body)
        req = parse_request(
            body,
            max_time_limit=cfg.max_time_limit,
            default_time_limit=cfg.default_time_limit,
            is_admin=self.is_admin,
        )
        try:
            job = await submit_job(
                self.jobs, self.platform, self.service.hub, self.npuhub.profiles,
                db_url=self.npuhub.db_url, user=self.user_name, groups=self.groups,
                is_admin=self.is_admin, req=req, like=like,
            )
        except JobRefused as e:
            raise web.HTTPError(e.status, str(e)) from None
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
