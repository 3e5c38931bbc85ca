"""Grades: one CSV for a course, the table instructors download."""

from __future__ import annotations

import csv
import io
from datetime import datetime

COLUMNS = ("student", "assignment", "score", "max_score", "submitted_at", "late", "attempt",
           "needs_review", "needs_manual_grading", "days_late", "late_penalty")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(round(value, 4))
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # a spreadsheet would run "=..." as a formula: names come from users
    return "'" + text if not isinstance(value, int) and text.startswith(_FORMULA) else text


def _order(row: dict):
    return (str(row.get("student", "")), str(row.get("assignment", "")),
            int(row.get("attempt") or 0))


def grades_csv(rows) -> str:
    """CSV text (RFC 4180, CRLF) of `rows` (dicts with at least COLUMNS; other keys are
    ignored), ordered by student, assignment, attempt."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=_order):
        writer.writerow([_value(row.get(column)) for column in COLUMNS])
    return out.getvalue()
