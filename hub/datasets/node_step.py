"""Live dataset mounts in cluster mode, through Slurm itself: the mounts of a user's
running servers are made on their nodes by a step in each server's own allocation,

    srun --jobid=J --overlap --nodes=1 --ntasks=1 --gres=none --quiet \
        PYTHON -m npuhub.hub.datasets.node_mount '{"root": …, "user": …, "wanted": …}'

which runs :mod:`.node_mount` on the node (as the job's user: root where the hub submits
as root) and makes the node's mounts of that user match ``wanted``, exactly as
single-host mode does on its one host. No SSH, no daemon on the nodes: only Slurm and
the npuhub package at the same path as on the hub's host (``PYTHON``,
``c.SlurmNPUSpawner.node_python``). The hub's host itself mounts nothing in cluster mode.

A user's servers are found by their job names (``PREFIX-USER--SERVER``, USER escaped as
the spawner's container names are) among the RUNNING jobs. Every command is an argument
list; the user name is checked before it is escaped, dataset names and sources by
:func:`.node_mount.parse_spec` on both sides.
"""

from __future__ import annotations

import json
import logging
import os
import re
import string
import subprocess
import sys

from .node_mount import parse_spec

HELPER = "npuhub.hub.datasets.node_mount"
SAFE = set(string.ascii_lowercase + string.digits)
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PROGRAM = re.compile(r"^/[A-Za-z0-9_./+-]+$")
log = logging.getLogger("npuhub.datasets.nodes")


class NodeMountError(RuntimeError):
    """A node could not make the mounts (the message says which node and why)."""


def escaped(user: str) -> str:
    """The user's name as in container and job names (DockerSpawner's escaping: a
    character other than a-z and 0-9 becomes -XX per UTF-8 byte, then lower case)."""
    return "".join(c if c in SAFE else "".join(f"-{b:02X}" for b in c.encode())
                   for c in user).lower()


def spec_for(root: str, user: str, datasets: list[dict]) -> dict:
    """The helper's request from catalog dicts (name, source, symlinks) of the datasets
    `user` wants; checked as the node will check it."""
    spec = {
        "root": str(root),
        "user": user,
        "wanted": {d["name"]: d["source"] for d in datasets},
        "follow": [d["name"] for d in datasets if d.get("symlinks")],
    }
    return parse_spec(json.dumps(spec))


def helper_argv(python: str, spec: dict) -> list[str]:
    if not _PROGRAM.match(python):
        raise ValueError(f"node_python must be an absolute path, got {python!r}")
    return [python, "-m", HELPER, json.dumps(spec, sort_keys=True, separators=(",", ":"))]


def step_argv(job_id: str, python: str, spec: dict, srun: str = "srun") -> list[str]:
    """argv of the step that runs the helper in job `job_id`'s allocation."""
    if not job_id.isdigit():
        raise ValueError(f"not a Slurm job id: {job_id!r}")
    return [srun, f"--jobid={job_id}", "--overlap", "--nodes=1", "--ntasks=1",
            "--gres=none", "--quiet", *helper_argv(python, spec)]


def server_jobs(squeue_out: str, prefix: str, user: str) -> list[str]:
    """Ids of `user`'s RUNNING server jobs in ``squeue -h -o "%i %j %T"`` output."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"invalid prefix {prefix!r}")
    start = f"{prefix}-{escaped(user)}--"
    ids = []
    for line in squeue_out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit() and parts[1].startswith(start) \
                and parts[2] == "RUNNING":
            ids.append(parts[0])
    return ids


def _env(slurm_conf: str | None) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # nothing of the service's own
    if slurm_conf:
        env["SLURM_CONF"] = slurm_conf
    return env


def result(stdout: str) -> dict | None:
    """The helper's JSON line (the last line that is one)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def sync_user(*, slurm_conf: str | None, prefix: str, python: str, root: str, user: str,
              datasets: list[dict], timeout: float = 60) -> list[dict]:
    """Make the mounts of `user` on the nodes of their running servers match `datasets`
    (catalog dicts); the helpers' answers, one per server. Raises NodeMountError when a
    node could not (the user's servers keep running). Blocking: run it in an executor."""
    spec = spec_for(root, user, datasets)
    env = _env(slurm_conf)
    out = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i %j %T"], env=env,
                         capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise NodeMountError(f"squeue: {(out.stderr or out.stdout).strip()[:300]}")
    answers = []
    for job_id in server_jobs(out.stdout, prefix, user):
        proc = subprocess.run(step_argv(job_id, python, spec), env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        answer = result(proc.stdout) or {}
        answer["job"] = job_id
        if proc.returncode != 0 or answer.get("error") or answer.get("errors"):
            why = answer.get("error") or answer.get("errors") or proc.stderr.strip()[-300:]
            raise NodeMountError(
                f"datasets of {user} on {answer.get('node', '?')} (Slurm job {job_id}): {why}")
        log.info("Datasets of %s on %s (Slurm job %s): mounted %s, unmounted %s", user,
                 answer.get("node"), job_id, answer.get("mounted"), answer.get("unmounted"))
        answers.append(answer)
    return answers


class NodeMounts:
    """What the nodes of each user's running servers were last told to mount, so that a
    change made anywhere (a user's mount, a dataset deleted or moved, a grant revoked by
    a course or a group left) reaches them within one watch (:meth:`reconcile`), and only
    then: a step runs for a user only when what they should have changed."""

    def __init__(self, *, slurm_conf: str | None, prefix: str, python: str, root: str):
        self.args = {"slurm_conf": slurm_conf, "prefix": prefix, "python": python,
                     "root": root}
        self.told: dict[str, dict[str, tuple[str, bool]]] = {}  # user -> name -> source

    @staticmethod
    def _key(datasets: list[dict]) -> dict[str, tuple[str, bool]]:
        return {d["name"]: (d["source"], bool(d.get("symlinks"))) for d in datasets}

    def follow(self, user: str, datasets: list[dict]) -> list[dict]:
        """Tell the nodes of `user`'s servers to mount exactly `datasets` (a dataset whose
        source or symlinks changed is unmounted first). Blocking."""
        want = self._key(datasets)
        before = self.told.pop(user, None) or {}
        moved = [n for n, v in want.items() if n in before and before[n] != v]
        if moved:
            sync_user(**self.args, user=user,
                      datasets=[d for d in datasets if d["name"] not in moved])
        answers = sync_user(**self.args, user=user, datasets=datasets)
        self.told[user] = want
        return answers

    def reconcile(self, mounts: dict[str, list[dict]], running: list[str]) -> list[str]:
        """`mounts`: every user's remembered datasets (DatasetStore.all_mounts); `running`:
        the users with a running server. The users whose nodes were told again."""
        for user in set(self.told) - set(running):
            del self.told[user]
        changed = []
        for user in running:
            datasets = mounts.get(user, [])
            if self.told.get(user) == self._key(datasets):
                continue
            try:
                self.follow(user, datasets)
                changed.append(user)
            except (NodeMountError, ValueError, OSError, subprocess.SubprocessError) as e:
                log.warning("Dataset mounts of %s on their nodes: %s", user, e)
        return changed


def node_mounts_for(settings) -> NodeMounts | None:
    """The service's NodeMounts in cluster mode (None in single-host mode, and with an
    empty c.SlurmNPUSpawner.node_python: then the hub's host mounts)."""
    config = settings.config
    spawner = config.SlurmNPUSpawner
    python = spawner.get("node_python")
    if settings.engine != "slurm" or python == "":
        return None
    return NodeMounts(
        slurm_conf=spawner.get("slurm_conf") or config.JobsConfig.get("slurm_conf") or None,
        prefix=config.NPUSpawner.get("prefix") or "npuhub",
        python=python or sys.executable,
        root=str(settings.path("mounts")),
    )
