"""Courses: fetch and submit assignments, read feedback; for instructors, release,
collect, autograde and grades.

    from npuhub.extensions import courses
    courses.list()                          # your courses with their assignments
    path = courses.fetch("ai101", "hw1")    # ~/courses/ai101/hw1/ (never overwrites)
    courses.submit("ai101", "hw1")
    courses.feedback("ai101", "hw1")        # ~/courses/ai101/hw1/feedback/
"""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Callable
from pathlib import Path

from . import client, filecodec
from .client import NPUHubError
from .util import check_name, home, human_size, safe_join

MAX_SUBMISSION_BYTES = 20 * 1024 * 1024
SKIP_DIRS = frozenset({"feedback", ".ipynb_checkpoints", "__pycache__"})


class FetchedPath(str):
    """The assignment folder (a str), with `.written` and `.skipped` file lists: files
    you already had are never overwritten, they are listed in `.skipped`."""

    written: builtins.list[str]
    skipped: builtins.list[str]


def _assignment(course: str, assignment: str, *rest: str) -> str:
    c, a = check_name(course, "course id"), check_name(assignment, "assignment name")
    return client.path("courses", c, "assignments", a, *rest)


def assignment_dir(course: str, assignment: str) -> Path:
    """`~/courses/{course}/{assignment}`."""
    c, a = check_name(course, "course id"), check_name(assignment, "assignment name")
    return home() / "courses" / c / a


def _checked_files(files: object, root: Path) -> dict[Path, str]:
    """Validate every name before writing anything: a bad name refuses the whole set."""
    if not isinstance(files, dict):
        raise NPUHubError("the npuhub service sent an unexpected file list")
    out = {}
    for rel, text in files.items():
        if not isinstance(text, str):
            raise NPUHubError(f"the npuhub service sent no text for {rel!r}")
        out[safe_join(root, rel)] = text
    return out


def write_new_files(files: dict, root: Path) -> tuple[builtins.list[str], builtins.list[str]]:
    """Write `files` ({relative name: text}) under `root`, leaving every existing file (or
    symlink) as it is. Returns (written, skipped) relative names."""
    checked = _checked_files(files, root)
    written, skipped = [], []
    for target, text in checked.items():
        rel = target.relative_to(os.path.realpath(root)).as_posix()
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = filecodec.decode(text)
        except ValueError as e:
            raise NPUHubError(f"the npuhub service sent {rel}: {e}") from None
        try:
            with open(target, "xb") as f:  # "x": never overwrite
                f.write(data)
        except FileExistsError:
            skipped.append(rel)
            continue
        written.append(rel)
    return written, skipped


def read_files(folder: str | os.PathLike, limit: int | None = None) -> dict[str, str]:
    """The files under `folder` ({relative name: text}, data files such as pictures
    base64-encoded, see filecodec), without `feedback/`, checkpoints, hidden files and
    symlinks; NPUHubError past `limit` bytes in all (default `MAX_SUBMISSION_BYTES`)."""
    limit = MAX_SUBMISSION_BYTES if limit is None else limit
    root = Path(folder)
    if not root.is_dir():
        raise NPUHubError(f"{root}: no such folder")
    files: dict[str, str] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not d.startswith(".")
            and not os.path.islink(os.path.join(dirpath, d))
        )  # fmt: skip
        for fn in sorted(filenames):
            p = Path(dirpath, fn)
            if fn.startswith(".") or p.is_symlink() or not p.is_file():
                continue
            total += p.stat().st_size
            if total > limit:
                raise NPUHubError(
                    f"{root} holds more than {human_size(limit)}, the most a "
                    "submission may hold: move data files or checkpoints out of it"
                )
            files[p.relative_to(root).as_posix()] = filecodec.encode(p.read_bytes())
    return files


def list() -> builtins.list[dict]:  # noqa: A001 - the public name DESIGN.md gives
    """Your courses, each with your `role` and its `assignments` and their state."""
    return client.request("GET", "/courses") or []


def fetch(course: str, assignment: str) -> FetchedPath:
    """Write the released assignment into `~/courses/{course}/{assignment}/` and return
    that path; a file you already have is left as it is (see `.skipped`)."""
    root = assignment_dir(course, assignment)
    r = client.request("GET", _assignment(course, assignment, "fetch")) or {}
    root.mkdir(parents=True, exist_ok=True)
    written, skipped = write_new_files(r.get("files") or {}, root)
    out = FetchedPath(str(root) + os.sep)
    out.written, out.skipped = written, skipped
    return out


def submit(course: str, assignment: str) -> dict:
    """Send the files of `~/courses/{course}/{assignment}/` (not `feedback/`); returns
    `{submitted_at, late, attempt}`."""
    root = assignment_dir(course, assignment)
    if not root.is_dir():
        raise NPUHubError(f"nothing to submit: {root} does not exist (fetch the assignment)")
    files = read_files(root)
    if not files:
        raise NPUHubError(f"nothing to submit: {root} holds no files")
    return client.request("POST", _assignment(course, assignment, "submit"), json={"files": files})


def feedback(course: str, assignment: str) -> str:
    """Write your feedback into `~/courses/{course}/{assignment}/feedback/` (replacing an
    older feedback) and return that path."""
    root = assignment_dir(course, assignment) / "feedback"
    r = client.request("GET", _assignment(course, assignment, "feedback")) or {}
    checked = _checked_files(r.get("files") or {}, root)
    for target, text in checked.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.write_text(text, encoding="utf-8")
    return str(root) + os.sep


# --- instructors -------------------------------------------------------------------


def create(course: dict) -> dict:
    """Create (or update) a course from its description, as in a course file."""
    if not isinstance(course, dict) or "id" not in course:
        raise NPUHubError("a course is a dict with at least an 'id'")
    check_name(course["id"], "course id")
    return client.request("POST", "/courses", json=course)


def upload_source(course: str, assignment: str, folder: str | os.PathLike) -> dict:
    """Upload the source version of an assignment (with solutions and hidden tests) from
    `folder` (relative to your home, or absolute)."""
    root = Path(os.path.expanduser(os.fspath(folder)))
    root = root if root.is_absolute() else home() / root
    files = read_files(root)
    if not files:
        raise NPUHubError(f"{root} holds no files to upload")
    resource = _assignment(course, assignment, "source")
    return client.request("PUT", resource, json={"files": files})


def release(course: str, assignment: str) -> dict:
    """Generate the student version and make it fetchable; `{released_at, files}`."""
    return client.request("POST", _assignment(course, assignment, "release"))


def return_feedback(course: str, assignment: str) -> dict:
    """Return the feedback to students now, whatever the course's feedback policy;
    `{assignment, returned_at, returned_by, students}` (students graded)."""
    return client.request("POST", _assignment(course, assignment, "return"))


def collect(course: str, assignment: str) -> dict:
    """Collect the latest submissions; `{submissions: N}`."""
    return client.request("POST", _assignment(course, assignment, "collect"))


def autograde(
    course: str,
    assignment: str,
    wait: bool = True,
    progress: Callable[[dict], None] | None = None,
    poll: float = 1.0,
) -> dict:
    """Grade the collected submissions in the background. Returns the run's state
    `{state, total, done, graded, results: [...]}`: when it is over with `wait` (the
    default; `progress(state)` is called on each change), at once without."""
    resource = _assignment(course, assignment, "autograde")
    state = client.request("POST", resource, params={"wait": 0})
    seen = None
    while wait and state.get("state") == "running":
        if progress and state.get("done") != seen:
            seen = state.get("done")
            progress(state)
        time.sleep(poll)
        state = client.request("GET", resource)
    if state.get("state") == "failed":
        raise NPUHubError(state.get("error") or "autograding failed")
    if progress:
        progress(state)
    return state


def grades(course: str) -> builtins.list[dict]:
    """`[{student, assignment, score, max_score, submitted_at, late}]`."""
    resource = client.path("courses", check_name(course, "course id"), "grades")
    return client.request("GET", resource) or []


def grades_csv(course: str, path: str | os.PathLike | None = None) -> str:
    """The grades as CSV text; with `path` (relative to home), also written there."""
    resource = client.path("courses", check_name(course, "course id"), "grades")
    text = client.request("GET", resource, params={"format": "csv"}, text=True)
    if path is not None:
        p = Path(os.path.expanduser(os.fspath(path)))
        p = p if p.is_absolute() else home() / p
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return text


def submission_grades(course: str, assignment: str, student: str) -> dict:
    """A student's latest graded submission, for grading by hand: `{score, max_score,
    auto_score, manual_score, late, needs_manual_grading, notebooks: [{notebook, cells:
    [{grade_id, max_points, answer, solution, mark_scheme, points, comment}]}]}`."""
    s = check_name(student, "student")
    return client.request("GET", _assignment(course, assignment, "submissions", s, "grades"))


def grade(course: str, assignment: str, student: str, grades: builtins.list[dict]) -> dict:
    """Give points (0 to the cell's) and comments by hand:
    `grades=[{"notebook": "ps1.ipynb", "grade_id": "explain", "points": 2, "comment": …}]`;
    returns the submission's grades as `submission_grades`."""
    s = check_name(student, "student")
    return client.request("PUT", _assignment(course, assignment, "submissions", s, "grades"),
                          json={"grades": grades})


def extend(course: str, assignment: str, student: str, due: str | None) -> dict:
    """Give `student` their own due date (ISO time; without offset in the course's time
    zone); `None` takes it back."""
    s = check_name(student, "student")
    return client.request("PUT", _assignment(course, assignment, "extensions", s),
                          json={"due": due})
