"""Pure pieces both backends and the REST resource share: validation of a job request,
names of things on the host, the job container's spec, reading logs in chunks."""

from __future__ import annotations

import math
import os
import re
from pathlib import PurePosixPath
from typing import Any

from npuhub.hub.binding import Device
from npuhub.hub.containers import HOME, home_volume, job_container
from npuhub.hub.parsing import check_time_limit, parse_parameters
from npuhub.hub.refusals import Refusal

from .sbatch import DEFAULT_RUNNER, SLUG, parameters_json

__all__ = [
    "HOME",
    "InvalidRequest",
    "LABEL",
    "container_name",
    "container_spec",
    "exit_reason",
    "home_volume",
    "log_chunk",
    "log_piece",
    "parameters_json",
    "parse_request",
    "read_range",
    "runner_command",
]

FIELDS = (
    "source",
    "npus",
    "account",
    "image",
    "datasets",
    "time_limit",
    "parameters",
    "name",
    "priority",
)
ACCOUNT = re.compile(r"^[A-Za-z0-9][\w.@+-]{0,254}$")
PARAM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_PARAMETERS = 64
MAX_VALUE = 4096
FAILED_PREFIX = "npuhub-runner: failed: "
LABEL = "npuhub.job"  # container label: the job id


class InvalidRequest(Refusal, ValueError):
    """A job request refused before it is queued (400); the params name the field."""


def runner_command() -> list[str]:
    return list(DEFAULT_RUNNER)


def _fail(code: str, **params: Any) -> None:
    raise InvalidRequest(code, **params)


def check_source(source: Any) -> str:
    ok = isinstance(source, str) and 0 < len(source) <= 1024
    if ok:
        p = PurePosixPath(source)
        ok = (
            not p.is_absolute()
            and ".." not in p.parts
            and not source.startswith(("-", "~"))
            and "\\" not in source
            and not any(ord(c) < 32 or c == "\x7f" for c in source)
        )
    if not ok:
        _fail("bad_source_path", field="source", value=f"{source!r:.100}")
    if not source.endswith((".ipynb", ".py")):
        _fail("bad_source_kind", field="source", value=f"{source!r:.100}")
    return str(PurePosixPath(source))


def check_parameters(parameters: Any) -> dict:
    """The job's parameters: a JSON object, or the text a person typed (hub/parsing.py)."""
    field = {"field": "parameters"}
    parameters = _typed(parse_parameters, parameters)
    if len(parameters) > MAX_PARAMETERS:
        _fail("too_many_parameters", max=MAX_PARAMETERS, **field)
    for key, value in parameters.items():
        if not isinstance(key, str) or not PARAM_KEY.match(key):
            _fail("bad_parameter_name", name=f"{key!r:.70}", **field)
        if value is not None and not isinstance(value, str | int | float | bool):
            _fail("bad_parameter_value", name=key, **field)
        if isinstance(value, str) and len(value) > MAX_VALUE:
            _fail("parameter_too_long", name=key, max=MAX_VALUE, **field)
        if isinstance(value, float) and not math.isfinite(value):
            _fail("parameter_not_finite", name=key, **field)
    return dict(parameters)


def _typed(parse, *args):
    """What a person typed, read by hub/parsing.py; its refusal is this request's."""
    try:
        return parse(*args)
    except Refusal as e:
        raise InvalidRequest(e.code, e.status, **e.params) from None


def _whole(body: dict, key: str, lo: int, hi: int, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _fail("bad_whole_number", field=key, low=lo, high=hi, value=f"{value!r:.40}")
    return value


def parse_request(
    body: dict, *, max_time_limit: int, default_time_limit: int, is_admin: bool = False
) -> dict:
    """A POST /jobs body → the validated fields (source, npus, account, image,
    datasets, time_limit, parameters, name, priority)."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        _fail("unknown_fields", fields=[f"{u:.40}" for u in unknown[:10]], allowed=FIELDS)
    source = check_source(body.get("source"))
    name = body.get("name")
    if name is None:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", PurePosixPath(source).stem).strip("-._")
        name = (stem or "job")[:64]
    if not isinstance(name, str) or not SLUG.match(name):
        _fail("bad_job_name", field="name", value=f"{name!r:.80}")
    account = body.get("account")
    if account is not None and (not isinstance(account, str) or not ACCOUNT.match(account)):
        _fail("bad_account", field="account")
    image = body.get("image")
    if image is not None and (not isinstance(image, str) or not 0 < len(image) <= 255):
        _fail("bad_image", field="image")
    datasets = body.get("datasets")
    if datasets is not None:
        if not isinstance(datasets, list) or not all(
            isinstance(d, str) and SLUG.match(d) for d in datasets
        ):
            _fail("bad_dataset_list", field="datasets")
        if len(set(datasets)) != len(datasets):
            _fail("dataset_twice", field="datasets")
    if "priority" in body and not is_admin:
        _fail("priority_admin_only", field="priority")
    return {
        "source": source,
        "npus": _whole(body, "npus", 0, 64, 0),
        "account": account,
        "image": image,
        "datasets": datasets,
        "time_limit": _typed(
            check_time_limit, body.get("time_limit"), default_time_limit, max_time_limit
        ),
        "parameters": check_parameters(body.get("parameters")),
        "name": name,
        "priority": _whole(body, "priority", -1000, 1000, 0),
    }


def hms(seconds: int) -> str:
    """3725 → "1:02:05"."""
    h, rest = divmod(int(seconds), 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


def exit_reason(log: bytes, code: int) -> str:
    """Why a job failed, for people: the runner's last `failed:` line, else the code."""
    for line in reversed(log.decode(errors="replace").splitlines()[-50:]):
        if line.startswith(FAILED_PREFIX):
            return line[len(FAILED_PREFIX) :].strip()[:500] or f"exited with code {code}"
    if code > 128:
        return f"killed by signal {code - 128}"
    return f"exited with code {code}; see the log"


LOG_LIMIT = 256 * 1024  # bytes of a job's log in one answer of the logs API


def log_chunk(data: bytes, offset: int, final: bool, limit: int = LOG_LIMIT) -> dict:
    """{"text", "offset", "done"} of `data` from byte `offset`: at most `limit` bytes,
    ending at a line end unless the log is complete (so no character is ever cut)."""
    offset = min(max(int(offset), 0), len(data))
    return log_piece(data[offset : offset + limit], offset, len(data), final, limit)


def read_range(path, offset: int, limit: int = LOG_LIMIT) -> tuple[bytes, int, int]:
    """(at most `limit` bytes of file `path` from `offset`, the offset they start at
    (clamped to the file), the file's size): never the whole file. A missing file: empty."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            offset = min(max(int(offset), 0), size)
            f.seek(offset)
            return f.read(limit), offset, size
    except FileNotFoundError:
        return b"", 0, 0


def log_piece(piece: bytes, offset: int, size: int, final: bool, limit: int = LOG_LIMIT) -> dict:
    """log_chunk of the `piece` (at most `limit` bytes) read at `offset` of a log of
    `size` bytes."""
    complete = final and offset + len(piece) >= size
    if not complete and b"\n" in piece:
        piece = piece[: piece.rindex(b"\n") + 1]
    elif not complete and len(piece) < limit:
        piece = b""  # a line still being written
    elif not complete:  # one very long line: cut before a partial UTF-8 character
        cut = len(piece)
        while cut > len(piece) - 4 and cut > 0 and piece[cut - 1] & 0xC0 == 0x80:
            cut -= 1
        if cut > 0 and piece[cut - 1] >= 0xC0:
            cut -= 1
        piece = piece[:cut]
    end = offset + len(piece)
    return {
        "text": piece.decode(errors="replace"),
        "offset": end,
        "done": final and end >= size,
    }


def container_name(prefix: str, job_id: int) -> str:
    return f"{prefix}-job-{job_id}"


def job_network(job, cfg) -> str:
    """The Docker network of `job`'s container: c.JobsConfig.network if set, else npuhub's
    internal network, or its outbound one for a profile with "internet": True."""
    if cfg.network:
        return cfg.network
    return cfg.outbound_network if job.profile in cfg.internet_profiles else cfg.internal_network


def container_spec(job, devices: list[Device], cfg) -> dict:
    """Keyword arguments of ``docker.containers.create`` for `job` holding `devices`
    (built by :func:`npuhub.hub.containers.job_container`)."""
    return job_container(
        name=container_name(cfg.prefix, job.id),
        image=job.image,
        command=[*runner_command(), job.source, parameters_json(job.parameters)],
        labels={LABEL: str(job.id), "npuhub.prefix": cfg.prefix, "npuhub.user": job.user},
        home=home_volume(cfg.prefix, job.user),
        datasets=job.datasets or [],
        env={"NPUHUB_JOB_ID": str(job.id), "NPUHUB_OUTPUT_DIR": f"{HOME}/jobs/{job.id}"},
        devices=devices,
        account=job.account,
        mode=cfg.binding_mode,
        driver_paths=cfg.driver_paths,
        network=job_network(job, cfg),
        memory=cfg.memory,
        cpus=cfg.cpu_limit,
        pids_limit=cfg.pids_limit,
        log_max_size=cfg.log_max_size,
        log_max_files=cfg.log_max_files,
    )

