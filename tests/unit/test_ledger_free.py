"""The free devices a ledger remembers between grants (pure): what a grant takes and a
release gives back, and when the snapshot is still true."""

from __future__ import annotations

from npuhub.hub.ledger.free import FreeDevices, FreeTracker
from npuhub.hub.ledger.inventory import NodeTopology, Topology
from npuhub.hub.ledger.store import Versions
from npuhub.hub.placement import NodeView

RINGS = ((0, 1, 2, 3), (4, 5, 6, 7))


def snapshot(holdings=5, inventory=2) -> FreeDevices:
    refs = {i + 1: ("a", i) for i in range(8)}
    topology = Topology(
        inventory, {"a": NodeTopology("a", "Ascend910B", RINGS, "/dev")}, refs,
        {ref: i for i, ref in refs.items()},
    )
    views = {"a": NodeView("a", "Ascend910B", RINGS, frozenset({0, 1, 2, 3, 4}))}
    return FreeDevices(topology, holdings, views, {"a": 7}, frozenset({8}))  # id 8 = a:7


def test_taken_and_returned():
    s = snapshot()
    t = s.taken([("a", 0), ("a", 1)])
    assert t.views["a"].free == {2, 3, 4}
    assert s.views["a"].free == {0, 1, 2, 3, 4}  # snapshots do not change
    back = t.returned([1, 8])  # a:0 comes back; a:7 is drained and stays out
    assert back.views["a"].free == {0, 2, 3, 4}
    assert back.in_service_count() == 7 and back.in_service_count("nvidia") == 0
    assert t.topology.path("a", 3) == "/dev/davinci3"


def test_a_snapshot_is_true_only_at_the_version_it_was_taken():
    tracker = FreeTracker()
    assert tracker.valid(Versions(2, 6, 0)) is None
    tracker.install(snapshot(), holdings=5)
    # a writer that bumped holdings 5 -> 6 may use it; one that sees 7 may not
    assert tracker.valid(Versions(2, 6, 0)) is not None
    assert tracker.valid(Versions(2, 7, 0)) is None
    assert tracker.valid(Versions(3, 6, 0)) is None  # the inventory changed
    assert tracker.valid(Versions(2, 5, 0), bumped=False) is not None  # a reader
    tracker.install(snapshot(), holdings=4)  # an older one never replaces a newer one
    assert tracker.valid(Versions(2, 6, 0)).holdings == 5
    tracker.forget()
    assert tracker.valid(Versions(2, 6, 0)) is None
