"""What Slurm says about a server's job, asked without blocking the hub's event loop.

:func:`job_info` reads ``scontrol show job -d -o`` (state, node, granted NPU indices, the
Comment where the job wrote ``npuhub=ADDR:PORT``, the reason it waits);
:func:`queue_position` and the estimated start come from ``squeue``. A controller that
does not answer is retried before anyone decides anything (:class:`SlurmUnreachable`):
batchspawner took a silent ``squeue`` for a stopped server.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass

from npuhub.hub.jobs.slurm import npu_indices

ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
          "RESIZING", "SIGNALING", "STAGE_OUT")
UNKNOWN_JOB = "Invalid job id"


class SlurmUnreachable(RuntimeError):
    """The controller did not answer (after retries): nothing is known about the job."""


class SlurmCommandError(RuntimeError):
    """A Slurm command refused (sbatch: the message says why)."""


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    state: str  # Slurm's JobState: PENDING, RUNNING, FAILED, ...
    reason: str
    node: str | None
    indices: tuple[int, ...]
    address: tuple[str, int] | None  # (ADDR, PORT) the job reported in its Comment
    exit_code: str
    partition: str

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


async def run(argv: list[str], env: dict[str, str], stdin: str | None = None,
              timeout: float = 15.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, "", f"{argv[0]} timed out after {timeout:g}s"
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def slurm_env(slurm_conf: str | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if slurm_conf:
        env["SLURM_CONF"] = slurm_conf
    return env


def parse_fields(line: str) -> dict[str, str]:
    """`scontrol -o` output: KEY=VALUE words (a value may hold spaces only at the end:
    Comment is written last-but-several, so words without '=' join the previous value)."""
    fields: dict[str, str] = {}
    key = None
    for word in line.split(" "):
        k, sep, v = word.partition("=")
        if sep and re.fullmatch(r"[A-Za-z_/:]+", k):
            key = k
            fields.setdefault(k, v)
        elif key is not None and word:
            fields[key] += " " + word
    return fields


def parse_job(job_id: str, text: str) -> JobInfo:
    f = parse_fields(text.strip().splitlines()[0] if text.strip() else "")
    node = f.get("NodeList") or None
    if node in ("(null)", ""):
        node = None
    comment = f.get("Comment", "")
    address = None
    m = re.search(r"npuhub=([A-Za-z0-9.:_-]+):([0-9]{1,5})\b", comment)
    if m:
        address = (m.group(1), int(m.group(2)))
    gres = f.get("GRES", "")
    return JobInfo(
        job_id=job_id,
        state=f.get("JobState", "UNKNOWN"),
        reason=f.get("Reason", "None"),
        node=node,
        indices=tuple(npu_indices(gres)) if "IDX" in gres else (),
        address=address,
        exit_code=f.get("ExitCode", ""),
        partition=f.get("Partition", ""),
    )


async def job_info(job_id: str, slurm_conf: str | None, scontrol: str = "scontrol",
                   tries: int = 5, delay: float = 1.0) -> JobInfo | None:
    """The job as Slurm sees it; None if Slurm no longer knows it (ended long ago).
    Raises SlurmUnreachable when the controller did not answer `tries` times."""
    last = ""
    for attempt in range(tries):
        code, out, err = await run([scontrol, "-o", "-d", "show", "job", job_id],
                                   slurm_env(slurm_conf))
        if code == 0 and out.strip():
            return parse_job(job_id, out)
        if UNKNOWN_JOB in err:
            return None
        last = (err or out).strip()
        if attempt + 1 < tries:
            await asyncio.sleep(delay)
    raise SlurmUnreachable(f"scontrol show job {job_id}: {last}")


async def queue_position(job_id: str, partition: str, slurm_conf: str | None,
                         squeue: str = "squeue") -> tuple[int | None, str | None]:
    """(1-based place among the pending jobs of `partition` in Slurm's priority order,
    Slurm's estimated start or None). (None, None) if squeue did not answer."""
    env = slurm_env(slurm_conf)
    code, out, _ = await run(
        [squeue, "-h", "-t", "PD", "-p", partition, "--sort=-p,i", "-o", "%i"], env
    )
    if code != 0:
        return None, None
    ids = out.split()
    position = ids.index(job_id) + 1 if job_id in ids else None
    code, out, _ = await run([squeue, "-h", "--start", "-j", job_id, "-o", "%S"], env)
    start = out.strip() if code == 0 else ""
    return position, (start if start and start not in ("N/A", "(null)") else None)


async def scancel(job_id: str, slurm_conf: str | None, scancel_cmd: str = "scancel") -> None:
    code, out, err = await run([scancel_cmd, job_id], slurm_env(slurm_conf))
    if code != 0 and UNKNOWN_JOB not in err:
        raise SlurmUnreachable(f"scancel {job_id}: {(err or out).strip()}")


async def sbatch(argv: list[str], script: str, slurm_conf: str | None) -> str:
    code, out, err = await run(argv, slurm_env(slurm_conf), stdin=script, timeout=30)
    if code != 0:
        raise SlurmCommandError((err or out).strip().removeprefix("sbatch: error: "))
    return out.strip().split(";")[0]
