"""A small client of JupyterHub's REST API with the admin token (CLI, service, tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests


class HubAPIError(Exception):
    pass


@dataclass
class HubAPI:
    url: str  # e.g. http://127.0.0.1:8000/hub/api
    token: str

    @classmethod
    def from_settings(cls, settings) -> HubAPI:
        token = Path(settings.state_dir, "admin.token").read_text().strip()
        return cls(f"http://{settings.ip}:{settings.port}/hub/api", token)

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
        service = self.url.rsplit("/hub/api", 1)[0] + "/services/npuhub/api/v1"
        api = HubAPI(service, self.token)
        return api.request("POST", f"/users/{name}/activation",
                           json={"reset": True} if reset else {}).json()

    def ensure_group(self, name: str) -> None:
        if self.request("GET", f"/groups/{name}", ok=(404,)).status_code == 404:
            self.request("POST", f"/groups/{name}")
