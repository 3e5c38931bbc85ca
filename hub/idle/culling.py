"""Servers without NPUs are stopped after HTTP inactivity by jupyterhub-idle-culler, run
by the hub as a managed service (hub/jupyterhub_config.py, culler_config.py). Its
arbiter hook leaves servers that hold NPUs alone: those are the NPU idle watch's."""

from __future__ import annotations

from datetime import timedelta


def npus_of(server: dict) -> int:
    """The NPUs a server model asked for (its `user_options`, checked by the spawner)."""
    try:
        return int((server.get("user_options") or {}).get("npus") or 0)
    except (TypeError, ValueError):
        return 1  # not what the spawner accepts: do not cull what we cannot tell


def without_npus(inactive: timedelta | None, inactive_limit: float, server: dict,
                 **kwargs) -> bool:
    """c.IdleCuller.cull_arbiter_hook: the culler's own rule, for servers without NPUs."""
    if inactive is None or npus_of(server):
        return False
    return inactive.total_seconds() >= inactive_limit
