"""The one client of JupyterHub's REST API with a token: blocking for the CLI and tests
(`HubAPI`), non-blocking for the platform service (`AsyncHubAPI`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests


class HubAPIError(Exception):
    pass


@dataclass
class HubAPI:
    url: str  # e.g. http://10.213.0.1:41234/hub/api
    token: str
    service_url: str = ""  # the platform service's API (default: beside the hub's)

    @classmethod
    def from_settings(cls, settings) -> HubAPI:
        """The CLI's client: the hub's internal API and the platform service on host-local
        addresses (the hub's own listeners), never through the public port."""
        from .state import local_urls

        token = Path(settings.state_dir, "admin.token").read_text().strip()
        hub_api, service = local_urls(settings)
        return cls(hub_api, token, service)

    def request(self, method: str, path: str, ok=(), **kw) -> requests.Response:
        """One call; an error status raises HubAPIError, except those in `ok`."""
        headers = {"Authorization": f"token {self.token}"}
        try:
            r = requests.request(method, self.url + path, headers=headers, timeout=30, **kw)
        except requests.ConnectionError:
            raise HubAPIError(
                f"the hub at {self.url} does not answer: is `npuhub up` running?"
            ) from None
        if r.status_code >= 400 and r.status_code not in ok:
            try:
                message = r.json().get("message", r.reason)
            except ValueError:
                message = r.reason
            raise HubAPIError(f"{method} {path}: {r.status_code} {message}")
        return r

    def create_user(self, name: str, admin: bool = False, groups: list[str] = ()) -> None:
        if self.request("GET", f"/users/{name}", ok=(404,)).status_code == 404:
            self.request("POST", f"/users/{name}", json={"admin": admin})
        for g in groups:
            self.ensure_group(g)
            self.request("POST", f"/groups/{g}/users", json={"users": [name]})

    def activation_link(self, name: str, reset: bool = False) -> dict:
        """A new one-time activation link of `name` from the platform service:
        {"user", "url", "expires"}."""
        service = self.service_url or (
            self.url.rsplit("/hub/api", 1)[0] + "/services/npuhub/api/v1")
        api = HubAPI(service, self.token)
        return api.request("POST", f"/users/{name}/activation",
                           json={"reset": True} if reset else {}).json()

    def ensure_group(self, name: str) -> None:
        if self.request("GET", f"/groups/{name}", ok=(404,)).status_code == 404:
            self.request("POST", f"/groups/{name}")


class AsyncHubAPI(HubAPI):
    """The same client for code on an event loop (the platform service): the same URL,
    token and errors, over tornado's non-blocking HTTP client."""

    async def fetch(self, method: str, path: str, ok=(), body=None, headers=None):
        """One call → the decoded JSON answer (None for an empty body); an error status
        raises HubAPIError, except those in `ok` (then None)."""
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest

        req = HTTPRequest(
            self.url + path,
            method=method,
            headers={"Authorization": f"token {self.token}", **(headers or {})},
            body=None if body is None and method in ("GET", "DELETE") else json.dumps(body or {}),
            request_timeout=30,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req, raise_error=False)
        except OSError:
            raise HubAPIError(f"the hub at {self.url} does not answer") from None
        if resp.code >= 400 or resp.code == 599:
            if resp.code in ok:
                return None
            raise HubAPIError(f"{method} {path}: {resp.code} {resp.reason}")
        return json.loads(resp.body) if resp.body else None

    async def user(self, name: str) -> dict | None:
        """A user's model now (groups, admin, servers), or None if there is none."""
        return await self.fetch("GET", f"/users/{quote(name, safe='')}", ok=(404,))

    async def active_users(self) -> list[dict]:
        """User models (with groups and servers) of every user with a server."""
        users: list[dict] = []
        offset = 0
        while True:
            body = await self.fetch(
                "GET", f"/users?state=active&limit=200&offset={offset}",
                headers={"Accept": "application/jupyterhub-pagination+json"},
            )
            users += body["items"] if isinstance(body, dict) else body
            nxt = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
            if not nxt:
                return users
            offset = nxt["offset"]

    async def stop_server(self, user: str, server: str = "") -> None:
        path = f"/users/{quote(user, safe='')}/server"
        if server:
            path += f"s/{quote(server, safe='')}"
        await self.fetch("DELETE", path, ok=(400, 404))
