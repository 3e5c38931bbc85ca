"""What people type, read once: time limits and job parameters.

The Lab's job dialog, the ipywidgets panel, the magics and the Python API send what the
person typed as a string; the service reads it here, so `2h` means two hours and
`msg=hello, world` is one parameter everywhere. A value that does not read is a 400
refusal that names the field.

Time limits: `90` (seconds), `1:30:00` (H:MM:SS), `30:00` (MM:SS), `2h`, `45m`, `90s`,
`1d`, or combinations like `1h30m` (a number of seconds is also accepted as a JSON number).

Parameters: a JSON object (`{"lr": 0.01}`, as text or as the body's own object) or one
`name=value` per line; only the first `=` splits, so commas, spaces and `=` stay in the
value. Blank lines and lines starting with `#` are skipped. A value that reads as a JSON
number, `true`, `false`, `null` or a double-quoted string is that; a value in single
quotes is the text inside them; anything else is the text itself, trimmed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .refusals import Refusal

UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNITS = re.compile(r"^(?:\d+(?:\.\d+)?[dhms])+$")
_CLOCK = re.compile(r"^\d+(?::[0-5]?\d){1,2}$")
MAX_TEXT = 64 * 1024


def parse_time_limit(value: Any, field: str = "time_limit") -> int | None:
    """Seconds from what a person typed; None for nothing (`None`, "")."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Refusal("bad_time_limit", field=field, value=repr(value))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        raise Refusal("bad_time_limit", field=field, value=repr(value)[:40])
    s = value.strip().lower().replace(" ", "")
    if not s:
        return None
    if s.isdigit() and len(s) <= 12:
        return int(s)
    if _CLOCK.match(s) and len(s) <= 16:
        seconds = 0
        for part in s.split(":"):
            seconds = seconds * 60 + int(part)
        return seconds
    if _UNITS.match(s) and len(s) <= 24:
        parts = _UNIT_PART.findall(s)
        units = [u for _, u in parts]
        if len(set(units)) == len(units) and units == sorted(units, key="dhms".index):
            return round(sum(float(n) * UNITS[u] for n, u in parts))
    raise Refusal("bad_time_limit", field=field, value=repr(value)[:40])


def check_time_limit(value: Any, default: int, maximum: int, field: str = "time_limit") -> int:
    """`value` read by :func:`parse_time_limit`, `default` when empty, within 1..maximum."""
    seconds = parse_time_limit(value, field)
    if seconds is None:
        return default
    if not 1 <= seconds <= maximum:
        raise Refusal("time_limit_range", field=field, max=maximum, value=seconds)
    return seconds


def parse_value(text: str) -> Any:
    """One parameter's value (see the module docstring)."""
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1]
    if s in ("true", "false", "null") or s.startswith('"') or _looks_numeric(s):
        try:
            value = json.loads(s)
        except ValueError:
            return s
        return value if not isinstance(value, list | dict) else s
    return s


def _looks_numeric(s: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", s))


def parse_parameters(value: Any, field: str = "parameters") -> dict:
    """A dict of parameters from a JSON object or its text, or `name=value` lines."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if not isinstance(value, str):
        raise Refusal("bad_parameters", field=field)
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise Refusal("bad_parameters", field=field)
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as e:
            raise Refusal("bad_parameters_json", field=field, reason=str(e)[:120]) from None
        if not isinstance(parsed, dict):
            raise Refusal("bad_parameters", field=field)
        return parsed
    out: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition("=")
        if not sep or not name.strip():
            raise Refusal("bad_parameter_line", field=field, line=number, text=repr(line)[:80])
        out[name.strip()] = parse_value(rest)
    return out
