"""The caller's standing (GET /me), NPU-hours (GET /usage) and devices (GET /devices)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Body, Reply
from .line import LinePlace


class Me(Reply):
    name: str
    kind: Literal["user", "service"]
    admin: bool
    groups: list[str] | None = None
    accounts: list[str] | None = None
    warnings: list[Any] | None = None
    idle: list[dict[str, Any]] | None = None
    line: LinePlace | None = Field(
        None, description="The caller's foremost place in the line for NPUs (a server "
        "or a batch job waiting), or null")


class Usage(Reply):
    account: str | None
    user: str | None
    period: str
    start: str
    end: str
    npu_hours: float
    active_npus: int
    by_account: dict[str, float]
    by_user: dict[str, float]


class Device(Reply):
    node: str
    index: int
    type: str
    state: str
    holder: dict[str, Any] | None


class ActivationRequest(Body):
    expires_in: int | float | None = Field(
        None, description="Seconds the link stays valid (at most c.NPUHub.activation_link_hours)")
    reset: bool | None = Field(None, description="Administrators: a new link for an active "
                               "account (its password is replaced when the link is used)")


class ActivationLink(Reply):
    user: str
    url: str
    expires: str
