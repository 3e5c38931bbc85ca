"""Answers shared by every resource."""

from __future__ import annotations

from typing import Any

from .base import Reply


class Error(Reply):
    """Every refusal: a readable message (and, where the service gives them, a code and
    its parameters)."""

    message: str
    status: int | None = None
    error: str | None = None
    params: dict[str, Any] | None = None


class Health(Reply):
    status: str
