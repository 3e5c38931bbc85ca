"""Grading: restore a submission against its source, then score the executed notebook.

`prepare_for_grading` trusts the student only for the text of solution cells and for the
cells the student added: every protected cell (tests, locked code) comes from the source
whole, hidden tests included, in the source's order, re-inserted if the student deleted
it; nbgrader metadata and notebook metadata (kernel) come from the source too.

`score` reads an executed notebook (outputs from the autograder): a code cell with
`grade: true` (a test, or an answer that is also graded) earns its points if it ran
without an error; a graded markdown cell needs a person (0 points, flagged `manual`).
"""

from __future__ import annotations

import copy
import uuid

from .assignment import (
    ClearSolutions,
    check_source,
    compute_checksum,
    grade_id,
    is_grade,
    is_solution,
    nbgrader,
    points,
)


def _clear(cell):
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def _student_cell(cell):
    """A cell the student added (or one whose nbgrader metadata the source doesn't know):
    kept as ordinary code or text, never graded."""
    cell = _clear(copy.deepcopy(cell))
    cell.metadata.pop("nbgrader", None)
    return cell


def _answer(source_cell, submitted_cell, index):
    """The source cell (type, metadata, id) with the student's text."""
    cell = _clear(copy.deepcopy(source_cell))
    if submitted_cell is None:  # deleted: graded as the unanswered stub
        cell, _ = ClearSolutions().preprocess_cell(cell, {}, index)
        return cell
    cell.source = submitted_cell.get("source", "")
    if cell.cell_type == "markdown" and "attachments" in submitted_cell:
        cell.attachments = copy.deepcopy(submitted_cell.attachments)
    return cell


def _unique_ids(cells) -> None:
    seen: set[str] = set()
    for cell in cells:
        cid = cell.get("id")
        while not cid or cid in seen:
            cid = uuid.uuid4().hex[:8]
        cell["id"] = cid
        seen.add(cid)


def prepare_for_grading(submitted_nb, source_nb):
    """The notebook to execute: solutions from `submitted_nb` matched by grade_id, every
    protected cell from `source_nb`; neither argument is modified."""
    check_source(source_nb)
    known = {grade_id(c): c for c in source_nb.cells if nbgrader(c)}
    # the submission cut at its nbgrader cells: the student's own cells ride along after
    # the graded cell they follow (None: before the first one)
    segments: dict[str | None, list] = {None: []}
    answers: dict[str, object] = {}
    anchor = None
    for cell in submitted_nb.cells:
        gid = grade_id(cell)
        if gid in known and gid not in segments:
            anchor, segments[gid] = gid, []
            if is_solution(known[gid]):
                answers[gid] = cell
        else:
            segments[anchor].append(_student_cell(cell))
    cells = list(segments[None])
    for index, src in enumerate(source_nb.cells):
        gid = grade_id(src) if nbgrader(src) else None
        if gid is None:
            continue
        if is_solution(src):
            if gid not in answers and not is_grade(src):
                continue  # an ungraded answer the student deleted: nothing to grade
            cells.append(_answer(src, answers.get(gid), index))
        else:
            cells.append(_clear(copy.deepcopy(src)))
        cells.extend(segments.get(gid, []))
    nb = copy.deepcopy(source_nb)
    nb.cells = cells
    nb.nbformat, nb.nbformat_minor = 4, max(5, source_nb.get("nbformat_minor", 5))
    _unique_ids(nb.cells)
    return nb


def _error(cell, status: str) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip()
    if cell.get("execution_count") is None and not cell.get("outputs"):
        return "not executed" if status == "ok" else f"not executed ({status})"
    return None


def autograde_status(nb) -> str:
    """"ok", "timeout" or "crashed", as the grader recorded it (ok when absent)."""
    return nb.metadata.get("npuhub", {}).get("autograde", {}).get("status", "ok")


def score(executed_nb) -> dict:
    """{"cells": [{grade_id, points, max_points, error, manual}], "score", "max_score",
    "needs_manual_grading", "status"} for an executed notebook; points are floats."""
    status = autograde_status(executed_nb)
    cells = []
    for cell in executed_nb.cells:
        if not is_grade(cell):
            continue
        entry = {"grade_id": grade_id(cell), "points": 0.0, "max_points": points(cell),
                 "error": None, "manual": cell.cell_type != "code"}
        if not entry["manual"]:
            entry["error"] = _error(cell, status)
            if entry["error"] is None:
                entry["points"] = entry["max_points"]
        cells.append(entry)
    return {
        "cells": cells,
        "score": sum(c["points"] for c in cells),
        "max_score": sum(c["max_points"] for c in cells),
        "needs_manual_grading": any(c["manual"] for c in cells),
        "status": status,
    }


def tampered(submitted_nb, checksums: dict[str, str]) -> list[str]:
    """grade_ids of protected cells the student edited or deleted, in `checksums` order."""
    found: dict[str, str] = {}
    for cell in submitted_nb.cells:
        gid = grade_id(cell)
        if gid in checksums and gid not in found:
            found[gid] = compute_checksum(cell)
    return [gid for gid, checksum in checksums.items() if found.get(gid) != checksum]
