"""Write the fixture course: source notebooks in nbgrader's format.

    .venv/bin/python tests/data/course/make.py     # rewrites ps1/ and ps2/ beside this file

ps1/problems.ipynb (7 points): a locked setup cell, two autograded answers (`squares`,
`hypotenuse`) each with a test cell holding visible and hidden tests (2 + 3 points), a
code cell that is answer and grade at once (1 point), and a manually graded markdown
answer (1 point). ps2/fib.ipynb (2 points) reads ps2/data.txt, copied on release.

Written the way instructors write them (for the conformance test beside nbgrader):
ps3/stats.ipynb (Python, 12 points) with one-`#` delimiters, scaffolding around the
solution, a test that fails only on stderr, a test that returns partial credit, a code
answer graded by hand, a task cell with a mark scheme; ps4/vectors.ipynb (R) with
`# BEGIN SOLUTION` and `### BEGIN HIDDEN TESTS`; autotest/auto.ipynb with nbgrader 0.9's
`### AUTOTEST` cell. Every secret line carries a token (`secret-…`) the tests look for.
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


def cell(kind, source, cell_id, task=False, **nbgrader):
    make = new_code_cell if kind == "code" else new_markdown_cell
    md = meta(cell_id, **nbgrader) if nbgrader or task else {}
    if task:
        md["nbgrader"].update(task=True, points=nbgrader["points"])
    return make(source, id=cell_id, metadata=md)


def notebook(cells, kernelspec=KERNELSPEC, language="python"):
    nb = new_notebook(cells=cells, metadata={"kernelspec": kernelspec})
    nb.metadata["language_info"] = {"name": language}
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


def ps3():
    return notebook([
        new_markdown_cell("# Statistics\n\nAnswer in the cells marked for you.", id="intro"),
        cell("code", "import statistics", "imports", locked=True),
        cell("code", 'def mean(xs):\n    """The mean of xs."""\n    if not xs:\n'
             "        return 0.0\n    # BEGIN SOLUTION\n    return sum(xs) / len(xs)"
             "  # secret-mean\n    # END SOLUTION", "mean", solution=True),
        cell("code", "assert mean([1, 2, 3]) == 2\n# BEGIN HIDDEN TESTS\n"
             "assert mean([2, 4]) == 3  # secret-hidden-mean\n# END HIDDEN TESTS",
             "test_mean", grade=True, locked=True, points=2),
        cell("code", "def median(xs):\n    ### BEGIN SOLUTION\n"
             "    return statistics.median(xs)  # secret-median\n    ### END SOLUTION",
             "median", solution=True),
        # a test that reports failure on stderr only, as nbgrader counts it
        cell("code", "import sys\n\nif median([3, 1, 2]) != 2:\n"
             "    print('median is wrong', file=sys.stderr)\n### BEGIN HIDDEN TESTS\n"
             "if median([1, 2, 3, 4]) != 2.5:  # secret-hidden-median\n"
             "    print('median of an even list is wrong', file=sys.stderr)\n"
             "### END HIDDEN TESTS", "test_median", grade=True, locked=True, points=3),
        cell("code", "def spread(xs):\n    # BEGIN SOLUTION\n"
             "    return max(xs) - min(xs)  # secret-spread\n    # END SOLUTION", "spread",
             solution=True),
        # partial credit: the test's result is the points earned
        cell("code", "earned = 3\nearned -= spread([1, 5]) != 4\nearned -= spread([2]) != 0\n"
             "# BEGIN HIDDEN TESTS\nearned -= spread([-1, 1]) != 2  # secret-hidden-spread\n"
             "# END HIDDEN TESTS\nmax(earned, 0)", "test_spread", grade=True, locked=True,
             points=3),
        cell("code", "# Write a function that plots a histogram (graded by hand)\n"
             "# BEGIN SOLUTION\ndef histogram(xs):  # secret-histogram\n    return None\n"
             "# END SOLUTION", "histogram", grade=True, solution=True, points=1),
        cell("markdown", "Explain the difference between mean and median.\n\n"
             "### BEGIN SOLUTION\nThe median resists outliers. secret-explain\n"
             "### END SOLUTION", "explain", grade=True, solution=True, points=1),
        cell("markdown", "**Task**: compare two data sets in a few sentences.\n\n"
             "=== BEGIN MARK SCHEME ===\nsecret-markscheme: 1 point per correct comparison\n"
             "=== END MARK SCHEME ===", "task", task=True, locked=True, points=2),
    ])


R_KERNELSPEC = {"name": "ir", "display_name": "R", "language": "R"}


def ps4():
    return notebook([
        cell("code", "norm2 <- function(v) {\n  # BEGIN SOLUTION\n"
             "  sqrt(sum(v^2))  # secret-norm\n  # END SOLUTION\n}", "norm2", solution=True),
        cell("code", "stopifnot(norm2(c(3, 4)) == 5)\n### BEGIN HIDDEN TESTS\n"
             "stopifnot(norm2(c(5, 12)) == 13)  # secret-hidden-norm\n### END HIDDEN TESTS",
             "test_norm2", grade=True, locked=True, points=2),
    ], kernelspec=R_KERNELSPEC, language="R")


def autotest():
    return notebook([
        cell("code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
             "    ### END SOLUTION", "double", solution=True),
        cell("code", "### AUTOTEST double(2)", "test_double", grade=True, locked=True, points=1),
    ])


NOTEBOOKS = {"ps1/problems.ipynb": ps1, "ps2/fib.ipynb": ps2, "ps3/stats.ipynb": ps3,
             "ps4/vectors.ipynb": ps4, "autotest/auto.ipynb": autotest}


def main() -> None:
    for rel, nb in ((rel, make()) for rel, make in NOTEBOOKS.items()):
        path = HERE / rel
        path.parent.mkdir(exist_ok=True)
        nbformat.validate(nb)
        nbformat.write(nb, str(path))
    (HERE / "ps2" / "data.txt").write_text("55\n")


if __name__ == "__main__":
    main()
