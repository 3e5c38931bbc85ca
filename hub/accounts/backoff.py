"""Failed logins slow down, per account and per address: after a few free failures each
further attempt must wait twice as long as the one before (capped), and a success clears
the account's count. Pure and in memory (the hub is one process); the clock is passed
in, so tests move time."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0


@dataclass
class Backoff:
    free: int = 3  # failures of an account before it waits
    free_per_address: int = 20  # a classroom behind one NAT address shares this
    base: float = 1.0  # seconds of the first wait, doubled at each further failure
    cap: float = 60.0
    forget_after: float = 900.0  # a count without failures for this long is dropped
    max_entries: int = 20000
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict)

    def _wait(self, key: tuple[str, str], free: int, now: float) -> float:
        c = self._counts.get(key)
        if c is None or c.failures < free or now - c.last > self.forget_after:
            return 0.0
        delay = min(self.cap, self.base * 2 ** (c.failures - free))
        return max(0.0, c.last + delay - now)

    def wait(self, user: str | None, address: str, now: float) -> float:
        """Seconds before `user` (None: anyone) may try again from `address` (0: now)."""
        return max(self._wait(("user", user), self.free, now) if user is not None else 0.0,
                   self._wait(("address", address), self.free_per_address, now))

    def failed(self, user: str | None, address: str, now: float) -> None:
        self._prune(now)
        keys = [("address", address)] + ([("user", user)] if user is not None else [])
        for key in keys:
            c = self._counts.setdefault(key, _Count())
            if now - c.last > self.forget_after:
                c.failures = 0
            c.failures, c.last = c.failures + 1, now

    def succeeded(self, user: str, now: float) -> None:
        self._counts.pop(("user", user), None)

    def _prune(self, now: float) -> None:
        if len(self._counts) < self.max_entries:
            return
        for key in [k for k, c in self._counts.items() if now - c.last > self.forget_after]:
            del self._counts[key]
        while len(self._counts) > self.max_entries - 2:  # still full: drop the oldest
            del self._counts[min(self._counts, key=lambda k: self._counts[k].last)]
