"""The in-container job runner (npuhub.extensions.jobrunner), run here on a temp home:
parameters injected papermill-style, outputs and log written, failures readable."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from npuhub.extensions import jobrunner


def notebook(cells, tag_index=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    if tag_index is not None:
        nb.cells[tag_index].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_script_arguments():
    assert jobrunner.script_args({"lr": 0.1, "name": "x y", "on": False, "n": None}) == [
        "--lr", "0.1", "--name", "x y", "--on", "false", "--n", "null",
    ]  # fmt: skip


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NPUHUB_OUTPUT_DIR", str(tmp_path / "jobs" / "1"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(home, source, params) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "npuhub.extensions.jobrunner", source, json.dumps(params)],
        capture_output=True, text=True, timeout=120, cwd=home,
    )  # fmt: skip
    log = (home / "jobs" / "1" / "log.txt").read_text()
    assert proc.stdout == log  # the log is what the job printed
    return proc.returncode, log


def test_notebook_with_parameters(home):
    (home / "work").mkdir()
    code = (
        "import os\nopen(os.environ['NPUHUB_OUTPUT_DIR'] + '/lr.txt', 'w').write(str(lr))\nlr * 2"
    )
    nbformat.write(notebook(["lr = 1", code], tag_index=0), home / "work" / "train.ipynb")
    rc, log = run(home, "work/train.ipynb", {"lr": 0.25})
    out = home / "jobs" / "1"
    assert rc == 0, log
    assert (out / "lr.txt").read_text() == "0.25"
    executed = nbformat.read(out / "train.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["data"]["text/plain"] == "0.5"
    assert "0.5" in (out / "train.html").read_text()
    assert "npuhub-runner: succeeded" in log


def test_failing_notebook(home):
    nbformat.write(notebook(["x = 1", "1 / 0", "print('never')"]), home / "bad.ipynb")
    rc, log = run(home, "bad.ipynb", {})
    assert rc == 1
    assert "ZeroDivisionError" in log
    assert log.splitlines()[-1] == "npuhub-runner: failed: ZeroDivisionError: division by zero"
    assert (home / "jobs" / "1" / "bad.ipynb").exists()  # the partial notebook is kept
    assert (home / "jobs" / "1" / "bad.html").exists()


def test_script(home):
    (home / "s.py").write_text(
        "import sys\nprint(sys.argv[1:])\nsys.exit(3 if '--fail' in sys.argv else 0)\n"
    )
    rc, log = run(home, "s.py", {"lr": 0.1, "name": "x y"})
    assert rc == 0 and "['--lr', '0.1', '--name', 'x y']" in log
    rc, log = run(home, "s.py", {"fail": True})
    assert rc == 1 and log.splitlines()[-1] == "npuhub-runner: failed: s.py exited with code 3"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("missing.ipynb", "no such file in your home: missing.ipynb"),
        ("../x.py", "../x.py is not inside your home"),
    ],
)
def test_bad_source(home, source, reason):
    rc, log = run(home, source, {})
    assert rc == 1 and log.splitlines()[-1] == f"npuhub-runner: failed: {reason}"


def test_papermill_parameters_replaced_on_a_rerun_of_an_executed_notebook(home):
    nbformat.write(notebook(["import os", "lr = 1\nname = 'x'", "print('lr is', lr, name)"],
                            tag_index=1), home / "p.ipynb")  # fmt: skip
    rc, log = run(home, "p.ipynb", {"lr": 0.5, "name": "a'b"})
    assert rc == 0, log
    assert "npuhub-runner: parameters injected as cell 3" in log and "lr is 0.5 a'b" in log
    executed = nbformat.read(home / "jobs" / "1" / "p.ipynb", as_version=4)
    injected = executed.cells[2]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert injected.source.splitlines()[1:] == ["lr = 0.5", 'name = "a\'b"']
    assert executed.metadata["papermill"]["parameters"] == {"lr": 0.5, "name": "a'b"}
    # the executed notebook run again (as `like` does) with new values: the injected
    # cell is replaced, not shadowed by a second one
    (home / "again.ipynb").write_text((home / "jobs" / "1" / "p.ipynb").read_text())
    rc, log = run(home, "again.ipynb", {"lr": 2})
    assert rc == 0 and "lr is 2 x" in log
    again = nbformat.read(home / "jobs" / "1" / "again.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in again.cells]
    assert tags.count(["injected-parameters"]) == 1 and len(again.cells) == 4


def test_executed_notebook_is_saved_as_it_runs(home):
    check = (
        "import json, os\n"
        "nb = json.load(open(os.environ['NPUHUB_OUTPUT_DIR'] + '/s.ipynb'))\n"
        "print('saved before this cell:', 'first done' in json.dumps(nb['cells'][0]['outputs']))"
    )
    nbformat.write(notebook(["print('first done')", check]), home / "s.ipynb")
    rc, log = run(home, "s.ipynb", {})
    assert rc == 0 and "saved before this cell: True" in log
