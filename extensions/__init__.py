"""npuhub.extensions: what runs inside the user's server and kernel.

    from npuhub.extensions import datasets, jobs, courses       # the Python API
    from npuhub.extensions import session                       # session.provenance()
    from npuhub.extensions import DatasetBrowser, JobPanel, CoursePanel, InstructorPanel
    %load_ext npuhub.extensions                                  # %dataset, %job, %course

Imports nothing of npuhub.hub or npuhub.spawners: it talks to the platform service over
HTTP with the server's own JupyterHub token. The submodules are imported on first use, so
importing this package (e.g. for `npuhub.extensions.autograde`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "datasets": ("datasets", None),
    "jobs": ("jobs", None),
    "courses": ("courses", None),
    "session": ("session", None),
    "client": ("client", None),
    "NPUHubError": ("client", "NPUHubError"),
    "DatasetBrowser": ("dataset_browser", "DatasetBrowser"),
    "JobPanel": ("job_panel", "JobPanel"),
    "CoursePanel": ("course_panel", "CoursePanel"),
    "InstructorPanel": ("instructor_panel", "InstructorPanel"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(f"{__name__}.{module}")
    return mod if attr is None else getattr(mod, attr)


def load_ipython_extension(ip: Any) -> None:
    """`%load_ext npuhub.extensions`: the %dataset, %job and %course magics."""
    from .magics import register

    register(ip)


def _jupyter_server_extension_points() -> list[dict]:
    from .serverext import NPUHubApp

    return [{"module": "npuhub.extensions", "app": NPUHubApp}]
