"""Release: the student version of an nbgrader-format notebook, by nbgrader's own code.

nbgrader's release preprocessors run in nbgrader's order (`nbgrader generate_assignment`
without its gradebook): LockCells, ClearSolutions, ClearOutput, CheckCellMetadata,
ComputeChecksums, ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata.
So, as in nbgrader:

- delimiters (`BEGIN SOLUTION`, `BEGIN HIDDEN TESTS`, `BEGIN MARK SCHEME` and their ENDs)
  are matched anywhere in a line: `### BEGIN SOLUTION`, `# BEGIN SOLUTION`, R and Julia
  comments alike; only the region between them is replaced (solutions: by the stub of the
  notebook's language, at the marker's indentation) or removed (hidden tests, mark
  schemes); a solution cell without markers is replaced whole;
- checksums are nbgrader's (md5 over source, type, flags, grade_id, points) and sit in
  `metadata.nbgrader.checksum` with `cell_type`, so `nbgrader validate` accepts the
  released notebook.

What nbgrader would do but npuhub refuses, with a message naming the cell: `AUTOTEST`
cells (nbgrader instantiates them by running the instructor's notebook in a kernel at
release; npuhub does not run course code on the hub).
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import nbformat
from nbgrader import utils as nbutils
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)

compute_checksum = nbutils.compute_checksum
# nbgrader's stubs, plus Julia (nbgrader's default list stops at R, MATLAB, Octave, SAS, Java)
CODE_STUBS = {**ClearSolutions().code_stub, "julia": '# YOUR CODE HERE\nerror("No Answer Given!")'}
TEXT_STUB = ClearSolutions().text_stub
REGIONS = (  # (begin, end, the cells it may appear in, what that kind of cell is called)
    ("BEGIN SOLUTION", "END SOLUTION", nbutils.is_solution, "a solution cell"),
    ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", nbutils.is_grade, "an autograder test cell"),
    ("BEGIN MARK SCHEME", "END MARK SCHEME", nbutils.is_task, "a manually graded task cell"),
)
AUTOTEST = "AUTOTEST"


def nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader") or {}


def grade_id(cell) -> str | None:
    return nbgrader(cell).get("grade_id")


def is_grade(cell) -> bool:
    return bool(nbutils.is_grade(cell))


def is_solution(cell) -> bool:
    return bool(nbutils.is_solution(cell))


def is_task(cell) -> bool:
    return bool(nbutils.is_task(cell))


def is_protected(cell) -> bool:
    """A cell the student must not change (nbgrader's "locked": a test, or read-only)."""
    return bool(nbutils.is_locked(cell))


def points(cell) -> float:
    """The points a grade or task cell is worth (0 for any other cell)."""
    return float(nbgrader(cell).get("points") or 0) if is_grade(cell) or is_task(cell) else 0.0


def language(nb) -> str:
    return nb.get("metadata", {}).get("kernelspec", {}).get("language", "python")


def _where(cell, index) -> str:
    return f"cell {index} ({grade_id(cell) or 'no grade_id'})"


def _check_regions(cell, where: str) -> None:
    """nbgrader's delimiter rules, checked first so that the refusal names the cell."""
    for begin, end, allowed, kind in REGIONS:
        inside = found = False
        for line in cell.source.split("\n"):
            if begin in line:
                if inside:
                    raise ValueError(f"{where}: nested {begin!r}")
                inside = found = True
            elif end in line:
                inside = False
        if inside:
            raise ValueError(f"{where}: {begin!r} without {end!r}")
        if found and not allowed(cell):
            raise ValueError(f"{where}: {begin!r} in a cell that is not {kind}")
        if found and begin == "BEGIN MARK SCHEME" and "(attachment:" in cell.source:
            raise ValueError(f"{where}: an attachment in a mark scheme would reach students; "
                             "embed the image instead")


def _check_autotest(cell, where: str) -> None:
    if cell.cell_type != "code" or AUTOTEST not in cell.source:
        return
    for line in cell.source.split("\n"):
        stripped = line.strip()
        if AUTOTEST in line and stripped[:1] in ("#", "%", "/"):
            raise ValueError(
                f"{where}: AUTOTEST cells are not supported: nbgrader generates their tests "
                "by running the instructor's notebook in a kernel at release, which npuhub "
                "does not do on the hub; write the tests out as assert statements")


def check_source(nb) -> None:
    """Refuse a source notebook that nbgrader would refuse, or that npuhub cannot grade;
    ValueError names the cell."""
    lang = language(nb)
    if lang not in CODE_STUBS:
        raise ValueError(f"notebook language {lang!r} has no code stub; known: "
                         f"{', '.join(sorted(CODE_STUBS))}")
    nb = MetadataValidator().upgrade_notebook_metadata(copy.deepcopy(nb))
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        where = _where(cell, index)
        if nbgrader(cell):
            try:
                MetadataValidator().validate_cell(cell)
            except ValidationError as e:
                raise ValueError(f"{where}: {e}") from None
        if is_grade(cell) or is_solution(cell) or is_protected(cell) or is_task(cell):
            gid = grade_id(cell)
            if not isinstance(gid, str) or not gid:
                raise ValueError(f"cell {index}: nbgrader cell without grade_id")
            if gid in seen:
                raise ValueError(f"{where}: duplicate grade_id {gid!r}")
            seen.add(gid)
        if is_grade(cell) or is_task(cell):
            value = nbgrader(cell).get("points")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{where}: points must be a number >= 0")
        _check_regions(cell, where)
        _check_autotest(cell, where)


def pipeline():
    """nbgrader generate_assignment's preprocessors (less header/footer, AUTOTEST and the
    gradebook), configured for npuhub's languages."""
    return [LockCells(), ClearSolutions(code_stub=CODE_STUBS), ClearOutput(),
            CheckCellMetadata(), ComputeChecksums(), ClearHiddenTests(), ClearMarkScheme(),
            ComputeChecksums(), CheckCellMetadata()]


def release(source_nb):
    """The student version of `source_nb` (not modified) and {grade_id: checksum} of the
    cells the student must not change (tests and read-only cells)."""
    check_source(source_nb)
    nb = MetadataValidator().upgrade_notebook_metadata(copy.deepcopy(source_nb))
    resources: dict = {}
    try:
        for pre in pipeline():
            nb, resources = pre.preprocess(nb, resources)
    except (RuntimeError, ValidationError) as e:  # what check_source did not foresee
        raise ValueError(str(e).strip()) from None
    checksums = {grade_id(c): c.metadata.nbgrader["checksum"] for c in nb.cells
                 if is_protected(c)}
    return nb, checksums


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
