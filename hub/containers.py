"""Pure builders of every container npuhub runs: the user's server, a batch job, a
grading run, and the `docker run` of a Slurm job script.

They take their hardening (no capabilities, no privilege gain, a process limit), the
user id, the home path and the NPU binding (device nodes, driver paths: :mod:`.binding`)
from here, so the four cannot drift apart. No I/O: whether a driver path exists on the
host is passed in (`exists`), and each result is checked as a literal dict in the unit
tests (kubespawner's `objects.py` style).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence

from docker.types import LogConfig, Ulimit

from .binding import DEFAULT_DRIVER_PATHS, Device, binding

HOME = "/home/jovyan"
CONTAINER_USER = "1000:100"  # jovyan:users in every user image
DATASETS = f"{HOME}/datasets"
_ESCAPE_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def hardening(*, pids_limit: int) -> dict:
    """Docker host-config of every user container: no capabilities, no privilege gain."""
    return {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": pids_limit,
        "init": False,
    }


def hardening_args(*, pids_limit: int) -> list[str]:
    """The same hardening as `docker run` options (one option and its value a word)."""
    h = hardening(pids_limit=pids_limit)
    return [
        *(f"--cap-drop {cap}" for cap in h["cap_drop"]),
        *(f"--security-opt {opt}" for opt in h["security_opt"]),
        f"--pids-limit {h['pids_limit']}",
    ]


def log_config(*, max_size: str, max_files: int) -> dict:
    """Docker's json-file log of a container, rotated at `max_size` (e.g. "10m"), at
    most `max_files` files kept: a chatty process cannot fill the host's disk."""
    return {"type": "json-file", "config": {"max-size": max_size, "max-file": str(max_files)}}


LOG_SIZE = re.compile(r"^[1-9][0-9]{0,5}[kmgKMG]$")


def log_args(*, max_size: str, max_files: int) -> list[str]:
    """:func:`log_config` as `docker run` options (the Slurm job scripts'): a chatty
    process cannot fill a node's disk either."""
    if not (isinstance(max_size, str) and LOG_SIZE.match(max_size)):
        raise ValueError(f"log size must look like 10m, 512k or 1g, got {max_size!r}")
    if not (type(max_files) is int and 1 <= max_files <= 100):
        raise ValueError(f"log files must be 1-100, got {max_files!r}")
    return ["--log-driver json-file", f"--log-opt max-size={max_size}",
            f"--log-opt max-file={max_files}"]


def home_volume(prefix: str, user: str) -> str:
    """The user's home volume, named as NPUSpawner (DockerSpawner's escaping) names it."""
    escaped = "".join(
        ch if ch in _ESCAPE_SAFE else "".join(f"-{b:02x}" for b in ch.encode()) for ch in user
    )
    return f"{prefix}-home-{escaped.lower()}"


def datasets_mount(folder: str) -> dict:
    """The user's datasets folder at ~/datasets, `rslave` so that datasets mounted on the
    host later appear in the running server (docker's Mount, as a plain dict)."""
    return {
        "Target": DATASETS,
        "Source": folder,
        "Type": "bind",
        "ReadOnly": False,
        "BindOptions": {"Propagation": "rslave"},
    }


def server_container(
    *,
    devices: Sequence[Device],
    account: str,
    mode: str,
    driver_paths: Sequence[str],
    pids_limit: int,
    api_url: str,
    lang: str | None = None,
    datasets_folder: str | None = None,
    log_max_size: str = "10m",
    log_max_files: int = 3,
    exists: Callable[[str], bool] = os.path.exists,
) -> dict:
    """What npuhub adds to DockerSpawner's container of a user server:
    {"user", "environment", "host_config"} (DockerSpawner adds the image, the home
    volume, the hub's env, memory and CPU limits, the network)."""
    b = binding(devices, account=account, mode=mode, driver_paths=driver_paths, exists=exists)
    env = {**b["env"], "NPUHUB_API_URL": api_url}
    if lang:  # JupyterLab's first language (extensions/serverext.py)
        env["NPUHUB_LANG"] = lang
    host_config = {
        **hardening(pids_limit=pids_limit),
        **b["host_config"],
        "log_config": log_config(max_size=log_max_size, max_files=log_max_files),
    }
    if b["binds"]:
        host_config["binds"] = b["binds"]
    if datasets_folder:
        host_config["mounts"] = [datasets_mount(datasets_folder)]
    return {"user": CONTAINER_USER, "environment": env, "host_config": host_config}


def job_container(
    *,
    name: str,
    image: str,
    command: list[str],
    labels: Mapping[str, str],
    home: str,
    datasets: Sequence[Sequence[str]],
    env: Mapping[str, str],
    devices: Sequence[Device],
    account: str,
    mode: str,
    network: str,
    memory: str,
    cpus: float,
    pids_limit: int,
    log_max_size: str = "10m",
    log_max_files: int = 3,
    driver_paths: Sequence[str] = DEFAULT_DRIVER_PATHS,
    exists: Callable[[str], bool] = os.path.exists,
) -> dict:
    """Keyword arguments of ``docker.containers.create`` for a batch job: the home volume
    `home` read-write, `datasets` ([host folder, name]) read-only at ~/datasets/{name}."""
    b = binding(devices, account=account, mode=mode, driver_paths=driver_paths, exists=exists)
    volumes = {home: {"bind": HOME, "mode": "rw"}}
    for src, ds in datasets:
        volumes[src] = {"bind": f"{DATASETS}/{ds}", "mode": "ro"}
    volumes.update(b["binds"])
    return {
        "image": image,
        "command": list(command),
        "name": name,
        "labels": dict(labels),
        "user": CONTAINER_USER,
        "working_dir": HOME,
        "environment": {**b["env"], "HOME": HOME, **env},
        "volumes": volumes,
        "network_mode": network,
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(cpus * 1e9),
        **hardening(pids_limit=pids_limit),
        **b["host_config"],
        "log_config": log_config(max_size=log_max_size, max_files=log_max_files),
    }


def grader_container(
    *,
    image: str,
    command: list[str],
    name: str,
    labels: Mapping[str, str],
    memory: str,
    cpus: float,
    pids: int,
    log_limit: str,
    runner_user: str = CONTAINER_USER,
    runner_caps: Sequence[str] = (),
) -> dict:
    """Keyword arguments of ``docker.containers.create`` for one grading run: no
    network, no devices, no environment, a read-only root with small tmpfs /tmp and home.

    `runner_user`/`runner_caps`: the grading runner may start as root with just the
    capabilities it needs to run the student's kernel under another user id (and stop it),
    so that the kernel cannot reach the tests, the secret or the result channel."""
    hard = hardening(pids_limit=pids)
    if runner_caps:
        hard["cap_add"] = list(runner_caps)
    return dict(
        image=image,
        command=list(command),
        name=name,
        labels=dict(labels),
        hostname="autograde",
        user=runner_user,
        working_dir=HOME,
        environment={},
        network_mode="none",
        **hard,
        read_only=True,
        tmpfs={"/tmp": "rw,nosuid,nodev,size=64m,mode=1777",
               HOME: "rw,nosuid,nodev,size=64m,uid=1000,gid=100,mode=0700"},
        shm_size="16m",
        devices=[],
        mem_limit=memory,
        memswap_limit=memory,
        nano_cpus=int(cpus * 1e9),
        ulimits=[Ulimit(name="nofile", soft=1024, hard=1024), Ulimit(name="core", soft=0,
                                                                      hard=0)],
        oom_score_adj=500,
        log_config=LogConfig(type="json-file", config={"max-size": log_limit, "max-file": "1"}),
        detach=True,
    )
