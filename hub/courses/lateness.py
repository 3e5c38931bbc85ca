"""Due dates and late penalties: a course's time zone, per-student extensions, and the
late policy of the course file. Pure: no I/O, times in, numbers out.

    timezone: Asia/Shanghai          # times written without offset are in this zone
    late_policy:
      penalty_per_day: 10%           # of the score, per day or part of a day late
      max_penalty: 50%               # the most taken in all (default 100%)
      zero_after_days: 7             # later than 7 days after the due date: 0 points

A student's due date is the assignment's, or their extension's. Lateness is counted
from that date; the penalty is a percentage of the points earned (automatic and manual),
never below 0; past `zero_after_days` the score is 0.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = 86400.0
NO_POLICY = {"penalty_per_day": 0.0, "max_penalty": 100.0, "zero_after_days": None}


class PolicyError(ValueError):
    """A time zone or late policy that is not valid; the message names the field."""


def zone(name: str | None) -> tzinfo:
    """The course's zone (UTC when none is given); PolicyError for an unknown name."""
    if name is None or name == "":
        return UTC
    if not isinstance(name, str) or len(name) > 64 or ".." in name or name.startswith("/"):
        raise PolicyError("timezone must be an IANA time zone name such as Asia/Shanghai")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"timezone {name[:64]!r} is not an IANA time zone name "
                          "(such as Asia/Shanghai or Europe/Berlin)") from None


def local(t: datetime | None, name: str | None) -> str:
    """`t` on the wall clock of the course's zone `name`: "2026-09-15 23:59 (Asia/Shanghai)"."""
    if t is None:
        return ""
    try:
        tz = zone(name)
    except PolicyError:
        tz, name = UTC, "UTC"
    return f"{t.astimezone(tz):%Y-%m-%d %H:%M} ({name or 'UTC'})"


def to_utc(t: datetime, tz: tzinfo) -> datetime:
    """An aware UTC time; a naive `t` is a wall-clock time in `tz`."""
    return (t if t.tzinfo else t.replace(tzinfo=tz)).astimezone(UTC)


def _percent(value, what: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            value = float(text)
        except ValueError:
            raise PolicyError(f"late_policy.{what} must be a percentage such as 10%") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 <= value <= 100):
        raise PolicyError(f"late_policy.{what} must be between 0% and 100%")
    return float(value)


def parse_policy(doc: dict | None) -> dict:
    """The checked late policy: {penalty_per_day, max_penalty (percent), zero_after_days}."""
    if not doc:
        return dict(NO_POLICY)
    days = doc.get("zero_after_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int | float)
                             or not 0 <= days <= 365):
        raise PolicyError("late_policy.zero_after_days must be a number of days, 0 to 365")
    return {"penalty_per_day": _percent(doc.get("penalty_per_day"), "penalty_per_day", 0.0),
            "max_penalty": _percent(doc.get("max_penalty"), "max_penalty", 100.0),
            "zero_after_days": None if days is None else float(days)}


def due_for(due: datetime | None, extensions: dict | None, student: str) -> datetime | None:
    """The student's due date: their extension's (ISO text in `extensions`) or `due`."""
    ext = (extensions or {}).get(student)
    if isinstance(ext, dict) and ext.get("due"):
        return datetime.fromisoformat(ext["due"])
    return due


def last_due(due: datetime | None, extensions: dict | None) -> datetime | None:
    """The latest due date of anyone (feedback, which shows hidden tests, waits for it)."""
    dues = [due] + [datetime.fromisoformat(e["due"]) for e in (extensions or {}).values()
                    if isinstance(e, dict) and e.get("due")]
    dues = [d for d in dues if d is not None]
    return max(dues) if due is not None and dues else None


def penalty(policy: dict | None, submitted: datetime | None, due: datetime | None) -> dict:
    """How late `submitted` is and what it costs: {late, seconds, days, percent, zero}.
    `days` counts each day or part of a day; `percent` is taken from the score."""
    policy = policy or NO_POLICY
    seconds = 0.0
    if submitted is not None and due is not None:
        seconds = max(0.0, (submitted - due).total_seconds())
    days = math.ceil(seconds / DAY) if seconds else 0
    zero = (seconds > 0 and policy.get("zero_after_days") is not None
            and seconds > policy["zero_after_days"] * DAY)
    percent = 100.0 if zero else min(policy.get("max_penalty", 100.0),
                                     days * policy.get("penalty_per_day", 0.0))
    return {"late": seconds > 0, "seconds": round(seconds), "days": days,
            "percent": round(percent, 4), "zero": bool(zero),
            "due": due.isoformat() if due else None}


def apply(score: float, late: dict) -> float:
    """The score after the late penalty."""
    return round(max(0.0, score * (1 - late["percent"] / 100.0)), 6)
