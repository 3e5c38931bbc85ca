"""The line's pure parts: positions and estimated starts (hub/line/estimate.py, by
replaying scheduling.plan), the spawn page's sentence in both languages, the `wait`
option."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from npuhub.hub.line.estimate import forecast, places
from npuhub.hub.placement import NodeView
from npuhub.hub.profiles import ProfileRules
from npuhub.hub.scheduling import Request, Running
from npuhub.spawners.request import InvalidOptions, SpawnRequest, resolve
from npuhub.spawners.waiting import LineWait, clock_time

RINGS = ((0, 1, 2, 3), (4, 5, 6, 7))
NOW = 1_000_000.0


def node(*free: int) -> NodeView:
    return NodeView("n1", "simulated", RINGS, frozenset(free))


def full_host(ends: list[float | None]) -> list[Running]:
    """Eight 1-NPU sessions, device i ending at ends[i]."""
    return [Running(f"s{i}", f"acct{i}", [("n1", i)], e) for i, e in enumerate(ends)]


def req(rid, npus=1, submitted=NOW - 10, limit_s=3600.0, account="a") -> Request:
    return Request(rid, account, npus, submitted, limit_s)


def test_a_full_host_gives_positions_in_arrival_order_and_starts_at_the_next_ends():
    running = full_host([NOW + 100 * (i + 1) for i in range(8)])
    ninth, tenth = req("ninth", submitted=NOW - 20), req("tenth", submitted=NOW - 5)
    line = places(NOW, [node()], [tenth, ninth], running)
    assert [(p.id, p.position) for p in line] == [("ninth", 1), ("tenth", 2)]
    assert [p.estimated_start for p in line] == [NOW + 100, NOW + 200]


def test_fair_share_puts_the_account_that_used_less_first():
    running = full_host([NOW + 60] * 8)
    heavy = req("heavy", submitted=NOW - 30, account="lab")
    light = req("light", submitted=NOW - 10, account="course")
    usage = {"lab": 1e6, "course": 10.0}
    line = places(NOW, [node()], [heavy, light], running, usage)
    assert [p.id for p in line] == ["light", "heavy"]


def test_the_big_request_is_reserved_a_start_and_a_short_small_one_backfills():
    # devices 0-3 free at +100, 4-5 at +300; 6 and 7 are free now
    running = [Running("r1", "x", [("n1", d) for d in range(4)], NOW + 100),
               Running("r2", "x", [("n1", 4), ("n1", 5)], NOW + 300)]
    big = req("big", npus=8, submitted=NOW - 30)
    short = req("short", submitted=NOW - 20, limit_s=50)  # ends before the big one's start
    long = req("long", submitted=NOW - 10, limit_s=1000)  # would delay it: after it
    starts = forecast(NOW, [node(6, 7)], [big, short, long], running)
    assert starts == {"big": NOW + 300, "short": NOW, "long": NOW + 300 + 3600}


def test_no_estimate_when_nothing_is_expected_to_end_or_it_can_never_fit():
    running = full_host([None] * 8)  # sessions without a known end
    assert forecast(NOW, [node()], [req("w")], running) == {"w": None}
    assert forecast(NOW, [node(0, 1)], [req("huge", npus=16)], []) == {"huge": None}


def test_requests_without_npus_are_not_in_the_line():
    line = places(NOW, [node()], [req("cpu", npus=0), req("npu")], full_host([NOW + 5] * 8))
    assert [(p.id, p.position) for p in line] == [("npu", 1)]


def test_clock_time_of_the_page():
    now = datetime(2026, 12, 6, 17, 40, tzinfo=UTC)
    assert clock_time(datetime(2026, 12, 6, 19, 5, tzinfo=UTC), now) == "19:05 UTC"
    assert clock_time(datetime(2026, 12, 7, 1, 5, tzinfo=UTC), now) == "2026-12-07 01:05 UTC"
    assert clock_time(datetime(2026, 12, 6, 17, 0, tzinfo=UTC), now) == "17:40 UTC"


@pytest.mark.parametrize("lang, row, said", [
    ("en", None, "Waiting for 2 NPUs in the line…"),
    ("zh_CN", None, "正在排队等待 2 个 NPU…"),
    ("en", {"position": 3, "estimated_start": None},
     "Waiting for 2 NPUs: position 3 in the line, start time not known yet"),
    ("en", {"position": 1, "estimated_start": datetime(2999, 1, 1, 8, 30, tzinfo=UTC)},
     "Waiting for 2 NPUs: position 1 in the line, estimated start 2999-01-01 08:30 UTC"),
    ("zh_CN", {"position": 1, "estimated_start": datetime(2999, 1, 1, 8, 30, tzinfo=UTC)},
     "正在等待 2 个 NPU：排队第 1 位，预计 2999-01-01 08:30 UTC 开始"),
])
def test_the_spawn_page_says_the_place_in_the_user_s_language(lang, row, said):
    spawner = SimpleNamespace(handler=None, _npuhub_lang=lang)
    wait = LineWait(spawner, SpawnRequest("base", "npuhub/base:latest", 2), [])
    wait.row = row
    assert wait.message() == said


RULES = ProfileRules(
    profiles=({"slug": "base", "image": "npuhub/base:latest", "npus": [0, 1], "groups": []},),
)


def test_wait_is_true_unless_the_request_says_false():
    assert resolve({"profile": "base", "npus": 1}, RULES, []).wait is True
    r = resolve({"profile": "base", "npus": 1, "wait": False}, RULES, [])
    assert r.wait is False and r.user_options() == {"profile": "base", "npus": 1, "wait": False}
    assert resolve({"profile": "base", "wait": "false"}, RULES, []).wait is False
    with pytest.raises(InvalidOptions, match="wait must be true or false"):
        resolve({"profile": "base", "wait": 0}, RULES, [])
