"""The idle watch's clocks in the database: kept exactly as the watch knows them, read
back after a restart for the servers that still hold their NPUs, and shown as idle-held
NPUs with their idle time (operators' page data) and in the metrics."""

from __future__ import annotations

from datetime import timedelta

from npuhub.hub.idle import models
from npuhub.hub.idle.decide import Idle
from npuhub.hub.reports import overview
from npuhub.hub.reports.metrics import exposition, registry


def test_model_matches_migration(db_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from npuhub.hub import orm

    def include_name(name, type_, parent_names):
        if type_ == "schema":
            return True
        if type_ == "table":
            return name == "idle_clocks"
        return parent_names.get("table_name", name) == "idle_clocks"

    def include_object(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table == "idle_clocks"

    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": include_name,
            "include_object": include_object})
        assert compare_metadata(ctx, orm.Base.metadata) == []


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
