"""The line (plan): literal expectations, then properties (hypothesis)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npuhub.hub.placement import NodeView, place
from npuhub.hub.scheduling import (
    Policy,
    Request,
    Running,
    decay,
    decayed_usage,
    fairshare_factor,
    plan,
    priority_order,
)

RINGS_910 = ((0, 1, 2, 3), (4, 5, 6, 7))
DAY = 86400.0


def node(name, free=range(8)):
    return NodeView(name=name, type="Ascend910B", rings=RINGS_910, free=frozenset(free))


def held(name, devices):
    return tuple((name, d) for d in devices)


# --- literal expectations -------------------------------------------------------------


def test_what_fits_starts_in_one_ring():
    started = plan(0.0, [node("n1")], [Request("a", "lab", 2, 0.0, 60)], [])
    assert started == [("a", [("n1", 0), ("n1", 1)])]


def test_zero_npu_requests_always_start():
    nodes = [node("n1", free=())]
    running = [Running("r", "lab", held("n1", range(8)), ends=None)]
    assert plan(0.0, nodes, [Request("cpu", "lab", 0, 0.0, 60)], running) == [("cpu", [])]


def test_reservation_keeps_an_8_npu_request_from_being_overtaken_forever():
    # n1: four devices held until t=100; an 8-NPU request waits, then 4-NPU jobs
    # keep arriving that would fit in the free ring but run past t=100
    nodes = [node("n1", free=range(4, 8))]
    running = [Running("r1", "lab", held("n1", range(4)), ends=100.0)]
    big = Request("big", "lab", 8, submitted=0.0, limit_s=3600)
    smalls = [Request(f"s{k}", "lab", 4, submitted=1.0 + k, limit_s=3600) for k in range(3)]
    assert plan(10.0, nodes, [big, *smalls], running) == []
    # once r1 ends, the 8-NPU request starts, before any of the smaller ones
    assert plan(100.0, [node("n1")], [big, *smalls], []) == [("big", list(held("n1", range(8))))]


def test_without_reservation_the_small_ones_would_start():
    # the same line without the big request: the first 4-NPU request takes the free ring
    nodes = [node("n1", free=range(4, 8))]
    running = [Running("r1", "lab", held("n1", range(4)), ends=100.0)]
    smalls = [Request(f"s{k}", "lab", 4, submitted=1.0 + k, limit_s=3600) for k in range(3)]
    assert plan(10.0, nodes, smalls, running) == [("s0", list(held("n1", range(4, 8))))]


def test_backfill_starts_a_short_small_request_that_ends_before_the_head():
    nodes = [node("n1", free=range(4, 8))]
    running = [Running("r1", "lab", held("n1", range(4)), ends=100.0)]
    big = Request("big", "lab", 8, submitted=0.0, limit_s=3600)
    long_ = Request("long", "lab", 2, submitted=1.0, limit_s=3600)
    short = Request("short", "lab", 2, submitted=2.0, limit_s=60)  # 10 + 60 <= 100
    assert plan(10.0, nodes, [big, long_, short], running) == [("short", [("n1", 4), ("n1", 5)])]


def test_backfill_off_the_reserved_devices_may_run_long():
    # two nodes: the head (8) is reserved on n1 (free at t=100); n2 has a free ring that
    # the reservation does not need, so a long 4-NPU request starts there
    nodes = [node("n1", free=range(4, 8)), node("n2", free=range(4, 8))]
    running = [
        Running("r1", "lab", held("n1", range(4)), ends=100.0),
        Running("r2", "lab", held("n2", range(4)), ends=None),
    ]
    big = Request("big", "lab", 8, submitted=0.0, limit_s=3600)
    long_ = Request("long", "lab", 4, submitted=1.0, limit_s=3600)
    started = plan(10.0, nodes, [big, long_], running)
    assert started == [("long", list(held("n2", range(4, 8))))]


def test_a_request_larger_than_the_cluster_blocks_nobody():
    nodes = [node("n1", free=range(4, 8))]
    running = [Running("r1", "lab", held("n1", range(4)), ends=100.0)]
    huge = Request("huge", "lab", 16, submitted=0.0, limit_s=3600)
    small = Request("small", "lab", 4, submitted=1.0, limit_s=3600)
    assert plan(10.0, nodes, [huge, small], running) == [("small", list(held("n1", range(4, 8))))]


def test_fair_share_orders_two_accounts_by_their_usage():
    # two free devices, two 2-NPU requests: the account that used less goes first,
    # although it asked later
    nodes = [node("n1", free=(0, 1))]
    heavy = Request("h", "heavy", 2, submitted=0.0, limit_s=600)
    light = Request("l", "light", 2, submitted=5.0, limit_s=600)
    usage = {"heavy": 8 * 3600.0, "light": 600.0}
    assert plan(10.0, nodes, [heavy, light], [], usage) == [("l", [("n1", 0), ("n1", 1)])]
    # with no usage, the one who asked first goes first
    assert plan(10.0, nodes, [heavy, light], []) == [("h", [("n1", 0), ("n1", 1)])]
    # a share four times as large outweighs the difference
    line = priority_order(10.0, [heavy, light], usage, {"heavy": 100, "light": 1})
    assert [r.id for r in line] == ["h", "l"]


def test_waiting_time_raises_a_request_in_the_line():
    usage = {"heavy": 3600.0, "light": 0.0}
    old = Request("old", "heavy", 1, submitted=0.0, limit_s=60)
    new = Request("new", "light", 1, submitted=7000.0, limit_s=60)
    policy = Policy(fairshare=1000, age=1000, max_age_s=3600)
    # factor heavy 2^-2 = 250 + age 1000 > light 1000 + age ~0
    assert [r.id for r in priority_order(7200.0, [old, new], usage, policy=policy)] == [
        "old",
        "new",
    ]


def test_admin_priority_goes_first():
    a = Request("a", "lab", 1, submitted=0.0, limit_s=60)
    b = Request("b", "lab", 1, submitted=5.0, limit_s=60, priority=10)
    assert [r.id for r in priority_order(10.0, [a, b])] == ["b", "a"]


def test_fairshare_factor_is_slurms_classic():
    f = fairshare_factor({"a": 300.0, "b": 100.0}, {}, ["a", "b"])
    assert f["a"] == pytest.approx(2 ** -(0.75 / 0.5))
    assert f["b"] == pytest.approx(2 ** -(0.25 / 0.5))
    assert fairshare_factor({}, {}, ["a", "b"]) == {"a": 1.0, "b": 1.0}


def test_usage_is_halved_every_half_life():
    assert decay(100.0, 7 * DAY) == pytest.approx(50.0)
    assert decay(100.0, 1.0, half_life_s=1.0) == pytest.approx(50.0)
    # one NPU for a second just now counts about 1; one hour a week ago about half of 3600
    assert decayed_usage(1, 99.0, 100.0, now=100.0) == pytest.approx(1.0, rel=1e-5)
    assert decayed_usage(2, 0.0, 3600.0, now=3600.0 + 7 * DAY) == pytest.approx(3600.0, rel=0.01)
    # still held: counts until now; starting in the future: nothing
    assert decayed_usage(1, 0.0, None, now=10.0) == pytest.approx(10.0, rel=1e-4)
    assert decayed_usage(1, 20.0, None, now=10.0) == 0.0
    with pytest.raises(ValueError):
        decay(1.0, 1.0, half_life_s=0)


# --- properties -----------------------------------------------------------------------


@st.composite
def snapshots(draw):
    n_nodes = draw(st.integers(1, 4))
    nodes, running = [], []
    for i in range(n_nodes):
        name = f"n{i}"
        busy = draw(st.sets(st.integers(0, 7), max_size=8))
        groups = draw(st.lists(st.sampled_from(sorted(busy)), unique=True)) if busy else []
        nodes.append(node(name, free=set(range(8)) - busy))
        for k, d in enumerate(sorted(busy)):  # busy devices held by a few running requests
            owner = groups.index(d) if d in groups else (k % 2)
            running.append((name, d, owner))
    holders: dict[tuple[str, int], list] = {}
    for name, d, owner in running:
        holders.setdefault((name, owner), []).append((name, d))
    run = [
        Running(
            f"r{j}",
            draw(st.sampled_from("xyz")),
            tuple(devs),
            draw(st.one_of(st.none(), st.floats(0, 1e5))),
        )
        for j, devs in enumerate(holders.values())
    ]
    waiting = [
        Request(
            f"w{j}",
            draw(st.sampled_from("xyz")),
            draw(st.sampled_from([0, 1, 1, 2, 3, 4, 8, 12, 16])),
            draw(st.floats(0, 1e4)),
            draw(st.one_of(st.none(), st.floats(1, 1e5))),
        )
        for j in range(draw(st.integers(0, 12)))
    ]
    usage = draw(st.dictionaries(st.sampled_from("xyz"), st.floats(0, 1e7)))
    return nodes, run, waiting, usage


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_plan_never_double_allocates_nor_overfills_a_node(snapshot):
    nodes, running, waiting, usage = snapshot
    started = plan(1e4, nodes, waiting, running, usage)
    by_id = {r.id: r for r in waiting}
    assert len({rid for rid, _ in started}) == len(started)  # each request once
    taken = [dev for _, placement in started for dev in placement]
    assert len(taken) == len(set(taken))  # no device twice
    free = {n.name: n.free for n in nodes}
    for rid, placement in started:
        assert len(placement) == by_id[rid].npus
        assert all(d in free[name] for name, d in placement)  # only free devices
    per_node: dict[str, int] = {}
    for name, _ in taken:
        per_node[name] = per_node.get(name, 0) + 1
    assert all(per_node[name] <= len(free[name]) <= 8 for name in per_node)


def earliest(request, nodes, holds, now):
    """Brute force: the earliest time `request` can be placed, given `holds` (devices, end)
    on top of the free `nodes`; None if never."""
    free = {n.name: set(n.free) for n in nodes}
    for devices, _ in holds:
        for name, d in devices:
            free[name].discard(d)
    ends = sorted({e for _, e in holds} | {now})
    for t in ends:
        avail = {k: set(v) for k, v in free.items()}
        for devices, e in holds:
            if e <= t:
                for name, d in devices:
                    avail[name].add(d)
        views = [NodeView(n.name, n.type, n.rings, frozenset(avail[n.name])) for n in nodes]
        if place(views, request.npus) is not None:
            return t
    return None


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_backfill_never_delays_the_head(snapshot):
    """The first request of the line that cannot start now (and could start some day)
    can start at least as early with everything that was started as with only what was
    started before it in the line."""
    nodes, running, waiting, usage = snapshot
    now = 1e4
    started = dict(plan(now, nodes, waiting, running, usage))
    line = priority_order(now, waiting, usage, accounts=(r.account for r in running))
    assert all(r.id in started for r in line if r.npus == 0)
    inf = math.inf
    # what runs holds its devices until its end (unknown: for ever)
    base = [(tuple(ev.devices), ev.ends if ev.ends is not None else inf) for ev in running]
    full_nodes = [NodeView(n.name, n.type, n.rings, frozenset(range(8))) for n in nodes]

    def holds(requests):
        return base + [
            (tuple(started[r.id]), now + r.limit_s if r.limit_s is not None else inf)
            for r in requests
        ]

    for k, r in enumerate(line):
        if r.npus == 0 or r.id in started:
            continue
        before = earliest(r, full_nodes, holds([q for q in line[:k] if q.id in started]), now)
        if before is None:
            continue  # can never fit: no reservation, blocks nobody
        after = earliest(r, full_nodes, holds([q for q in line if q.id in started]), now)
        assert after is not None and after <= before
        break


def test_decayed_usage_matches_a_sum_of_decayed_seconds():
    exact = decayed_usage(3, 0.0, 100.0, now=400.0, half_life_s=200.0)
    summed = sum(3 * 2 ** (-(400.0 - (t + 0.5)) / 200.0) for t in range(100))
    assert math.isclose(exact, summed, rel_tol=1e-4)
