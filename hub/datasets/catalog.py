"""The rules of the datasets catalog, without I/O except where said: names, the fields
of a declaration, who may mount what, where a mount goes; and the size/file-count scan.

Every name that becomes part of a host path passes `check_name` or `check_user` first:
letters, digits and a few separators, no '/', no '..', no NUL, no spaces.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from npuhub.hub.refusals import Refusal
from npuhub.hub.schemas import SchemaError, validate
from npuhub.hub.schemas.datasets import DatasetChange, DatasetSpec

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
GROUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CONTAINER_ROOT = PurePosixPath("/home/jovyan/datasets")
TEXT_LIMITS = {"title": 255, "description": 10_000, "version": 64, "license": 255}
# never offered as a dataset, nor anything inside them
SYSTEM_PATHS = ("/proc", "/sys", "/dev", "/run", "/etc", "/boot", "/root", "/var/lib/docker")


class DatasetError(Refusal, ValueError):
    """A refusal of the datasets catalog: a code (hub/refusals.py) or a sentence naming
    the field of a dataset spec (code ``dataset_invalid``), with its HTTP status."""

    fallback = "dataset_invalid"


def check_name(name: object) -> str:
    """A dataset name: lowercase letters, digits, '.', '_', '-' (at most 63, starting with
    a letter or digit, no '..'), or DatasetError(400)."""
    s = name if isinstance(name, str) else ""
    if not NAME_RE.match(s) or ".." in s:
        shown = repr(name)[:80]
        raise DatasetError(
            f"invalid dataset name {shown}: use lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', no '..', at most 63 characters)"
        )
    return s


def check_user(user: object) -> str:
    """A user name that is safe as one path component, or DatasetError(400)."""
    s = user if isinstance(user, str) else ""
    if not USER_RE.match(s) or ".." in s:
        raise DatasetError(f"user name {repr(user)[:80]} cannot have a datasets folder")
    return s


def _text(key: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DatasetError(f"{key} must be a string")
    if len(value) > TEXT_LIMITS[key]:
        raise DatasetError(f"{key} is longer than {TEXT_LIMITS[key]} characters")
    allowed = "\n\t" if key == "description" else ""
    if any(ord(c) < 32 and c not in allowed for c in value) or "\x7f" in value:
        raise DatasetError(f"{key} contains control characters")
    return value


def check_access(value: object) -> str | list[str]:
    """ "public", or a list of group names (an empty list: admins and grants only)."""
    if value == "public":
        return "public"
    if isinstance(value, list) and all(isinstance(g, str) and GROUP_RE.match(g) for g in value):
        return sorted(set(value))
    raise DatasetError('access must be "public" or a list of group names')


def validate_spec(body: dict, *, partial: bool = False) -> dict:
    """The fields of a declaration (declared once in npuhub.hub.schemas.datasets), each
    checked; `name` and `source` are required unless `partial` (an update). The source is
    only checked for form here; see `resolve_source` for the folder itself."""
    if not isinstance(body, dict):
        raise DatasetError("a dataset is a mapping of fields")
    try:
        body = validate(DatasetChange if partial else DatasetSpec, body).model_dump(
            exclude_unset=True)
    except SchemaError as e:
        raise DatasetError(str(e)) from None
    out: dict = {}
    for key, value in body.items():
        if key == "name":
            out[key] = check_name(value)
        elif key == "access":
            out[key] = check_access(value)
        elif key == "symlinks":
            if not isinstance(value, bool):
                raise DatasetError("symlinks must be true or false")
            out[key] = value
        elif key == "source":
            if not isinstance(value, str) or not value.startswith("/") or "\x00" in value:
                raise DatasetError("source must be an absolute path of a folder on the host")
            out[key] = value
        else:
            out[key] = _text(key, value)
    return out


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve_source(source: str, protected: Sequence[str] = ()) -> str:
    """The real path of a dataset's folder (symlinks resolved once, here, when the admin
    declares it): an existing directory that is not '/', not a system folder, and that
    neither contains nor lies inside a `protected` path (the state dir). I/O: realpath."""
    real = os.path.realpath(source)
    if not os.path.isdir(real):
        raise DatasetError(f"source {source!r} is not a folder on the host")
    for p in (*SYSTEM_PATHS, *(os.path.realpath(x) for x in protected)):
        if _within(real, p) or _within(p, real):
            raise DatasetError(f"source {source!r} may not be, contain or lie inside {p}")
    return real


def may_mount(
    access: str | Iterable[str], grants: Iterable[str], groups: Iterable[str], admin=False
) -> bool:
    """Whether someone in `groups` may use a dataset: admins always; anyone if it is
    public; else a member of one of its groups or of a group it was granted to."""
    if admin or access == "public":
        return True
    return bool((set(access) | set(grants)) & set(groups))


def user_folder(root: str | os.PathLike, user: str) -> Path:
    """The host folder bind-mounted at ~/datasets in `user`'s containers."""
    return Path(root) / check_user(user)


def mount_target(root: str | os.PathLike, user: str, name: str) -> Path:
    """Where dataset `name` is mounted on the host for `user`."""
    return user_folder(root, user) / check_name(name)


def container_path(name: str) -> str:
    """Where dataset `name` appears in the user's container."""
    return str(CONTAINER_ROOT / check_name(name))


def scan(path: str | os.PathLike) -> tuple[int, int]:
    """(bytes, regular files) under `path`, never following a symlink; unreadable
    folders are skipped. I/O: walks the tree (run it off the event loop)."""
    size = files = 0
    todo = [os.fspath(path)]
    while todo:
        try:
            it = os.scandir(todo.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    todo.append(entry.path)
                elif stat.S_ISREG(st.st_mode):
                    files += 1
                    size += st.st_size
    return size, files


def public_view(d: dict, *, mounted: bool, admin: bool) -> dict:
    """A catalog entry as the API shows it; the source path only to admins."""
    out = {k: d[k] for k in ("name", "title", "description", "version", "license", "access")}
    out["symlinks"] = bool(d.get("symlinks"))
    out.update(
        size=d.get("size"),
        files=d.get("files"),
        scanned=d.get("scanned"),
        mounted=mounted,
        path=container_path(d["name"]),
    )
    if admin:
        out.update(source=d["source"], grants=list(d.get("grants", [])))
    return out


