"""The node side of dataset mounts in cluster mode: run on a server's node, as root, by
Slurm itself (a step of the server's job, :mod:`.node_step`; or the job script before it
starts the container), never over SSH.

It does on the node what single-host mode does on the hub's host (:func:`.mounter.restore`):
the user's folder ``<root>/<user>`` is prepared (root a shared mount, so that what is
mounted later propagates into a running container, whose ``~/datasets`` is an ``rslave``
bind of that folder), the datasets the user wants are mounted read-only, the others
unmounted. One argument, a JSON object::

    python -m npuhub.hub.datasets.node_mount \
        '{"root": "/shared/npuhub/mounts", "user": "alice",
          "wanted": {"imagenet": "/data/imagenet"}, "follow": []}'

It prints one JSON line (``node``, ``mounted``, ``unmounted``, ``errors``) and exits 1 if
the request is invalid or a dataset could not be (un)mounted. Every value is checked
before it becomes a path (:func:`.catalog.check_user`, :func:`.catalog.check_name`,
absolute sources without ``..``); it never runs a shell.
"""

from __future__ import annotations

import json
import os
import socket
import sys

from ..refusals import Refusal
from .catalog import DatasetError, check_name, check_user

MAX_SPEC = 64 * 1024  # bytes of the JSON argument
MAX_DATASETS = 256


def _abs(path, what: str) -> str:
    if (not isinstance(path, str) or not path.startswith("/") or len(path) > 4096
            or "\0" in path or "\n" in path or ".." in path.split("/")):
        raise ValueError(f"{what} must be an absolute path without '..'")
    return path


def parse_spec(text: str) -> dict:
    """The checked request: root, user, wanted {name: source}, follow (names)."""
    if len(text.encode()) > MAX_SPEC:
        raise ValueError(f"the request is longer than {MAX_SPEC} bytes")
    spec = json.loads(text)
    if not isinstance(spec, dict) or set(spec) - {"root", "user", "wanted", "follow"}:
        raise ValueError("the request must be an object of root, user, wanted, follow")
    wanted = spec.get("wanted") or {}
    follow = spec.get("follow") or []
    if not isinstance(wanted, dict) or not isinstance(follow, list):
        raise ValueError("wanted must be an object, follow a list")
    if len(wanted) > MAX_DATASETS:
        raise ValueError(f"at most {MAX_DATASETS} datasets")
    try:
        return {
            "root": _abs(spec.get("root"), "root"),
            "user": check_user(spec.get("user")),
            "wanted": {check_name(n): _abs(s, f"source of {n}") for n, s in wanted.items()},
            "follow": sorted({check_name(n) for n in follow if n in wanted}),
        }
    except DatasetError as e:
        raise ValueError(str(e)) from None


def main(argv: list[str]) -> int:
    from . import mounter  # only here: the node's own mounts

    node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    try:
        if len(argv) != 1:
            raise ValueError("one argument: the request as JSON")
        spec = parse_spec(argv[0])
        done = mounter.restore(spec["root"], spec["user"], spec["wanted"],
                               follow=set(spec["follow"]))
    except (ValueError, OSError, Refusal) as e:
        print(json.dumps({"node": node, "error": str(e)}))
        return 1
    out = {"node": node, **{k: done[k] for k in ("mounted", "unmounted", "errors")}}
    print(json.dumps(out, sort_keys=True))
    return 1 if done["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
