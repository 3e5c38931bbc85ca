"""Pure builders for the Slurm backend: a batch job → `sbatch` argv and job script.

No I/O here: :func:`sbatch_args` and :func:`job_script` turn a validated
:class:`JobSpec` and a :class:`SlurmConfig` into a list of strings and a bash script,
checked as literals in ``tests/unit/test_sbatch.py`` (as kubespawner checks its pod
specs). :mod:`npuhub.hub.jobs.slurm` runs them.

Safety: every value that comes from a user (job name, source path, parameters, image,
dataset names) is validated when the :class:`JobSpec` is built, and is then written
into the script only through :func:`shlex.quote`. The parameters go to the container as
one JSON argument; nothing of the user's is ever interpolated into shell code.

What the job script does on the compute node:

1. Reads the NPUs Slurm granted. Slurm sets no Ascend variable for a generic ``npu``
   GRES (and no TaskProlog is assumed), so the script reads ``scontrol show job -d
   $SLURM_JOB_ID`` — ``GRES=npu:2(IDX:0-1)`` — and maps IDX *N* to
   ``{device_dir}/davinci{N}``; this holds when gres.conf lists the chips in order,
   ``File=/dev/davinci[0-7]``, as ``scripts/start-slurm`` and Ascend sites do.
2. Creates the job's container like the user's notebook server: same image, home volume
   at ``/home/jovyan``, datasets read-only at ``~/datasets/{name}``, granted chips as
   ``/dev/davinciN`` (plus the shared Ascend nodes and driver paths present on the node),
   ``ASCEND_VISIBLE_DEVICES`` with the host indices, no network, uid 1000, no
   capabilities, no privilege gain, pids and memory limits.
3. Writes what it runs on beside its Slurm log (:mod:`.node_facts`: node, NPUs, image
   digest, the source's sha256, driver and CANN versions); the hub merges that into the
   job's record and writes it beside them, and the script puts it at
   ``~/jobs/{id}/provenance.json`` (waiting at most ``provenance_wait`` seconds for it),
   then starts the container.
4. On SIGTERM (scancel, time limit) stops and removes the container, so that nothing is
   left running on the node when Slurm considers the job over.

The container command is ``runner_command + [source, parameters_json]``, by default
``python -m npuhub.extensions.jobrunner SOURCE '{"k": …}'``; the runner writes its
outputs to ``$NPUHUB_OUTPUT_DIR`` (``~/jobs/{id}``). Container stdout and stderr go to
the Slurm output file, ``{log_dir}/slurm-{slurm_id}.out`` (:func:`log_path`).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from npuhub.hub.binding import DEFAULT_DRIVER_PATHS, SHARED_ASCEND_NODES
from npuhub.hub.containers import CONTAINER_USER, HOME, hardening_args, log_args

from .node_facts import node_facts_sh

__all__ = [
    "DEFAULT_RUNNER",
    "InvalidJob",
    "JobSpec",
    "SlurmConfig",
    "format_time_limit",
    "granted_devices_sh",
    "job_script",
    "log_path",
    "sbatch_args",
]

DEFAULT_RUNNER = ("python", "-m", "npuhub.extensions.jobrunner")
MAX_NPUS = 64
MAX_TIME_LIMIT = 366 * 86400
MAX_PARAMETERS = 64 * 1024  # bytes of JSON: it travels on a command line

SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
USER = re.compile(r"^[\w@.+-]{1,128}$")
# a Docker image reference: [host[:port]/]path[:tag][@sha256:digest], lowercase path
IMAGE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
# characters allowed in host paths and volume names that end up in `-v A:B:ro`
HOST_PATH = re.compile(r"^/[A-Za-z0-9_./@+-]*$")
VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
MEMORY = re.compile(r"^[1-9][0-9]*[KMGT]?$")
COMMAND = re.compile(r"^[A-Za-z0-9_./+-]+$")


class InvalidJob(ValueError):
    """A job or configuration value refused before it reaches sbatch or the shell."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidJob(message)


def _safe_path(value: str, what: str) -> None:
    _require(
        isinstance(value, str) and bool(HOST_PATH.match(value)) and ".." not in value.split("/"),
        f"{what} must be an absolute path of letters, digits and _./@+- without '..', "
        f"got {value!r}",
    )


@dataclass(frozen=True, kw_only=True)
class SlurmConfig:
    """How this deployment reaches its Slurm cluster (set by the operator)."""

    partition: str | None = None
    account: str | None = None
    #: where gres.conf's npu File= entries live on the compute nodes: IDX N is davinciN here
    device_dir: str = "/dev"
    docker: str = "docker"
    runner_command: tuple[str, ...] = DEFAULT_RUNNER
    #: Slurm output files, on storage the compute nodes and the hub share
    log_dir: str = "/var/lib/npuhub/slurm-logs"
    memory: str = "2G"
    pids_limit: int = 512
    #: the job container's json-file log: rotated at this size, this many files kept
    log_max_size: str = "10m"
    log_max_files: int = 3
    #: seconds `docker stop` gives the job to exit after scancel / time limit
    stop_timeout: int = 5
    driver_paths: tuple[str, ...] = DEFAULT_DRIVER_PATHS
    sbatch: str = "sbatch"
    squeue: str = "squeue"
    scontrol: str = "scontrol"
    scancel: str = "scancel"
    sacct: str = "sacct"
    #: SLURM_CONF for the commands (None: Slurm's own default, /etc/slurm/slurm.conf)
    slurm_conf: str | None = None
    #: job containers are named {container_prefix}-job-{id}, like the local backend's
    container_prefix: str = "npuhub"
    #: where a node's file system is read for a job's record: its driver and CANN versions
    node_root: str = "/"
    #: seconds the job script waits for the hub's record of the job (to put it at
    #: ~/jobs/{id}/provenance.json) before it starts the job without it
    provenance_wait: int = 30

    def __post_init__(self) -> None:
        for name in ("partition", "account"):
            value = getattr(self, name)
            _require(
                value is None or bool(SLUG.match(value)),
                f"SlurmConfig.{name} must be a Slurm name (letters, digits, _.-), got {value!r}",
            )
        for name in ("docker", "sbatch", "squeue", "scontrol", "scancel", "sacct"):
            value = getattr(self, name)
            _require(
                isinstance(value, str) and bool(COMMAND.match(value)),
                f"SlurmConfig.{name} must be a command name or path, got {value!r}",
            )
        _require(
            isinstance(self.container_prefix, str) and bool(SLUG.match(self.container_prefix)),
            f"SlurmConfig.container_prefix must be a name, got {self.container_prefix!r}",
        )
        _safe_path(self.device_dir, "SlurmConfig.device_dir")
        _safe_path(self.log_dir, "SlurmConfig.log_dir")
        _safe_path(self.node_root, "SlurmConfig.node_root")
        _require(
            type(self.provenance_wait) is int and 0 <= self.provenance_wait <= 3600,
            f"SlurmConfig.provenance_wait must be 0-3600 seconds, got {self.provenance_wait!r}",
        )
        if self.slurm_conf is not None:
            _safe_path(self.slurm_conf, "SlurmConfig.slurm_conf")
        for path in self.driver_paths:
            _safe_path(path, "SlurmConfig.driver_paths")
        _require(
            isinstance(self.memory, str) and bool(MEMORY.match(self.memory)),
            f"SlurmConfig.memory must look like 512M or 2G, got {self.memory!r}",
        )
        _require(
            bool(self.runner_command)
            and all(isinstance(a, str) and a and "\x00" not in a for a in self.runner_command),
            "SlurmConfig.runner_command must be a non-empty tuple of non-empty strings",
        )
        for name in ("pids_limit", "stop_timeout"):
            value = getattr(self, name)
            _require(
                type(value) is int and value > 0,
                f"SlurmConfig.{name} must be a positive integer, got {value!r}",
            )
        try:
            log_args(max_size=self.log_max_size, max_files=self.log_max_files)
        except ValueError as e:
            raise InvalidJob(f"SlurmConfig: {e}") from None


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One batch job of one user, validated on construction.

    ``source`` is relative to the user's home; ``datasets`` are (host source path, name)
    pairs mounted read-only at ``~/datasets/{name}``; ``output_dir`` is the folder inside
    the container where the runner writes (``/home/jovyan/jobs/{id}``);
    ``time_limit`` is in seconds (None: the partition's default).
    """

    id: int
    user: str
    name: str
    source: str
    npus: int = 0
    time_limit: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    image: str
    home_volume: str
    datasets: tuple[tuple[str, str], ...] = ()
    output_dir: str = ""

    def __post_init__(self) -> None:
        _require(type(self.id) is int and self.id > 0, f"job id must be > 0, got {self.id!r}")
        _require(
            isinstance(self.user, str) and bool(USER.match(self.user)),
            f"user must be 1-128 letters, digits or @.+-_, got {self.user!r}",
        )
        _require(
            isinstance(self.name, str) and bool(SLUG.match(self.name)),
            "job name must be 1-64 letters, digits or _.- and start with a letter or digit, "
            f"got {self.name!r}",
        )
        _validate_source(self.source)
        _require(
            type(self.npus) is int and 0 <= self.npus <= MAX_NPUS,
            f"npus must be an integer from 0 to {MAX_NPUS}, got {self.npus!r}",
        )
        _require(
            self.time_limit is None
            or (type(self.time_limit) is int and 0 < self.time_limit <= MAX_TIME_LIMIT),
            f"time_limit must be seconds from 1 to {MAX_TIME_LIMIT}, got {self.time_limit!r}",
        )
        parameters_json(self.parameters)
        _require(
            isinstance(self.image, str)
            and len(self.image) <= 255
            and bool(IMAGE.match(self.image)),
            f"image must be a Docker image reference like npuhub/base:latest, got {self.image!r}",
        )
        if isinstance(self.home_volume, str) and self.home_volume.startswith("/"):
            _safe_path(self.home_volume, "home_volume")
        else:
            _require(
                isinstance(self.home_volume, str) and bool(VOLUME.match(self.home_volume)),
                f"home_volume must be a Docker volume name or an absolute path, "
                f"got {self.home_volume!r}",
            )
        names = set()
        for entry in self.datasets:
            _require(
                isinstance(entry, tuple) and len(entry) == 2,
                f"datasets entries must be (host path, name) pairs, got {entry!r}",
            )
            source, name = entry
            _safe_path(source, "dataset source")
            _require(
                isinstance(name, str) and bool(SLUG.match(name)),
                f"dataset name must be 1-64 letters, digits or _.-, got {name!r}",
            )
            _require(name not in names, f"dataset {name!r} is listed twice")
            names.add(name)
        out = self.output_dir or f"{HOME}/jobs/{self.id}"
        _safe_path(out, "output_dir")
        _require(out.startswith(HOME + "/"), f"output_dir must be under {HOME}/, got {out!r}")
        object.__setattr__(self, "output_dir", out)


def _validate_source(source: str) -> None:
    ok = isinstance(source, str) and 0 < len(source) <= 1024
    if ok:
        path = PurePosixPath(source)
        ok = (
            not path.is_absolute()
            and ".." not in path.parts
            and not source.startswith("-")
            and not any(ord(c) < 32 or c == "\x7f" for c in source)
        )
    _require(
        ok,
        "source must be a path relative to your home, without '..', not starting with '-', "
        f"got {source!r}",
    )


def parameters_json(parameters: dict[str, Any]) -> str:
    """The parameters as one compact JSON argument (keys sorted, so scripts are stable)."""
    _require(isinstance(parameters, dict), "parameters must be a JSON object")
    _require(all(isinstance(k, str) for k in parameters), "parameters keys must be strings")
    try:
        text = json.dumps(parameters, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidJob(f"parameters must be plain JSON values: {e}") from None
    _require(
        len(text.encode()) <= MAX_PARAMETERS,
        f"parameters are {len(text.encode())} bytes of JSON, at most {MAX_PARAMETERS}",
    )
    return text


def format_time_limit(seconds: int) -> str:
    """Slurm's --time: whole minutes under an hour as ``MM``, anything else as
    ``D-HH:MM:SS``. Slurm counts in minutes and rounds seconds up (90 s runs 2 min)."""
    if type(seconds) is not int or seconds <= 0:
        raise InvalidJob(f"time limit must be a positive number of seconds, got {seconds!r}")
    if seconds < 3600 and seconds % 60 == 0:
        return str(seconds // 60)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"


def job_name(job: JobSpec) -> str:
    return f"npuhub-{job.id}-{job.name}"


def container_name(job: JobSpec, cfg: SlurmConfig) -> str:
    return f"{cfg.container_prefix}-job-{job.id}"


def log_path(cfg: SlurmConfig, slurm_id: str) -> str:
    """The Slurm output file of a job (the `--output` pattern with %j filled in)."""
    return f"{cfg.log_dir}/slurm-{slurm_id}.out"


def sbatch_args(job: JobSpec, cfg: SlurmConfig) -> list[str]:
    """argv of `sbatch`; the job script goes on its stdin."""
    args = [
        cfg.sbatch,
        "--parsable",
        f"--job-name={job_name(job)}",
        f"--comment=npuhub job {job.id} of {job.user}",
        "--nodes=1",
        "--ntasks=1",
        f"--mem={cfg.memory}",
    ]
    if job.npus > 0:
        args.append(f"--gres=npu:{job.npus}")
    if job.time_limit is not None:
        args.append(f"--time={format_time_limit(job.time_limit)}")
    if cfg.account:
        args.append(f"--account={cfg.account}")
    if cfg.partition:
        args.append(f"--partition={cfg.partition}")
    args += [
        f"--output={cfg.log_dir}/slurm-%j.out",
        f"--chdir={cfg.log_dir}",
        # no environment of the hub leaks into the job (only SLURM_*); the script sets PATH
        "--export=NONE",
        # a job that fails with its node is reported as failed, not silently rerun
        "--no-requeue",
    ]
    return args


_SCRIPT_HEAD = r"""#!/bin/bash
# npuhub batch job {id} of {user}: the job's container, run like the user's notebook.
# Written by npuhub.hub.jobs.sbatch; every user value below is shell-quoted.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{slurm_conf}DOCKER={docker}
SCONTROL={scontrol}
NAME={name}
DEVICE_DIR={device_dir}
NPUS={npus}

# scancel and the time limit send SIGTERM: stop the container before Slurm's SIGKILL
# (set first: a job cancelled as soon as it starts says so too).
cleanup() {{
    "$DOCKER" stop -t {stop_timeout} "$NAME" >/dev/null 2>&1
    "$DOCKER" rm -f "$NAME" >/dev/null 2>&1
    return 0
}}
trap 'echo "npuhub: job {id} stopped by signal" >&2; cleanup; exit 143' TERM INT

{granted}echo "npuhub: job {id} is Slurm job $SLURM_JOB_ID on $(hostname -s)," \
    "NPUs: ${{ASCEND_VISIBLE_DEVICES:-none}}"
"$DOCKER" rm -f "$NAME" >/dev/null 2>&1  # left over from an earlier attempt

"""


_GRANTED = """# The NPUs Slurm granted: no Ascend variable exists for a generic "npu" GRES, so read
# `scontrol show job -d` (GRES=npu:2(IDX:0-1)); IDX N is $DEVICE_DIR/davinciN.
idx=""
if (( NPUS > 0 )); then
    re='[=,]npu(:[^:(,[:space:]]+)?:[0-9]+\\(IDX:([0-9,-]+)\\)'
    while read -r line; do
        if [[ $line =~ $re ]]; then idx=${{BASH_REMATCH[2]}}; break; fi
    done < <("$SCONTROL" show job -d "$SLURM_JOB_ID")
fi
visible=()
IFS=, read -ra ranges <<< "$idx"
for r in "${{ranges[@]}}"; do
    for ((i = ${{r%-*}}; i <= ${{r#*-}}; i++)); do visible+=("$i"); done
done
if (( ${{#visible[@]}} != NPUS )); then
    echo "npuhub: Slurm granted '$idx', not $NPUS NPUs; is gres.conf's npu File= in order?" >&2
    exit 1
fi
devices=()
for i in "${{visible[@]}}"; do
    devices+=(--device "$DEVICE_DIR/davinci$i:/dev/davinci$i")
done
if (( NPUS > 0 )); then
    for n in {shared_nodes}; do
        if [[ -e $DEVICE_DIR/$n ]]; then devices+=(--device "$DEVICE_DIR/$n:/dev/$n"); fi
    done
    for p in {driver_paths}; do
        if [[ -e $p ]]; then devices+=(-v "$p:$p:ro"); fi
    done
fi
ASCEND_VISIBLE_DEVICES=$(IFS=,; echo "${{visible[*]}}")
"""


def granted_devices_sh(driver_paths: tuple[str, ...]) -> str:
    """Bash that reads the NPUs Slurm granted to this job ($NPUS of them, device files in
    $DEVICE_DIR) into `devices` (docker run options) and $ASCEND_VISIBLE_DEVICES; the
    batch job script and the server job script (:mod:`npuhub.spawners.slurm_script`) share
    it. Exits 1 when Slurm granted another number of NPUs."""
    q = shlex.quote
    return _GRANTED.format(
        shared_nodes=" ".join(SHARED_ASCEND_NODES),
        driver_paths=" ".join(q(p) for p in driver_paths) or "''",
    )


def job_script(job: JobSpec, cfg: SlurmConfig) -> str:
    """The bash script sbatch runs on the compute node (see the module docstring)."""
    q = shlex.quote
    head = _SCRIPT_HEAD.format(
        id=job.id,
        user=job.user,
        slurm_conf=f"export SLURM_CONF={q(cfg.slurm_conf)}\n" if cfg.slurm_conf else "",
        docker=q(cfg.docker),
        scontrol=q(cfg.scontrol),
        name=q(container_name(job, cfg)),
        device_dir=q(cfg.device_dir),
        npus=job.npus,
        stop_timeout=cfg.stop_timeout,
        granted=granted_devices_sh(cfg.driver_paths),
    )
    run = [
        '"$DOCKER" create --rm',
        f"--name {q(container_name(job, cfg))}",
        f"--label npuhub.job={job.id}",
        '--label "npuhub.slurm_job=$SLURM_JOB_ID"',
        "--network none",
        f"--user {CONTAINER_USER}",
        *hardening_args(pids_limit=cfg.pids_limit),
        *log_args(max_size=cfg.log_max_size, max_files=cfg.log_max_files),
        f"--memory {q(cfg.memory)}",
        f"-v {q(job.home_volume + ':' + HOME)}",
    ]
    run += [f"-v {q(f'{src}:{HOME}/datasets/{name}:ro')}" for src, name in job.datasets]
    run += [
        '"${devices[@]}"',
        '-e "ASCEND_VISIBLE_DEVICES=$ASCEND_VISIBLE_DEVICES"',
        f"-e NPUHUB_NPUS={job.npus}",
        f"-e NPUHUB_JOB_ID={job.id}",
        f"-e {q('NPUHUB_OUTPUT_DIR=' + job.output_dir)}",
        f"--workdir {HOME}",
        " ".join(
            [
                q(job.image),
                *(q(a) for a in cfg.runner_command),
                q(job.source),
                q(parameters_json(job.parameters)),
            ]
        ),
    ]
    body = " \\\n    ".join(run) + " >/dev/null || exit 125\n\n"
    facts = node_facts_sh(
        log_dir=cfg.log_dir, image=job.image, node_root=cfg.node_root,
        source=f"{container_name(job, cfg)}:{HOME}/{job.source}",
    )  # fmt: skip
    record = _RECORD.format(
        log_dir=q(cfg.log_dir), ticks=cfg.provenance_wait * 2, id=job.id,
        user=CONTAINER_USER.split(":")[0], group=CONTAINER_USER.split(":")[1], home=HOME,
    )  # fmt: skip
    tail = (
        '"$DOCKER" start -a "$NAME" &\n'
        f'wait $!\nrc=$?\necho "npuhub: job {job.id} exited with code $rc"\nexit $rc\n'
    )
    return head + body + facts + record + tail


_RECORD = """# The hub merges these facts with its own (user, datasets, parameters…) into the job's
# record and writes it beside them; it goes to ~/jobs/{id}/provenance.json, the user's.
RECORD={log_dir}/slurm-"$SLURM_JOB_ID".provenance.json
for ((t = 0; t < {ticks}; t++)); do [[ -s $RECORD ]] && break; sleep 0.5; done
if [[ -s $RECORD ]]; then
    tmp=$(mktemp -d)
    mkdir -p "$tmp/jobs/{id}" && cp "$RECORD" "$tmp/jobs/{id}/provenance.json" &&
        chmod -R u=rwX,go=rX "$tmp/jobs" &&
        tar -C "$tmp" --owner={user} --group={group} --numeric-owner -c jobs |
        "$DOCKER" cp - "$NAME:{home}"
    rm -rf "$tmp"
fi
"""
