"""The idle decision, pure: servers and their devices' use now, what was known before
(when each was first seen idle, when it was warned), the settings, how many wait for
NPUs, now → what to do. No clock, no I/O: the watch (:mod:`.watch`) brings them.

A server is idle while every one of its NPUs reads below the threshold; a device with no
reading counts as busy (unknown use is never reclaimed). Idle for `timeout` seconds: it
is warned; still idle `grace` seconds later: stopped. Busy again: the warning is
withdrawn and the clock starts over. With reclaim "when_waiting" nobody is warned while
nobody waits (a warning already given is withdrawn); "never" only watches."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

RECLAIM = ("always", "when_waiting", "never")


@dataclass(frozen=True)
class Policy:
    threshold: float = 1.0  # percent
    timeout: float = 1800.0  # seconds
    grace: float = 600.0  # seconds
    reclaim: str = "when_waiting"


@dataclass(frozen=True)
class Server:
    allocation_id: int
    user: str
    name: str  # the server's name ("" for the default server)
    account: str
    devices: tuple[tuple[str, int], ...]
    use: tuple[float | None, ...]  # percent per device, None: no reading


@dataclass(frozen=True)
class Idle:
    since: datetime  # first seen idle
    warned: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    server: Server
    action: str  # "warn" (new or still), "clear" (warning withdrawn), "stop"
    idle_since: datetime
    deadline: datetime | None = None


def is_idle(use: tuple[float | None, ...], threshold: float) -> bool:
    return bool(use) and all(u is not None and u < threshold for u in use)


def decide(
    servers: list[Server], known: dict[int, Idle], now: datetime, policy: Policy, waiting: int
) -> tuple[dict[int, Idle], list[Verdict]]:
    """(what to remember next time, keyed by allocation id; the verdicts)."""
    after: dict[int, Idle] = {}
    verdicts: list[Verdict] = []
    for s in servers:
        if not s.devices:
            continue  # no NPUs: jupyterhub-idle-culler's part (HTTP inactivity)
        before = known.get(s.allocation_id)
        if not is_idle(s.use, policy.threshold):
            if before is not None and before.warned is not None:
                verdicts.append(Verdict(s, "clear", before.since))
            continue
        state = before or Idle(since=now)
        idle_for = (now - state.since).total_seconds()
        reclaim = policy.reclaim == "always" or (policy.reclaim == "when_waiting" and waiting > 0)
        if idle_for < policy.timeout or not reclaim:
            if state.warned is not None:
                verdicts.append(Verdict(s, "clear", state.since))
                state = replace(state, warned=None)
            after[s.allocation_id] = state
            continue
        if state.warned is None:
            state = replace(state, warned=now)
        deadline = state.warned + timedelta(seconds=policy.grace)
        after[s.allocation_id] = state
        verdicts.append(Verdict(s, "stop" if now >= deadline else "warn", state.since, deadline))
    return after, verdicts
