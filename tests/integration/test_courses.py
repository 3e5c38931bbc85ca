"""Courses through the real stack: a course file applied with the CLI, then the whole
assignment cycle over the service's REST API of a real `npuhub up`, with grading in
isolated containers of npuhub/base (which must hold extensions/autograde.py)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
import requests

from npuhub.hub.courses.grades import grades_csv
from tests.hubclient import Hub

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "course"
ANSWERS = {
    "squares": "def squares(n):\n    return [i * i for i in range(1, n + 1)]",
    "hypotenuse": "def hypotenuse(a, b):\n    return math.sqrt(a * a + b * b)",
    "answer": "ANSWER = 42\nassert ANSWER == 42",
    "explain": "Because the problem says so.",
    "fib": "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
           "    return a",
}
COURSE_FILE = """kind: Course
id: {cid}
title: Test course
term: 2026 spring
instructors: [{teacher}]
students: [{s1}, {s2}, {s3}]
image: npuhub/base:latest
npus_per_student: 1
npu_hours_per_student: 5
autograde: {{timeout: 20, memory: 512m}}
assignments:
  - {{name: ps1, source: ps1, release: "2098-12-01T00:00:00Z", due: "2099-01-01T00:00:00Z"}}
  - {{name: ps2, source: ps2, release: "2020-01-01T00:00:00Z", due: "2020-01-02T00:00:00Z"}}
"""


def cli(hub: Hub, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NPUHUB_STATE_DIR=str(hub.state_dir), NPUHUB_PORT=str(hub.port))
    return subprocess.run(
        [sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
         "--state-dir", str(hub.state_dir), *args],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def course(hub, tmp_path_factory):
    p = "c" + uuid.uuid4().hex[:6]
    names = {"cid": p, "teacher": f"{p}t", "s1": f"{p}s1", "s2": f"{p}s2", "s3": f"{p}s3"}
    folder = tmp_path_factory.mktemp("course")
    for a in ("ps1", "ps2"):
        shutil.copytree(FIXTURE / a, folder / a)
    (folder / "course.yaml").write_text(COURSE_FILE.format(**names))
    for _ in range(2):  # applying twice changes nothing
        r = cli(hub, "apply", "-f", str(folder / "course.yaml"))
        assert r.returncode == 0, r.stderr
        assert f"course {p} applied (3 students, 1 instructors, 2 assignments" in r.stdout
    tokens = {k: hub.user_token(v) for k, v in names.items() if k != "cid"}
    return {**names, "tokens": tokens, "folder": folder}


def api(hub, course, who, method, path, timeout=60, **kw):
    headers = {"Authorization": f"token {course['tokens'][who]}"}
    url = f"{hub.service}/courses/{course['cid']}{path}"
    return requests.request(method, url, headers=headers, timeout=timeout, **kw)


def autograde(hub, course, who, path, timeout=600) -> dict:
    """Start grading without waiting (202 with the progress), follow GET to the end."""
    r = api(hub, course, who, "POST", path + "/autograde?wait=0")
    assert r.status_code == 202, r.text
    state, seen = r.json(), []
    assert state["state"] == "running" and state["total"] >= 1, state
    again = api(hub, course, who, "POST", path + "/autograde?wait=0").json()
    assert again["started"] == state["started"]  # a second POST follows the same run
    deadline = time.monotonic() + timeout
    while state["state"] == "running":
        assert time.monotonic() < deadline, f"still grading after {timeout}s: {state}"
        time.sleep(0.5)
        state = api(hub, course, who, "GET", path + "/autograde").json()
        seen.append(state["done"])
    assert state["state"] == "done", state
    assert seen == sorted(seen) and state["done"] == state["total"] == len(state["results"])
    return state


def fill(text: str, **sources) -> str:
    """A released notebook with answers filled in (grade_id -> source)."""
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in sources:
            cell.source = sources[gid]
    return nbformat.writes(nb)


def test_groups_quota_and_profile(hub, course):
    cid = course["cid"]
    group = hub.request("GET", f"/groups/course-{cid}-students").json()
    assert sorted(group["users"]) == [course["s1"], course["s2"], course["s3"]]
    assert hub.request("GET", f"/groups/course-{cid}-instructors").json()["users"] == [
        course["teacher"]]
    policy = hub.request("GET", f"/quotas/course-{cid}-students", base=hub.service).json()
    assert policy["profiles"] == [f"course-{cid}"]
    # 5 NPU-hours per student, each their own: 15 for the group of three
    assert (policy["npu_hours_per_member"], policy["npu_hours"]) == (5, 15)
    me = hub.request("GET", "/me", token=course["tokens"]["s1"], base=hub.service).json()
    q = next(q for q in me["quotas"] if q["account"] == f"course-{cid}-students")
    assert (q["budget_of"], q["npu_hours_budget"]) == ("member", 5)
    mine = api(hub, course, "s1", "GET", "").status_code  # students don't read the course
    assert mine == 403
    spec = requests.get(f"{hub.service}/openapi.json", timeout=30).json()
    assert "post" in spec["paths"]["/courses/{cid}/assignments/{name}/autograde"]


def test_full_cycle(hub, course):
    t, ps1, ps2 = "teacher", "/assignments/ps1", "/assignments/ps2"
    r = api(hub, course, "s1", "GET", ps1 + "/fetch")  # not released: it opens in 2098
    assert r.status_code == 403 and r.json()["error"] == "not_released_until", r.text
    # the instructor releases earlier than the release time: open at once
    for path in (ps1, ps2):
        r = api(hub, course, t, "POST", path + "/release")
        assert r.status_code == 200, r.text
    assert api(hub, course, t, "POST", ps2 + "/release").json()["files"] == ["data.txt",
                                                                            "fib.ipynb"]
    listing = hub.request("GET", "/courses", token=course["tokens"]["s1"],
                          base=hub.service).json()
    mine = next(c for c in listing if c["id"] == course["cid"])
    assert mine["role"] == "student"
    assert [(a["name"], a["released"]) for a in mine["assignments"]] == [("ps1", True),
                                                                         ("ps2", True)]
    # hidden tests and solutions never reach students
    fetched = api(hub, course, "s1", "GET", ps1 + "/fetch").json()["files"]
    text = fetched["problems.ipynb"]
    assert "hidden-squares" not in text and "BEGIN HIDDEN" not in text
    assert "range(1, n + 1)" not in text and "raise NotImplementedError()" in text
    fib = api(hub, course, "s2", "GET", ps2 + "/fetch").json()["files"]
    assert "6765" not in fib["fib.ipynb"] and fib["data.txt"] == "55\n"

    # submissions: s1 resubmits (graded on its latest), s2 wrong, s3 tampers with a test
    wrong = dict(ANSWERS, squares="def squares(n):\n    return [i * i for i in range(n)]")
    tampered = fill(text, **dict(ANSWERS, hypotenuse="def hypotenuse(a, b):\n    return 5",
                                 test_hypotenuse="pass  # no more tests"))
    submitted = {}
    for who, nb in (("s1", text), ("s1", fill(text, **ANSWERS)), ("s2", fill(text, **wrong)),
                    ("s3", tampered)):
        r = api(hub, course, who, "POST", ps1 + "/submit", json={"files": {"problems.ipynb": nb}})
        assert r.status_code == 200, r.text
        submitted[(who, "ps1")] = r.json()
    assert submitted[("s1", "ps1")]["attempt"] == 2 and not submitted[("s1", "ps1")]["late"]
    hostile = {  # an infinite loop, and a flood of output
        "s2": "def fib(n):\n    while True:\n        pass",
        "s3": "def fib(n):\n    return 0\nwhile True:\n    print('x' * 100000)",
        "s1": ANSWERS["fib"],
    }
    for who, source in hostile.items():
        r = api(hub, course, who, "POST", ps2 + "/submit",
                json={"files": {"fib.ipynb": fill(fib["fib.ipynb"], fib=source)}})
        assert r.status_code == 200, r.text
        submitted[(who, "ps2")] = r.json()
        assert r.json()["late"] is True  # ps2 was due in 2020

    # students may not collect, grade or read grades
    for method, path in (("POST", ps1 + "/collect"), ("POST", ps1 + "/autograde"),
                         ("GET", ps1 + "/autograde"),
                         ("GET", "/grades"), ("POST", ps1 + "/release")):
        assert api(hub, course, "s1", method, path).status_code == 403
    for path in (ps1, ps2):
        r = api(hub, course, t, "POST", path + "/collect")
        assert r.json() == {"submissions": 3}, r.text
    assert api(hub, course, t, "GET", ps1 + "/autograde").json()["state"] == "idle"
    graded = autograde(hub, course, t, ps1)
    results = {x["student"]: x for x in graded["results"]}
    assert {k: v["score"] for k, v in results.items()} == {
        course["s1"]: 5, course["s2"]: 3, course["s3"]: 2}, graded  # 2 points: by hand
    assert not any(v["needs_review"] for v in results.values())
    assert results[course["s3"]]["tampered"] == ["test_hypotenuse"]
    assert results[course["s1"]]["attempt"] == 2
    results = {x["student"]: x for x in autograde(hub, course, t, ps2)["results"]}
    assert results[course["s1"]]["score"] == 2 and results[course["s1"]]["status"] == "ok"
    assert results[course["s2"]]["score"] == 0 and results[course["s3"]]["score"] == 0
    looped = api(hub, course, "s2", "GET", ps2 + "/feedback").json()["files"]["fib.html"]
    assert "CellTimeoutError" in looped and "did not finish within" in looped
    flood = api(hub, course, "s3", "GET", ps2 + "/feedback").json()["files"]["fib.html"]
    assert len(flood) < 8 * 1024 * 1024  # the flood was cut

    # feedback: ps2 is past due, ps1 is not (its feedback shows hidden tests)
    r = api(hub, course, "s1", "GET", ps2 + "/feedback")
    assert r.status_code == 200, r.text
    assert list(r.json()["files"]) == ["fib.html"]
    assert "Score: 2 / 2" in r.json()["files"]["fib.html"]
    assert api(hub, course, "s1", "GET", ps1 + "/feedback").status_code == 403

    # grades, JSON and CSV
    rows = []
    due_ps2 = datetime(2020, 1, 2, tzinfo=UTC)
    for (who, a), sub in sorted(submitted.items()):
        score = {("s1", "ps1"): 5, ("s2", "ps1"): 3, ("s3", "ps1"): 2, ("s1", "ps2"): 2}
        late = (datetime.fromisoformat(sub["submitted_at"]) - due_ps2).total_seconds()
        rows.append({"student": course[who], "assignment": a, "score": score.get((who, a), 0),
                     "max_score": 7 if a == "ps1" else 2, "submitted_at": sub["submitted_at"],
                     "late": sub["late"], "attempt": sub["attempt"], "needs_review": False,
                     "needs_manual_grading": a == "ps1", "raw_score": score.get((who, a), 0),
                     "days_late": math.ceil(late / 86400) if a == "ps2" else 0,
                     "late_penalty": 0})
    got = api(hub, course, t, "GET", "/grades").json()
    assert got == sorted(rows, key=lambda r: (r["student"], r["assignment"]))
    r = api(hub, course, t, "GET", "/grades", params={"format": "csv"})
    assert r.headers["Content-Type"].startswith("text/csv")
    assert r.text == grades_csv([{**x, "score": float(x["score"]),
                                  "max_score": float(x["max_score"])} for x in rows])
    assert r.text.splitlines()[0] == (
        "student,assignment,score,max_score,submitted_at,late,attempt,needs_review,"
        "needs_manual_grading,days_late,late_penalty")
    assert f"{course['s1']},ps1,5,7," in r.text and ",false,2,false,true,0,0" in r.text


def test_no_reading_across_students_or_courses(hub, course):
    outsider = "o" + uuid.uuid4().hex[:8]
    hub.create_user(outsider)
    token = hub.user_token(outsider)
    r = hub.request("GET", f"/courses/{course['cid']}/assignments/ps1/fetch", token=token,
                    base=hub.service)
    assert r.status_code == 404
    r = hub.request("POST", "/courses", token=token, base=hub.service,
                    json={"id": course["cid"], "students": [outsider]})
    assert r.status_code == 403
    r = api(hub, course, "s1", "PUT", "/assignments/ps1/source",
            json={"files": {"problems.ipynb": "{}"}})
    assert r.status_code == 403
    r = api(hub, course, "s1", "POST", "/assignments/ps1/submit",
            json={"files": {"../../etc/x.ipynb": "{}"}})
    assert r.status_code == 400 and "not allowed" in r.json()["message"]
    # the course profile is for the course's members only
    r = hub.spawn(outsider, token=token, options={"profile": f"course-{course['cid']}"})
    assert r.status_code == 400 and "not one of yours" in r.text


def test_journey_in_the_students_server(hub, course):
    """fetch -> edit -> submit -> feedback with npuhub.extensions.courses in the kernel of
    a server started with the course profile (only course members see it)."""
    from tests.hubclient import run_code

    cid, student = course["cid"], course["s1"]
    token = course["tokens"]["s1"]
    r = hub.spawn(student, token=token, options={"profile": f"course-{cid}", "npus": 0})
    assert r.status_code in (201, 202), r.text
    try:
        answer = json.dumps(ANSWERS["fib"])
        code = (
            "import json, nbformat\n"
            "from npuhub.extensions import courses\n"
            f"p = courses.fetch({cid!r}, 'ps2')\n"
            "nb = nbformat.read(p + 'fib.ipynb', as_version=4)\n"
            "cell = next(c for c in nb.cells if c.metadata.get('nbgrader', {}).get('grade_id') == 'fib')\n"
            f"cell.source = {answer}\n"
            "nbformat.write(nb, p + 'fib.ipynb')\n"
            "again = courses.fetch({cid!r}, 'ps2')\n"
            f"r = courses.submit({cid!r}, 'ps2')\n"
            "print(json.dumps([p, sorted(again.skipped), r['attempt'], r['late']]))\n"
        ).replace("{cid!r}", repr(cid))
        out = run_code(hub, student, token, code, timeout=120)
        path, skipped, attempt, late = json.loads(out.strip().splitlines()[-1])
        assert path == f"/home/jovyan/courses/{cid}/ps2/"
        assert skipped == ["data.txt", "fib.ipynb"]  # never overwrites the student's work
        assert attempt == 2 and late is True  # after the hostile-free first attempt
        assert api(hub, course, "teacher", "POST", "/assignments/ps2/collect").status_code == 200
        # a small class: the POST itself waits for the grades (default ?wait=240)
        r = api(hub, course, "teacher", "POST", "/assignments/ps2/autograde", timeout=600)
        assert r.status_code == 200 and r.json()["state"] == "done", r.text
        mine = next(x for x in r.json()["results"] if x["student"] == student)
        assert (mine["score"], mine["attempt"]) == (2, 2)
        out = run_code(hub, student, token, (
            "import os\nfrom npuhub.extensions import courses\n"
            f"f = courses.feedback({cid!r}, 'ps2')\n"
            "html = open(os.path.join(f, 'fib.html')).read()\n"
            "print(f, 'Score: 2 / 2' in html)\n"), timeout=120)
        assert out.split() == [f"/home/jovyan/courses/{cid}/ps2/feedback/", "True"]
    finally:
        hub.stop_server(student)


def _job_done(hub, token, job_id, timeout=180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = hub.request("GET", f"/jobs/{job_id}", token=token, base=hub.service).json()
        if job["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end: {job}")


def _start_without_options_then_run_a_cpu_job(hub, user, token) -> tuple[dict, dict]:
    """POST /hub/api/users/NAME/server with no body at all (the admin page's "Start
    server"), then a CPU job of a script written in that server: (server, job)."""
    from tests.hubclient import run_code

    r = hub.request("POST", f"/users/{user}/server", token=token)
    assert r.status_code in (201, 202), r.text
    try:
        server = hub.wait_ready(user)
        code = "open('/home/jovyan/hello.py', 'w').write('print(\"hello from the queue\")')"
        run_code(hub, user, token, code)
        r = hub.request("POST", "/jobs", token=token, base=hub.service,
                        json={"source": "hello.py", "npus": 0})
        assert r.status_code == 201, r.text
        return server, _job_done(hub, token, r.json()["id"])
    finally:
        hub.stop_server(user)


def test_course_student_starts_without_options_and_submits_a_cpu_job(hub, course):
    """The default profile is the first one the student may use: the course's (their
    quota allows no other), for the server and for a batch job alike."""
    cid, student = course["cid"], course["s2"]
    server, job = _start_without_options_then_run_a_cpu_job(
        hub, student, course["tokens"]["s2"])
    assert server["user_options"]["profile"] == f"course-{cid}"
    assert (job["state"], job["account"], job["npus"]) == (
        "succeeded", f"course-{cid}-students", 0), job


def test_researcher_without_a_course_gets_the_first_configured_profile(hub, course):
    name = "r" + uuid.uuid4().hex[:8]
    hub.create_user(name)
    server, job = _start_without_options_then_run_a_cpu_job(hub, name, hub.user_token(name))
    assert server["user_options"]["profile"] == "base"
    assert (job["state"], job["account"], job["image"]) == (
        "succeeded", name, "npuhub/base:latest"), job


def test_instructor_creates_a_course_over_the_api(hub, course):
    p = "a" + uuid.uuid4().hex[:6]
    teacher, student, cohort = f"{p}t", f"{p}s", f"{p}-cohort"
    hub.create_user(teacher, groups=["instructors"])
    hub.create_user(student, groups=[cohort])
    token = hub.user_token(teacher)

    def call(method, path, **kw):
        return requests.request(method, f"{hub.service}/courses{path}", timeout=60,
                                headers={"Authorization": f"token {token}"}, **kw)

    body = {"id": p, "title": "API course", "students": [student],
            "assignments": [{"name": "hw", "due": "2099-01-01T00:00:00Z"}]}
    r = call("POST", "", json={**body, "npus_per_student": 4})
    assert r.status_code == 403 and "npus_per_student" in r.json()["message"]
    r = call("POST", "", json={**body, "assignments": [{"name": "hw", "source": "/etc"}]})
    assert r.status_code == 400 and "upload the notebooks" in r.json()["message"]
    # a group is not pulled in, nor its members shown
    r = call("POST", "", json={**body, "students": cohort})
    assert r.status_code == 403 and "list the students by name" in r.json()["message"]
    assert student not in r.text
    # unknown names are refused without saying which names exist
    ghost = f"{p}ghost"
    r = call("POST", "", json={**body, "students": [student, ghost]})
    assert r.status_code == 403, r.text
    assert ghost not in r.text and student not in r.text
    assert hub.request("GET", f"/groups/course-{p}-students").status_code == 404
    # grading limits within the administrator's ceilings
    for grading, field in (({"timeout": 3600}, "autograde.timeout"),
                           ({"memory": "999999g"}, "autograde.memory"),
                           ({"cpus": 4}, "autograde.cpus")):
        r = call("POST", "", json={**body, "autograde": grading})
        assert r.status_code == 403 and field in r.json()["message"], r.text
    r = call("POST", "", json={**body, "autograde": {"timeout": 60, "memory": "1g"}})
    assert r.status_code == 201, r.text
    assert r.json()["students"] == [student] and r.json()["instructors"] == [teacher]
    # every group the course made has its own policy: no fallback to the default's NPUs
    for group in (f"course-{p}-students", f"course-{p}-instructors"):
        policy = hub.request("GET", f"/quotas/{group}", base=hub.service)
        assert policy.status_code == 200, policy.text
        assert (policy.json()["max_npus"], policy.json()["max_npus_per_server"]) == (0, 0)
        assert policy.json()["profiles"] == [f"course-{p}"]
    # a course of someone else's is not theirs to change
    r = call("POST", "", json={"id": course["cid"], "students": [student]})
    assert r.status_code == 403
    source = {"fib.ipynb": (FIXTURE / "ps2" / "fib.ipynb").read_text(), "data.txt": "55\n"}
    assert call("PUT", f"/{p}/assignments/hw/source", json={"files": source}).status_code == 200
    r = call("POST", f"/{p}/assignments/hw/release")
    assert r.status_code == 200 and r.json()["files"] == ["data.txt", "fib.ipynb"], r.text
    r = hub.request("GET", f"/courses/{p}/assignments/hw/fetch", token=hub.user_token(student),
                    base=hub.service)
    assert r.status_code == 200 and "6765" not in r.json()["files"]["fib.ipynb"]


def test_instructor_gets_activation_links_of_own_students_only(hub, course):
    from tests.hubclient import use_link

    teacher = course["tokens"]["teacher"]
    # the roster created the students' accounts: nobody can log in before activation
    r = hub.activation_link(course["s3"], token=teacher)
    assert r.status_code == 201, r.text
    assert r.json()["user"] == course["s3"] and "/hub/activate?token=" in r.json()["url"]
    outsider = "o" + uuid.uuid4().hex[:8]
    hub.create_user(outsider)
    other = "x" + uuid.uuid4().hex[:6]  # a pending account enrolled elsewhere
    hub.create_user(other)
    for name in (outsider, other, course["teacher"], "admin", "nobody-" + outsider):
        r = hub.activation_link(name, token=teacher)
        assert r.status_code == 403, (name, r.text)
    # a student may not get a classmate's link
    assert hub.activation_link(course["s2"], token=course["tokens"]["s1"]).status_code == 403
    # once the student has activated, the instructor cannot reset it
    url = hub.activation_link(course["s3"], token=teacher).json()["url"]
    assert use_link(url, "my own password").status_code == 200
    assert hub.activation_link(course["s3"], token=teacher).status_code == 403
    session = hub.login(course["s3"], "my own password")
    assert session.get(f"{hub.url}/hub/home", timeout=30).status_code == 200


def test_reapply_revokes_a_dropped_dataset(hub, tmp_path):
    from tests.integration.test_datasets import declare, make_source, mount

    p = "r" + uuid.uuid4().hex[:6]
    ds = declare(hub, make_source(hub, {"x.txt": "x"}), access=["nobody-" + p])
    path = tmp_path / "course.yaml"
    text = f"kind: Course\nid: {p}\ninstructors: [{p}t]\nstudents: [{p}s]\ndatasets: [{ds}]\n"
    path.write_text(text)
    r = cli(hub, "apply", "-f", str(path))
    assert r.returncode == 0, r.stderr
    token = hub.user_token(f"{p}s")
    assert mount(hub, token, ds).status_code == 200
    assert (hub.state_dir / "mounts" / f"{p}s" / ds / "x.txt").read_text() == "x"
    path.write_text(text.replace(f"datasets: [{ds}]", "datasets: []"))
    r = cli(hub, "apply", "-f", str(path))
    assert r.returncode == 0, r.stderr
    assert hub.request("GET", f"/datasets/{ds}", base=hub.service).json()["grants"] == []
    assert not (hub.state_dir / "mounts" / f"{p}s" / ds).exists()  # the live mount went
    r = mount(hub, token, ds)
    assert r.status_code == 403, r.text


def test_cli_course_commands(hub, course):
    r = cli(hub, "course", "grades", course["cid"], "--csv")
    assert r.returncode == 0, r.stderr
    csv_text = api(hub, course, "teacher", "GET", "/grades", params={"format": "csv"}).text
    assert r.stdout == csv_text.replace("\r\n", "\n")  # text mode reads CRLF as LF
    r = cli(hub, "course", "list")
    assert r.returncode == 0 and course["cid"] in r.stdout and "ps1, ps2" in r.stdout
    r = cli(hub, "course", "release", course["cid"], "nope")
    assert r.returncode == 1 and "No assignment nope" in r.stderr


def test_reapply_follows_the_roster(hub, course):
    path = course["folder"] / "course.yaml"
    original = path.read_text()
    s4 = course["cid"] + "s4"
    path.write_text(original.replace(f", {course['s3']}]", f", {s4}]"))
    r = cli(hub, "apply", "-f", str(path))
    assert r.returncode == 0, r.stderr
    group = hub.request("GET", f"/groups/course-{course['cid']}-students").json()
    assert sorted(group["users"]) == [course["s1"], course["s2"], s4]
    assert hub.request("GET", f"/users/{s4}").status_code == 200  # created from the roster
    path.write_text(original.replace("npus_per_student: 1", "npus_per_student: lots"))
    r = cli(hub, "apply", "-f", str(path))
    assert r.returncode != 0 and "npus_per_student: input should be a valid integer" in r.stderr


def test_members_see_their_own_usage_and_the_total_only(hub, course):
    from npuhub.hub.platform import platform_for

    ledger = platform_for(f"sqlite:///{hub.state_dir / 'npuhub.sqlite'}").ledger
    account = f"course-{course['cid']}-students"
    held = [ledger.allocate(user=course[s], groups=[account], account=account, kind="job",
                            holder=f"usage-{s}", npus=1) for s in ("s1", "s2")]
    time.sleep(0.5)
    for g in held:
        ledger.release(g.allocation_id)

    def usage(who):
        r = hub.request("GET", "/usage", token=course["tokens"][who], base=hub.service,
                        params={"account": account})
        assert r.status_code == 200, r.text
        return r.json()

    mine = usage("s1")
    assert list(mine["by_user"]) == [course["s1"]] and course["s2"] not in str(mine)
    assert mine["npu_hours"] > mine["by_user"][course["s1"]] * 1.5  # the total: both
    teacher = usage("teacher")
    assert {course["s1"], course["s2"]} <= set(teacher["by_user"])
    admin = hub.request("GET", "/usage", base=hub.service, params={"account": account}).json()
    assert {course["s1"], course["s2"]} <= set(admin["by_user"])


def test_manual_grading_late_policy_and_extension(hub, tmp_path):
    """A course in Shanghai time with a late policy: two students submit a year late, one
    has an extension; an instructor grades the answers by hand over REST; the student's
    feedback shows the points, the comment and the penalty, in English and Chinese."""
    p = "m" + uuid.uuid4().hex[:6]
    teacher, s1, s2 = f"{p}t", f"{p}s1", f"{p}s2"
    body = {"id": p, "instructors": [teacher], "students": [s1, s2],
            "timezone": "Asia/Shanghai",
            "late_policy": {"penalty_per_day": "10%", "max_penalty": "50%"},
            "assignments": [{"name": "hw", "release": "2020-01-01T00:00",
                             "due": "2025-01-01T08:00"}]}
    r = hub.request("POST", "/courses", base=hub.service, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["timezone"] == "Asia/Shanghai"
    tokens = {who: hub.user_token(who) for who in (teacher, s1, s2)}
    mine = hub.request("GET", "/courses", token=tokens[s1], base=hub.service).json()
    assert mine[0]["assignments"][0]["due"] == "2025-01-01T00:00:00+00:00"  # 08:00 at UTC+8

    def call(who, method, path, **kw):
        return requests.request(method, f"{hub.service}/courses/{p}/assignments/hw{path}",
                                headers={"Authorization": f"token {tokens[who]}", **kw.pop(
                                    "headers", {})}, timeout=300, **kw)

    source = {"problems.ipynb": (FIXTURE / "ps1" / "problems.ipynb").read_text()}
    assert call(teacher, "PUT", "/source", json={"files": source}).status_code == 200
    assert call(teacher, "POST", "/release").status_code == 200
    text = call(s1, "GET", "/fetch").json()["files"]["problems.ipynb"]
    submitted = {}
    for who in (s1, s2):
        r = call(who, "POST", "/submit", json={"files": {"problems.ipynb": fill(text, **ANSWERS)}})
        assert r.status_code == 200 and r.json()["late"] is True, r.text
        submitted[who] = r.json()["submitted_at"]
    # s1's own due date: the moment of the submission (so it is on time, and past)
    r = call(teacher, "PUT", f"/extensions/{s1}", json={"due": submitted[s1]})
    assert r.status_code == 200 and r.json()["due"] == submitted[s1], r.text
    assert call(s1, "PUT", f"/extensions/{s1}", json={"due": None}).status_code == 403
    assert call(teacher, "POST", "/collect").json() == {"submissions": 2}
    r = call(teacher, "POST", "/autograde")
    assert r.status_code == 200 and r.json()["state"] == "done", r.text
    assert all(x["needs_manual_grading"] for x in r.json()["results"])

    # the instructor sees the answers graded by hand, and grades them
    assert call(s2, "GET", f"/submissions/{s2}/grades").status_code == 403
    sheet = call(teacher, "GET", f"/submissions/{s2}/grades").json()
    cells = {c["grade_id"]: c for c in sheet["notebooks"][0]["cells"]}
    assert sorted(cells) == ["answer", "explain"]
    assert cells["explain"]["answer"] == ANSWERS["explain"]
    assert (sheet["auto_score"], sheet["needs_manual_grading"]) == (5, True)
    grades = [{"notebook": "problems.ipynb", "grade_id": "explain", "points": 5}]
    r = call(teacher, "PUT", f"/submissions/{s2}/grades", json={"grades": grades})
    assert r.status_code == 400 and r.json()["error"] == "points_above_max", r.text
    grades = [{"notebook": "problems.ipynb", "grade_id": "explain", "points": 1,
               "comment": "Clear and short."},
              {"notebook": "problems.ipynb", "grade_id": "answer", "points": 1}]
    r = call(teacher, "PUT", f"/submissions/{s2}/grades", json={"grades": grades})
    assert r.status_code == 200, r.text
    assert (r.json()["score"], r.json()["raw_score"], r.json()["late"]["percent"]) == (
        3.5, 7, 50)
    assert r.json()["needs_manual_grading"] is False

    rows = {g["student"]: g for g in requests.get(
        f"{hub.service}/courses/{p}/grades", timeout=60,
        headers={"Authorization": f"token {tokens[teacher]}"}).json()}
    assert (rows[s2]["score"], rows[s2]["late"], rows[s2]["late_penalty"]) == (3.5, True, 50)
    assert (rows[s1]["score"], rows[s1]["late"], rows[s1]["late_penalty"]) == (5, False, 0)

    page = call(s2, "GET", "/feedback").json()["files"]["problems.html"]
    assert "Score: 3.5 / 7" in page and "1 / 1 points, graded by hand" in page
    assert "comment: Clear and short." in page and "50% taken from 7 points" in page
    zh = call(s2, "GET", "/feedback", headers={"Accept-Language": "zh-CN"}).json()
    assert "得分：3.5 / 7" in zh["files"]["problems.html"]
    assert "评语：Clear and short." in zh["files"]["problems.html"]
    page = call(s1, "GET", "/feedback").json()["files"]["problems.html"]
    summary = page.split('<section class="npuhub-feedback"')[1].split("</section>")[0]
    assert "Score: 5 / 7" in summary and "late" not in summary
    spec = requests.get(f"{hub.service}/openapi.json", timeout=30).json()
    assert "put" in spec["paths"]["/courses/{cid}/assignments/{name}/submissions/{student}/grades"]

    # the same course as nbgrader's course folder and gradebook
    from nbgrader.api import Gradebook

    out = tmp_path / "nbgrader"
    r = cli(hub, "course", "export", p, "hw", str(out))
    assert r.returncode == 0, r.stderr
    assert "2 students, 1 assignments, 2 submissions" in r.stdout
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", course_id=p) as gb:
        assert [s.id for s in gb.students] == [s1, s2]
        sub = gb.find_submission("hw", s2)
        assert (sub.score, sub.max_score, sub.late_submission_penalty) == (7, 7, 3.5)
        assert gb.find_comment("explain", "problems", "hw", s2).comment == "Clear and short."
        assert gb.find_submission("hw", s1).score == 5
    assert (out / "feedback" / s2 / "hw" / "problems.html").is_file()


def test_submissions_stop_at_the_configured_most(hub, course):
    """The test hub allows 4 attempts per student and assignment: the 5th is refused with a
    sentence in the student's language."""
    fetched = api(hub, course, "s2", "GET", "/assignments/ps1/fetch").json()["files"]
    body = {"files": {"problems.ipynb": fetched["problems.ipynb"]}}
    url = f"{hub.service}/courses/{course['cid']}/assignments/ps1/submit"
    headers = {"Authorization": f"token {course['tokens']['s2']}", "Accept-Language": "zh-CN"}
    attempts = []
    for _ in range(5):
        r = requests.post(url, json=body, headers=headers, timeout=60)
        if r.status_code != 200:
            break
        attempts.append(r.json()["attempt"])
    assert attempts and attempts[-1] == 4, attempts
    assert r.status_code == 429 and r.json()["error"] == "too_many_attempts", r.text
    assert r.json()["message"] == "你已提交作业 ps1 4 次，已达到每位学生的上限"

