"""The line for NPUs: an entry of GET /queue (admin) and a user's own place in GET /me."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Reply


class LinePlace(Reply):
    """A request waiting for NPUs: its place in the line and its estimated start (ISO
    time, UTC; null when nothing that runs is expected to end in time to tell)."""

    position: int = Field(description="1 is next")
    kind: Literal["server", "job"]
    id: int = Field(description="the line request's id (a server) or the job's id")
    npus: int
    submitted: str = Field(description="waiting since (ISO time, UTC)")
    estimated_start: str | None


class QueueEntry(LinePlace):
    user: str
    account: str
    server: str | None = Field(None, description="the server's name ('' is the default)")
