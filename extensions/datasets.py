"""Datasets: list what you may use, mount one at `~/datasets/{name}`, unmount it.

    from npuhub.extensions import datasets
    datasets.list()              # [{name, title, description, size, mounted, path, ...}]
    datasets.mount("imagenet")   # '/home/jovyan/datasets/imagenet'
    datasets.unmount("imagenet")

The mount appears in the running server without a restart (the service bind-mounts the
dataset read-only and the mount propagates into the container).
"""

from __future__ import annotations

import builtins

from . import client
from .util import check_name, home


def list() -> builtins.list[dict]:  # noqa: A001 - the public name DESIGN.md gives
    """The datasets you may use, with `mounted` telling which are mounted now."""
    return client.request("GET", "/datasets") or []


def local_path(name: str) -> str:
    """Where dataset `name` appears in this server: `~/datasets/{name}`."""
    return str(home() / "datasets" / check_name(name, "dataset name"))


def mount(name: str) -> str:
    """Mount dataset `name` read-only and return its path, `~/datasets/{name}`."""
    name = check_name(name, "dataset name")
    client.request("POST", client.path("datasets", name, "mount"))
    return local_path(name)


def unmount(name: str) -> None:
    """Unmount dataset `name` (your files elsewhere are not touched)."""
    name = check_name(name, "dataset name")
    client.request("DELETE", client.path("datasets", name, "mount"))
