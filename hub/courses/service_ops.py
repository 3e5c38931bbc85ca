"""The assignment cycle on file sets ({relative path: text}), shared by the service and
the CLI: check uploaded files, release, grade one submission in its own container.

Only `grade_files` does I/O (a temporary folder and Docker, through
`grader.grade_in_container`); it blocks, so callers on an event loop use an executor.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import nbformat

from npuhub.extensions import filecodec

from . import assignment, feedback, grader, grading
from .course_file import CourseError

PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ +-]{0,127}$")
TEXT_SUFFIXES = frozenset({".ipynb", ".py", ".txt", ".md", ".csv", ".tsv", ".json", ".yaml",
                           ".yml", ".r", ".jl", ".sh", ".cfg", ".ini", ".toml"})
# data files, sent base64-encoded (filecodec); a text file in another encoding is too
BINARY_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif",
                             ".tiff", ".svg", ".pdf", ".npy", ".npz", ".h5", ".hdf5",
                             ".parquet", ".wav", ".mp3", ".zip", ".gz"})
MAX_FILES = 100
MAX_DEPTH = 4
MAX_TOTAL = 20 * 1024 * 1024      # as the in-container client (MAX_SUBMISSION_BYTES)
MAX_NOTEBOOK = 10 * 1024 * 1024
MAX_TEXT = 1024 * 1024
log = logging.getLogger(__name__)


def check_path(rel) -> str:
    """A relative path of plain parts (no '..', no hidden files, no backslash)."""
    parts = rel.split("/") if isinstance(rel, str) else []
    if not parts or len(parts) > MAX_DEPTH or not all(PART.match(p) for p in parts):
        raise CourseError(f"file name {str(rel)[:100]!r} is not allowed: use letters, digits "
                          f"and . _ - + in at most {MAX_DEPTH} folder levels, no hidden files")
    if PurePosixPath(rel).suffix.lower() not in TEXT_SUFFIXES | BINARY_SUFFIXES:
        raise CourseError(f"{rel}: only notebooks, text files "
                          f"({', '.join(sorted(TEXT_SUFFIXES))}) and data files "
                          f"({', '.join(sorted(BINARY_SUFFIXES))}) can be sent")
    return rel


def _size(rel: str, text: str) -> int:
    """The file's size in bytes; CourseError if binary content is broken."""
    if not filecodec.is_binary(text):
        return len(text.encode("utf-8", "surrogatepass"))
    if rel.endswith(".ipynb"):
        raise CourseError(f"{rel} is not a valid Jupyter notebook (nbformat 4)")
    try:
        return len(filecodec.decode(text))
    except ValueError as e:
        raise CourseError(f"{rel}: {e}") from None


def check_files(files, *, source: bool = False) -> dict[str, str]:
    """Validate an uploaded file set; notebooks must be nbformat 4 (and, for a source,
    gradable nbgrader metadata). CourseError(400/413) names the file."""
    if not isinstance(files, dict) or not files:
        raise CourseError('send {"files": {"name.ipynb": "<notebook text>", ...}}')
    if len(files) > MAX_FILES:
        raise CourseError(f"{len(files)} files: at most {MAX_FILES}", 413)
    total, out = 0, {}
    for rel, text in files.items():
        rel = check_path(rel)
        if not isinstance(text, str):
            raise CourseError(f"{rel}: the content must be text (or base64 for data files)")
        size = _size(rel, text)
        total += size
        big = rel.endswith(".ipynb") or filecodec.is_binary(text)
        limit = MAX_NOTEBOOK if big else MAX_TEXT
        if size > limit or total > MAX_TOTAL:
            raise CourseError(f"{rel}: too large (at most {limit // 1024 // 1024} MiB a file, "
                              f"{MAX_TOTAL // 1024 // 1024} MiB in all)", 413)
        if rel.endswith(".ipynb"):
            nb = read_notebook(rel, text)
            if source:
                try:
                    assignment.check_source(nb)
                except ValueError as e:
                    raise CourseError(f"{rel}: {e}") from None
        out[rel] = text
    return out


def read_notebook(rel: str, text: str):
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception:  # any parse or schema error: not a notebook we can grade
        raise CourseError(f"{rel} is not a valid Jupyter notebook (nbformat 4)") from None
    return nb


def release_files(source: dict[str, str]) -> tuple[dict[str, str], dict[str, dict]]:
    """The student version of an assignment's files and {notebook: {grade_id: checksum}}."""
    if not any(rel.endswith(".ipynb") for rel in source):
        raise CourseError("the assignment has no source notebook: upload its sources first",
                          409)
    released, checksums = {}, {}
    for rel, text in sorted(source.items()):
        if rel.endswith(".ipynb"):
            try:
                student, sums = assignment.release(read_notebook(rel, text))
            except ValueError as e:
                raise CourseError(f"{rel}: {e}") from None
            released[rel] = nbformat.writes(student)
            checksums[rel] = sums
        else:
            released[rel] = text
    return released, checksums


def _submitted(rel: str, files: dict, released: dict):
    text = files.get(rel)
    if text is not None:
        try:
            return read_notebook(rel, text)
        except CourseError:
            pass  # graded as the unanswered student version
    return nbformat.reads(released[rel], as_version=4)


def grade_files(files: dict[str, str], source: dict[str, str], released: dict[str, str],
                checksums: dict[str, dict], *, image: str, autograde: dict,
                labels: dict | None = None, docker=None, deployment: str | None = None) -> dict:
    """Grade one submission: each source notebook restored from the source and run in its
    own container (course image, no network, limits); the student's extra files are not
    used, the released data files are. `deployment` (the container prefix): the grading
    containers are named DEPLOYMENT-autograde-… and labelled with it, so only this
    deployment's stale ones are ever removed. Returns {score, max_score, result, feedback}."""
    if deployment:
        labels = {**(labels or {}), grader.DEPLOYMENT_LABEL: deployment}
    notebooks: dict[str, dict] = {}
    pages: dict[str, str] = {}
    executed_nbs: dict[str, str] = {}
    work = Path(tempfile.mkdtemp(prefix="npuhub-course-"))
    try:
        data = work / "files"
        data.mkdir()
        for rel, text in released.items():
            if not rel.endswith(".ipynb"):
                (data / rel).parent.mkdir(parents=True, exist_ok=True)
                (data / rel).write_bytes(filecodec.decode(text))
        for i, rel in enumerate(sorted(r for r in source if r.endswith(".ipynb"))):
            submitted = _submitted(rel, files, released)
            src = nbformat.reads(source[rel], as_version=4)
            prepared_path = work / f"{i}-prepared.ipynb"
            nbformat.write(grading.prepare_for_grading(submitted, src), str(prepared_path))
            executed = grader.grade_in_container(
                prepared_path, work / f"{i}-graded.ipynb", image=image,
                timeout=int(autograde["timeout"]), memory=autograde["memory"],
                cpus=float(autograde["cpus"]), files_dir=data, labels=labels, docker=docker,
                **({"name_prefix": f"{deployment}-autograde-"} if deployment else {}))
            result = grading.score(executed)
            sums = checksums.get(rel, {})
            if any(len(str(v)) != 32 for v in sums.values()):  # released before npuhub
                sums = assignment.release(src)[1]              # used nbgrader's checksums
            result["tampered"] = grading.tampered(submitted, sums)
            result["submitted"] = rel in files
            notebooks[rel] = result
            executed_nbs[rel] = nbformat.writes(executed)
            pages[feedback_page_name(rel)] = feedback.feedback_html(executed, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "score": sum(r["score"] for r in notebooks.values()),
        "max_score": sum(r["max_score"] for r in notebooks.values()),
        "result": {"notebooks": notebooks,
                   "status": next((r["status"] for r in notebooks.values()
                                   if r["status"] != "ok"), "ok"),
                   "needs_review": any(r["needs_review"] for r in notebooks.values())},
        "feedback": pages,
        "executed": executed_nbs,
    }


def feedback_page_name(rel: str) -> str:
    return PurePosixPath(rel).with_suffix(".html").as_posix()


def feedback_pages(store, cid: str, name: str, user: str, lang: str = "en") -> dict[str, str]:
    """The student's feedback pages ({name.html: HTML}) in `lang`, rendered from the
    executed notebooks with the grade as it stands (grades by hand, late penalty); a
    submission graded before the notebooks were kept has its pages as stored."""
    found = store.feedback(cid, name, user)
    executed, grade = found["executed"], found["grade"]
    if not executed:
        return found["feedback"]
    pages = {}
    for rel, text in sorted(executed.items()):
        result = grade["notebooks"].get(rel)
        if result is None:
            continue
        nb = nbformat.reads(text, as_version=4)
        pages[feedback_page_name(rel)] = feedback.feedback_html(nb, result, lang, grade)
    return pages


def release_assignment(store, cid: str, name: str, by: str = "cli", *,
                       only_once: bool = False) -> dict | None:
    """Release an assignment from its stored sources: {released_at, released_by, files}.
    The schedule of `release` times calls it too, `only_once` (None: released already)."""
    src = store.source(cid, name)
    if only_once and src["released_at"] is not None:
        return None
    released, checksums = release_files(src["source"])
    return store.set_released(cid, name, released, checksums, by, only_once=only_once)


def grade_one(store, course: dict, src: dict, sub: dict, by: str = "cli",
              deployment: str | None = None) -> dict:
    """Grade one collected submission and store its score and feedback (blocking). A
    grader that cannot run (Docker down, image missing) fails this one, not the batch."""
    from docker.errors import DockerException

    try:
        graded = grade_files(
            sub["files"], src["source"], src["released"], src["checksums"],
            image=course["image"], autograde=course["autograde"],
            labels={"org.npuhub.course": course["id"], "org.npuhub.grader": by},
            deployment=deployment)
    except (DockerException, OSError) as e:
        log.error("autograde %s/%s of %s failed: %s", course["id"], sub["id"], sub["user"], e)
        return {"student": sub["user"], "attempt": sub["attempt"], "score": None,
                "max_score": None, "status": "error", "tampered": [], "needs_review": False,
                "review": [], "error": f"the grader could not run: {e}"[:500]}
    grade = store.save_grade(sub["id"], graded) or graded
    notebooks = graded["result"]["notebooks"]
    return {"student": sub["user"], "attempt": sub["attempt"], "score": grade["score"],
            "max_score": grade["max_score"], "status": graded["result"]["status"],
            "tampered": sorted({g for r in notebooks.values() for g in r["tampered"]}),
            "needs_review": graded["result"]["needs_review"],
            "needs_manual_grading": bool(grade.get("needs_manual_grading")),
            "review": [{"notebook": rel, "grade_id": c["grade_id"], "reason": c["review"]}
                       for rel, r in notebooks.items() for c in r["cells"] if c["review"]]}


def autograde_assignment(store, cid: str, name: str, workers: int = 2,
                         deployment: str | None = None) -> list[dict]:
    """Grade every collected submission, `workers` containers at a time (blocking)."""
    from concurrent.futures import ThreadPoolExecutor

    course, src = store.get(cid), store.source(cid, name)
    if src["released_at"] is None:
        raise CourseError("not_released", 409, assignment=name)
    subs = store.collected(cid, name)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(
            lambda sub: grade_one(store, course, src, sub, deployment=deployment), subs))
