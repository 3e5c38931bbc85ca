"""A thin HTTP client of the npuhub service API, used from inside the user's container.

The base URL comes from `NPUHUB_API_URL` and the token from `JUPYTERHUB_API_TOKEN` (the
server's own token; kernels inherit it). Every failure raises `NPUHubError` whose message
is the service's readable refusal (its `message` field) and never contains the token.

`request()` is the one place where HTTP happens: the datasets, jobs and courses modules
all go through it.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import requests

from .i18n import _, accept_language

DEFAULT_TIMEOUT = 60.0
ENV_URL = "NPUHUB_API_URL"
ENV_TOKEN = "JUPYTERHUB_API_TOKEN"  # noqa: S105 - the variable's name


class NPUHubError(Exception):
    """A refusal or failure of the npuhub service, with a message meant for people."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


def path(*parts: Any) -> str:
    """Build a resource path, each part percent-quoted: path("jobs", 3, "logs")."""
    return "/" + "/".join(quote(str(p), safe="") for p in parts)


def _refusal(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    text = (resp.text or "").strip()
    if text and len(text) < 300 and "<" not in text:
        return text
    return _("the npuhub service answered {status} {reason}").format(
        status=resp.status_code, reason=resp.reason or ""
    ).strip()


class Client:
    """Calls the service with `Authorization: token …`; one `requests.Session` per client."""

    def __init__(
        self, url: str | None = None, token: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ):
        url = url if url is not None else os.environ.get(ENV_URL, "")
        if not url:
            raise NPUHubError(
                _(
                    "not running inside an npuhub server: {env} is not set "
                    "(start a server from the npuhub hub, or pass url= and token=)"
                ).format(env=ENV_URL)
            )
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get(ENV_TOKEN, "")
        if not self.token:
            raise NPUHubError(_("no API token: {env} is not set").format(env=ENV_TOKEN))
        self.timeout = timeout
        self.session = requests.Session()

    def __repr__(self) -> str:  # never show the token
        return f"<npuhub Client {self.url}>"

    def request(
        self,
        method: str,
        resource: str,
        json: Any = None,
        params: dict | None = None,
        text: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Call `method resource` and return the decoded JSON (or the text if `text`)."""
        url = self.url + "/" + resource.lstrip("/")
        headers = {
            "Authorization": f"token {self.token}",
            "Accept": "application/json",
            "Accept-Language": accept_language(),  # the service's refusals in this language
        }
        try:
            resp = self.session.request(
                method,
                url,
                json=json,
                params=params,
                headers=headers,
                timeout=timeout or self.timeout,
            )
        except requests.Timeout:
            raise NPUHubError(
                _("the npuhub service did not answer {method} {resource} in time").format(
                    method=method, resource=resource
                )
            ) from None
        except requests.RequestException as e:
            # the exception text holds the URL, never the headers
            raise NPUHubError(
                _("cannot reach the npuhub service at {url}: {error}").format(
                    url=self.url, error=type(e).__name__
                )
            ) from None
        if resp.status_code >= 400:
            raise NPUHubError(_refusal(resp), status=resp.status_code)
        if text:
            return resp.text
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise NPUHubError(
                _("the npuhub service sent no JSON for {method} {resource}").format(
                    method=method, resource=resource
                )
            ) from None


_default: Client | None = None


def default_client() -> Client:
    """The client for this process, built from the environment on first use."""
    global _default
    env = (os.environ.get(ENV_URL, "").rstrip("/"), os.environ.get(ENV_TOKEN, ""))
    if _default is None or (_default.url, _default.token) != env:
        _default = Client()
    return _default


def request(method: str, resource: str, **kwargs: Any) -> Any:
    """`Client.request` on the default client: the HTTP boundary of this package."""
    return default_client().request(method, resource, **kwargs)
