"""The ledger's usage records on SQLite and PostgreSQL: NPU-hours, budgets, a user's standing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from npuhub.hub.ledger import QuotaError
from tests.db.helpers import alloc


def test_npu_hours_from_records(ledger, fake_clock):
    # Wednesday 10:00
    a = alloc(ledger, "ana", npus=2, groups=["lab"])
    fake_clock.advance(hours=3)
    b = alloc(ledger, "ben", npus=1, groups=["lab"], kind="job", holder="17")
    fake_clock.advance(hours=1)  # 14:00: ana 2*4 = 8, ben 1*1 = 1, both open
    u = ledger.usage.report(account="lab")
    assert u["npu_hours"] == pytest.approx(9.0)
    assert u["by_user"] == pytest.approx({"ana": 8.0, "ben": 1.0})
    assert u["active_npus"] == 3
    assert (u["start"], u["end"]) == ("2025-03-03T00:00:00+00:00", "2025-03-10T00:00:00+00:00")
    ledger.release(a.allocation_id)
    fake_clock.advance(hours=2)  # closed records stop counting, open ones go on
    assert ledger.usage.report(account="lab")["npu_hours"] == pytest.approx(11.0)
    assert ledger.usage.report(user="ben")["npu_hours"] == pytest.approx(3.0)
    assert ledger.usage.report(account="lab", period="day")["npu_hours"] == pytest.approx(11.0)
    ledger.release(b.allocation_id, reason="crashed")
    assert ledger.usage.report()["by_account"] == pytest.approx({"lab": 11.0})


def test_hours_are_cut_at_the_period_start(ledger, fake_clock):
    fake_clock.set(datetime(2025, 3, 9, 22, 0, tzinfo=UTC))  # Sunday 22:00
    grant = alloc(ledger, "ana", npus=1)
    fake_clock.advance(hours=5)  # Monday 03:00: a new week
    assert ledger.usage.report(account="ana")["npu_hours"] == pytest.approx(3.0)
    assert ledger.usage.report(account="ana", period="month")["npu_hours"] == pytest.approx(5.0)
    last_week = ledger.usage.report(account="ana", now=datetime(2025, 3, 9, 23, 0, tzinfo=UTC))
    assert last_week["npu_hours"] == pytest.approx(1.0)
    ledger.release(grant.allocation_id)


def test_budget_refuses_once_used_up(ledger, fake_clock):
    ledger.policies.set("cs101", npu_hours=10, group_max_npus=16, max_npus=2)
    grant = alloc(ledger, "ana", npus=2, groups=["cs101"])
    fake_clock.advance(hours=5)
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ben", npus=1, groups=["cs101"])
    assert str(e.value) == (
        "Group cs101 has used 10 of 10 NPU-hours this week; the budget resets Monday 00:00 UTC"
    )
    ledger.release(grant.allocation_id, reason="budget")
    fake_clock.set(datetime(2025, 3, 10, 0, 0, tzinfo=UTC))  # Monday: a new budget
    alloc(ledger, "ben", npus=1, groups=["cs101"])
    u = ledger.usage.report(account="cs101")
    assert (u["budget_npu_hours"], u["remaining_npu_hours"]) == (10.0, 10.0)


def test_member_share_stops_one_member_not_the_others(ledger, fake_clock):
    ledger.policies.set("cs101", npu_hours=30, npu_hours_per_member=3)
    grant = alloc(ledger, "ana", npus=2, groups=["cs101"])
    other = alloc(ledger, "ana", npus=1, groups=["lab"], holder="research")  # not cs101's
    fake_clock.advance(hours=2)  # ana: 4 NPU-hours in cs101, 2 in lab
    ledger.release(grant.allocation_id)
    ledger.release(other.allocation_id)
    with pytest.raises(QuotaError) as e:
        alloc(ledger, "ana", npus=1, groups=["cs101"])
    assert str(e.value).startswith("You have used 4 of your 3 NPU-hours in cs101 this week")
    _, limits, held = ledger.policies.limits_for("ana", ["cs101"])
    assert held.member_hours == pytest.approx(4.0) and limits.npu_hours_per_member == 3
    alloc(ledger, "ben", npus=1, groups=["cs101"])  # the group still has hours for ben
    alloc(ledger, "ana", npus=0, groups=["cs101"], holder="cpu")  # and ana can use a CPU


def test_summary_shows_a_members_own_share(ledger, fake_clock):
    from npuhub.hub.ledger.summary import summary

    ledger.policies.set("cs101", npu_hours=30, npu_hours_per_member=3)
    grant = alloc(ledger, "ana", npus=1, groups=["cs101"])
    alloc(ledger, "ben", npus=1, groups=["cs101"])
    fake_clock.advance(hours=2)
    ledger.release(grant.allocation_id)
    q = summary(ledger, "ana", ["cs101"])["quotas"][0]
    assert (q["budget_of"], q["npu_hours_budget"], q["account_npu_hours_budget"]) == (
        "member", 3, 30)
    assert q["npu_hours_used"] == pytest.approx(2.0)
    assert q["account_npu_hours_used"] == pytest.approx(4.0)  # ana's and ben's
    plain = summary(ledger, "cy", ["lab"])["quotas"][0]
    assert plain["budget_of"] == "account" and plain["npu_hours_budget"] is None
