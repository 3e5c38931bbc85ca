"""Pure helpers: name checks, safe joins, parameter and time parsing, human-readable sizes."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .client import NPUHubError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TRUE, FALSE = {"true", "yes", "on"}, {"false", "no", "off"}
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def home() -> Path:
    return Path(os.path.expanduser("~"))


def check_name(value: Any, what: str = "name") -> str:
    """A slug-like name (letters, digits, '.', '_', '-'; no '/', no '..'), or NPUHubError."""
    s = str(value)
    if not NAME_RE.match(s) or ".." in s:
        raise NPUHubError(
            f"invalid {what} {s!r}: use letters, digits, '.', '_' or '-' "
            "(no '/', no '..', at most 128 characters)"
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
        raise NPUHubError(f"refusing unsafe file name {rel!r}")
    root_real = os.path.realpath(root)
    target = os.path.join(root_real, *rel.split("/"))
    parent_real = os.path.realpath(os.path.dirname(target))
    if os.path.commonpath([root_real, parent_real]) != root_real:
        raise NPUHubError(f"refusing file name {rel!r}: it leads outside {root}")
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


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.01' -> 0.01, 'true' -> True, '"3"' -> '3', anything else a string."""
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    if s.lower() in TRUE:
        return True
    if s.lower() in FALSE:
        return False
    for convert in (int, float):
        try:
            return convert(s)
        except ValueError:
            pass
    return s


def parse_params(items: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """['lr=0.01', 'epochs=3'] -> {'lr': 0.01, 'epochs': 3}; blanks and '#' lines ignored."""
    out: dict[str, Any] = {}
    for item in items or ():
        line = item.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not KEY_RE.match(key):
            raise NPUHubError(f"invalid parameter {line!r}: write name=value, e.g. lr=0.01")
        out[key] = parse_value(value)
    return out


def parse_param_lines(text: str) -> dict[str, Any]:
    """The `k=v` lines of a text area."""
    return parse_params(text.splitlines())


def parse_time_limit(value: Any) -> int | None:
    """3600, '3600', '1:00:00', '30:00' (MM:SS), '2h', '90m' -> seconds; None/'' -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise NPUHubError(f"invalid time limit {value!r}")
    if isinstance(value, int | float):
        seconds = int(value)
    else:
        s = str(value).strip().lower()
        try:
            if ":" in s:
                parts = [int(p) for p in s.split(":")]
                if len(parts) > 3 or any(p < 0 for p in parts):
                    raise ValueError
                seconds = 0
                for p in parts:
                    seconds = seconds * 60 + p
            elif s and s[-1] in UNIT_SECONDS:
                seconds = int(float(s[:-1]) * UNIT_SECONDS[s[-1]])
            else:
                seconds = int(s)
        except ValueError:
            raise NPUHubError(
                f"invalid time limit {value!r}: give seconds, H:MM:SS, or e.g. 2h / 90m"
            ) from None
    if seconds <= 0:
        raise NPUHubError(f"invalid time limit {value!r}: it must be positive")
    return seconds


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
