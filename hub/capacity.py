"""The ledger's capacity: why NPUs cannot be had now, and who is waiting for them.

:class:`CapacityMixin` is part of :class:`~npuhub.hub.ledger.Ledger`: it uses the
ledger's ``_read`` transaction, its ``_views`` of the free devices, and the waiting
users that ``allocate`` records in ``_waiting`` (under ``_waiting_lock``).
"""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import placement
from .orm import Device, Node
from .quota import LedgerError

WAIT_WINDOW_S = 600  # a user refused for capacity counts as waiting this long (or until granted)


class CapacityError(LedgerError):
    """Not enough free NPUs (503; the params say how many are free and in use).
    ``transient`` is False when the request can never fit (more than are in service)."""

    def __init__(self, code: str, status: int | None = None, /, transient=True, **params):
        super().__init__(code, status, **params)
        self.transient = transient


class CapacityMixin:
    """Refusals for lack of NPUs of the :class:`~npuhub.hub.ledger.Ledger`."""

    def waiting(self, exclude: str | None = None) -> int:
        """Users refused for lack of NPUs in the last 10 minutes and not granted since
        (as seen by this process)."""
        horizon = time.monotonic() - WAIT_WINDOW_S
        with self._waiting_lock:
            for user in [u for u, t in self._waiting.items() if t < horizon]:
                del self._waiting[user]
            return sum(1 for u in self._waiting if u != exclude)

    def capacity_message(
        self, npus: int, device_type: str | None = None, *, user: str | None = None
    ) -> str:
        """Why `npus` NPUs cannot be had now (or how many are free, if they can)."""
        with self._read() as s:
            return self._capacity_text(s, npus, device_type, user=user)

    def _capacity_error(self, s, npus, device_type, user, views=None) -> CapacityError:
        return self._capacity(s, npus, device_type, user=user, views=views)

    def _capacity_text(self, s: Session, npus: int, device_type: str | None, **kw) -> str:
        return str(self._capacity(s, npus, device_type, **kw))

    def _capacity(
        self,
        s: Session,
        npus: int,
        device_type: str | None,
        *,
        user: str | None = None,
        views: list[placement.NodeView] | None = None,
    ) -> CapacityError:
        if views is None:
            views = self._views(s)[0]
        if device_type is not None:
            views = [v for v in views if v.type == device_type]
        query = select(func.count(Device.id)).join(Node).where(Device.state == "available")
        if device_type is not None:
            query = query.where(Node.type == device_type)
        total = s.scalar(query) or 0
        free = sum(len(v.free) for v in views)
        kind = {"device_type": device_type} if device_type else {}
        waiting = self.waiting(exclude=user)
        if total == 0:
            return CapacityError("capacity_none", transient=False, **kind)
        if npus > total:
            return CapacityError(
                "capacity_too_many", transient=False, npus=npus, total=total, **kind
            )
        if free == 0:
            return CapacityError("capacity_all_busy", total=total, waiting=waiting, **kind)
        if free < npus:
            return CapacityError(
                "capacity_few_free", free=free, total=total, npus=npus, waiting=waiting, **kind
            )
        largest = max((len(v.free) for v in views), default=0)
        code = "capacity_not_in_ring" if largest >= npus else "capacity_not_on_node"
        return CapacityError(
            code, free=free, total=total, npus=npus, largest=largest, waiting=waiting, **kind
        )
