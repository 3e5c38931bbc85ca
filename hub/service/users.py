"""POST /api/v1/users/{name}/activation: a new one-time activation link of an account
(the earlier one stops working). Administrators: any account (`"reset": true` for an
active one: a password reset); a course's instructors: their own students who have not
activated the account their course's roster created. The link is in the answer only,
never in a log; it expires after c.NPUHub.activation_link_hours or the shorter
`expires_in` (seconds) asked for."""

from __future__ import annotations

import os
from datetime import timedelta

from tornado import web

from npuhub.hub.accounts.store import COURSE_ORIGIN, AccountError
from npuhub.hub.courses.course_file import CourseError, check_user
from npuhub.hub.hubapi import HubAPI, HubAPIError
from npuhub.hub.platform import platform_for
from npuhub.hub.schemas.account import ActivationLink, ActivationRequest

from .base import APIHandler
from .openapi import Op, Route

NOT_YOURS = ("You may get activation links only for students of your courses who have not "
             "activated their account yet")


def instructor_may_activate(db_url: str, caller: str, groups: list[str], name: str) -> bool:
    """Whether `caller` instructs a course that `name` is a student of, whose roster
    created the account, which is not activated yet: enrolling someone else's pending
    account never lets an instructor claim it. Blocking (database)."""
    status = platform_for(db_url).accounts.status(name)
    if status["active"] or not status["origin"].startswith(COURSE_ORIGIN):
        return False
    cid = status["origin"][len(COURSE_ORIGIN):]
    courses = platform_for(db_url).courses
    try:
        if courses.role(cid, caller, groups, False) != "instructor":
            return False
        return name in courses.get(cid)["students"]
    except CourseError:  # the course is gone
        return False


class ActivationHandler(APIHandler):
    def ttl(self, body: dict) -> timedelta:
        longest = self.npuhub.activation_link_hours * 3600
        value = body.get("expires_in", longest)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                1 <= value <= longest):
            raise web.HTTPError(400, f"expires_in must be a number of seconds between 1 and "
                                f"{longest:g}")
        return timedelta(seconds=value)

    async def post(self, name):
        try:
            check_user(name)
        except CourseError as e:
            raise web.HTTPError(400, str(e)) from None
        body = self.json_body()
        unknown = sorted(set(body) - {"expires_in", "reset"})
        if unknown:
            raise web.HTTPError(400, f"unknown field(s) {', '.join(unknown)}; known: "
                                "expires_in, reset")
        reset = body.get("reset", False)
        if not isinstance(reset, bool):
            raise web.HTTPError(400, "reset must be true or false")
        ttl = self.ttl(body)
        db_url = self.npuhub.db_url
        if not self.is_admin and (reset or not await self.blocking(
                instructor_may_activate, db_url, self.user_name, self.groups, name)):
            raise web.HTTPError(403, NOT_YOURS)
        api = HubAPI(os.environ["JUPYTERHUB_API_URL"].rstrip("/"),
                     os.environ["JUPYTERHUB_API_TOKEN"])
        try:
            r = await self.blocking(api.request, "GET", f"/users/{name}", ok=(404,))
        except HubAPIError as e:
            raise web.HTTPError(502, f"The hub refused: {e}") from None
        if r.status_code == 404:
            raise web.HTTPError(404, f"No account {name}")
        if r.json().get("admin") and not self.is_admin:
            raise web.HTTPError(403, NOT_YOURS)
        try:
            accounts = platform_for(db_url).accounts
            token, expires = await self.blocking(accounts.issue_activation, name, ttl,
                                                 reset=reset)
        except AccountError as e:
            raise web.HTTPError(e.status, str(e)) from None
        public = os.environ.get("NPUHUB_PUBLIC_URL", "").rstrip("/")
        self.write_json({"user": name, "url": f"{public}/hub/activate?token={token}",
                         "expires": expires.isoformat()}, 201)


routes = [
    Route(r"/api/v1/users/(?P<name>[^/]+)/activation", ActivationHandler, {
        "POST": Op("A new one-time activation link of an account (admins; a course's "
                   "instructors for their students)", {201: ActivationLink},
                   body=ActivationRequest, errors=(400, 404, 409, 502)),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
