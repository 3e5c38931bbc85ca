"""Admission of container starts: at most `limit` starting at once, the rest wait in
order and can be told their position. A whole class clicking Start in the same minute
then starts as fast as the host can take it, and nobody's spawn times out waiting for
CPU that others are using."""

from __future__ import annotations

import asyncio
from collections import deque


class Admission:
    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0
        self._queue: deque[tuple[str, asyncio.Future]] = deque()

    def position(self, key: str) -> int | None:
        """1-based place in the waiting line, or None if not waiting."""
        for i, (k, _) in enumerate(self._queue, 1):
            if k == key:
                return i
        return None

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def acquire(self, key: str) -> None:
        if self.active < self.limit and not self._queue:
            self.active += 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((key, fut))
        try:
            await fut
        except BaseException:
            # cancelled while waiting: leave the line; if already admitted, give it back
            if fut.done() and not fut.cancelled():
                self.release()
            else:
                self._queue = deque(item for item in self._queue if item[1] is not fut)
            raise

    def release(self) -> None:
        self.active -= 1
        while self._queue and self.active < self.limit:
            _, fut = self._queue.popleft()
            if not fut.done():
                self.active += 1
                fut.set_result(None)
