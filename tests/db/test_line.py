"""The line in the database (SQLite and PostgreSQL): its compare-and-set states, the
scheduler's tick that grants a waiting server its turn (LineKeeper, the one plan), and a
spawner's wait that ends at the longest wait or when it leaves (spawners/waiting.py)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest
from tornado import web

from npuhub.hub.jobs.queue import JobQueue
from npuhub.hub.line.keeper import LineKeeper
from npuhub.hub.line.store import Line
from npuhub.hub.platform import platform_for
from npuhub.spawners.request import SpawnRequest
from npuhub.spawners.waiting import LineWait
from tests.db.helpers import alloc


@pytest.fixture
def line(ledger):
    return Line(ledger.session_factory)


def join(line, user, npus=1, server=""):
    return line.join(user=user, server=server, groups=[], account=user, npus=npus,
                     profile="base", limit_s=3600.0)


def fill(ledger) -> list[int]:
    """Every one of the 16 devices held by four users' servers (4 NPUs each)."""
    return [alloc(ledger, user=f"full{i}", npus=4).allocation_id for i in range(4)]


def test_states_change_once(line, ledger):
    a = join(line, "ana")
    assert a["state"] == "waiting" and line.of_user("ana")[0]["id"] == a["id"]
    assert line.grant(a["id"], 41, [("sim", 3, "/dev/davinci3")])
    assert not line.grant(a["id"], 42, [])  # granted once
    assert not line.expire(a["id"])  # too late to expire
    assert line.leave(a["id"]) == 41  # left after the grant: its devices to give back
    assert line.get(a["id"])["state"] == "left" and line.leave(a["id"]) is None
    b = join(line, "bob")
    assert line.expire(b["id"]) and line.leave(b["id"]) is None
    c = join(line, "cai")
    assert join(line, "cai")["id"] != c["id"] and line.get(c["id"])["state"] == "left"
    assert line.refuse(line.of_user("cai")[0]["id"], {"code": "budget_user", "params": {}})


def test_the_scheduler_grants_the_first_in_line_when_npus_come_free(line, ledger):
    held = fill(ledger)
    first = join(line, "ana")
    second = join(line, "bob", npus=2)
    queue = JobQueue(ledger.session_factory)
    job = queue.submit(user="cai", groups=[], account="cai", name="t", source="t.py", npus=1,
                       image="npuhub/base:latest", time_limit=60, backend="local")
    assert line.waiting_for_npus() == 3  # two servers and a job
    keeper = LineKeeper(ledger, line, half_life_s=7 * 86400, session_limit_s=8 * 3600)
    queued = queue.in_state(["queued"], "local")
    decision = asyncio.run(keeper.schedule(queued))
    assert decision.jobs == [] and decision.waiting_jobs == [job["id"]]
    assert [(e["position"], e["kind"], e["user"]) for e in keeper.view] == [
        (1, "server", "ana"), (2, "server", "bob"), (3, "job", "cai")]
    assert all(e["estimated_start"] for e in keeper.view)  # sessions end within 8 hours
    assert line.get(first["id"])["position"] == 1 and line.get(second["id"])["position"] == 2
    assert keeper.place_of("bob")["position"] == 2 and keeper.place_of("dan") is None

    ledger.release(held[0])  # four devices come free: ana (1) and bob (2) fit, then the job
    decision = asyncio.run(keeper.schedule(queue.in_state(["queued"], "local")))
    got = line.get(first["id"])
    assert got["state"] == "granted" and len(got["devices"]) == 1
    assert line.get(second["id"])["state"] == "granted"
    assert [j for j, _ in decision.jobs] == [job["id"]]
    devices = {(d["node"], d["index"]): d["holder"] for d in ledger.inventory.devices()}
    assert devices[tuple(got["devices"][0][:2])]["user"] == "ana"
    assert line.take(first["id"]) and not line.take(first["id"])
    assert keeper.view == [] and line.waiting_for_npus() == 1  # the job, until it starts


def _spawner(url: str, max_wait: int):
    return SimpleNamespace(
        db_url=url, ledger=platform_for(url).ledger, user=SimpleNamespace(name="eve"),
        name="", line_session_limit=3600, line_max_wait=max_wait, handler=None,
        _npuhub_lang="zh_CN", log=logging.getLogger("test"), _log_name="eve",
    )


def test_the_longest_wait_ends_in_a_refusal_in_the_user_s_language(ledger, migrated_url):
    fill(ledger)
    wait = LineWait(_spawner(migrated_url, max_wait=1), SpawnRequest("base", "img", 2), [])
    with pytest.raises(web.HTTPError) as e:
        asyncio.run(wait.wait())
    assert e.value.status_code == 503
    assert e.value.log_message == "在最长排队时间（0:00:01）内没有空出 2 个 NPU；请稍后再试，或申请更少的 NPU"
    assert Line(ledger.session_factory).get(wait.row["id"])["state"] == "expired"


def test_stop_leaves_the_line(ledger, migrated_url):
    fill(ledger)
    wait = LineWait(_spawner(migrated_url, max_wait=600), SpawnRequest("base", "img", 1), [])
    line = Line(ledger.session_factory)

    async def stop_while_waiting():
        task = asyncio.ensure_future(wait.wait())
        while wait.row is None or not line.of_user("eve"):
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stop_while_waiting())
    assert line.get(wait.row["id"])["state"] == "left" and line.of_user("eve") == []
