"""The idle decision with literal data: warn after the timeout, stop after the grace,
withdraw the warning when the NPUs are used again; "when_waiting" only while someone
waits; unknown use is never idle; servers without NPUs are not this watch's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from npuhub.hub.idle.culling import without_npus
from npuhub.hub.idle.decide import Idle, Policy, Server, decide, is_idle

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ALWAYS = Policy(threshold=1.0, timeout=1800, grace=600, reclaim="always")


def server(use, aid=1, user="ana"):
    devices = tuple(("n", i) for i in range(len(use)))
    return Server(aid, user, "", "lab", devices, tuple(use))


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def run(steps, policy=ALWAYS, waiting=1):
    """[(minute, use)] → the actions at each step."""
    known, actions = {}, []
    for minute, use in steps:
        known, verdicts = decide([server(use)], known, at(minute), policy, waiting)
        actions.append([v.action for v in verdicts])
    return actions


def test_idle_server_is_warned_after_the_timeout_then_stopped_after_the_grace():
    assert run([(0, [0, 0.5]), (29, [0, 0]), (30, [0, 0]), (39, [0, 0]), (40, [0, 0])]) == [
        [], [], ["warn"], ["warn"], ["stop"]]


def test_the_deadline_is_the_warning_plus_the_grace():
    known, _ = decide([server([0])], {}, at(0), ALWAYS, 0)
    _, (v,) = decide([server([0])], known, at(31), ALWAYS, 0)
    assert (v.action, v.idle_since, v.deadline) == ("warn", at(0), at(41))


def test_using_the_npus_withdraws_the_warning_and_starts_over():
    assert run([(0, [0]), (30, [0]), (35, [50]), (36, [0]), (65, [0]), (66, [0])]) == [
        [], ["warn"], ["clear"], [], [], ["warn"]]


def test_one_busy_device_keeps_the_server():
    assert run([(0, [0, 50]), (100, [0, 50])]) == [[], []]


def test_a_device_without_reading_is_never_idle():
    assert not is_idle((0.0, None), 1.0)
    assert not is_idle((), 1.0)
    assert run([(0, [0, None]), (100, [0, None])]) == [[], []]


def test_threshold_is_strict():
    assert is_idle((0.99,), 1.0) and not is_idle((1.0,), 1.0)


def test_when_waiting_warns_only_while_someone_waits():
    policy = Policy(timeout=1800, grace=600, reclaim="when_waiting")
    known, verdicts = decide([server([0])], {}, at(0), policy, waiting=0)
    known, verdicts = decide([server([0])], known, at(60), policy, waiting=0)
    assert verdicts == [] and known[1] == Idle(since=at(0))
    known, verdicts = decide([server([0])], known, at(61), policy, waiting=2)
    assert [v.action for v in verdicts] == ["warn"]
    known, verdicts = decide([server([0])], known, at(62), policy, waiting=0)
    assert [v.action for v in verdicts] == ["clear"] and known[1].warned is None
    known, verdicts = decide([server([0])], known, at(63), policy, waiting=1)
    assert [(v.action, v.deadline) for v in verdicts] == [("warn", at(73))]


def test_never_only_watches():
    assert run([(0, [0]), (500, [0])], policy=Policy(reclaim="never")) == [[], []]


def test_servers_without_npus_and_gone_servers_are_forgotten():
    known, verdicts = decide([server([])], {}, at(0), ALWAYS, 1)
    assert known == {} and verdicts == []
    known, _ = decide([server([0], aid=7)], {}, at(0), ALWAYS, 1)
    known, _ = decide([], known, at(1), ALWAYS, 1)
    assert known == {}


def test_culler_arbiter_culls_only_servers_without_npus():
    hour = timedelta(hours=1)
    assert without_npus(inactive=hour, inactive_limit=1800, server={"user_options": {}})
    assert without_npus(inactive=hour, inactive_limit=1800,
                        server={"user_options": {"profile": "base", "npus": 0}})
    assert not without_npus(inactive=hour, inactive_limit=1800,
                            server={"user_options": {"npus": 2}})
    assert not without_npus(inactive=timedelta(minutes=5), inactive_limit=1800,
                            server={"user_options": {}})
    assert not without_npus(inactive=None, inactive_limit=1800, server={"user_options": {}})
