"""Grading by hand, and the grade that combines it with autograding. Pure: no I/O.

A graded submission's `result` (service_ops.grade_files) lists each notebook's graded
cells with their automatic points; `manual` holds what an instructor gave by hand:
{notebook: {grade_id: {"points": float | None, "comment": str, "by": name}}}. Points given
by hand replace the cell's automatic points (a cell that needs a person, a cell the
autograder flagged for review, or an override); a comment may sit on any graded cell.

    score = automatic points + points by hand, less the late penalty (lateness.py)

`needs_manual_grading` stays true while a cell that needs a person has no points, and
`needs_review` while a flagged cell has none.
"""

from __future__ import annotations

import copy

import nbformat

from . import lateness
from .assignment import grade_id, is_solution, is_task, nbgrader
from .course_file import CourseError

MARK_SCHEME = ("BEGIN MARK SCHEME", "END MARK SCHEME")


def _given(manual: dict, rel: str, gid: str) -> dict:
    entry = (manual or {}).get(rel, {}).get(gid)
    return entry if isinstance(entry, dict) else {}


def combine(result: dict | None, manual: dict | None, late: dict | None = None) -> dict:
    """The grade of a submission: {notebooks: {rel: {cells, score, max_score}}, auto_score,
    manual_score, raw_score, score, max_score, needs_manual_grading, needs_review, late}.
    Each cell gains `auto_points` (the autograder's), `manual_points` and `comment`."""
    late = late or lateness.penalty(None, None, None)
    notebooks, auto, by_hand, needs_manual, needs_review, total = {}, 0.0, 0.0, False, False, 0.0
    for rel, nb in ((result or {}).get("notebooks") or {}).items():
        cells = []
        for c in nb.get("cells", []):
            c = dict(c)
            given = _given(manual, rel, c["grade_id"])
            c["auto_points"] = c.get("points", 0.0)
            c["manual_points"] = given.get("points")
            c["comment"] = given.get("comment") or ""
            if c["manual_points"] is not None:
                c["points"] = float(c["manual_points"])
                by_hand += c["points"]
            else:
                auto += c["auto_points"]
                needs_manual |= bool(c.get("manual"))
                needs_review |= bool(c.get("review"))
            cells.append(c)
        score = sum(c["points"] for c in cells)
        total += nb.get("max_score", 0.0)
        notebooks[rel] = {**nb, "cells": cells, "score": score}
    raw = auto + by_hand
    return {"notebooks": notebooks, "auto_score": auto, "manual_score": by_hand,
            "raw_score": raw, "score": lateness.apply(raw, late), "max_score": total,
            "needs_manual_grading": needs_manual, "needs_review": needs_review,
            "status": (result or {}).get("status", "ok"), "late": late}


def mark_scheme(source: str) -> str | None:
    """The text between the mark scheme's delimiters of a source cell, if it has one."""
    begin, end = MARK_SCHEME
    lines, inside, found = [], False, False
    for line in source.split("\n"):
        if begin in line:
            inside = found = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return "\n".join(lines) if found else None


def _cells(text: str | None) -> dict:
    if not text:
        return {}
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception:  # a submission that is not a notebook: graded as unanswered
        return {}
    return {grade_id(c): c for c in nb.cells if nbgrader(c)}


def review_sheet(combined: dict, source: dict, files: dict, released: dict) -> list[dict]:
    """Per notebook, the cells an instructor grades by hand (those that need a person or
    were flagged, and any already graded by hand), each with the student's answer, the
    source's solution and mark scheme, points and comment."""
    out = []
    for rel, nb in combined["notebooks"].items():
        src, mine = _cells(source.get(rel)), _cells(files.get(rel) or released.get(rel))
        cells = []
        for c in nb["cells"]:
            if not (c.get("manual") or c.get("review") or c["manual_points"] is not None
                    or c["comment"]):
                continue
            s = src.get(c["grade_id"])
            answer = mine.get(c["grade_id"])
            cells.append({
                "grade_id": c["grade_id"], "max_points": c["max_points"],
                "kind": "task" if s is not None and is_task(s) else "answer",
                "cell_type": s.cell_type if s is not None else None,
                "answer": answer.source if answer is not None else None,
                "solution": s.source if s is not None and is_solution(s) else None,
                "mark_scheme": mark_scheme(s.source) if s is not None else None,
                "auto_points": c["auto_points"], "points": c["manual_points"],
                "comment": c["comment"], "manual": bool(c.get("manual")),
                "review": c.get("review")})
        out.append({"notebook": rel, "cells": cells})
    return out


def updated(result: dict | None, manual: dict | None, grades: list[dict], by: str) -> dict:
    """`manual` with `grades` ([{notebook, grade_id, points, comment}]) applied; a cell
    that is not a graded cell of the submission, or points above the cell's, is refused."""
    out = copy.deepcopy(manual or {})
    known = {(rel, c["grade_id"]): c for rel, nb in ((result or {}).get("notebooks") or {})
             .items() for c in nb.get("cells", [])}
    for g in grades:
        cell = known.get((g["notebook"], g["grade_id"]))
        if cell is None:
            raise CourseError("no_graded_cell", notebook=g["notebook"][:300],
                              grade_id=g["grade_id"][:200])
        points = g.get("points")
        if points is not None and not 0 <= points <= cell["max_points"]:
            raise CourseError("points_above_max", grade_id=g["grade_id"], points=points,
                              max_points=cell["max_points"])
        entry = out.setdefault(g["notebook"], {}).setdefault(g["grade_id"], {})
        entry.update(points=None if points is None else float(points),
                     comment=(g.get("comment") or "")[:10_000], by=by)
    return out
