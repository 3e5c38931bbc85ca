"""Placement policy: literal expectations, then properties (hypothesis)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.placement_baselines import best_fit, first_fit, stranded
from npuhub.hub.placement import NodeView, place

RINGS_910 = ((0, 1, 2, 3), (4, 5, 6, 7))
ALL_910 = frozenset(range(8))


def node910(name, free=ALL_910, type="Ascend910B"):
    return NodeView(name=name, type=type, rings=RINGS_910, free=frozenset(free))


def flat(name, size, free=None, type="Ascend310P"):
    free = frozenset(range(size)) if free is None else frozenset(free)
    return NodeView(name=name, type=type, rings=(tuple(range(size)),), free=free)


# --- literal expectations -------------------------------------------------------------


def test_one_chip_on_empty_node_takes_index_zero():
    assert place([node910("n1")], 1) == [("n1", 0)]


def test_zero_is_empty_and_negative_is_refused():
    assert place([node910("n1")], 0) == []
    assert first_fit([node910("n1")], 0) == []
    assert best_fit([node910("n1")], 0) == []
    with pytest.raises(ValueError, match="count must be >= 0"):
        place([node910("n1")], -1)
    with pytest.raises(ValueError):
        first_fit([node910("n1")], -1)
    with pytest.raises(ValueError):
        best_fit([node910("n1")], -1)


def test_no_nodes_is_none():
    assert place([], 1) is None
    assert first_fit([], 1) is None
    assert best_fit([], 1) is None


def test_one_chip_packs_into_the_partly_used_ring():
    # ring 0 full, ring 1 has 4 free; on n2 ring 1 has 1 free: take that one
    nodes = [node910("n1", {0, 1, 2, 3}), node910("n2", {0, 1, 2, 3, 7})]
    assert place(nodes, 1) == [("n2", 7)]


def test_two_chips_pack_into_the_tightest_ring_that_fits():
    # n1: ring 0 has 2 free (2,3), ring 1 has 4 free; take 2,3 not 4,5
    assert place([node910("n1", {2, 3, 4, 5, 6, 7})], 2) == [("n1", 2), ("n1", 3)]


def test_two_chips_never_split_across_rings():
    # one free chip in each ring: refused, although two chips are free
    assert place([node910("n1", {3, 4})], 2) is None
    # the baselines do not know rings
    assert first_fit([node910("n1", {3, 4})], 2) == [("n1", 3), ("n1", 4)]
    assert best_fit([node910("n1", {3, 4})], 2) == [("n1", 3), ("n1", 4)]


def test_two_chips_go_to_another_node_rather_than_split():
    nodes = [node910("n1", {3, 4}), node910("n2", {5, 6, 7})]
    assert place(nodes, 2) == [("n2", 5), ("n2", 6)]


def test_four_chips_take_a_whole_ring():
    assert place([node910("n1")], 4) == [("n1", 0), ("n1", 1), ("n1", 2), ("n1", 3)]
    # ring 0 is partly used: the whole free ring 1
    assert place([node910("n1", {1, 2, 3, 4, 5, 6, 7})], 4) == [
        ("n1", 4),
        ("n1", 5),
        ("n1", 6),
        ("n1", 7),
    ]
    # 3 + 3 free: six chips, but no whole ring
    assert place([node910("n1", {1, 2, 3, 5, 6, 7})], 4) is None


def test_four_chips_prefer_the_node_that_has_only_one_free_ring():
    nodes = [node910("a"), node910("b", {4, 5, 6, 7})]
    assert place(nodes, 4) == [("b", 4), ("b", 5), ("b", 6), ("b", 7)]


def test_eight_chips_take_a_whole_node_and_are_refused_when_any_chip_is_used():
    assert place([node910("n1")], 8) == [("n1", d) for d in range(8)]
    assert place([node910("n1", ALL_910 - {5})], 8) is None
    assert place([node910("n1", ALL_910 - {5}), node910("n2")], 8) == [("n2", d) for d in range(8)]


def test_sixteen_chips_over_two_free_nodes():
    nodes = [node910("n1"), node910("n2", ALL_910 - {0}), node910("n3")]
    assert place(nodes, 16) == [("n1", d) for d in range(8)] + [("n3", d) for d in range(8)]
    assert place(nodes[:2], 16) is None


def test_twelve_chips_whole_node_then_a_ring_by_packing():
    # n1 whole; the remaining ring of 4 goes to the partly used n2, not to the free n3
    nodes = [node910("n1"), node910("n2", {4, 5, 6, 7}), node910("n3")]
    assert place(nodes, 12) == [("n1", d) for d in range(8)] + [("n2", d) for d in (4, 5, 6, 7)]


def test_three_chips_stay_in_one_node_filling_the_fullest_ring_first():
    # ring 1 has one free chip (7): it goes first, then the lowest of ring 0
    assert place([node910("n1", {0, 1, 2, 3, 7})], 3) == [("n1", 0), ("n1", 1), ("n1", 7)]
    # a ring with exactly three free is filled whole
    assert place([node910("n1", {0, 1, 2, 3, 5, 6, 7})], 3) == [("n1", 5), ("n1", 6), ("n1", 7)]
    # never across nodes: two chips here, two chips there is not enough
    assert place([node910("a", {0, 1}), node910("b", {4, 5})], 3) is None


def test_six_chips_on_one_node_fill_the_fuller_ring_first():
    # ring 0 has three free (0, 1, 2): all of it, then the lowest three of ring 1
    assert place([node910("n1", {0, 1, 2, 4, 5, 6, 7})], 6) == [
        ("n1", d) for d in (0, 1, 2, 4, 5, 6)
    ]
    assert place([node910("n1", {0, 1, 2, 4, 5, 6, 7}), node910("n2")], 7) == [
        ("n1", d) for d in (0, 1, 2, 4, 5, 6, 7)
    ]


def test_drained_or_held_devices_are_never_chosen():
    # 0 is drained and 1 held by someone: absent from free
    assert place([node910("n1", ALL_910 - {0, 1})], 2) == [("n1", 2), ("n1", 3)]
    assert place([node910("n1", ALL_910 - {0, 1})], 3) == [("n1", 2), ("n1", 3), ("n1", 4)]


def test_type_filter():
    nodes = [flat("a310", 4), node910("b910")]
    assert place(nodes, 1, "Ascend910B") == [("b910", 0)]
    assert place(nodes, 1, "Ascend310P") == [("a310", 0)]
    assert place(nodes, 1, "nvidia") is None
    assert first_fit(nodes, 1, "Ascend910B") == [("b910", 0)]
    assert best_fit(nodes, 1, "Ascend910B") == [("b910", 0)]


def test_ties_go_to_the_node_name_whatever_the_order():
    nodes = [node910("c"), node910("a"), node910("b")]
    assert place(nodes, 1) == [("a", 0)]
    assert place(list(reversed(nodes)), 1) == [("a", 0)]
    assert best_fit(nodes, 1) == [("a", 0)]
    assert first_fit(nodes, 1) == [("c", 0)]  # first in order, by definition


def test_node_without_topology_is_one_group():
    node = NodeView(name="sim", type="simulated", rings=(), free=frozenset({1, 2}))
    assert place([node], 2) == [("sim", 1), ("sim", 2)]


def test_larger_than_any_node_on_flat_nodes():
    nodes = [flat("a", 2), flat("b", 2, {1}), flat("c", 2)]
    assert place(nodes, 5) == [("a", 0), ("a", 1), ("b", 1), ("c", 0), ("c", 1)]
    assert place(nodes, 6) is None


def test_first_fit_spans_nodes_in_order_only_when_needed():
    nodes = [flat("z", 4, {3}), flat("y", 4, {0, 1})]
    assert first_fit(nodes, 2) == [("y", 0), ("y", 1)]
    assert first_fit(nodes, 3) == [("y", 0), ("y", 1), ("z", 3)]
    assert first_fit(nodes, 4) is None


def test_best_fit_takes_the_fullest_node_that_fits():
    nodes = [flat("a", 4), flat("b", 4, {2, 3}), flat("c", 4, {0})]
    assert best_fit(nodes, 2) == [("b", 2), ("b", 3)]
    assert best_fit(nodes, 5) is None


def test_stranded_counts_free_devices_no_waiting_request_can_use():
    nodes = [node910("n1", {3, 4}), node910("n2", {0, 1, 2, 3, 7})]
    assert stranded(nodes, []) == 0
    # a waiting 2-chip request can use ring 0 of n2 only: 3, 4 and 7 are stranded
    assert stranded(nodes, [2]) == 3
    # a waiting 8-chip request can use nothing
    assert stranded(nodes, [8]) == 7
    # a 1-chip request can use everything
    assert stranded(nodes, [8, 2, 1]) == 0
    # 3 chips need a node with 3 free: n2 only
    assert stranded(nodes, [3]) == 2
    # larger than any node: only whole free nodes count
    assert stranded([node910("a"), node910("b", {0})], [16]) == 1


# --- properties ---------------------------------------------------------------------


@st.composite
def clusters(draw):
    """A few nodes: 910-style (two rings of 4), flat nodes of 1-8 devices, mixed types."""
    n = draw(st.integers(min_value=0, max_value=6))
    nodes = []
    for i in range(n):
        kind = draw(st.sampled_from(["910", "flat"]))
        if kind == "910":
            rings, typ = RINGS_910, "Ascend910B"
        else:
            size = draw(st.integers(min_value=1, max_value=8))
            rings, typ = (tuple(range(size)),), draw(st.sampled_from(["Ascend310P", "nvidia"]))
        devices = [d for r in rings for d in r]
        free = draw(st.frozensets(st.sampled_from(devices))) if devices else frozenset()
        nodes.append(NodeView(name=f"node-{i}", type=typ, rings=rings, free=free))
    return nodes


policies = st.sampled_from([place, first_fit, best_fit])
counts = st.integers(min_value=0, max_value=20)
types = st.sampled_from([None, "Ascend910B", "Ascend310P", "nvidia"])


@settings(max_examples=300)
@given(clusters(), counts, types, policies)
def test_result_is_count_distinct_free_devices_or_none(nodes, count, device_type, policy):
    result = policy(nodes, count, device_type)
    if result is None:
        return
    assert len(result) == count
    assert len(set(result)) == count
    assert result == sorted(result)
    by_name = {n.name: n for n in nodes}
    for name, d in result:
        assert d in by_name[name].free
        assert device_type is None or by_name[name].type == device_type


@settings(max_examples=300)
@given(clusters(), st.sampled_from([1, 2, 4]))
def test_ring_aligned_requests_on_ring_nodes_stay_in_one_ring(nodes, count):
    ring_nodes = [n for n in nodes if n.rings == RINGS_910]
    result = place(ring_nodes, count)
    if result is None:
        # refused only when no ring has that many free devices
        assert not any(len(n.free.intersection(r)) >= count for n in ring_nodes for r in n.rings)
        return
    (name,) = {name for name, _ in result}
    node = next(n for n in ring_nodes if n.name == name)
    assert any(set(d for _, d in result) <= set(r) for r in node.rings)


@settings(max_examples=300)
@given(clusters(), st.sampled_from([3, 5, 6, 7, 8]), types)
def test_single_node_solution_exists_whenever_first_fit_finds_one(nodes, count, device_type):
    ff = first_fit(nodes, count, device_type)
    if ff is not None and len({name for name, _ in ff}) == 1:
        ours = place(nodes, count, device_type)
        assert ours is not None
        assert len({name for name, _ in ours}) == 1


@settings(max_examples=300)
@given(clusters(), counts, types)
def test_request_that_fits_one_node_goes_to_one_node(nodes, count, device_type):
    result = place(nodes, count, device_type)
    sizes = [sum(map(len, n.rings)) for n in nodes if device_type in (None, n.type)]
    if result and count <= max(sizes):
        assert len({name for name, _ in result}) == 1


@settings(max_examples=200)
@given(clusters(), counts)
def test_placement_does_not_depend_on_node_order(nodes, count):
    assert place(nodes, count) == place(list(reversed(nodes)), count)


@settings(max_examples=200)
@given(clusters(), st.lists(st.integers(min_value=1, max_value=20), max_size=4))
def test_stranded_is_between_zero_and_free(nodes, waiting):
    s = stranded(nodes, waiting)
    assert 0 <= s <= sum(len(n.free) for n in nodes)
    # a device-sized request that can be placed leaves something usable
    if 1 in waiting:
        assert s == 0


def test_free_devices_outside_the_rings_are_refused():
    with pytest.raises(ValueError, match=r"node n1: free devices \[8\] are in no ring"):
        node910("n1", {0, 8})


def reference_single_node(nodes, count, device_type):
    """The single-node rules written naively: every candidate ring, the smallest key."""
    candidates = []
    for n in nodes:
        if device_type not in (None, n.type) or len(n.free) < count:
            continue
        groups = n.rings or (tuple(sorted(n.free)),)
        nf = len(n.free)
        if count in (1, 2, 4) and max(len(g) for g in groups) >= count:
            for i, g in enumerate(groups):
                in_ring = sorted(n.free & set(g))
                if len(in_ring) >= count:
                    candidates.append(((len(in_ring), nf, n.name, i), n.name, in_ring[:count]))
        else:
            chosen = []
            for ring in sorted((sorted(n.free & set(g)) for g in groups), key=len):
                chosen += ring[: count - len(chosen)]
            candidates.append(((nf, nf, n.name, -1), n.name, chosen))
    if not candidates:
        return None
    _, name, devices = min(candidates)
    return sorted((name, d) for d in devices)


@settings(max_examples=500)
@given(clusters(), st.integers(min_value=1, max_value=8), types)
def test_single_node_choice_matches_the_naive_reference(nodes, count, device_type):
    sizes = [sum(map(len, n.rings)) for n in nodes if device_type in (None, n.type)]
    if sizes and count <= max(sizes):
        assert place(nodes, count, device_type) == reference_single_node(nodes, count, device_type)
