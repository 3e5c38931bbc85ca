"""The isolated grader against the real Docker daemon and the npuhub/base image.

The image is overlaid with this checkout's extensions/autograde.py and autograde_guard.py
(one COPY layer, built offline), so the runner under test is the one in the tree even
before images/build runs again. Containers are labelled with this session's prefix and must all be gone after.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from npuhub.hub.courses.assignment import release, release_folder
from npuhub.hub.courses.grader import DEPLOYMENT_LABEL, grade_in_container, remove_stale
from npuhub.hub.courses.grading import prepare_for_grading, score
from npuhub.hub.courses.grading_runs import GradingRuns

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "tests" / "data" / "course"
BASE = "npuhub/base:latest"
PREFIX = f"npuhub-test-grader-{uuid.uuid4().hex[:6]}-"
LABEL = {"org.npuhub.test": PREFIX}
ANSWERS = {
    "squares": 'def squares(n):\n    """The first n squares."""\n'
               "    return [i * i for i in range(1, n + 1)]",
    "hypotenuse": "def hypotenuse(a, b):\n    return math.sqrt(a * a + b * b)",
    "answer": "ANSWER = 42\nassert ANSWER == 42",
    "explain": "Because the problem says so.",
}


@pytest.fixture(scope="session")
def docker_client():
    import docker

    client = docker.from_env(version="auto")
    try:
        client.images.get(BASE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{BASE} is not built: run images/build base (make test does)")
    yield client
    for c in client.containers.list(all=True, filters={"label": f"org.npuhub.test={PREFIX}"}):
        c.remove(force=True)
    client.close()


@pytest.fixture(scope="session")
def image(docker_client):
    """npuhub/base with this checkout's autograde runner."""
    site = docker_client.containers.run(
        BASE, entrypoint=["python", "-c", "import npuhub.extensions as e, os; "
                          "print(os.path.dirname(e.__file__))"], remove=True,
        network_mode="none").decode().strip()
    names = ("autograde.py", "autograde_guard.py")
    dockerfile = f"FROM {BASE}\n" + "".join(f"COPY {n} {site}/{n}\n" for n in names)
    files = [("Dockerfile", dockerfile.encode())]
    files += [(n, (ROOT / "extensions" / n).read_bytes()) for n in names]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    tag = f"{PREFIX}image:latest"
    docker_client.images.build(fileobj=buf, custom_context=True, tag=tag, network_mode="none",
                               rm=True, forcerm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


PROBE = """import os, socket
print("ENV", " ".join(sorted(os.environ)))
print("UID", os.getuid(), os.getgid())
print("CAPS", open("/proc/self/status").read().split("CapEff:")[1].split()[0])
print("DEVS", " ".join(sorted(os.listdir("/dev"))))
try:
    open("/opt/npuhub/x", "w")
except OSError as e:
    print("ROOTFS", type(e).__name__)
socket.create_connection(("127.0.0.1", 8000), timeout=2)
ANSWER = 42"""


def submission(**sources):
    """The released ps1 with the given answer sources (grade_id -> text)."""
    student, _ = release(nbformat.read(str(COURSE / "ps1" / "problems.ipynb"), as_version=4))
    for cell in student.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in sources:
            cell.source = sources[gid]
    return student


def grade(submitted, tmp_path, image, docker_client, *, timeout=20, **kw):
    source = nbformat.read(str(COURSE / "ps1" / "problems.ipynb"), as_version=4)
    name = uuid.uuid4().hex[:6]
    prepared = tmp_path / f"{name}-prepared.ipynb"
    nbformat.write(prepare_for_grading(submitted, source), str(prepared))
    out = tmp_path / f"{name}-graded.ipynb"
    nb = grade_in_container(prepared, out, image=image, timeout=timeout, docker=docker_client,
                            labels=LABEL, name_prefix=PREFIX, **kw)
    assert out.exists()
    return nb, score(nb)


def points(result):
    return {c["grade_id"]: c["points"] for c in result["cells"]}


def test_correct_wrong_tampered_and_no_network(tmp_path, image, docker_client):
    wrong = dict(ANSWERS, squares="def squares(n):\n    return [i * i for i in range(n)]")
    tampered = submission(**ANSWERS)
    for cell in tampered.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_hypotenuse":
            cell.source = "pass  # tests removed"
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "hypotenuse":
            cell.source = "def hypotenuse(a, b):\n    return 5"
    network = submission(**dict(ANSWERS, answer=PROBE))
    jobs = {"correct": submission(**ANSWERS), "wrong": submission(**wrong),
            "tampered": tampered, "network": network}
    with ThreadPoolExecutor(2) as pool:
        futures = {k: pool.submit(grade, nb, tmp_path, image, docker_client)
                   for k, nb in jobs.items()}
        results = {k: f.result() for k, f in futures.items()}

    nb, correct = results["correct"]
    assert correct["status"] == "ok"
    assert (correct["score"], correct["max_score"]) == (5.0, 7.0)  # 2 points are manual
    assert correct["needs_manual_grading"] is True and correct["needs_review"] is False
    assert nb.metadata.npuhub.autograde.status == "ok"

    _, wrong_result = results["wrong"]
    assert points(wrong_result) == {"test_squares": 0.0, "test_hypotenuse": 3.0, "answer": 0.0,
                                    "explain": 0.0}
    assert wrong_result["cells"][0]["error"].startswith("AssertionError")

    nb, tampered_result = results["tampered"]
    assert points(tampered_result)["test_hypotenuse"] == 0.0  # the original test ran
    test = next(c for c in nb.cells if c.get("id") == "test_hypotenuse")
    assert "hypotenuse(5, 12) == 13" in test.source

    nb, network_result = results["network"]
    cell = next(c for c in nb.cells if c.get("id") == "answer")
    assert points(network_result)["answer"] == 0.0
    assert cell.outputs[-1].ename in {"ConnectionRefusedError", "OSError", "TimeoutError"}
    probe = dict(line.split(" ", 1) for line in cell.outputs[0].text.splitlines())
    assert not [k for k in probe["ENV"].split() if "TOKEN" in k or k.startswith(
        ("JUPYTERHUB", "NPUHUB", "DOCKER"))]
    assert (probe["UID"], probe["CAPS"], probe["ROOTFS"]) == (
        "1000 100", "0000000000000000", "OSError")
    assert not [d for d in probe["DEVS"].split() if d.startswith(("davinci", "nvidia"))]
    assert cell.outputs[-1].output_type == "error"


def test_infinite_loop_times_out_while_others_grade(tmp_path, image, docker_client):
    loop = submission(**dict(ANSWERS, squares="while True:\n    pass"))
    # the student's kernel tries to stop the runner: it runs as another user, and cannot
    stopper = submission(**dict(ANSWERS, squares=(
        "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)")))
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        looping = pool.submit(grade, loop, tmp_path, image, docker_client, timeout=10)
        stopped = pool.submit(grade, stopper, tmp_path, image, docker_client, timeout=5,
                              total_timeout=5)
        other = pool.submit(grade, submission(**ANSWERS), tmp_path, image, docker_client)
        (nb, result), (_, other_result) = looping.result(), other.result()
        _, stopped_result = stopped.result()
    assert other_result["score"] == 5.0
    squares = next(c for c in nb.cells if c.get("id") == "squares")
    assert squares.outputs[-1].ename == "CellTimeoutError"
    assert points(result) == {"test_squares": 0.0, "test_hypotenuse": 3.0, "answer": 0.0,
                              "explain": 0.0}
    stopped_nb, _ = stopped.result()
    squares = next(c for c in stopped_nb.cells if c.get("id") == "squares")
    assert squares.outputs[-1].ename == "PermissionError"
    assert stopped_result["status"] == "ok" and stopped_result["needs_review"] is False
    assert points(stopped_result)["test_hypotenuse"] == 3.0
    assert time.monotonic() - started < 90


def test_huge_output_and_fork_bomb_are_contained(tmp_path, image, docker_client):
    # gigabytes if let run: Python prints, and a child process writing to the kernel's fd 1
    flood = submission(**dict(ANSWERS, squares='while True:\n    print("x" * 200)',
                              answer='import os\nos.system("yes")'))
    bomb = submission(**dict(ANSWERS, answer=(
        "import os\nfor _ in range(10**4):\n    try:\n        os.fork()\n"
        "    except OSError:\n        pass\nANSWER = 42")))
    # one after the other: each alone must be contained (concurrency is tested above)
    nb, flood_result = grade(flood, tmp_path, image, docker_client, timeout=5,
                             total_timeout=60)
    _, bomb_result = grade(bomb, tmp_path, image, docker_client, timeout=5,
                           total_timeout=40)
    # the flood is cut; the cell then times out, or the kernel dies under the flood, or (on a
    # machine loaded enough) the whole run is stopped at its total limit and nothing comes
    # back -- either way it is contained and scores nothing
    assert points(flood_result)["test_squares"] == 0.0
    squares = next(c for c in nb.cells if c.get("id") == "squares")
    text = "".join(o.get("text", "") for o in squares.outputs if o.output_type == "stream")
    if not squares.outputs:
        assert nb.metadata.npuhub.autograde.status in ("timeout", "crashed")
    else:
        ended = squares.outputs[-1].ename
        assert ended in ("CellTimeoutError", "DeadKernelError")
        if ended == "CellTimeoutError":
            # the kernel lived to the timeout: what it printed past the cap was cut, said so
            assert "output truncated by the autograder" in text
    for cell_id in ("squares", "answer"):
        cell = next(c for c in nb.cells if c.get("id") == cell_id)
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert len(text) < 110_000
    assert len(nbformat.writes(nb)) < 3_000_000
    # the bomb hits the pid limit, its cell times out, the other cells are graded
    assert points(bomb_result) == {"test_squares": 2.0, "test_hypotenuse": 3.0, "answer": 0.0,
                                   "explain": 0.0}


def test_assignment_files_are_beside_the_notebook(tmp_path, image, docker_client):
    released = tmp_path / "release"
    release_folder(COURSE / "ps2", released)
    source = nbformat.read(str(COURSE / "ps2" / "fib.ipynb"), as_version=4)
    student = nbformat.read(str(released / "fib.ipynb"), as_version=4)
    student.cells[0].source = (
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
        "    return a\nopen('scratch.txt', 'w').write('the working folder is writable')")
    prepared = tmp_path / "fib-prepared.ipynb"
    nbformat.write(prepare_for_grading(student, source), str(prepared))
    nb = grade_in_container(prepared, tmp_path / "fib-graded.ipynb", image=image, timeout=20,
                            files_dir=released, docker=docker_client, labels=LABEL,
                            name_prefix=PREFIX)
    assert score(nb)["score"] == 2.0, nb.cells[1].outputs


def test_stale_containers_are_removed_and_none_is_left(docker_client, image):
    docker_client.containers.create(image, command=["true"], name=f"{PREFIX}stale",
                                    labels={"org.npuhub.role": "autograde", **LABEL})
    assert remove_stale(docker_client, labels=LABEL) == 1
    left = docker_client.containers.list(all=True, filters={"label": f"org.npuhub.test={PREFIX}"})
    assert left == []


def test_a_service_removes_only_its_own_deployments_stale_graders(docker_client, image):
    """Two deployments on one Docker host: a starting service removes its own service
    graders left behind, never another deployment's grading in flight."""
    ours, theirs = PREFIX + "ours", PREFIX + "theirs"

    def grader(deployment: str, by: str = "service", start: bool = False):
        labels = {"org.npuhub.role": "autograde", "org.npuhub.grader": by,
                  DEPLOYMENT_LABEL: deployment, **LABEL}
        c = docker_client.containers.create(image, command=["sleep", "300"], labels=labels,
                                            name=f"{deployment}-autograde-{uuid.uuid4().hex[:6]}")
        if start:
            c.start()
        return c

    stale = grader(ours)
    in_flight = grader(theirs, start=True)
    by_hand = grader(ours, by="cli")
    asyncio.run(GradingRuns(deployment=ours).remove_stale())
    left = {c.id for c in docker_client.containers.list(
        all=True, filters={"label": f"org.npuhub.test={PREFIX}"})}
    assert stale.id not in left
    assert {in_flight.id, by_hand.id} <= left
    in_flight.reload()
    assert in_flight.status == "running"


TAMPERING = {
    # the traceback display replaced: a failing test shows nothing
    "traceback": "get_ipython().showtraceback = lambda *a, **k: None",
    # an input transformer turns every later cell, tests included, into `pass`
    "transformer": "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])",
    # the assertion machinery: failed asserts swallowed, AssertionError rebound
    "assertion": ("import builtins\nget_ipython().set_custom_exc((AssertionError,), "
                  "lambda *a, **k: None)\nbuiltins.AssertionError = type('AssertionError', "
                  "(Warning,), {})"),
    # the runner's result forged: printed, written to fd 1 and to PID 1's stdout
    "forged": ("import json, os\nfake = json.dumps({'cells': [], 'metadata': {}, "
               "'nbformat': 4, 'nbformat_minor': 5})\n"
               "print('NPUHUB-AUTOGRADE-RESULT ' + fake)\n"
               "os.write(1, ('NPUHUB-AUTOGRADE-RESULT ' + fake + '\\n').encode())\n"
               "try:\n    open('/proc/1/fd/1', 'w').write('NPUHUB-AUTOGRADE-RESULT ' + fake)\n"
               "except OSError as e:\n    print('proc', type(e).__name__)"),
    # the hidden tests' file read
    "hidden": ("try:\n    print(open('/autograde/private/in.ipynb').read()[:100])\n"
               "except OSError as e:\n    print('hidden', type(e).__name__)"),
}
WRONG = "def squares(n):\n    return []"


@pytest.mark.parametrize("technique", sorted(TAMPERING))
def test_tampering_is_flagged_with_no_automatic_points(tmp_path, image, docker_client,
                                                       technique):
    # wrong answers that the tampering would otherwise let through with full points
    sub = submission(**dict(ANSWERS, squares=TAMPERING[technique] + "\n" + WRONG,
                            hypotenuse="def hypotenuse(a, b):\n    return 5"))
    nb, result = grade(sub, tmp_path, image, docker_client)
    assert result["needs_review"] is True, result
    flagged = {c["grade_id"]: c for c in result["cells"] if c["review"]}
    assert set(flagged) == {"test_squares", "test_hypotenuse", "answer", "explain"}, result
    assert result["score"] == 0.0
    assert all(c["points"] == 0.0 for c in flagged.values())
    record = nb.metadata.npuhub.autograde
    assert record.status == "ok" and len(record.review) == 4
    if technique == "hidden":
        squares = next(c for c in nb.cells if c.get("id") == "squares")
        assert "hidden PermissionError" in squares.outputs[0].text
        assert "reached for the grader's files" in flagged["test_squares"]["review"]
    if technique == "forged":
        squares = next(c for c in nb.cells if c.get("id") == "squares")
        assert "proc PermissionError" in "".join(o.get("text", "") for o in squares.outputs)


def test_binary_data_files_reach_the_kernel_intact(image, docker_client):
    from npuhub.extensions.filecodec import encode
    from npuhub.hub.courses.service_ops import grade_files, release_files

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    source = {"fib.ipynb": (COURSE / "ps2" / "fib.ipynb").read_text(),
              "data.txt": "55\n", "img/pic.png": encode(png)}
    released, checksums = release_files(source)
    student = nbformat.reads(released["fib.ipynb"], as_version=4)
    student.cells[0].source = (
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
        f"    return a if open('img/pic.png', 'rb').read() == {png!r} else -1")
    graded = grade_files({"fib.ipynb": nbformat.writes(student)}, source, released, checksums,
                         image=image, autograde={"timeout": 20, "memory": "512m", "cpus": 1.0},
                         labels=LABEL, docker=docker_client)
    assert (graded["score"], graded["max_score"]) == (2.0, 2.0), graded["result"]
    assert graded["result"]["needs_review"] is False
