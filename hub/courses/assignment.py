"""Release: the student version of an nbgrader-format notebook.

Cell metadata `nbgrader` = {grade_id, points, grade, solution, locked, schema_version}:

- solution cells: `### BEGIN SOLUTION` ... `### END SOLUTION` regions become the code stub
  (`# YOUR CODE HERE` / `raise NotImplementedError()`, at the marker's indentation) or
  `YOUR ANSWER HERE` in markdown; a solution cell without markers is replaced whole;
- test cells (grade, not solution): `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS`
  regions are removed;
- outputs and execution counts are cleared; "protected" cells (grade or locked, not
  solution: the tests and the instructor's read-only code) get a checksum, kept in
  `metadata.nbgrader.checksum` as nbgrader does and returned as {grade_id: checksum}.

Small nbconvert preprocessors of our own: nbgrader's need its gradebook database for the
grading half, and the release half is a few lines each.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, Preprocessor
from traitlets import Unicode

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"


def nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader") or {}


def grade_id(cell) -> str | None:
    return nbgrader(cell).get("grade_id")


def is_grade(cell) -> bool:
    return bool(nbgrader(cell).get("grade"))


def is_solution(cell) -> bool:
    return bool(nbgrader(cell).get("solution"))


def is_locked(cell) -> bool:
    return bool(nbgrader(cell).get("locked"))


def is_protected(cell) -> bool:
    """A cell the student must not change: a test (grade, not solution) or a locked cell."""
    return (is_grade(cell) or is_locked(cell)) and not is_solution(cell)


def points(cell) -> float:
    return float(nbgrader(cell).get("points") or 0) if is_grade(cell) else 0.0


def compute_checksum(cell) -> str:
    """sha256 of what defines a graded cell: type, source, flags, grade_id and points."""
    h = hashlib.sha256()
    parts = (cell.cell_type, cell.source, str(is_grade(cell)), str(is_solution(cell)),
             str(is_locked(cell)), grade_id(cell) or "",
             str(points(cell)) if is_grade(cell) else "")
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def replace_regions(source: str, begin: str, end: str, stub: list[str] | None, where: str):
    """Replace each begin..end region (marker lines included) by `stub` lines at the begin
    marker's indentation, or drop it (stub None). Returns (source, replaced_any)."""
    out: list[str] = []
    inside = replaced = False
    for line in source.splitlines():
        marker = line.strip()
        if marker.startswith(begin):
            if inside:
                raise ValueError(f"{where}: nested {begin!r}")
            inside = replaced = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in stub or [])
        elif marker.startswith(end):
            if not inside:
                raise ValueError(f"{where}: {end!r} without {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {begin!r} without {end!r}")
    return "\n".join(out), replaced


def _where(cell, index) -> str:
    return f"cell {index} ({grade_id(cell) or 'no grade_id'})"


class ClearSolutions(Preprocessor):
    code_stub = Unicode(CODE_STUB, help="Replaces a solution region in code.").tag(config=True)
    text_stub = Unicode(TEXT_STUB, help="Replaces a solution region in markdown.").tag(
        config=True)

    def preprocess_cell(self, cell, resources, index):
        stub = (self.code_stub if cell.cell_type == "code" else self.text_stub).splitlines()
        where = _where(cell, index)
        source, replaced = replace_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, stub,
                                           where)
        if replaced and not is_solution(cell):
            raise ValueError(f"{where}: solution region in a cell not marked as solution")
        cell.source = source if replaced or not is_solution(cell) else "\n".join(stub)
        return cell, resources


class ClearHiddenTests(Preprocessor):
    def preprocess_cell(self, cell, resources, index):
        where = _where(cell, index)
        source, replaced = replace_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, None, where)
        if replaced and not is_protected(cell):  # a solution cell is the student's
            raise ValueError(f"{where}: hidden tests outside a test or locked cell")
        cell.source = source
        return cell, resources


class LockCells(Preprocessor):
    """Jupyter's own `editable`/`deletable` cell metadata, set as nbgrader does."""

    def preprocess_cell(self, cell, resources, index):
        if is_protected(cell):
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False
        elif is_solution(cell):
            cell.metadata["deletable"] = False
        return cell, resources


class ComputeChecksums(Preprocessor):
    def preprocess_cell(self, cell, resources, index):
        if is_protected(cell):
            cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
            resources.setdefault("checksums", {})[grade_id(cell)] = cell.metadata.nbgrader[
                "checksum"]
        return cell, resources


def check_source(nb) -> None:
    """Refuse a source notebook whose nbgrader metadata cannot be graded."""
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if not nbgrader(cell):
            continue
        gid = grade_id(cell)
        if not gid or not isinstance(gid, str):
            raise ValueError(f"cell {index}: nbgrader cell without grade_id")
        if gid in seen:
            raise ValueError(f"cell {index}: duplicate grade_id {gid!r}")
        seen.add(gid)
        hidden = any(line.strip().startswith(BEGIN_HIDDEN) for line in cell.source.splitlines())
        if hidden and not is_protected(cell):
            raise ValueError(f"cell {index} ({gid}): hidden tests outside a test or locked cell")
        if is_grade(cell):
            value = nbgrader(cell).get("points")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"cell {index} ({gid}): points must be a number >= 0")


def release(source_nb):
    """The student version of `source_nb` (not modified) and {grade_id: checksum} of its
    protected cells."""
    check_source(source_nb)
    nb = copy.deepcopy(source_nb)
    resources: dict = {"checksums": {}}
    for pre in (ClearSolutions(), ClearHiddenTests(), ClearOutputPreprocessor(), LockCells(),
                ComputeChecksums()):
        nb, resources = pre.preprocess(nb, resources)
    return nb, resources["checksums"]


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__"


def release_folder(src_dir, out_dir) -> dict[str, dict[str, str]]:
    """Release an assignment folder into `out_dir` (new or empty): notebooks released,
    other files copied. Hidden files and folders (.ipynb_checkpoints holds solutions),
    __pycache__ and symbolic links are left out. Returns {relpath: checksums}."""
    src, out = Path(src_dir).resolve(), Path(out_dir).resolve()
    if out == src or src in out.parents:
        raise ValueError(f"release folder {out} is inside the source folder {src}")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"release folder {out} is not empty")
    released: dict[str, dict[str, str]] = {}
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        for name in sorted(files):
            path = Path(root, name)
            if _skipped(name) or path.is_symlink():
                continue
            rel = path.relative_to(src)
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".ipynb"):
                student, checksums = release(nbformat.read(str(path), as_version=4))
                nbformat.write(student, str(target))
                released[rel.as_posix()] = checksums
            else:
                shutil.copyfile(path, target)
    return released
