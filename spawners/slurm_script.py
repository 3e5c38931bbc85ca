"""Pure builders of a user server as a Slurm job: the `sbatch` argv and the job script.

No I/O here; each result is a literal checked in ``tests/unit/test_slurm_script.py``.
Every value is validated by :class:`ServerJob` and written into the script only through
:func:`shlex.quote`. The hub's environment for the server (its API token among it) is
not in the script (Slurm keeps scripts, and `scontrol write batch_script` shows them): it
is in a mode-0600 file on storage the hub and the nodes share, read by ``docker run
--env-file``.

What the job does on its node (Open OnDemand's pattern: the job tells the portal where
its server listens):

1. reads the NPUs Slurm granted (:func:`npuhub.hub.jobs.sbatch.granted_devices_sh`), the
   device files of node N being ``{device_dir}/N/davinciI`` when ``per_node_devices``
   (the test cluster: three slurmd on one host), else ``{device_dir}/davinciI``;
2. picks a free port and the node's address (its ``NodeAddr``), starts the user's image
   with the same hardening, home, datasets folder and device binding as single-host mode
   (:mod:`npuhub.hub.containers`), on the node's host network at that address;
3. writes what the session runs on beside its Slurm log
   (:mod:`npuhub.hub.jobs.node_facts`: node, granted NPUs, image digest, driver and CANN
   versions), which the hub keeps as the session's record on its usage record;
4. writes ``npuhub=ADDR:PORT`` into the job's Comment (``scontrol update``), which the
   hub reads from ``scontrol show job``;
5. on SIGTERM (Stop, scancel, the time limit) stops and removes the container: a
   container is the Docker daemon's child, not the job's, and would outlive it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from npuhub.hub.binding import DEFAULT_DRIVER_PATHS
from npuhub.hub.containers import CONTAINER_USER, DATASETS, HOME, hardening_args, log_args
from npuhub.hub.jobs.node_facts import node_facts_sh
from npuhub.hub.jobs.sbatch import (
    IMAGE,
    MEMORY,
    SLUG,
    InvalidJob,
    _require,
    _safe_path,
    format_time_limit,
    granted_devices_sh,
)

COMMENT_PREFIX = "npuhub="
URL_PATH = re.compile(r"^/[A-Za-z0-9_./%@+~-]*/$")
VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
ARG = re.compile(r"^[\x20-\x7e]{1,1024}$")
SETUP_ARG = re.compile(r"^[\x20-\x7e]{1,65536}$")

__all__ = ["COMMENT_PREFIX", "ServerJob", "sbatch_args", "server_script"]


@dataclass(frozen=True, kw_only=True)
class ServerJob:
    """One user server as a Slurm job (every field validated on construction)."""

    name: str  # the container's name, also the Slurm job name
    label: str  # user/servername, for people reading squeue
    image: str
    npus: int
    partition: str | None
    time_limit: int | None  # seconds (None: the partition's default)
    slurm_memory: str  # --mem: what Slurm reserves on the node
    memory: str  # the container's memory limit
    cpus: float
    pids_limit: int
    log_max_size: str = "10m"  # the container's json-file log, rotated
    log_max_files: int = 3
    home_volume: str
    datasets_folder: str | None
    env_file: str
    base_url: str  # /user/alice/
    args: tuple[str, ...]  # the container command (the image's, and the spawner's args)
    device_dir: str
    per_node_devices: bool = False
    driver_paths: tuple[str, ...] = DEFAULT_DRIVER_PATHS
    log_dir: str
    slurm_conf: str | None = None
    docker: str = "docker"
    scontrol: str = "scontrol"
    sbatch: str = "sbatch"
    stop_timeout: int = 5
    node_root: str = "/"  # where the node's driver and CANN version files are read
    # run before the container starts: prepares the datasets folder on the node and mounts
    # the user's datasets there (hub/datasets/node_mount.py); () for none
    datasets_setup: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(bool(SLUG.match(self.name)), f"invalid container name {self.name!r}")
        _require(bool(ARG.match(self.label)), f"invalid label {self.label!r}")
        _require(bool(IMAGE.match(self.image)), f"invalid image {self.image!r}")
        _require(type(self.npus) is int and 0 <= self.npus <= 64, f"invalid npus {self.npus!r}")
        _require(
            self.partition is None or bool(SLUG.match(self.partition)),
            f"partition must be a Slurm name, got {self.partition!r}",
        )
        _require(
            self.time_limit is None or (type(self.time_limit) is int and self.time_limit > 0),
            f"invalid time limit {self.time_limit!r}",
        )
        for what in ("slurm_memory", "memory"):
            value = getattr(self, what)
            _require(bool(MEMORY.match(value)), f"{what} must look like 512M or 2G: {value!r}")
        _require(0 < self.cpus <= 1024, f"invalid cpus {self.cpus!r}")
        _require(type(self.pids_limit) is int and self.pids_limit > 0, "invalid pids_limit")
        try:
            log_args(max_size=self.log_max_size, max_files=self.log_max_files)
        except ValueError as e:
            raise InvalidJob(str(e)) from None
        if self.home_volume.startswith("/"):
            _safe_path(self.home_volume, "home_volume")
        else:
            _require(bool(VOLUME.match(self.home_volume)), f"invalid volume {self.home_volume!r}")
        for what in ("env_file", "device_dir", "log_dir", "node_root"):
            _safe_path(getattr(self, what), what)
        for path in (self.datasets_folder, self.slurm_conf):
            if path is not None:
                _safe_path(path, "path")
        for path in self.driver_paths:
            _safe_path(path, "driver path")
        _require(bool(URL_PATH.match(self.base_url)), f"invalid base url {self.base_url!r}")
        _require(
            bool(self.args) and all(ARG.match(a) for a in self.args),
            "the container command must be printable words",
        )
        _require(
            all(SETUP_ARG.match(a) for a in self.datasets_setup),
            "the datasets setup must be printable words",
        )
        for what in ("docker", "scontrol", "sbatch"):
            _require(bool(re.match(r"^[A-Za-z0-9_./+-]+$", getattr(self, what))), what)


def sbatch_args(job: ServerJob) -> list[str]:
    """argv of `sbatch`; the script goes on its stdin."""
    args = [
        job.sbatch,
        "--parsable",
        f"--job-name={job.name}",
        f"--comment=npuhub server {job.label}",
        "--nodes=1",
        "--ntasks=1",
        f"--mem={job.slurm_memory}",
    ]
    if job.npus:
        args.append(f"--gres=npu:{job.npus}")
    if job.partition:
        args.append(f"--partition={job.partition}")
    if job.time_limit:
        args.append(f"--time={format_time_limit(job.time_limit)}")
    args += [
        f"--output={job.log_dir}/slurm-%j.out",
        f"--chdir={job.log_dir}",
        "--export=NONE",
        "--no-requeue",
    ]
    return args


_HEAD = """#!/bin/bash
# npuhub server {label}: the user's notebook server as a Slurm job.
# Written by npuhub.spawners.slurm_script; every value below is shell-quoted.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{slurm_conf}DOCKER={docker}
SCONTROL={scontrol}
NAME={name}
DEVICE_DIR={device_dir}{per_node}
NPUS={npus}

{granted}
# The node's address (its NodeAddr) and a free port there: the hub reads both from the
# job's Comment.
ADDR=$("$SCONTROL" show node "$SLURMD_NODENAME" | sed -n 's/.*NodeAddr=\\([^ ]*\\).*/\\1/p')
ADDR=${{ADDR:-127.0.0.1}}
# Below the ephemeral range, where the node's outgoing connections take their ports, and
# used by no socket at all (a listening one, or a connection's).
read -r LOW _ < /proc/sys/net/ipv4/ip_local_port_range || LOW=32768
LAST=$(( LOW > 21000 ? LOW - 1 : 29999 ))
PORT=""
for _ in $(seq 50); do
    p=$((20000 + RANDOM % (LAST - 20000 + 1)))
    if ! ss -Hatn "sport = :$p" | grep -q .; then PORT=$p; break; fi
done
[[ -n $PORT ]] || {{ echo "npuhub: no free port on $SLURMD_NODENAME" >&2; exit 1; }}
echo "npuhub: server {label} is Slurm job $SLURM_JOB_ID on $SLURMD_NODENAME" \\
    "($ADDR:$PORT), NPUs: ${{ASCEND_VISIBLE_DEVICES:-none}}"

# Stop, scancel and the time limit send SIGTERM: stop the container before SIGKILL.
cleanup() {{
    "$DOCKER" stop -t {stop_timeout} "$NAME" >/dev/null 2>&1
    "$DOCKER" rm -f "$NAME" >/dev/null 2>&1
    return 0
}}
trap 'echo "npuhub: server stopped by signal" >&2; cleanup; exit 143' TERM INT
"$DOCKER" rm -f "$NAME" >/dev/null 2>&1  # left over from an earlier start
{datasets}
{facts}
"""


def server_script(job: ServerJob) -> str:
    """The bash script sbatch runs on the node (see the module docstring)."""
    q = shlex.quote
    head = _HEAD.format(
        label=job.label,
        slurm_conf=f"export SLURM_CONF={q(job.slurm_conf)}\n" if job.slurm_conf else "",
        docker=q(job.docker),
        scontrol=q(job.scontrol),
        name=q(job.name),
        device_dir=q(job.device_dir),
        per_node='/"$SLURMD_NODENAME"' if job.per_node_devices else "",
        npus=job.npus,
        granted=granted_devices_sh(job.driver_paths),
        stop_timeout=job.stop_timeout,
        facts=node_facts_sh(log_dir=job.log_dir, image=job.image, node_root=job.node_root),
        datasets=(
            "# The user's datasets folder on this node, their datasets mounted in it\n"
            + " ".join(q(a) for a in job.datasets_setup)
            + ' || echo "npuhub: datasets not all mounted on $SLURMD_NODENAME" >&2\n'
        ) if job.datasets_setup else "",
    )
    run = [
        '"$DOCKER" run --rm',
        f"--name {q(job.name)}",
        f"--label {q('npuhub.server=' + job.label)}",
        '--label "npuhub.slurm_job=$SLURM_JOB_ID"',
        "--network host",
        f"--user {CONTAINER_USER}",
        *hardening_args(pids_limit=job.pids_limit),
        *log_args(max_size=job.log_max_size, max_files=job.log_max_files),
        f"--memory {q(job.memory)}",
        f"--cpus {job.cpus:g}",
        f"-v {q(job.home_volume + ':' + HOME)}",
    ]
    if job.datasets_folder:
        run.append(
            "--mount "
            + q(
                f"type=bind,source={job.datasets_folder},target={DATASETS},"
                "bind-propagation=rslave"
            )
        )
    run += [
        '"${devices[@]}"',
        f"--env-file {q(job.env_file)}",
        '-e "ASCEND_VISIBLE_DEVICES=$ASCEND_VISIBLE_DEVICES"',
        f"-e NPUHUB_NPUS={job.npus}",
        '-e "JUPYTERHUB_SERVICE_URL=http://$ADDR:$PORT' + job.base_url + '"',
        f"--workdir {HOME}",
        " ".join([q(job.image), *(q(a) for a in job.args)]),
    ]
    body = " \\\n    ".join(run) + " &\n"
    tail = (
        "pid=$!\n"
        f'"$SCONTROL" update jobid="$SLURM_JOB_ID" comment="{COMMENT_PREFIX}$ADDR:$PORT"\n'
        'wait "$pid"\nrc=$?\necho "npuhub: server exited with code $rc"\nexit $rc\n'
    )
    return head + body + tail


__all__ += ["InvalidJob"]
