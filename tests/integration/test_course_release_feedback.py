"""Release times and returning feedback through a real `npuhub up` (the session's hub
checks release times every second): an assignment whose `release` time comes is released
by the service itself, once; one without sources says why to its instructors, in their
language, and is released when its sources arrive; an instructor releases before the
time; under `feedback: manual` the student reads that feedback is held (no score, no
page) until an instructor returns it over REST or with `npuhub course return`."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.hubclient import Hub
from tests.integration.test_courses import ANSWERS, FIXTURE, cli, fill

pytestmark = pytest.mark.integration


def wait_for(what, check, timeout=120.0):
    """Poll `check()` until it returns something true (readiness, not a timed claim)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def names():
    p = "r" + uuid.uuid4().hex[:6]
    return {"cid": p, "teacher": f"{p}t", "s1": f"{p}s1", "s2": f"{p}s2"}


def test_release_times_and_returned_feedback(hub: Hub, names):
    cid, teacher, s1 = names["cid"], names["teacher"], names["s1"]
    soon = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    body = {"id": cid, "instructors": [teacher], "students": [s1, names["s2"]],
            "timezone": "Asia/Shanghai", "feedback": "manual",
            "autograde": {"timeout": 20, "memory": "512m"},
            "assignments": [{"name": "soon", "release": soon, "due": "2099-01-01T00:00"},
                            {"name": "early", "release": "2099-01-01T00:00"},
                            {"name": "nosrc", "release": "2020-01-01T00:00"}]}
    r = hub.request("POST", "/courses", base=hub.service, json=body)
    assert r.status_code == 201, r.text
    tokens = {who: hub.user_token(who) for who in (teacher, s1)}

    def call(who, method, path, **kw):
        headers = {"Authorization": f"token {tokens[who]}", **kw.pop("headers", {})}
        return requests.request(method, f"{hub.service}/courses{path}", headers=headers,
                                timeout=300, **kw)

    def rows(who, lang="en"):
        mine = call(who, "GET", "", headers={"Accept-Language": lang}).json()
        return {a["name"]: a for a in next(c for c in mine if c["id"] == cid)["assignments"]}

    source = {"problems.ipynb": (FIXTURE / "ps1" / "problems.ipynb").read_text()}
    for name in ("soon", "early"):
        assert call(teacher, "PUT", f"/{cid}/assignments/{name}/source",
                    json={"files": source}).status_code == 200

    # "soon" is released by the service at its time, from its sources, once
    released = wait_for("the scheduled release", lambda: rows(teacher)["soon"]["released"])
    assert released is True
    soon_row = rows(teacher)["soon"]
    assert soon_row["released_by"] == "schedule" and soon_row["release_error"] is None
    assert datetime.fromisoformat(soon_row["released_at"]) >= datetime.fromisoformat(soon)
    text = call(s1, "GET", f"/{cid}/assignments/soon/fetch").json()["files"]["problems.ipynb"]
    assert "BEGIN HIDDEN" not in text and "raise NotImplementedError()" in text

    # "nosrc" came due without sources: its instructors read why, in their language
    error = wait_for("the recorded failure", lambda: rows(teacher)["nosrc"]["release_error"])
    assert error["error"] == "course_invalid" and "upload its sources first" in error["message"]
    assert rows(teacher, "zh-CN")["nosrc"]["release_error"]["message"].startswith("课程")
    assert rows(s1)["nosrc"]["released"] is False
    assert "release_error" not in rows(s1)["nosrc"]  # students see their own state only
    r = call(s1, "GET", f"/{cid}/assignments/nosrc/fetch")
    assert r.status_code == 403 and r.json()["error"] == "not_released", r.text
    assert call(teacher, "PUT", f"/{cid}/assignments/nosrc/source",
                json={"files": source}).status_code == 200
    wait_for("the release once sources came", lambda: rows(teacher)["nosrc"]["released"])
    assert rows(teacher)["nosrc"]["released_by"] == "schedule"

    # "early" opens in 2099; its instructor releases it now
    r = call(s1, "GET", f"/{cid}/assignments/early/fetch", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 403 and r.json()["error"] == "not_released_until", r.text
    assert "尚未发布" in r.json()["message"]
    r = call(teacher, "POST", f"/{cid}/assignments/early/release")
    assert r.status_code == 200 and r.json()["released_by"] == teacher, r.text
    assert call(s1, "GET", f"/{cid}/assignments/early/fetch").status_code == 200

    # feedback: manual. Graded, but held until the instructor returns it
    r = call(s1, "POST", f"/{cid}/assignments/soon/submit",
             json={"files": {"problems.ipynb": fill(text, **ANSWERS)}})
    assert r.status_code == 200, r.text
    assert call(teacher, "POST", f"/{cid}/assignments/soon/collect").json() == {
        "submissions": 1}
    r = call(teacher, "POST", f"/{cid}/assignments/soon/autograde")
    assert r.status_code == 200 and r.json()["results"][0]["score"] == 5, r.text
    for lang, said in (("en", "Feedback of soon is held until the instructor returns it"),
                       ("zh-CN", "soon 的反馈暂由教师保留，教师发还后即可查看")):
        r = call(s1, "GET", f"/{cid}/assignments/soon/feedback",
                 headers={"Accept-Language": lang})
        assert r.status_code == 403 and r.json()["error"] == "feedback_held", r.text
        assert r.json()["message"] == said
        assert "Score" not in r.text and "hidden" not in r.text
    row = rows(s1)["soon"]
    assert (row["graded"], row["feedback"], row["score"], row["max_score"]) == (
        True, False, None, None)
    assert row["feedback_held"] == {"until": "instructor"}
    assert call(s1, "POST", f"/{cid}/assignments/soon/return").status_code == 403

    r = call(teacher, "POST", f"/{cid}/assignments/soon/return")
    assert r.status_code == 200, r.text
    assert (r.json()["returned_by"], r.json()["students"]) == (teacher, 1)
    r = call(s1, "GET", f"/{cid}/assignments/soon/feedback")
    assert r.status_code == 200 and "Score: 5 / 7" in r.json()["files"]["problems.html"]
    row = rows(s1)["soon"]
    assert (row["feedback"], row["score"], row["feedback_held"]) == (True, 5, None)
    assert rows(teacher)["soon"]["feedback_returned_by"] == teacher

    # the same from the hub host's command line
    r = cli(hub, "course", "return", cid, "early")
    assert r.returncode == 0, r.stderr
    assert "feedback of early returned at " in r.stdout and "(0 students graded)" in r.stdout
    assert rows(teacher)["early"]["feedback_returned_by"] == "cli"
    spec = requests.get(f"{hub.service}/openapi.json", timeout=30).json()
    assert "post" in spec["paths"]["/courses/{cid}/assignments/{name}/return"]
