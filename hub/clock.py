"""The platform's one source of time. A module function, so tests move time with
``monkeypatch.setattr("npuhub.hub.clock.utcnow", ...)`` (as jupyterhub-idle-culler does);
callers look it up at call time (``clock.utcnow()``), never bind it at import."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)
