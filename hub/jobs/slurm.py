"""The Slurm backend of batch jobs: sbatch, scontrol, scancel through argv lists.

Blocking on purpose (each call is one short subprocess): the caller runs these methods
in an executor. The parsing of Slurm's output is pure and unit-tested on its own:
:func:`parse_scontrol`, :func:`parse_details`, :func:`parse_idx`,
:func:`parse_duration`, :func:`job_state`.

States, in npuhub's words: ``queued``, ``running``, ``succeeded``, ``failed``,
``cancelled``, ``timed_out``. They come from ``scontrol show job`` while the controller
knows the job (finished jobs stay for MinJobAge, 600 s in ``scripts/start-slurm``;
Slurm's default is 300 s), then from ``sacct`` when accounting is configured. A job
neither knows raises :class:`SlurmJobUnknown`: the caller keeps the last state it saw.

Exit codes: for a finished job, the script's exit status (the container's, since the
script exits with `docker run`'s code); a job killed by signal S reports 128+S, as a
shell does. None while the job is queued or running.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Mapping

from .sbatch import JobSpec, SlurmConfig, job_script, log_path, sbatch_args

__all__ = [
    "SlurmBackend",
    "SlurmError",
    "SlurmJobUnknown",
    "job_state",
    "parse_details",
    "parse_duration",
    "parse_exit_code",
    "parse_idx",
    "parse_scontrol",
]

log = logging.getLogger(__name__)

SLURM_ID = re.compile(r"^[0-9]+(?:_[0-9]+)?$")
_PAIR = re.compile(r"(\S+?)=(.*?)(?=\s+[^\s=]+=|\s*$)")
_NPU_IDX = re.compile(r"(?:^|,)npu(?::[^:(,]+)?:\d+\(IDX:([0-9,\-]+)\)")

#: Slurm job state → npuhub state
STATES = {
    "PENDING": "queued",
    "CONFIGURING": "queued",
    "REQUEUED": "queued",
    "REQUEUE_HOLD": "queued",
    "REQUEUE_FED": "queued",
    "RESV_DEL_HOLD": "queued",
    "RUNNING": "running",
    "COMPLETING": "running",
    "SUSPENDED": "running",
    "STOPPED": "running",
    "SIGNALING": "running",
    "STAGE_OUT": "running",
    "RESIZING": "running",
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "NODE_FAIL": "failed",
    "BOOT_FAIL": "failed",
    "OUT_OF_MEMORY": "failed",
    "PREEMPTED": "failed",
    "SPECIAL_EXIT": "failed",
    "CANCELLED": "cancelled",
    "REVOKED": "cancelled",
    "TIMEOUT": "timed_out",
    "DEADLINE": "timed_out",
}
TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}

#: why a job waits, for people (Slurm's Reason codes)
PENDING_REASONS = {
    "None": "waiting to be scheduled",
    "Resources": "waiting for free NPUs, CPUs or memory",
    "Priority": "waiting behind jobs of higher priority",
    "Dependency": "waiting for the jobs it depends on",
    "BeginTime": "waiting for its start time",
    "JobHeldUser": "held by its owner",
    "JobHeldAdmin": "held by an administrator",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "PartitionNodeLimit": "asks for more nodes than the partition allows",
    "PartitionTimeLimit": "asks for more time than the partition allows",
    "ReqNodeNotAvail": "the nodes it needs are not available (down or drained)",
    "AssocGrpGRES": "the account's NPU limit is reached",
    "AssocGrpCPULimit": "the account's CPU limit is reached",
    "QOSMaxGRESPerUser": "the per-user NPU limit is reached",
    "NodeDown": "a node it needs is down",
}
FAILED_REASONS = {
    "NODE_FAIL": "the node failed",
    "BOOT_FAIL": "the node failed to boot",
    "OUT_OF_MEMORY": "ran out of memory",
    "PREEMPTED": "preempted by a job of higher priority",
    "SPECIAL_EXIT": "failed (special exit)",
}


class SlurmError(RuntimeError):
    """A Slurm command failed; the message is Slurm's own (e.g. sbatch's refusal)."""


class SlurmJobUnknown(SlurmError, LookupError):
    """Neither the controller nor accounting knows this job (any more)."""


# --- pure parsing ----------------------------------------------------------------------


def parse_scontrol(text: str) -> dict[str, str]:
    """``scontrol show job`` (multi-line or ``-o``) → {key: value} of the first job.

    The per-node detail lines of ``-d`` (``Nodes=… CPU_IDs=… GRES=…``) are left out;
    see :func:`parse_details`. A value keeps its inner spaces (``Command=/a b``)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            if fields:
                break  # the next job's record
            continue
        if stripped.startswith("Nodes=") and "CPU_IDs=" in stripped:
            continue
        if stripped.startswith("JobId=") and "JobId" in fields:
            break
        for m in _PAIR.finditer(stripped):
            fields.setdefault(m.group(1), m.group(2))
    return fields


def parse_details(text: str) -> list[dict[str, str]]:
    """The per-node lines of ``scontrol show job -d``:
    ``Nodes=vm CPU_IDs=0-1 Mem=1024 GRES=npu:2(IDX:0-1)`` → [{"Nodes": "vm", …}]."""
    details = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Nodes=") and "CPU_IDs=" in stripped:
            details.append({m.group(1): m.group(2) for m in _PAIR.finditer(stripped)})
    return details


def parse_idx(spec: str) -> list[int]:
    """A Slurm index list: ``"0-1,3"`` → ``[0, 1, 3]``; ``""`` or ``"N/A"`` → ``[]``."""
    spec = spec.strip()
    if not spec or spec == "N/A":
        return []
    out: list[int] = []
    for part in spec.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"not a Slurm index list: {spec!r}")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first:
            raise ValueError(f"not a Slurm index list: {spec!r}")
        out.extend(range(first, last + 1))
    return sorted(set(out))


def npu_indices(gres: str) -> list[int]:
    """``GRES=`` of a detail line → the npu indices: ``npu:2(IDX:0-1)`` → [0, 1];
    also ``npu:910b:2(IDX:4,6)`` and ``gpu:1(IDX:0),npu:1(IDX:3)``."""
    m = _NPU_IDX.search(gres)
    return parse_idx(m.group(1)) if m else []


def parse_duration(text: str) -> int | None:
    """Slurm's [D-]HH:MM:SS, MM:SS or MM → seconds; UNLIMITED/INFINITE/N/A → None."""
    text = text.strip()
    if text.upper() in ("UNLIMITED", "INFINITE", "N/A", "NONE", ""):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
        parts = [int(p) for p in text.split(":")]
        while len(parts) < 3:  # D-HH, D-HH:MM
            parts.append(0)
    else:
        parts = [int(p) for p in text.split(":")]
        if len(parts) == 1:  # MM
            parts = [0, parts[0], 0]
        elif len(parts) == 2:  # MM:SS
            parts = [0, *parts]
    hours, minutes, seconds = parts
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_exit_code(text: str) -> int:
    """``ExitCode=2:0`` → 2; ``0:15`` (killed by signal 15) → 143, as a shell reports it."""
    code, _, signal = text.partition(":")
    code_i = int(code) if code.isdigit() else 0
    signal_i = int(signal) if signal.isdigit() else 0
    return code_i if code_i or not signal_i else 128 + signal_i


def job_state(fields: Mapping[str, str]) -> tuple[str, int | None, str]:
    """scontrol (or sacct) fields → (npuhub state, exit code or None, readable reason)."""
    slurm_state = fields.get("JobState", fields.get("State", "")).split()[0:1]
    raw = slurm_state[0].rstrip("+") if slurm_state else ""
    state = STATES.get(raw)
    reason_code = fields.get("Reason", "None")
    if state is None:
        return "failed", None, f"unknown Slurm state {raw or '(none)'}"
    if state == "queued":
        key = reason_code.split(",")[0]
        reason = PENDING_REASONS.get(key, f"waiting ({reason_code})")
        if raw != "PENDING":
            reason = f"{raw.lower().replace('_', ' ')}: {reason}"
        return state, None, reason
    if state == "running":
        where = fields.get("NodeList") or fields.get("BatchHost") or "?"
        reason = f"running on {where}"
        if raw != "RUNNING":
            reason += f" ({raw.lower()})"
        return state, None, reason
    exit_code = parse_exit_code(fields.get("ExitCode", "0:0"))
    if state == "succeeded":
        return state, exit_code, "completed"
    if state == "cancelled":
        return state, exit_code, "cancelled"
    if state == "timed_out":
        limit = fields.get("TimeLimit", "")
        seconds = parse_duration(limit) if limit else None
        if raw == "DEADLINE":
            return state, exit_code, "its deadline passed"
        return (
            state,
            exit_code,
            (f"time limit of {limit} reached" if seconds else "time limit reached"),
        )
    if raw in FAILED_REASONS:
        return state, exit_code, FAILED_REASONS[raw]
    if exit_code == 125:
        return state, exit_code, "the container could not be started (docker exit code 125)"
    if exit_code > 128:
        return state, exit_code, f"killed by signal {exit_code - 128}"
    return state, exit_code, f"exited with code {exit_code}"


# --- I/O -------------------------------------------------------------------------------


def _check_id(slurm_id: str) -> str:
    slurm_id = str(slurm_id)
    if not SLURM_ID.match(slurm_id):
        raise ValueError(f"not a Slurm job id: {slurm_id!r}")
    return slurm_id


class SlurmBackend:
    """Submit, watch and cancel npuhub jobs on a Slurm cluster."""

    def __init__(self, cfg: SlurmConfig, timeout: float = 30.0) -> None:
        self.cfg = cfg
        self.timeout = timeout

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.cfg.slurm_conf:
            env["SLURM_CONF"] = self.cfg.slurm_conf
        return env

    def _run(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                env=self._env(),
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as e:
            raise SlurmError(f"{argv[0]} not found: is Slurm installed on the hub host?") from e
        except subprocess.TimeoutExpired as e:
            raise SlurmError(f"{argv[0]} did not answer within {self.timeout:g}s") from e

    def submit(self, job: JobSpec) -> str:
        """sbatch the job; returns the Slurm job id. Refusals raise SlurmError."""
        os.makedirs(self.cfg.log_dir, exist_ok=True)
        proc = self._run(sbatch_args(job, self.cfg), stdin=job_script(job, self.cfg))
        out = proc.stdout.strip()
        if proc.returncode != 0:
            raise SlurmError(_message(proc.stderr) or f"sbatch exited with {proc.returncode}")
        slurm_id = out.split(";", 1)[0]
        if not SLURM_ID.match(slurm_id):
            raise SlurmError(f"sbatch printed no job id: {out!r}")
        log.info("npuhub job %s submitted to Slurm as %s", job.id, slurm_id)
        return slurm_id

    def show(self, slurm_id: str) -> str | None:
        """``scontrol show job -d`` text, or None when the controller no longer knows it."""
        proc = self._run([self.cfg.scontrol, "show", "job", "-d", _check_id(slurm_id)])
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:
                return None
            raise SlurmError(_message(proc.stderr) or "scontrol show job failed")
        return proc.stdout

    def state(self, slurm_id: str) -> tuple[str, int | None, str]:
        """(state, exit code, reason) — see the module docstring."""
        text = self.show(slurm_id)
        if text is not None:
            return job_state(parse_scontrol(text))
        fields = self._sacct(slurm_id)
        if fields is None:
            raise SlurmJobUnknown(f"Slurm job {slurm_id} is unknown to the controller")
        return job_state(fields)

    def _sacct(self, slurm_id: str) -> dict[str, str] | None:
        cols = ("JobID", "State", "ExitCode", "Reason", "TimelimitRaw", "NodeList")
        proc = self._run([self.cfg.sacct, "-n", "-X", "-P", "-j", slurm_id, "-o", ",".join(cols)])
        if proc.returncode != 0 or not proc.stdout.strip():
            return None  # accounting not configured, or the job is not in it
        values = proc.stdout.strip().splitlines()[0].split("|")
        fields = dict(zip(cols, values, strict=False))
        limit = fields.pop("TimelimitRaw", "")  # minutes
        if limit.isdigit():
            fields["TimeLimit"] = limit
        return fields

    def granted_devices(self, slurm_id: str) -> list[int]:
        """The npu indices Slurm granted to a running job ([] once it has ended)."""
        text = self.show(slurm_id)
        if text is None:
            return []
        indices: set[int] = set()
        for detail in parse_details(text):
            indices.update(npu_indices(detail.get("GRES", "")))
        return sorted(indices)

    def granted_node(self, slurm_id: str) -> str | None:
        """The node a running job runs on (None once it has ended)."""
        text = self.show(slurm_id)
        details = parse_details(text) if text is not None else []
        return details[0].get("Nodes") if details else None

    def cancel(self, slurm_id: str) -> None:
        """scancel; a job that has already ended is left as it is.

        scancel exits 0 even when it refuses, and says why only with -v (seen with
        22.05: "Invalid job id specified", "already completing or completed"), so its
        error lines decide."""
        proc = self._run([self.cfg.scancel, "-v", _check_id(slurm_id)])
        message = _message(proc.stderr, errors_only=True)
        if "already completing or completed" in message:
            return
        if "Invalid job id" in message:
            raise SlurmJobUnknown(message)
        if proc.returncode != 0 or message:
            raise SlurmError(message or f"scancel exited with {proc.returncode}")

    def log(self, slurm_id: str) -> str:
        """Path of the job's Slurm output file (stdout and stderr of the container)."""
        return log_path(self.cfg, _check_id(slurm_id))


def _message(stderr: str, errors_only: bool = False) -> str:
    """Slurm's error lines without the ``sbatch: error:`` prefixes (all lines unless
    ``errors_only``: scancel -v also says what it does)."""
    lines = []
    for line in stderr.strip().splitlines():
        line = line.strip()
        error = re.sub(r"^\w+: error: ", "", line)
        if error and (error != line or not errors_only):
            lines.append(error)
    return "; ".join(lines)
