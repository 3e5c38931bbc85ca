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
    """Not enough free NPUs (the message says how many are free and in use).
    ``transient`` is False when the request can never fit (more than are in service)."""

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
) -> tuple[str, bool]:
    """Why `npus` NPUs cannot be had now (or how many are free, if they can), and whether
    that may change (False: more than are in service). `views` are the free devices of
    every node, `total` the devices in service (of `device_type`), `waiting` the users
    waiting besides the one asking."""
    if device_type is not None:
        views = [v for v in views if v.type == device_type]
    free = sum(len(v.free) for v in views)
    what = f"{device_type} NPUs" if device_type else "NPUs"
    queue = f" ({_plural(waiting, 'user')} waiting)" if waiting else ""
    if total == 0:
        return f"There are no {what} in service on this platform", False
    if npus > total:
        return (
            f"You asked for {npus} {what}, but the platform has only {total} in service",
            False,
        )
    if free == 0:
        return f"All {total} {what} are in use{queue}", True
    if free < npus:
        return f"Only {free} of {total} {what} are free; you asked for {npus}{queue}", True
    largest = max((len(v.free) for v in views), default=0)
    if largest >= npus:
        where = "inside one HCCS ring"
    else:
        where = "on one node"
    return (
        f"{free} of {total} {what} are free, but not {npus} together {where} "
        f"(the most free on one node is {largest}); ask for fewer or try again later{queue}",
        True,
    )
