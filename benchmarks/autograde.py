"""Autograding a class: how long the instructor's request is held, when the first grade
and the last are known, and submissions graded per minute, for the previous synchronous
autograde (one POST that answers when every submission is graded: `?wait=600`, the
longest it may wait, is exactly that behaviour) beside the background run (`?wait=0`,
answered at once, then followed with GET).

One real `npuhub up`, one course of N students (tests/data/course/ps1, answers left
blank; every notebook still runs, in its own isolated grading container, two at a time):
each student fetches and submits, the instructor collects, then grades twice, once each
way, the same submissions.

    .venv/bin/python benchmarks/autograde.py [--students 10 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import new_hub, remove_prefixed  # noqa: E402
from tests.hubclient import Hub  # noqa: E402

COURSE = """kind: Course
id: {cid}
title: Benchmark course
instructors: [{cid}t]
students: [{students}]
image: npuhub/base:latest
autograde: {{timeout: 30, memory: 512m}}
assignments:
  - {{name: ps1, source: ps1, release: "2020-01-01T00:00:00Z", due: "2099-01-01T00:00:00Z"}}
"""


def setup_class(hub: Hub, n: int, work: Path) -> tuple[str, str]:
    """A course of `n` students who have all submitted ps1; (assignment URL, token)."""
    cid = "b" + uuid.uuid4().hex[:6]
    students = [f"{cid}s{i}" for i in range(n)]
    shutil.copytree(REPO / "tests/data/course/ps1", work / cid / "ps1")
    (work / cid / "course.yaml").write_text(COURSE.format(cid=cid, students=", ".join(students)))
    env = dict(os.environ, NPUHUB_STATE_DIR=str(hub.state_dir), NPUHUB_PORT=str(hub.port))
    r = subprocess.run(
        [sys.executable, "-m", "npuhub.hub.cli", "--config", str(hub.config_file),
         "--state-dir", str(hub.state_dir), "apply", "-f", str(work / cid / "course.yaml")],
        env=env, capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    base = f"{hub.service}/courses/{cid}/assignments/ps1"
    teacher = {"Authorization": f"token {hub.user_token(cid + 't')}"}
    requests.post(f"{base}/release", headers=teacher, json={}, timeout=60).raise_for_status()
    for s in students:
        auth = {"Authorization": f"token {hub.user_token(s)}"}
        files = requests.get(f"{base}/fetch", headers=auth, timeout=60).json()["files"]
        nb = {k: v for k, v in files.items() if k.endswith(".ipynb")}
        requests.post(f"{base}/submit", headers=auth, json={"files": nb}, timeout=60)
    collected = requests.post(f"{base}/collect", headers=teacher, json={}, timeout=60).json()
    assert collected["submissions"] == n, collected
    return base, teacher["Authorization"]


def grade(base: str, auth: str, wait: int) -> dict:
    headers = {"Authorization": auth}
    t0 = time.monotonic()
    r = requests.post(f"{base}/autograde?wait={wait}", headers=headers, timeout=wait + 60)
    held = time.monotonic() - t0
    state, first = r.json(), None
    if state["done"]:
        first = held
    while state["state"] == "running":
        time.sleep(0.25)
        state = requests.get(f"{base}/autograde", headers=headers, timeout=60).json()
        if first is None and state["done"]:
            first = time.monotonic() - t0
    total = time.monotonic() - t0
    assert state["state"] == "done", state
    return {"held": held, "first": first, "total": total, "n": state["done"],
            "graded": state["graded"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, nargs="+", default=[10, 40])
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="npuhubbench-"))
    hub = new_hub(root)
    hub.start()
    rows = []
    try:
        for n in args.students:
            base, auth = setup_class(hub, n, root)
            for label, wait in (("synchronous (before)", 600), ("background", 0)):
                m = grade(base, auth, wait)
                rows.append((label, n, m))
                print(f"  {label}, {n} students: {m}", flush=True)
    finally:
        hub.stop()
        remove_prefixed(hub.prefix)
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"{'autograde':22} {'students':>8} {'request held s':>15} {'first grade s':>14} "
          f"{'all graded s':>13} {'per min':>8}")
    for label, n, m in rows:
        print(f"{label:22} {n:>8} {m['held']:>15.2f} {m['first']:>14.2f} {m['total']:>13.2f} "
              f"{60 * m['n'] / m['total']:>8.1f}")


if __name__ == "__main__":
    main()
