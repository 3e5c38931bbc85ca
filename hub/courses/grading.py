"""Grading: restore a submission against its source, then score the executed notebook.

`prepare_for_grading` trusts the student only for the text of solution cells and for the
cells the student added: every protected cell (tests, locked code) comes from the source
whole, hidden tests included, in the source's order, re-inserted if the student deleted
it; nbgrader metadata and notebook metadata (kernel) come from the source too.

`score` reads an executed notebook (outputs from the autograder) as nbgrader scores it,
with nbgrader's `determine_grade`: a test cell earns nothing when it shows an error or
writes to stderr, a single number it returns is partial credit, otherwise full points; an
answer that is also graded (code or text) and task cells need a person (`manual`), except
an unchanged answer, which gets 0. On top of nbgrader: a test cell the run did not reach
gets 0, and a cell the runner flagged (the kernel was tampered with) gets no automatic
points and is marked `review` for the instructor.
"""

from __future__ import annotations

import copy
import uuid

from nbgrader.utils import determine_grade

from .assignment import (
    check_source,
    compute_checksum,
    grade_id,
    is_grade,
    is_protected,
    is_solution,
    is_task,
    nbgrader,
    points,
    release,
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


def _answer(released_cell, submitted_cell):
    """The released cell (type, metadata with its checksum, id) with the student's text."""
    cell = _clear(copy.deepcopy(released_cell))
    if submitted_cell is None:  # deleted: graded as the unanswered stub
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
    protected code cell from `source_nb` (hidden tests included), the other instructor
    cells as released (no mark scheme); neither argument is modified."""
    check_source(source_nb)
    released = {grade_id(c): c for c in release(source_nb)[0].cells if nbgrader(c)}
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
    for src in source_nb.cells:
        gid = grade_id(src) if nbgrader(src) else None
        if gid is None:
            continue
        if is_solution(src):
            if gid not in answers and not is_grade(src):
                continue  # an ungraded answer the student deleted: nothing to grade
            cells.append(_answer(released[gid], answers.get(gid)))
        elif src.cell_type == "code" and is_protected(src):
            cells.append(_clear(copy.deepcopy(src)))
        else:
            cells.append(_clear(copy.deepcopy(released[gid])))
        cells.extend(segments.get(gid, []))
    nb = copy.deepcopy(source_nb)
    nb.cells = cells
    nb.nbformat, nb.nbformat_minor = 4, max(5, source_nb.get("nbformat_minor", 5))
    _unique_ids(nb.cells)
    return nb


def _error(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip()
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "wrote to stderr: " + str(out.get("text", "")).strip()[:200]
    return None


def autograde_record(nb) -> dict:
    return nb.metadata.get("npuhub", {}).get("autograde", {})


def autograde_status(nb) -> str:
    """"ok", "timeout" or "crashed", as the grader recorded it (ok when absent)."""
    return autograde_record(nb).get("status", "ok")


def _auto(cell, status: str) -> tuple[float | None, str | None]:
    """nbgrader's grade of one grade cell (None: a person grades it) and why it lost."""
    if cell.cell_type == "code" and not is_solution(cell) and (
            cell.get("execution_count") is None and not cell.get("outputs")):
        return 0.0, "not executed" if status == "ok" else f"not executed ({status})"
    try:
        value, _ = determine_grade(cell)
    except (ValueError, KeyError) as e:  # a result above the cell's points, or no text
        return 0.0, f"invalid partial credit: {e}"[:200]
    if value is None:
        return None, None
    value = float(value)
    if is_solution(cell):
        return value, "unanswered" if value == 0 else None
    return value, _error(cell) if value < points(cell) else None


def score(executed_nb) -> dict:
    """{"cells": [{grade_id, points, max_points, error, manual, review}], "score",
    "max_score", "needs_manual_grading", "needs_review", "status"}; points are floats.
    `review` is why the runner does not vouch for a cell (it scores 0 until a person
    looks), None otherwise."""
    record = autograde_record(executed_nb)
    status = record.get("status", "ok")
    flagged = {f.get("grade_id"): f.get("reason") for f in record.get("review", [])
               if isinstance(f, dict)}
    cells = []
    for cell in executed_nb.cells:
        if not (is_grade(cell) or is_task(cell)):
            continue
        gid = grade_id(cell)
        entry = {"grade_id": gid, "points": 0.0, "max_points": points(cell), "error": None,
                 "manual": True, "review": flagged.get(gid)}
        if is_grade(cell):
            value, entry["error"] = _auto(cell, status)
            entry["manual"] = value is None
            if value is not None and entry["review"] is None:
                entry["points"] = value
        cells.append(entry)
    return {
        "cells": cells,
        "score": sum(c["points"] for c in cells),
        "max_score": sum(c["max_points"] for c in cells),
        "needs_manual_grading": any(c["manual"] for c in cells),
        "needs_review": any(c["review"] for c in cells),
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
