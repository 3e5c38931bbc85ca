"""Write the fixture course: source notebooks in nbgrader's format.

    .venv/bin/python tests/data/course/make.py     # rewrites ps1/ and ps2/ beside this file

ps1/problems.ipynb (7 points): a locked setup cell, two autograded answers (`squares`,
`hypotenuse`) each with a test cell holding visible and hidden tests (2 + 3 points), a
code cell that is answer and grade at once (1 point), and a manually graded markdown
answer (1 point). ps2/fib.ipynb (2 points) reads ps2/data.txt, copied on release.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    md = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
          "solution": solution}
    if grade:
        md["points"] = points
    return {"nbgrader": md}


def cell(kind, source, cell_id, **nbgrader):
    make = new_code_cell if kind == "code" else new_markdown_cell
    return make(source, id=cell_id, metadata=meta(cell_id, **nbgrader) if nbgrader else {})


def notebook(cells):
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC})
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def ps1():
    return notebook([
        new_markdown_cell("# Problem set 1\n\nFill in the cells that say YOUR CODE HERE.",
                          id="intro"),
        cell("code", "import math", "setup", locked=True),
        cell("code", 'def squares(n):\n    """The first n squares, from 1."""\n'
             "    ### BEGIN SOLUTION\n    return [i * i for i in range(1, n + 1)]\n"
             "    ### END SOLUTION", "squares", solution=True),
        cell("code", "assert squares(1) == [1]\nassert squares(3) == [1, 4, 9]\n"
             "### BEGIN HIDDEN TESTS\nassert squares(10)[-1] == 100  # hidden-squares\n"
             "### END HIDDEN TESTS", "test_squares", grade=True, locked=True, points=2),
        cell("code", "def hypotenuse(a, b):\n    ### BEGIN SOLUTION\n"
             "    return math.sqrt(a * a + b * b)\n    ### END SOLUTION", "hypotenuse",
             solution=True),
        cell("code", "assert hypotenuse(3, 4) == 5\n### BEGIN HIDDEN TESTS\n"
             "assert hypotenuse(5, 12) == 13  # hidden-hypotenuse\n### END HIDDEN TESTS",
             "test_hypotenuse", grade=True, locked=True, points=3),
        cell("code", "### BEGIN SOLUTION\nANSWER = 42\n### END SOLUTION\nassert ANSWER == 42",
             "answer", grade=True, solution=True, points=1),
        cell("markdown", "Why does `squares` start at 1?\n\n### BEGIN SOLUTION\n"
             "Because the problem says so.\n### END SOLUTION", "explain", grade=True,
             solution=True, points=1),
    ])


def ps2():
    return notebook([
        cell("code", "def fib(n):\n    ### BEGIN SOLUTION\n    a, b = 0, 1\n"
             "    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
             "    ### END SOLUTION", "fib", solution=True),
        cell("code", "assert fib(10) == int(open('data.txt').read())\n"
             "### BEGIN HIDDEN TESTS\nassert fib(20) == 6765\n### END HIDDEN TESTS",
             "test_fib", grade=True, locked=True, points=2),
    ])


def main() -> None:
    for rel, nb in (("ps1/problems.ipynb", ps1()), ("ps2/fib.ipynb", ps2())):
        path = HERE / rel
        path.parent.mkdir(exist_ok=True)
        nbformat.validate(nb)
        nbformat.write(nb, str(path))
    (HERE / "ps2" / "data.txt").write_text("55\n")


if __name__ == "__main__":
    main()
