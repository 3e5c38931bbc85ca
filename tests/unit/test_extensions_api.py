"""The Python API (datasets, jobs, courses) against `client.request` patched with a small
in-memory service: the real service is tested end to end elsewhere. HOME is tmp_path."""

from __future__ import annotations

import json

import pytest
import requests

from npuhub.extensions import client, courses, datasets, jobs
from npuhub.extensions.client import Client, NPUHubError, _refusal


class Service:
    """Answers (method, resource) from a dict and records the calls."""

    def __init__(self, routes):
        self.routes, self.calls = routes, []

    def __call__(self, method, resource, json=None, params=None, text=False, timeout=None):
        self.calls.append((method, resource, json, params))
        answer = self.routes[(method, resource)]
        if isinstance(answer, Exception):
            raise answer
        return answer(json, params) if callable(answer) else answer


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NPUHUB_ACCOUNT", raising=False)
    return tmp_path


@pytest.fixture
def service(monkeypatch):
    def install(routes):
        s = Service(routes)
        monkeypatch.setattr(client, "request", s)
        return s

    return install


# --- client ---------------------------------------------------------------------------


def test_client_needs_the_server_env(monkeypatch):
    monkeypatch.delenv("NPUHUB_API_URL", raising=False)
    with pytest.raises(NPUHubError, match="not running inside an npuhub server"):
        Client()


def test_client_never_shows_the_token():
    c = Client(url="http://127.0.0.1:9/api/v1/", token="sekrit")
    assert "sekrit" not in repr(c) and c.url == "http://127.0.0.1:9/api/v1"
    with pytest.raises(NPUHubError) as e:  # nothing listens on port 9
        c.request("GET", "/me", timeout=2)
    assert "cannot reach" in str(e.value) and "sekrit" not in str(e.value)


def _response(status, body, ctype="application/json"):
    r = requests.Response()
    r.status_code, r.reason = status, "Forbidden"
    r._content = body.encode()
    r.headers["Content-Type"] = ctype
    return r


def test_refusal_is_the_service_message():
    body = json.dumps({"status": 403, "message": "Quota exceeded: 8 NPUs of 8 in use"})
    assert _refusal(_response(403, body)) == "Quota exceeded: 8 NPUs of 8 in use"
    assert _refusal(_response(403, "<html>boom</html>", "text/html")) == (
        "the npuhub service answered 403 Forbidden"
    )


def test_path_quotes_each_part():
    assert client.path("jobs", 12, "logs") == "/jobs/12/logs"
    assert client.path("datasets", "a/b") == "/datasets/a%2Fb"


# --- datasets -------------------------------------------------------------------------


def test_mount_returns_the_home_path(home, service):
    s = service({
        ("POST", "/datasets/mnist/mount"): {"name": "mnist", "mounted": True},
        ("DELETE", "/datasets/mnist/mount"): {"name": "mnist", "mounted": False},
    })  # fmt: skip
    assert datasets.mount("mnist") == str(home / "datasets" / "mnist")
    datasets.unmount("mnist")
    assert [c[:2] for c in s.calls] == [("POST", "/datasets/mnist/mount"),
                                        ("DELETE", "/datasets/mnist/mount")]  # fmt: skip


def test_mount_refuses_bad_names_before_any_call(service):
    s = service({})
    with pytest.raises(NPUHubError, match="invalid dataset name"):
        datasets.mount("../etc")
    assert s.calls == []


# --- jobs -----------------------------------------------------------------------------


def test_submit_sends_a_home_relative_source(home, service, monkeypatch):
    (home / "exp").mkdir()
    (home / "exp" / "train.ipynb").write_text("{}")
    monkeypatch.setenv("NPUHUB_ACCOUNT", "lab-a")
    s = service({("POST", "/jobs"): lambda body, _: {"id": "7", "state": "queued", **body}})
    job = jobs.submit(str(home / "exp" / "train.ipynb"), npus=2, parameters={"lr": 0.01},
                      time_limit="1:00:00")  # fmt: skip
    assert job["id"] == "7" and job["state"] == "queued"
    assert s.calls[0][2] == {"source": "exp/train.ipynb", "npus": 2, "parameters": {"lr": 0.01},
                             "time_limit": "1:00:00", "account": "lab-a"}  # fmt: skip


def test_submit_sends_what_was_typed(home, service):
    (home / "a.py").write_text("print(1)")
    s = service({("POST", "/jobs"): lambda body, _: {"id": "8", "state": "queued", **body}})
    jobs.submit("a.py", parameters="msg=hello, world", time_limit=" 2h ")
    jobs.submit("a.py", time_limit=90)
    assert s.calls[0][2] == {"source": "a.py", "npus": 0, "parameters": "msg=hello, world",
                             "time_limit": "2h"}  # fmt: skip
    assert s.calls[1][2] == {"source": "a.py", "npus": 0, "parameters": {}, "time_limit": 90}


@pytest.mark.parametrize(
    ("source", "kwargs", "match"),
    [("missing.ipynb", {}, "no such file"), ("/etc/passwd", {}, "in your home"),
     ("notes.txt", {}, "notebook"), ("a.py", {"npus": -1}, "npus"),
     ("a.py", {"parameters": ["lr=1"]}, "dict"), ("a.py", {"time_limit": True}, "time_limit"),
     ("a.py", {"time_limit": 1.5}, "time_limit")],
)  # fmt: skip
def test_submit_refuses(home, service, source, kwargs, match):
    (home / "a.py").write_text("print(1)")
    (home / "notes.txt").write_text("x")
    s = service({})
    with pytest.raises(NPUHubError, match=match):
        jobs.submit(source, **kwargs)
    assert s.calls == []


def test_logs_reads_to_the_end_and_follows(service, monkeypatch):
    log = "line 1\nline 2\nline 3\n"

    def read(_, params):
        off = params["offset"]
        return {"text": log[off:off + 7], "offset": min(off + 7, len(log)), "done": True}

    service({("GET", "/jobs/7/logs"): read})
    assert jobs.logs(7) == log
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    assert "".join(jobs.logs("7", follow=True)) == log


# --- courses --------------------------------------------------------------------------

RELEASED = {"hw1.ipynb": '{"cells": []}', "data/train.csv": "x,y\n1,2\n"}


def test_fetch_writes_and_never_overwrites(home, service):
    service({("GET", "/courses/ai101/assignments/hw1/fetch"): {"files": RELEASED}})
    folder = home / "courses" / "ai101" / "hw1"
    folder.mkdir(parents=True)
    (folder / "hw1.ipynb").write_text("my work")
    path = courses.fetch("ai101", "hw1")
    assert path.rstrip("/") == str(folder)
    assert (folder / "hw1.ipynb").read_text() == "my work"
    assert (folder / "data" / "train.csv").read_text() == "x,y\n1,2\n"
    assert path.skipped == ["hw1.ipynb"] and path.written == ["data/train.csv"]
    again = courses.fetch("ai101", "hw1")
    assert again.written == [] and sorted(again.skipped) == ["data/train.csv", "hw1.ipynb"]


@pytest.mark.parametrize("bad", ["../escape.py", "/tmp/abs.py", "a/../../b.py", "a/./b"])
def test_fetch_refuses_traversal_and_writes_nothing(home, service, bad):
    service({("GET", "/courses/ai101/assignments/hw1/fetch"):
             {"files": {"ok.ipynb": "{}", bad: "evil"}}})  # fmt: skip
    with pytest.raises(NPUHubError, match="refusing"):
        courses.fetch("ai101", "hw1")
    assert not (home / "courses" / "ai101" / "hw1" / "ok.ipynb").exists()
    assert not (home / "courses" / "escape.py").exists()


def test_fetch_refuses_bad_course_names(service):
    s = service({})
    with pytest.raises(NPUHubError, match="invalid course id"):
        courses.fetch("../..", "hw1")
    assert s.calls == []


def test_submit_sends_the_folder_without_feedback(home, service):
    answer = {"submitted_at": "2025-01-01T00:00:00Z", "late": False, "attempt": 1}
    s = service({("POST", "/courses/ai101/assignments/hw1/submit"): answer})
    folder = home / "courses" / "ai101" / "hw1"
    for rel in ("hw1.ipynb", "src/util.py", "feedback/hw1.html",
                ".ipynb_checkpoints/hw1-checkpoint.ipynb", ".secret"):  # fmt: skip
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(rel)
    assert courses.submit("ai101", "hw1")["attempt"] == 1
    assert s.calls[0][2] == {"files": {"hw1.ipynb": "hw1.ipynb", "src/util.py": "src/util.py"}}


def test_submit_size_cap_and_empty(home, service, monkeypatch):
    service({})
    with pytest.raises(NPUHubError, match="fetch the assignment"):
        courses.submit("ai101", "hw1")
    folder = home / "courses" / "ai101" / "hw1"
    folder.mkdir(parents=True)
    with pytest.raises(NPUHubError, match="no files"):
        courses.submit("ai101", "hw1")
    (folder / "big.csv").write_text("x" * 2000)
    monkeypatch.setattr(courses, "MAX_SUBMISSION_BYTES", 1000)
    with pytest.raises(NPUHubError, match="more than"):
        courses.submit("ai101", "hw1")


def test_feedback_is_written_in_the_feedback_folder(home, service):
    service({("GET", "/courses/ai101/assignments/hw1/feedback"):
             {"files": {"hw1.html": "<p>8/10</p>"}}})  # fmt: skip
    path = courses.feedback("ai101", "hw1")
    assert (home / "courses/ai101/hw1/feedback/hw1.html").read_text() == "<p>8/10</p>"
    assert path.rstrip("/") == str(home / "courses/ai101/hw1/feedback")


def test_instructor_calls(home, service):
    s = service({
        ("POST", "/courses/ai101/assignments/hw1/release"): {"released_at": "t", "files": []},
        ("GET", "/courses/ai101/grades"): [{"student": "bob", "score": 3}],
        ("PUT", "/courses/ai101/assignments/hw1/source"): {"ok": True},
    })  # fmt: skip
    assert courses.release("ai101", "hw1")["released_at"] == "t"
    assert courses.grades("ai101") == [{"student": "bob", "score": 3}]
    (home / "src" / "hw1").mkdir(parents=True)
    (home / "src" / "hw1" / "hw1.ipynb").write_text("{}")
    courses.upload_source("ai101", "hw1", "src/hw1")
    assert s.calls[-1][2] == {"files": {"hw1.ipynb": "{}"}}


def test_autograde_starts_then_follows_the_run_until_done(service):
    url = "/courses/cs101/assignments/ps1/autograde"
    states = iter([
        {"state": "running", "total": 2, "done": 1, "graded": 1, "results": [{"score": 3}]},
        {"state": "done", "total": 2, "done": 2, "graded": 2,
         "results": [{"score": 3}, {"score": 5}]},
    ])  # fmt: skip
    s = service({
        ("POST", url): {"state": "running", "total": 2, "done": 0, "graded": 0, "results": []},
        ("GET", url): lambda *_: next(states),
    })  # fmt: skip
    seen = []
    final = courses.autograde("cs101", "ps1", progress=lambda st: seen.append(st["done"]), poll=0)
    assert final["state"] == "done" and final["graded"] == 2
    assert seen == [0, 1, 2]
    assert [c[0] for c in s.calls] == ["POST", "GET", "GET"]


def test_autograde_without_waiting_and_a_failed_run(service):
    url = "/courses/cs101/assignments/ps1/autograde"
    service({("POST", url): {"state": "running", "total": 40, "done": 0, "results": []}})
    assert courses.autograde("cs101", "ps1", wait=False)["total"] == 40
    service({
        ("POST", url): {"state": "running", "total": 1, "done": 0, "results": []},
        ("GET", url): {"state": "failed", "error": "grading stopped: disk full"},
    })  # fmt: skip
    with pytest.raises(NPUHubError, match="disk full"):
        courses.autograde("cs101", "ps1", poll=0)


def test_submit_like_sends_only_the_job_and_what_changes(service, monkeypatch):
    monkeypatch.setenv("NPUHUB_ACCOUNT", "lab-a")
    s = service({("POST", "/jobs"): lambda body, _: {"id": "8", "state": "queued", **body}})
    assert jobs.submit(like=7)["like"] == 7
    assert s.calls[0][2] == {"like": 7}  # the old job's account, NPUs, parameters
    jobs.submit(like=7, parameters={"lr": 0.1}, npus=1)
    assert s.calls[1][2] == {"like": 7, "npus": 1, "parameters": {"lr": 0.1}}
    for kwargs, match in [({}, "give a source, or like=ID"), ({"like": "7"}, "invalid like")]:
        with pytest.raises(NPUHubError, match=match):
            jobs.submit(**kwargs)
    assert len(s.calls) == 2


# --- session ---------------------------------------------------------------------------


def test_session_provenance_asks_for_this_server(service, monkeypatch):
    from npuhub.extensions import session

    record = {"image": {"reference": "npuhub/base:latest", "digest": "sha256:1"}, "devices": []}
    s = service({("GET", "/me/session"): lambda body, params: dict(record, asked=params)})
    monkeypatch.setenv("JUPYTERHUB_SERVER_NAME", "big")
    assert session.provenance()["asked"] == {"server": "big"}
    monkeypatch.delenv("JUPYTERHUB_SERVER_NAME")
    assert session.provenance()["image"]["digest"] == "sha256:1"
    assert session.provenance(server="other")["asked"] == {"server": "other"}
    assert [c[3] for c in s.calls] == [{"server": "big"}, {"server": ""}, {"server": "other"}]
