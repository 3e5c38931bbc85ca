"""Run one prepared submission in its own throw-away container.

The container: no network, no devices, no environment from the host (only the image's),
every capability dropped but the three the runner needs to start the kernel as another
user (SETUID, SETGID) and to interrupt it (KILL), no-new-privileges, a read-only root file
system with small tmpfs /tmp and home, memory (no swap), CPU and pid limits, a size-capped
log. The runner (npuhub.extensions.autograde) starts as root and runs the student's code
in a kernel of uid 1000:100 with no other group.

A per-run folder is bind-mounted read-only at /autograde: `private/` (mode 0700, files
0600, owned by root) holds the prepared notebook, hidden tests included, and a per-run
secret, out of the kernel's reach; `files/` the assignment's data files, which the runner
copies into the kernel's folder. The result comes out as one line on the container's
stdout, `RESULT_MARKER SECRET JSON`, read from the capped log: a line without the secret
is not a result. The kernel's own output never reaches that log. The container is killed
past `total_timeout` + `KILL_MARGIN` seconds and always removed.

The outputs that come back are copied onto the prepared notebook (matched by cell id and
source), so sources, points and metadata stay the host's own; of the runner's record only
the status and the cells it does not vouch for (`review`) are kept. Blocking: call it
from an executor, not from the hub's event loop.
"""

from __future__ import annotations

import copy
import logging
import secrets
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import docker as dockersdk
import nbformat
import requests

from npuhub.hub.containers import grader_container

RESULT_MARKER = "NPUHUB-AUTOGRADE-RESULT "  # as in npuhub.extensions.autograde
HOME = "/home/jovyan"
KERNEL_USER = "1000:100"
KILL_MARGIN = 20.0
LOG_LIMIT = "32m"  # the executed notebook is capped at ~2 MB of outputs by the runner
STATUSES = ("ok", "timeout", "crashed")
#: the deployment (container prefix) a grading container belongs to: several deployments
#: may share one Docker host, and each removes only its own stale graders
DEPLOYMENT_LABEL = "org.npuhub.deployment"

log = logging.getLogger(__name__)


def container_config(*, image, timeout, total_timeout, memory, cpus, pids, name, labels):
    """The docker-py `containers.create` keyword arguments for one grading run (pure)."""
    return grader_container(
        image=image,
        command=["python", "-m", "npuhub.extensions.autograde", "/autograde/private/in.ipynb",
                 "-", "--timeout", str(int(timeout)), "--total-timeout", str(float(total_timeout)),
                 "--files", "/autograde/files", "--secret-file", "/autograde/private/secret",
                 "--kernel-user", KERNEL_USER, "--kernel-home", HOME],
        name=name,
        labels={"org.npuhub.role": "autograde", **(labels or {})},
        memory=memory,
        cpus=cpus,
        pids=pids,
        log_limit=LOG_LIMIT,
        runner_user="0:0",  # the runner; the student's kernel runs as KERNEL_USER
        runner_caps=("SETUID", "SETGID", "KILL"),
    )


def _parse(stdout: bytes, secret: str):
    """The executed notebook on the line that starts with the marker and `secret`."""
    start = (RESULT_MARKER + secret + " ").encode()
    at = stdout.rfind(b"\n" + start)
    at = at + 1 if at >= 0 else (0 if stdout.startswith(start) else -1)
    if at < 0:
        return None
    line = stdout[at + len(start):].split(b"\n", 1)[0]
    try:
        return nbformat.reads(line.decode(), as_version=4)
    except Exception:  # whatever came out, it is not a result
        return None


def _review(entries, prepared) -> list[dict]:
    """The runner's list of cells it does not vouch for, kept to the prepared notebook's
    graded cells and short reasons."""
    known = {c.metadata.get("nbgrader", {}).get("grade_id") for c in prepared.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("grade_id") in known:
            out.append({"grade_id": entry["grade_id"],
                        "reason": str(entry.get("reason") or "flagged")[:300]})
    return out


def merge_outputs(prepared, executed):
    """The prepared notebook with the outputs and execution counts of `executed`, for the
    code cells whose id and source match; other cells stay unexecuted."""
    nb = copy.deepcopy(prepared)
    ran = {c.get("id"): c for c in (executed.cells if executed is not None else [])}
    for cell in nb.cells:
        done = ran.get(cell.get("id"))
        if cell.cell_type == "code" and done is not None and done.get("source") == cell.source:
            cell.outputs = copy.deepcopy(done.get("outputs", []))
            count = done.get("execution_count")
            cell.execution_count = count if isinstance(count, int) else None
    return nb


def grade_in_container(prepared_nb_path, out_path, *, image: str, timeout: int,
                       memory: str = "512m", cpus: float = 1.0, pids: int = 128,
                       docker=None, total_timeout: float | None = None, files_dir=None,
                       labels: dict | None = None, name_prefix: str = "npuhub-autograde-"):
    """Execute the prepared notebook at `prepared_nb_path` in a fresh container of `image`
    (`timeout` seconds per cell, `total_timeout` in all, default 4 × timeout; `files_dir`
    copied beside it first), write the executed notebook to `out_path` and return it.

    `metadata.npuhub.autograde` = {status: ok|timeout|crashed, exit_code, duration, log}:
    on timeout or crash the cells not reached have no outputs and score 0."""
    prepared = nbformat.read(str(prepared_nb_path), as_version=4)
    total = float(total_timeout or 4 * timeout)
    client = docker or dockersdk.from_env(version="auto")
    run = Path(tempfile.mkdtemp(prefix="npuhub-autograde-"))
    secret = secrets.token_hex(24)
    container = None
    started = time.monotonic()
    status, exit_code, stdout, stderr = "crashed", None, b"", b""
    try:
        run.chmod(0o755)
        private = run / "private"
        private.mkdir(mode=0o700)
        for name, text in (("in.ipynb", nbformat.writes(prepared)), ("secret", secret)):
            (private / name).write_text(text, encoding="utf-8")
            (private / name).chmod(0o600)
        if files_dir:  # links stay links: they lead nowhere inside the container
            shutil.copytree(files_dir, run / "files", symlinks=True)
        else:
            (run / "files").mkdir()
        _readable(run / "files")
        name = f"{name_prefix}{uuid.uuid4().hex[:12]}"
        config = container_config(image=image, timeout=timeout, total_timeout=total,
                                  memory=memory, cpus=cpus, pids=pids, name=name, labels=labels)
        config["volumes"] = {str(run): {"bind": "/autograde", "mode": "ro"}}
        container = client.containers.create(**config)
        container.start()
        try:
            exit_code = container.wait(timeout=total + KILL_MARGIN).get("StatusCode")
        except requests.exceptions.RequestException:
            log.warning("autograde %s: killed after %.0f s", name, total + KILL_MARGIN)
            status = "timeout"
            _kill(container)
        stdout = container.logs(stdout=True, stderr=False)
        stderr = container.logs(stdout=False, stderr=True, tail=40)
    finally:
        if container is not None:
            _remove(container)
        shutil.rmtree(run, ignore_errors=True)
        if docker is None:
            client.close()
    executed = _parse(stdout, secret) if status != "timeout" else None
    review = []
    if executed is not None:
        reported = executed.metadata.get("npuhub", {}).get("autograde", {})
        status = reported.get("status") if reported.get("status") in STATUSES else "crashed"
        review = _review(reported.get("review"), prepared)
    nb = merge_outputs(prepared, executed)
    record = {"status": status, "exit_code": exit_code,
              "duration": round(time.monotonic() - started, 3), "review": review,
              "log": stderr.decode(errors="replace")[-4000:]}
    nb.metadata["npuhub"] = nbformat.from_dict({"autograde": record})
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError:
        log.warning("autograde: invalid outputs came back; graded as not executed")
        nb = merge_outputs(prepared, None)
        nb.metadata["npuhub"] = nbformat.from_dict({"autograde": {**record,
                                                                  "status": "crashed"}})
    nbformat.write(nb, str(out_path))
    return nb


def remove_stale(docker=None, labels: dict | None = None) -> int:
    """Remove grading containers left by a hub that died mid-run (all those carrying
    `labels` besides the autograde role); returns how many. Call it at service start."""
    client = docker or dockersdk.from_env(version="auto")
    wanted = [f"{k}={v}" for k, v in {"org.npuhub.role": "autograde", **(labels or {})}.items()]
    try:
        stale = client.containers.list(all=True, filters={"label": wanted})
        for container in stale:
            _remove(container)
    finally:
        if docker is None:
            client.close()
    return len(stale)


def _readable(folder: Path) -> None:
    """Make the copied files readable by the container's uid 1000."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def _kill(container) -> None:
    try:
        container.kill()
    except dockersdk.errors.APIError as e:  # 404 gone, 409 not running: both fine
        if e.status_code not in (404, 409):
            raise


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except dockersdk.errors.NotFound:
        pass
    except dockersdk.errors.APIError as e:  # 409: its removal is already under way
        if e.status_code != 409:
            raise
