"""A node drained by an operator is drained in Slurm too (cluster mode): `npuhub devices
drain NODE` marks every chip of NODE drained in the ledger and runs ``scontrol update
nodename=NODE state=drain reason=…``, so Slurm stops placing servers and jobs there;
`undrain NODE` resumes it. The argv builders are pure; :func:`run` is the only I/O.
"""

from __future__ import annotations

import os
import re
import subprocess

NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REASON = re.compile(r"^[\x20-\x7e]{1,100}$")
DEFAULT_REASON = "drained by npuhub"


class SlurmNodeError(RuntimeError):
    """scontrol refused (its message) or the node name or reason is not acceptable."""


def drain_argv(node: str, reason: str = DEFAULT_REASON, scontrol: str = "scontrol") -> list[str]:
    """argv that drains `node` in Slurm (running jobs keep running, no new ones start)."""
    if not NODE.match(node):
        raise SlurmNodeError(f"{node!r} is not a Slurm node name")
    if not REASON.match(reason):
        raise SlurmNodeError("the reason must be 1 to 100 printable ASCII characters")
    return [scontrol, "update", f"nodename={node}", "state=drain", f"reason={reason}"]


def resume_argv(node: str, scontrol: str = "scontrol") -> list[str]:
    if not NODE.match(node):
        raise SlurmNodeError(f"{node!r} is not a Slurm node name")
    return [scontrol, "update", f"nodename={node}", "state=resume"]


def node_state(text: str) -> str:
    """``scontrol -o show node NODE`` → its State (e.g. ``IDLE+DRAIN``)."""
    m = re.search(r"(?:^|\s)State=(\S+)", text)
    return m.group(1) if m else ""


def run(argv: list[str], slurm_conf: str | None = None, timeout: float = 30) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if slurm_conf:
        env["SLURM_CONF"] = slurm_conf
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SlurmNodeError(f"{argv[0]}: {e}") from None
    if proc.returncode != 0:
        raise SlurmNodeError((proc.stderr or proc.stdout).strip() or f"{argv[0]} failed")
    return proc.stdout
