"""Refusals for lack of NPUs (pure wording) and who is waiting."""

from __future__ import annotations

from npuhub.hub.ledger.capacity import Waiting, refusal
from npuhub.hub.placement import NodeView

RINGS = ((0, 1, 2, 3), (4, 5, 6, 7))


def node(name, free, type_="Ascend910B"):
    return NodeView(name, type_, RINGS, frozenset(free))


def said(npus, device_type, views, total, waiting):
    e = refusal(npus, device_type, views, total, waiting)
    return str(e), e.transient


def test_every_refusal_says_why_with_its_numbers():
    views = [node("a", {0, 1}), node("b", {4, 5})]
    assert said(1, "nvidia", views, 0, 0) == (
        "There are no nvidia NPUs in service on this platform", False
    )
    assert said(20, None, views, 16, 0) == (
        "You asked for 20 NPUs, but the platform has only 16 in service", False
    )
    assert said(1, None, [node("a", set())], 8, 2) == (
        "All 8 NPUs are in use (2 users waiting)", True
    )
    assert said(6, "Ascend910B", views, 16, 1) == (
        "Only 4 of 16 Ascend910B NPUs are free; you asked for 6 (1 user waiting)", True
    )
    assert said(4, None, views, 16, 0) == (
        "4 of 16 NPUs are free, but not 4 together on one node (the most free on one node "
        "is 2); ask for fewer or try again later", True
    )
    assert said(4, None, [node("a", {2, 3, 4, 5})], 8, 0)[0].startswith(
        "4 of 8 NPUs are free, but not 4 together inside one HCCS ring"
    )


def test_waiting_users_until_granted_or_the_window_ends():
    w = Waiting(window_s=600)
    w.refused("ana")
    w.refused("ben")
    assert (w.count(), w.count(exclude="ana")) == (2, 1)
    w.granted("ana")
    w.granted("nobody")
    assert w.count() == 1
    gone = Waiting(window_s=-1)
    gone.refused("ana")
    assert gone.count() == 0
