"""Batch jobs: send a notebook or script of your home to the queue, follow it, cancel it.

    from npuhub.extensions import jobs
    job = jobs.submit("train.ipynb", npus=2, parameters={"lr": 0.01}, time_limit="1:00:00")
    jobs.get(job["id"])["state"]    # queued | running | succeeded | failed | cancelled | timed_out
    print(jobs.logs(job["id"]))
    for chunk in jobs.logs(job["id"], follow=True): print(chunk, end="")
    jobs.cancel(job["id"])

Outputs (executed notebook, HTML report, log) land in `~/jobs/{id}/`.
"""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Iterator
from typing import Any

from . import client
from .client import NPUHubError
from .i18n import _
from .util import check_name, home

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
SOURCE_SUFFIXES = (".ipynb", ".py")


def relative_source(source: str | os.PathLike) -> str:
    """`source` as a path relative to the home, checked to be a .ipynb/.py file there."""
    root = os.path.realpath(home())
    p = os.path.expanduser(os.fspath(source))
    full = os.path.realpath(p if os.path.isabs(p) else os.path.join(root, p))
    if os.path.commonpath([root, full]) != root:
        raise NPUHubError(
            _("{source}: a job's source must be a file in your home ({root})").format(
                source=source, root=root
            )
        )
    if not full.endswith(SOURCE_SUFFIXES):
        raise NPUHubError(
            _("{source}: a job runs a notebook (.ipynb) or a script (.py)").format(source=source)
        )
    if not os.path.isfile(full):
        raise NPUHubError(_("{source}: no such file in your home").format(source=source))
    return os.path.relpath(full, root).replace(os.sep, "/")


def submit(
    source: str | os.PathLike | None = None,
    npus: int | None = None,
    parameters: dict | str | None = None,
    time_limit: int | str | None = None,
    name: str | None = None,
    account: str | None = None,
    image: str | None = None,
    datasets: builtins.list[str] | None = None,
    like: int | None = None,
) -> dict:
    """Queue `source` (a .ipynb or .py in your home) and return the job (`id`, `state`, …).

    `parameters` are injected into the notebook (papermill-style) or passed to the script:
    a dict, or the text a person typed (one `name=value` per line, or a JSON object);
    `time_limit` is seconds or text: "90", "1:30:00", "2h", "45m", "1h30m". Text is sent
    as typed and read by the service (the same reading as the Lab's dialog and the
    magics); `account` defaults to this server's account; `npus` defaults to 0.
    `like=ID` re-runs job ID on the same image digest, datasets and parameters (with no
    `source`; the `parameters` given replace those of the same name).
    """
    if (source is None) == (like is None):
        raise NPUHubError(_("give a source, or like=ID to re-run a job"))
    if like is not None and (isinstance(like, bool) or not isinstance(like, int)):
        raise NPUHubError(
            _("invalid like {value}: the id of one of your jobs").format(value=repr(like))
        )
    if npus is None and like is None:
        npus = 0
    if npus is not None and (isinstance(npus, bool) or not isinstance(npus, int) or npus < 0):
        raise NPUHubError(
            _("invalid npus {value}: a whole number, 0 or more").format(value=repr(npus))
        )
    if parameters is not None and not isinstance(parameters, dict | str):
        raise NPUHubError(
            _("parameters must be a dict, e.g. {'lr': 0.01}, or name=value lines")
        )
    if time_limit is not None and (
        isinstance(time_limit, bool) or not isinstance(time_limit, int | str)
    ):
        raise NPUHubError(_("time_limit must be seconds or text like '2h', '45m', '1:30:00'"))
    if isinstance(time_limit, str):
        time_limit = time_limit.strip() or None
    body: dict[str, Any] = {
        "like": like,
        "source": relative_source(source) if source is not None else None,
        "npus": npus,
        "parameters": (
            parameters if isinstance(parameters, str)
            else dict(parameters or {}) if parameters or like is None else None
        ),
        "time_limit": time_limit,
        "name": check_name(name, "job name") if name else None,
        "account": account
        or (os.environ.get("NPUHUB_ACCOUNT") if like is None else None)
        or None,
        "image": image,
        "datasets": [check_name(d, "dataset name") for d in datasets] if datasets else None,
    }
    return client.request("POST", "/jobs", json={k: v for k, v in body.items() if v is not None})


def list() -> builtins.list[dict]:  # noqa: A001 - the public name DESIGN.md gives
    """Your jobs, newest first as the service orders them."""
    return client.request("GET", "/jobs") or []


def get(job_id: Any) -> dict:
    """One job, with its current `state`."""
    return client.request("GET", client.path("jobs", check_name(job_id, "job id")))


def cancel(job_id: Any) -> dict:
    """Cancel a queued or running job; returns the job."""
    return client.request("DELETE", client.path("jobs", check_name(job_id, "job id")))


def log_chunk(job_id: Any, offset: int = 0) -> dict:
    """One read of the log from `offset`: `{text, offset (the next one), done}`."""
    resource = client.path("jobs", check_name(job_id, "job id"), "logs")
    return client.request("GET", resource, params={"offset": offset}) or {}


def _chunks(job_id: str, offset: int, follow: bool, poll: float) -> Iterator[str]:
    while True:
        r = log_chunk(job_id, offset)
        text, new_offset, done = r.get("text") or "", r.get("offset", offset), r.get("done")
        if text:
            yield text
        advanced = new_offset != offset
        offset = new_offset
        if done and not text:
            return
        if not advanced:
            if not follow or done:
                return
            time.sleep(poll)


def logs(
    job_id: Any, follow: bool = False, offset: int = 0, poll: float = 2.0
) -> str | Iterator[str]:
    """The job's log so far as one string; with `follow=True`, an iterator of chunks that
    ends when the job has finished and its log is read to the end."""
    job_id = check_name(job_id, "job id")
    if follow:
        return _chunks(job_id, offset, True, poll)
    return "".join(_chunks(job_id, offset, False, poll))


def wait(job_id: Any, poll: float = 5.0, timeout: float | None = None) -> dict:
    """Block until the job is finished (or `timeout` seconds passed); returns the job."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = get(job_id)
        if job.get("state") in FINAL_STATES:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            return job
        time.sleep(poll)


def output_dir(job: dict) -> str:
    """Where a job's outputs are in this server: `~/jobs/{id}/`."""
    return str(home() / "jobs" / check_name(job["id"], "job id"))
