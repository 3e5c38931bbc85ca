"""`npuhub course export COURSE [ASSIGNMENT] DIR`: a course as nbgrader's own course
folder, so that an instructor can open nbgrader (formgrader, `nbgrader export`) on it.

    DIR/nbgrader_config.py                     c.CourseDirectory.course_id
    DIR/gradebook.db                           written with nbgrader.api.Gradebook
    DIR/source/ASSIGNMENT/…                    the instructor's version
    DIR/release/ASSIGNMENT/…                   the student version
    DIR/submitted/STUDENT/ASSIGNMENT/…         the submission (+ timestamp.txt)
    DIR/autograded/STUDENT/ASSIGNMENT/…        the notebooks as the grader executed them
    DIR/feedback/STUDENT/ASSIGNMENT/NB.html    the feedback page

The gradebook holds the students, the assignments (due date), their notebooks and cells
(grade, solution, task and locked source cells with nbgrader's checksums), and each
student's latest graded submission: automatic points as `auto_score`, points given by
hand as `manual_score` (nbgrader's score is the manual one when there is one), comments,
an extension as the submission's `extension` and the late penalty as the notebooks'
`late_submission_penalty` (points). Notebooks in sub-folders are copied but, as in
nbgrader, not in the gradebook. Blocking: the CLI's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import nbformat

from npuhub.extensions import filecodec

from . import feedback
from .assignment import grade_id, is_grade, is_protected, is_solution, is_task, nbgrader, points
from .course_file import CourseError


def _naive(t: datetime | None) -> datetime | None:
    """nbgrader's gradebook keeps naive UTC times."""
    return t.astimezone(UTC).replace(tzinfo=None) if t is not None else None


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        if root.resolve() not in path.resolve().parents:
            raise CourseError(f"file name {rel[:100]!r} is not allowed")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(filecodec.decode(text))


def _top_notebooks(files: dict[str, str]) -> dict[str, str]:
    """{notebook name (stem): relpath} of the notebooks at the assignment's top level."""
    return {PurePosixPath(r).stem: r for r in sorted(files)
            if r.endswith(".ipynb") and "/" not in r}


def _cells(gb, assignment: str, nb_name: str, released_text: str) -> None:
    nb = nbformat.reads(released_text, as_version=4)
    for cell in nb.cells:
        if not nbgrader(cell):
            continue
        gid, kind = grade_id(cell), cell.cell_type
        if is_grade(cell):
            gb.update_or_create_grade_cell(gid, nb_name, assignment, max_score=points(cell),
                                           cell_type=kind)
        if is_task(cell):
            gb.update_or_create_task_cell(gid, nb_name, assignment, max_score=points(cell),
                                          cell_type=kind)
        if is_solution(cell):
            gb.update_or_create_solution_cell(gid, nb_name, assignment)
        gb.update_or_create_source_cell(
            gid, nb_name, assignment, cell_type=kind, locked=is_protected(cell),
            source=cell.source, checksum=nbgrader(cell).get("checksum"))


def _grades(gb, assignment: str, student: str, grade: dict, notebooks: dict) -> None:
    percent = grade["late"]["percent"]
    for nb_name, rel in notebooks.items():
        result = grade["notebooks"].get(rel)
        if result is None:
            continue
        entries = {c["grade_id"]: c for c in result["cells"]}
        sub_nb = gb.find_submission_notebook(nb_name, assignment, student)
        for g in sub_nb.grades:
            e = entries.get(g.cell.name)
            if e is None:
                continue
            waiting = bool(e.get("manual") or e.get("review"))
            g.auto_score = None if waiting else e["auto_points"]
            g.manual_score = e["manual_points"]
            g.needs_manual_grade = waiting and e["manual_points"] is None
        for c in sub_nb.comments:
            e = entries.get(c.cell.name)
            if e is not None and e.get("comment"):
                c.manual_comment = e["comment"]
        sub_nb.late_submission_penalty = round(result["score"] * percent / 100.0, 6)
    gb.db.commit()


def _timestamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def new_gradebook(path: Path) -> str:
    """Create nbgrader's gradebook at `path`, stamped with nbgrader's migration head (as
    `Gradebook` does for a new file, without its `alembic` subprocess, which needs the
    command on PATH); its URL."""
    import nbgrader
    from alembic.script import ScriptDirectory
    from nbgrader.api import Base
    from sqlalchemy import create_engine, text

    head = ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    try:
        Base.metadata.create_all(bind=engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                         {"v": head})
    finally:
        engine.dispose()
    return url


def export_course(data: dict, out_dir) -> dict:
    """Write `data` (CourseStore.export_data) into `out_dir` (new or empty) as nbgrader's
    course folder; {students, assignments, submissions} counted."""
    from nbgrader.api import Gradebook

    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise CourseError(f"{root} is not empty: export into a new or empty folder")
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa\n"
        f"c.CourseDirectory.course_id = {data['id']!r}\n"
        "# run nbgrader in this folder: its gradebook is ./gradebook.db\n", encoding="utf-8")
    count = 0
    with Gradebook(new_gradebook(root / "gradebook.db"), course_id=data["id"]) as gb:
        students = set(data["students"]) | {s["student"] for a in data["assignments"]
                                            for s in a["submissions"]}
        for student in sorted(students):
            gb.update_or_create_student(student)
        for a in data["assignments"]:
            name = a["name"]
            _write(root / "source" / name, a["source"])
            _write(root / "release" / name, a["released"])
            gb.update_or_create_assignment(name, duedate=_naive(a["due"]))
            notebooks = _top_notebooks(a["source"])
            for nb_name, rel in notebooks.items():
                gb.update_or_create_notebook(nb_name, name)
                _cells(gb, name, nb_name, a["released"].get(rel) or a["source"][rel])
            for sub in a["submissions"]:
                who = sub["student"]
                folder = root / "submitted" / who / name
                _write(folder, sub["files"])
                (folder / "timestamp.txt").write_text(_timestamp(sub["submitted_at"]))
                extension = None
                if sub["extension"] is not None and a["due"] is not None:
                    extension = sub["extension"] - a["due"]
                gb.update_or_create_submission(
                    name, who, timestamp=_naive(sub["submitted_at"]),
                    extension=extension if extension and extension.total_seconds() else None)
                count += 1
                grade = sub["grade"]
                if grade is None:
                    continue
                _write(root / "autograded" / who / name, sub["executed"])
                _grades(gb, name, who, grade, notebooks)
                for rel, text in sub["executed"].items():
                    result = grade["notebooks"].get(rel)
                    if result is None:
                        continue
                    page = PurePosixPath(rel).with_suffix(".html").as_posix()
                    path = root / "feedback" / who / name / page
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(feedback.feedback_html(
                        nbformat.reads(text, as_version=4), result, grade=grade),
                        encoding="utf-8")
    return {"students": len(students), "assignments": len(data["assignments"]),
            "submissions": count}
