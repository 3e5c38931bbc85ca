"""The `npuhub` jupyter_server extension loads and forwards `/npuhub/api/…` to a real
tornado server standing in for the service on 127.0.0.1 (the HTTP boundary), with the
server's own token, which never reaches the browser."""

from __future__ import annotations

import json

import pytest
from tornado import httpserver, netutil, web
from tornado.httpclient import HTTPClientError

from npuhub.extensions.serverext import allowed

pytest_plugins = ["pytest_jupyter.jupyter_server"]

TOKEN = "server-secret-token-123"


class FakeService(web.RequestHandler):
    def check_xsrf_cookie(self):
        return

    def _answer(self, path):
        if self.request.headers.get("Authorization") != f"token {TOKEN}":
            self.set_status(403)
            return self.finish({"status": 403, "message": "Invalid or expired token"})
        if path == "jobs/nope":
            self.set_status(404)
            return self.finish({"status": 404, "message": "no job nope"})
        body = json.loads(self.request.body) if self.request.body else None
        self.finish({"name": "alice", "path": path, "method": self.request.method,
                     "query": self.request.query, "body": body,
                     "accept_language": self.request.headers.get("Accept-Language")})

    def get(self, path):
        self._answer(path)

    def post(self, path):
        self._answer(path)


@pytest.fixture
def service(monkeypatch, jp_asyncio_loop):
    socks = netutil.bind_sockets(0, "127.0.0.1")
    port = socks[0].getsockname()[1]

    async def serve():  # on the loop the test runs in (as pytest-jupyter's http_server)
        server = httpserver.HTTPServer(web.Application([(r"/api/v1/(.*)", FakeService)]))
        server.add_sockets(socks)
        return server

    server = jp_asyncio_loop.run_until_complete(serve())
    monkeypatch.setenv("NPUHUB_API_URL", f"http://127.0.0.1:{port}/api/v1")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", TOKEN)
    yield port
    server.stop()


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"npuhub.extensions": True}}}


async def test_me_is_forwarded_with_the_server_token(service, jp_fetch):
    resp = await jp_fetch("npuhub", "api", "me")
    assert resp.code == 200
    body = resp.body.decode()
    assert json.loads(body)["name"] == "alice"
    assert TOKEN not in body and TOKEN not in str(resp.headers)


async def test_post_body_and_query_pass_through(service, jp_fetch):
    resp = await jp_fetch(
        "npuhub", "api", "jobs", method="POST", body=json.dumps({"source": "a.ipynb"})
    )
    assert json.loads(resp.body)["body"] == {"source": "a.ipynb"}
    resp = await jp_fetch("npuhub", "api", "jobs", "7", "logs", params={"offset": "12"})
    assert json.loads(resp.body)["query"] == "offset=12"


async def test_service_refusal_passes_through(service, jp_fetch):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("npuhub", "api", "jobs", "nope")
    assert e.value.code == 404
    assert json.loads(e.value.response.body)["message"] == "no job nope"


async def test_unlisted_path_is_not_forwarded(service, jp_fetch):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("npuhub", "api", "devices")
    assert e.value.code == 404


async def test_the_lab_s_language_reaches_the_service_and_the_forwarder_s_refusals(
    service, jp_fetch
):
    resp = await jp_fetch("npuhub", "api", "me", headers={"Accept-Language": "zh-CN"})
    assert json.loads(resp.body)["accept_language"] == "zh-CN"
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("npuhub", "api", "devices", headers={"Accept-Language": "zh-CN;q=1"})
    assert json.loads(e.value.response.body)["message"] == "npuhub：GET devices 不是可转发的资源"
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("npuhub", "api", "devices", headers={"Accept-Language": "en-US"})
    assert json.loads(e.value.response.body)["message"] == (
        "npuhub: GET devices is not a forwarded resource")


async def test_requires_authentication(service, jp_fetch):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("npuhub", "api", "me", headers={"Authorization": ""})
    assert e.value.code == 403


@pytest.mark.parametrize(
    ("method", "path", "ok"),
    [
        ("GET", "me", True),
        ("POST", "me", False),
        ("GET", "datasets", True),
        ("POST", "datasets/imagenet-1k/mount", True),
        ("DELETE", "datasets/imagenet-1k/mount", True),
        ("POST", "datasets/../mount", False),
        ("POST", "datasets/a/b/mount", False),
        ("GET", "jobs/12/logs", True),
        ("DELETE", "jobs/12", True),
        ("PUT", "jobs/12", False),
        ("POST", "courses/cs101/assignments/ps1/autograde", True),
        ("GET", "courses/cs101/assignments/ps1/autograde", True),
        ("DELETE", "courses/cs101/assignments/ps1/autograde", False),
        ("GET", "courses/ai101/assignments/hw1/fetch", True),
        ("POST", "courses/ai101/assignments/hw1/fetch", False),
        ("POST", "courses/ai101/assignments/hw1/submit", True),
        ("PUT", "courses/ai101/assignments/hw1/source", True),
        ("GET", "courses/ai101/grades", True),
        ("GET", "quotas", False),
        ("GET", "devices", False),
        ("GET", "../../hub/api/users", False),
        ("GET", "me/", False),
        ("GET", "me/session", True),
        ("POST", "me/session", False),
        ("GET", "", False),
    ],
)
def test_allow_list(method, path, ok):
    assert allowed(method, path) is ok


def test_lab_language_is_seeded_once_and_never_overrides_the_users_choice(tmp_path):
    from npuhub.extensions.serverext import seed_lab_language

    path = seed_lab_language("zh_CN", str(tmp_path))
    assert path == str(tmp_path / "@jupyterlab/translation-extension/plugin.jupyterlab-settings")
    assert json.loads(open(path).read()) == {"locale": "zh_CN"}
    with open(path, "w") as f:
        f.write('{"locale": "en"}')  # the user chose English in Settings > Language
    assert seed_lab_language("zh_CN", str(tmp_path)) is None
    assert json.loads(open(path).read()) == {"locale": "en"}
    for lang in (None, "", "en", "../../x", "zh_CN; rm -rf /"):
        assert seed_lab_language(lang, str(tmp_path / "other")) is None
    assert not (tmp_path / "other").exists()
