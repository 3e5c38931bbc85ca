"""The idle watch's clocks in the database: kept exactly as the watch knows them, read
back after a restart for the servers that still hold their NPUs, and shown as idle-held
NPUs with their idle time (operators' page data) and in the metrics."""

from __future__ import annotations

from datetime import timedelta

from npuhub.hub.idle import models
from npuhub.hub.idle.decide import Idle
from npuhub.hub.reports import overview
from npuhub.hub.reports.metrics import exposition, registry
from tests.db.helpers import table_differs_from_migrations


def test_model_matches_migration(db_engine):
    assert table_differs_from_migrations(db_engine, "idle_clocks") == []


def test_clocks_survive_a_restart_and_show_as_idle_held(ledger, fake_clock):
    sf = ledger.session_factory
    ana = ledger.allocate(user="ana", groups=[], kind="server", holder="", npus=2)
    bob = ledger.allocate(user="bob", groups=[], kind="server", holder="", npus=1)
    since = fake_clock()
    warned = since + timedelta(minutes=30)
    models.save_clocks(sf, {ana.allocation_id: Idle(since), bob.allocation_id: Idle(since)})
    models.save_clocks(sf, {ana.allocation_id: Idle(since, warned)})  # bob busy again
    assert models.load_clocks(sf) == {ana.allocation_id: Idle(since, warned)}

    fake_clock.advance(minutes=45)
    with sf() as s:
        idle = models.idle_devices(s, fake_clock())
        assert sorted(idle) == sorted((str(n), int(i)) for n, i, _ in ana.devices)
        assert set(idle.values()) == {45 * 60.0}
        devices = overview.devices(s, fake_clock(), idle)
    states = {(d["node"], d["index"]): (d["state"], d["idle_seconds"]) for d in devices}
    for n, i, _ in ana.devices:
        assert states[(n, i)] == ("idle-held", 45 * 60.0)
    for n, i, _ in bob.devices:
        assert states[(n, i)] == ("held", None)
    text = exposition(registry(sf)).decode()
    node = ana.devices[0][0]
    held_here = sum(1 for n, _, _ in ana.devices if n == node)
    assert f'npuhub_idle_held_npus{{node="{node}"}} {float(held_here)}' in text

    # released: its clock is not read back after a restart
    ledger.release(ana.allocation_id, reason="stopped")
    assert models.load_clocks(sf) == {}
