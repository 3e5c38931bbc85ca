"""Release: the student version of the fixture course (tests/data/course)."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from npuhub.hub.courses.assignment import compute_checksum, release, release_folder

COURSE = Path(__file__).resolve().parents[1] / "data" / "course"
SOLUTION_TEXT = ["return [i * i", "math.sqrt", "ANSWER = 42", "Because the problem says so",
                 "BEGIN SOLUTION", "END SOLUTION"]
HIDDEN_TEXT = ["hidden-squares", "hidden-hypotenuse", "squares(10)", "HIDDEN TESTS"]


def ps1():
    return nbformat.read(str(COURSE / "ps1" / "problems.ipynb"), as_version=4)


def by_id(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id", c.get("id")): c for c in nb.cells}


def test_fixture_files_are_what_make_py_writes():
    spec = importlib.util.spec_from_file_location("course_make", COURSE / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    for rel, nb in make.NOTEBOOKS.items():
        assert nbformat.writes(nb()) + "\n" == (COURSE / rel).read_text(), rel


def test_student_version_has_no_solution_and_no_hidden_test():
    student, _ = release(ps1())
    text = json.dumps(student)
    for needle in SOLUTION_TEXT + HIDDEN_TEXT:
        assert needle not in text
    nbformat.validate(student)


def test_solution_regions_become_stubs_keeping_the_code_around_them():
    cells = by_id(release(ps1())[0])
    assert cells["squares"].source == (
        'def squares(n):\n    """The first n squares, from 1."""\n'
        "    # YOUR CODE HERE\n    raise NotImplementedError()")
    assert cells["answer"].source == (
        "# YOUR CODE HERE\nraise NotImplementedError()\nassert ANSWER == 42")
    assert cells["explain"].source == "Why does `squares` start at 1?\n\nYOUR ANSWER HERE"
    assert cells["test_squares"].source == (
        "assert squares(1) == [1]\nassert squares(3) == [1, 4, 9]")
    assert cells["test_hypotenuse"].source == "assert hypotenuse(3, 4) == 5"
    assert cells["setup"].source == "import math"
    assert cells["intro"].source.startswith("# Problem set 1")


def test_checksums_of_protected_cells_are_stable_and_kept_in_metadata():
    source = ps1()
    student, checksums = release(source)
    assert list(checksums) == ["setup", "test_squares", "test_hypotenuse"]
    assert checksums["setup"] == "76a1143c4a7f7712ec8fa33fcab264d6"  # nbgrader's md5
    assert release(ps1())[1] == checksums
    cells = by_id(student)
    for gid, checksum in checksums.items():
        assert cells[gid].metadata.nbgrader.checksum == checksum
        assert compute_checksum(cells[gid]) == checksum
        assert (cells[gid].metadata.editable, cells[gid].metadata.deletable) == (False, False)
    # as nbgrader: an answer's checksum is its stub's (unchanged = unanswered)
    assert cells["squares"].metadata.nbgrader.checksum == compute_checksum(cells["squares"])
    assert cells["squares"].metadata.nbgrader.cell_type == "code"
    assert cells["squares"].metadata.deletable is False
    assert source == ps1()  # the source is not modified


def test_checksum_changes_with_source_and_points():
    cell = by_id(release(ps1())[0])["test_squares"]
    before = compute_checksum(cell)
    edited = copy.deepcopy(cell)
    edited.source += "\nassert True"
    more = copy.deepcopy(cell)
    more.metadata.nbgrader.points = 20
    assert len({before, compute_checksum(edited), compute_checksum(more)}) == 3


def test_outputs_and_execution_counts_are_cleared():
    source = ps1()
    setup = by_id(source)["setup"]
    setup.execution_count = 3
    setup.outputs = [new_output("stream", name="stdout", text="secret\n")]
    cell = by_id(release(source)[0])["setup"]
    assert (cell.execution_count, cell.outputs) == (None, [])


def nb_of(*cells):
    return new_notebook(cells=list(cells))


def nbg(gid, **flags):
    return {"nbgrader": {"grade_id": gid, "schema_version": 3, "grade": False,
                         "solution": False, "locked": False, **flags}}


def test_solution_cell_without_markers_is_replaced_whole():
    student, _ = release(nb_of(
        new_code_cell("x = 1", metadata=nbg("a", solution=True)),
        new_markdown_cell("my essay", metadata=nbg("b", solution=True, grade=True, points=1))))
    assert [c.source for c in student.cells] == [
        "# YOUR CODE HERE\nraise NotImplementedError()", "YOUR ANSWER HERE"]


@pytest.mark.parametrize("cells, message", [
    ([new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")],
     "cell 0 \\(no grade_id\\): 'BEGIN SOLUTION' in a cell that is not a solution cell"),
    ([new_code_cell("### BEGIN SOLUTION\nx = 1", metadata=nbg("a", solution=True))],
     "cell 0 \\(a\\): 'BEGIN SOLUTION' without 'END SOLUTION'"),
    ([new_code_cell("# BEGIN HIDDEN TESTS\nx\n# END HIDDEN TESTS",
                    metadata=nbg("a", solution=True))],
     "'BEGIN HIDDEN TESTS' in a cell that is not an autograder test cell"),
    ([new_markdown_cell("BEGIN MARK SCHEME\nx\nEND MARK SCHEME",
                        metadata=nbg("a", solution=True, grade=True, points=1))],
     "'BEGIN MARK SCHEME' in a cell that is not a manually graded task cell"),
    ([new_code_cell("x = 1\n### AUTOTEST x; 1", metadata=nbg("t", grade=True, points=1,
                                                             locked=True))],
     "cell 0 \\(t\\): AUTOTEST cells are not supported"),
    ([new_code_cell("1", metadata=nbg("a", locked=True)),
      new_code_cell("2", metadata=nbg("a", locked=True))], "duplicate grade_id 'a'"),
    ([new_code_cell("1", metadata=nbg("a", grade=True))], "cell 0 \\(a\\): .*does not have points"),
    ([new_code_cell("1", metadata={"nbgrader": {"grade": True, "points": 1}})],
     "cell 0 \\(no grade_id\\): nbgrader cell does not have a grade_id"),
])
def test_source_errors_are_refused_with_the_cell_named(cells, message):
    with pytest.raises(ValueError, match=message):
        release(nb_of(*cells))


def test_release_folder_releases_notebooks_copies_files_and_nothing_else(tmp_path):
    src = tmp_path / "ps2"
    for name in ("fib.ipynb", "data.txt"):
        (src / name).parent.mkdir(exist_ok=True)
        (src / name).write_bytes((COURSE / "ps2" / name).read_bytes())
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "fib-checkpoint.ipynb").write_text("solutions")
    (src / "__pycache__").mkdir()
    (src / "notes").mkdir()
    (src / "notes" / "hint.md").write_text("think")
    os.symlink("/etc/hostname", src / "link")
    out = tmp_path / "release" / "ps2"

    released = release_folder(src, out)

    assert list(released) == ["fib.ipynb"]
    assert list(released["fib.ipynb"]) == ["test_fib"]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["data.txt", "fib.ipynb", "notes/hint.md"]
    fib = nbformat.read(str(out / "fib.ipynb"), as_version=4)
    assert "6765" not in json.dumps(fib) and "a, b = b, a + b" not in json.dumps(fib)
    with pytest.raises(FileExistsError):
        release_folder(src, out)
    with pytest.raises(ValueError, match="inside the source folder"):
        release_folder(src, src / "release")


@pytest.mark.parametrize("language, stub", [
    ("python", "# YOUR CODE HERE\nraise NotImplementedError()"),
    ("R", "# YOUR CODE HERE\nfail()"),
    ("julia", '# YOUR CODE HERE\nerror("No Answer Given!")'),
])
def test_each_language_gets_its_stub_inside_the_scaffolding(language, stub):
    nb = nb_of(new_code_cell("function f(x)\n    # BEGIN SOLUTION\n    x + 1\n    # END SOLUTION\nend",
                             metadata=nbg("f", solution=True)))
    nb.metadata["kernelspec"] = {"name": language, "display_name": language,
                                 "language": language}
    student, _ = release(nb)
    indented = "\n".join("    " + line for line in stub.split("\n"))
    assert student.cells[0].source == f"function f(x)\n{indented}\nend"


def test_an_unknown_language_is_refused():
    nb = nb_of(new_code_cell("x", metadata=nbg("f", solution=True)))
    nb.metadata["kernelspec"] = {"name": "cobol", "display_name": "c", "language": "cobol"}
    with pytest.raises(ValueError, match="notebook language 'cobol' has no code stub"):
        release(nb)
