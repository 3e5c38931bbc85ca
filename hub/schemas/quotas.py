"""Quota policies: the body of PUT /quotas/{group}, a `kind: QuotaPolicy` document of
`npuhub apply -f`, and a policy as GET /quotas answers it. Every limit may be null
(= inherit); the names are npuhub.hub.ledger.quota.LIMIT_FIELDS (a test ties the two)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Body, Reply

Period = Literal["day", "week", "month"]
Whole = int | None
Amount = int | float | None
MOST_NPUS, MOST_HOURS = 1_000_000, 1e9  # far above any cluster, within any column


class QuotaLimits(Body):
    max_npus_per_server: Whole = Field(None, ge=0, le=MOST_NPUS)
    max_npus: Whole = Field(None, ge=0, le=MOST_NPUS)
    group_max_npus: Whole = Field(None, ge=0, le=MOST_NPUS)
    npu_hours: Amount = Field(None, ge=0, le=MOST_HOURS, allow_inf_nan=False)
    npu_hours_per_member: Amount = Field(None, ge=0, le=MOST_HOURS, allow_inf_nan=False)
    period: Period = "week"
    max_session_hours: Amount = Field(None, ge=0, le=MOST_HOURS, allow_inf_nan=False)
    profiles: list[str] | None = Field(None, description="Profile slugs; null: all",
                                       max_length=1000)

    def limits(self) -> dict:
        """The fields given (others are left as they are)."""
        return self.model_dump(exclude_unset=True)


class QuotaPolicyDoc(QuotaLimits):
    """`kind: QuotaPolicy`: the limits of a `group` ('*': the default) or of a `user`."""

    kind: Literal["QuotaPolicy"] = "QuotaPolicy"
    group: str | None = Field(None, min_length=1, max_length=128)
    user: str | None = Field(None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _whose(self):
        if (self.group is None) == (self.user is None):
            raise ValueError("give `group` or `user` (one of them)")
        return self

    def limits(self) -> dict:
        return {k: v for k, v in super().limits().items() if k not in ("kind", "group", "user")}


class QuotaPolicy(Reply):
    group: str
    max_npus_per_server: int | None = None
    max_npus: int | None = None
    group_max_npus: int | None = None
    npu_hours: float | None = None
    npu_hours_per_member: float | None = None
    period: str | None = None
    max_session_hours: float | None = None
    profiles: list[str] | None = None
    updated: str | None = None
