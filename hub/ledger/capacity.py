"""The ledger's capacity: why NPUs cannot be had now, and who is waiting for them.

:func:`refusal` is pure: it words a capacity refusal from what the ledger saw (the free
devices as placement views, how many are in service, how many users wait);
:class:`Waiting` remembers the users refused for lack of NPUs (as seen by this process).
"""

from __future__ import annotations

import threading
import time

from npuhub.hub import placement

from .quota import LedgerError

WAIT_WINDOW_S = 600  # a user refused for capacity counts as waiting this long (or until granted)


class CapacityError(LedgerError):
    """Not enough free NPUs (503; the params say how many are free and in use).
    ``transient`` is False when the request can never fit (more than are in service)."""

    def __init__(self, code: str, status: int | None = None, /, transient=True, **params):
        super().__init__(code, status, **params)
        self.transient = transient


class Waiting:
    """Users refused for lack of NPUs and not granted since (in this process)."""

    def __init__(self, window_s: float = WAIT_WINDOW_S):
        self.window_s = window_s
        self._since: dict[str, float] = {}  # user -> monotonic time of capacity refusal
        self._lock = threading.Lock()

    def refused(self, user: str) -> None:
        with self._lock:
            self._since[user] = time.monotonic()

    def granted(self, user: str) -> None:
        if user in self._since:
            with self._lock:
                self._since.pop(user, None)

    def count(self, exclude: str | None = None) -> int:
        """Users refused in the last `window_s` seconds and not granted since."""
        horizon = time.monotonic() - self.window_s
        with self._lock:
            for user in [u for u, t in self._since.items() if t < horizon]:
                del self._since[user]
            return sum(1 for u in self._since if u != exclude)


def refusal(
    npus: int,
    device_type: str | None,
    views: list[placement.NodeView],
    total: int,
    waiting: int,
) -> CapacityError:
    """Why `npus` NPUs cannot be had now, as a coded refusal (rendered in each language
    from its code and numbers); its ``transient`` is False when that cannot change (more
    than are in service). `views` are the free devices of every node, `total` the devices
    in service (of `device_type`), `waiting` the users waiting besides the one asking."""
    if device_type is not None:
        views = [v for v in views if v.type == device_type]
    free = sum(len(v.free) for v in views)
    largest = max((len(v.free) for v in views), default=0)
    kind = {"device_type": device_type} if device_type else {}
    short = by_counts(npus, total=total, free=free, largest=largest, waiting=waiting, **kind)
    if short is not None:
        return short
    # enough free on one node, but not inside one HCCS ring
    return CapacityError("capacity_not_in_ring", free=free, total=total, npus=npus,
                         largest=largest, waiting=waiting, **kind)


def by_counts(npus: int, *, total: int, free: int, largest: int, waiting: int,
              **kind) -> CapacityError | None:
    """The refusal the counts alone explain (none in service, more than in service, none
    free, too few free, too few on any one node), or None when `npus` are free on one
    node (then what holds the request back is something else: the rings, Slurm)."""
    if total == 0:
        return CapacityError("capacity_none", transient=False, **kind)
    if npus > total:
        return CapacityError("capacity_too_many", transient=False, npus=npus, total=total, **kind)
    if free == 0:
        return CapacityError("capacity_all_busy", total=total, waiting=waiting, **kind)
    if free < npus:
        return CapacityError(
            "capacity_few_free", free=free, total=total, npus=npus, waiting=waiting, **kind
        )
    if largest < npus:
        return CapacityError("capacity_not_on_node", free=free, total=total, npus=npus,
                             largest=largest, waiting=waiting, **kind)
    return None
