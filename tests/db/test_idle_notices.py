"""The idle watch's records in the database: standing warnings, stops and what the user
is told until they start again; reclaimed NPUs in the metrics and the monthly report;
who waits for NPUs."""

from __future__ import annotations

from datetime import timedelta

from npuhub.hub.idle import models
from npuhub.hub.idle.decide import Server, Verdict
from npuhub.hub.idle.watch import waiting_for_npus
from npuhub.hub.jobs.queue import JobQueue
from npuhub.hub.reports.metrics import exposition, registry
from npuhub.hub.reports.monthly import monthly_report
from tests.db.helpers import table_differs_from_migrations


def test_model_matches_migration(db_engine):
    assert table_differs_from_migrations(db_engine, "idle_notices") == []


def verdict(grant, user, action, since, deadline):
    devices = tuple((str(d[0]), int(d[1])) for d in grant.devices)
    return Verdict(Server(grant.allocation_id, user, "", user, devices, (0.0,) * len(devices)),
                   action, since, deadline)


def test_warning_stop_and_the_notice_until_the_next_start(ledger, fake_clock):
    sf = ledger.session_factory
    grant = ledger.allocate(user="ana", groups=[], kind="server", holder="", npus=2)
    since = fake_clock()
    fake_clock.advance(minutes=30)
    warn = verdict(grant, "ana", "warn", since, fake_clock() + timedelta(minutes=10))
    models.sync_warnings(sf, [warn])
    (n,) = models.notices(sf, "ana")
    assert (n["npus"], n["stopped"], n["stop_at"]) == (2, None, warn.deadline.isoformat())
    assert models.notices(sf, "bob") == []
    # used again: the warning goes
    models.sync_warnings(sf, [])
    assert models.notices(sf, "ana") == []
    # warned again, then stopped: the owner is told why, until a new start
    models.sync_warnings(sf, [warn])
    fake_clock.advance(minutes=10)
    ledger.release(grant.allocation_id)
    models.record_stop(sf, warn, fake_clock())
    (n,) = models.notices(sf, "ana")
    assert n["stopped"] == fake_clock().isoformat() and n["idle_since"] == since.isoformat()
    fake_clock.advance(minutes=5)
    ledger.allocate(user="ana", groups=[], kind="server", holder="", npus=0)
    assert models.notices(sf, "ana") == []
    # counted: 2 NPUs taken back, held idle for 40 minutes
    with sf() as s:
        r = models.reclaimed(s)
    assert (r["servers"], r["npus"], r["by_account"]) == (1, 2, {"ana": 2})
    assert abs(r["idle_npu_hours"] - 2 * 40 / 60) < 1e-9
    text = exposition(registry(sf)).decode()
    assert 'npuhub_reclaimed_npus_total{account="ana"} 2.0' in text
    assert "npuhub_reclaimed_servers_total 1.0" in text
    month = fake_clock().strftime("%Y-%m")
    with sf() as s:
        assert monthly_report(s, month).reclaimed["npus"] == 2


def test_a_warning_of_a_server_stopped_by_its_owner_is_not_shown(ledger, fake_clock):
    sf = ledger.session_factory
    grant = ledger.allocate(user="cy", groups=[], kind="server", holder="", npus=1)
    models.sync_warnings(sf, [verdict(grant, "cy", "warn", fake_clock(), fake_clock())])
    ledger.release(grant.allocation_id)
    assert models.notices(sf, "cy") == []


def test_waiting_for_npus_counts_queued_local_jobs_that_ask_for_npus(ledger):
    queue = JobQueue(ledger.session_factory)

    def submit(npus, backend="local"):
        return queue.submit(user="bob", groups=[], account="bob", name="t", source="t.py",
                            npus=npus, image="npuhub/base:latest", time_limit=600,
                            backend=backend)

    assert waiting_for_npus(ledger.session_factory) == 0
    submit(2)
    submit(0)
    submit(1, backend="slurm")
    started = submit(4)
    assert waiting_for_npus(ledger.session_factory) == 2
    queue.claim(started["id"])
    assert waiting_for_npus(ledger.session_factory) == 1
