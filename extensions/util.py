"""Pure helpers: name checks, safe joins, timestamps and durations, human-readable sizes.
(Time limits and job parameters are sent as typed; the service reads them.)"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .client import NPUHubError
from .i18n import N_, _

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def home() -> Path:
    return Path(os.path.expanduser("~"))


NAME_KINDS = {k: k for k in (N_("name"), N_("course id"), N_("assignment name"), N_("student"),
                             N_("dataset name"), N_("job name"), N_("job id"))}  # fmt: skip


def check_name(value: Any, what: str = "name") -> str:
    """A slug-like name (letters, digits, '.', '_', '-'; no '/', no '..'), or NPUHubError."""
    s = str(value)
    if not NAME_RE.match(s) or ".." in s:
        raise NPUHubError(
            _(
                "invalid {what} {value}: use letters, digits, '.', '_' or '-' "
                "(no '/', no '..', at most 128 characters)"
            ).format(what=_(NAME_KINDS[what]) if what in NAME_KINDS else what, value=repr(s))
        )
    return s


def safe_join(root: str | os.PathLike, rel: str) -> Path:
    """`root / rel` for a relative path `rel` that stays inside `root`, or NPUHubError.

    Refuses absolute paths, '..' and empty parts, backslashes, NUL, and paths whose
    existing parents are symlinks leading out of `root`.
    """
    bad = (
        not isinstance(rel, str)
        or not rel
        or "\x00" in rel
        or "\\" in rel
        or rel.startswith("/")
        or any(p in ("", ".", "..") for p in rel.split("/"))
    )
    if bad:
        raise NPUHubError(_("refusing unsafe file name {name}").format(name=repr(rel)))
    root_real = os.path.realpath(root)
    target = os.path.join(root_real, *rel.split("/"))
    parent_real = os.path.realpath(os.path.dirname(target))
    if os.path.commonpath([root_real, parent_real]) != root_real:
        raise NPUHubError(
            _("refusing file name {name}: it leads outside {root}").format(
                name=repr(rel), root=root
            )
        )
    return Path(target)


def human_size(n: Any) -> str:
    """1536 -> '1.5 KiB'; a string is kept as it is; None -> '?'."""
    if n is None:
        return "?"
    if isinstance(n, str):
        return n
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            if unit == "B":
                return f"{int(size)} B"
            return f"{size:.1f} {unit}" if size < 100 else f"{size:.0f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (naive means UTC) or epoch seconds, or None."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def format_duration(seconds: float | None) -> str:
    """3723 -> '1:02:03'; None -> ''."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def elapsed(job: dict, now: datetime | None = None) -> float | None:
    """Seconds a job has run: started..finished, or started..now while it runs."""
    start = parse_time(job.get("started"))
    if start is None:
        return None
    end = parse_time(job.get("finished")) or now or datetime.now(UTC)
    return (end - start).total_seconds()


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain-text table for magics."""
    cells = [header] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
