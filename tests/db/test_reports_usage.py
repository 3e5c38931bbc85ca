"""Usage over a range: the table, the utilization per step, CSV, and the plots, whose
drawn totals are the table's."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from npuhub.hub.reports import cli as reports_cli
from npuhub.hub.reports.access import NotAllowed, readable_accounts
from npuhub.hub.reports.plots import format_of, plot_usage
from npuhub.hub.reports.usage import Range, choose_range, to_csv, usage_report

NOW = datetime(2025, 3, 5, 10, 0, tzinfo=UTC)  # the fake clock's Wednesday


def test_choose_range():
    week = choose_range("week", now=NOW)
    assert (week.start, week.end, week.step) == (
        datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC), timedelta(days=1),
    )  # fmt: skip
    day = choose_range("day", now=NOW)
    assert day.step == timedelta(hours=1) and len(day.steps()) == 24
    days = choose_range(since="2025-02-01", until="2025-02-28", now=NOW)
    assert days.end == datetime(2025, 3, 1, tzinfo=UTC) and len(days.steps()) == 28
    for bad, message in [
        (dict(period="year"), "period must be one of day, week, month"),
        (dict(since="yesterday"), "since must be a date like 2026-11-03"),
        (dict(since="2025-03-02", until="2025-03-01"), "until must not be before since"),
    ]:
        with pytest.raises(ValueError, match=message):
            choose_range(now=NOW, **bad)


def test_readable_accounts():
    assert readable_accounts("ana", ["lab"], False, None) == ["ana", "lab"]
    assert readable_accounts("ana", ["lab"], False, "lab") == ["lab"]
    assert readable_accounts("root", [], True, None) is None
    with pytest.raises(NotAllowed, match="not a member of account 'other'"):
        readable_accounts("ana", ["lab"], False, "other")


def seed(ledger, fake_clock):
    """Monday 2025-03-03 .. Wednesday 10:00: lab holds 2 NPUs for 5 h, bob 1 for 3 h,
    ana (lab) 1 NPU still held since Wednesday 08:00."""
    fake_clock.set(datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    a = ledger.allocate(user="cai", groups=["lab"], account="lab", kind="server", holder="", npus=2)
    b = ledger.allocate(user="bob", groups=[], kind="job", holder="1", npus=1)
    fake_clock.advance(hours=3)
    ledger.release(b.allocation_id)
    fake_clock.advance(hours=2)
    ledger.release(a.allocation_id)
    fake_clock.set(datetime(2025, 3, 5, 8, 0, tzinfo=UTC))
    ledger.allocate(user="ana", groups=["lab"], account="lab", kind="server", holder="", npus=1)
    fake_clock.set(NOW)


def test_report_table_and_utilization(ledger, fake_clock):
    seed(ledger, fake_clock)
    ledger.inventory.drain("n910", 7)
    with ledger.session_factory() as s:
        rep = usage_report(s, choose_range("week", now=NOW), now=NOW)
        lab = usage_report(s, choose_range("week", now=NOW), ["lab"], now=NOW)
    assert rep.by_account == pytest.approx({"lab": 12.0, "bob": 3.0})
    assert rep.by_user == pytest.approx({"cai": 10.0, "bob": 3.0, "ana": 2.0})
    assert rep.top_users()[0] == ("cai", pytest.approx(10.0))
    assert lab.by_account == pytest.approx({"lab": 12.0}) and "bob" not in lab.by_user
    # three days so far (Wednesday until now), 16 devices, one drained
    assert [t.day for t, *_ in rep.utilization] == [3, 4, 5]
    monday, tuesday, wednesday = rep.utilization
    assert monday[1:] == pytest.approx((13.0, 24.0, 16 * 24 - 24 - 13))
    assert tuesday[1] == 0 and wednesday[1:] == pytest.approx((2.0, 10.0, 15 * 10 - 2))
    assert sum(h for _, h, _, _ in rep.utilization) == pytest.approx(rep.total)
    assert rep.average_utilization() == pytest.approx(15 / (15 * 58))

    rows = list(csv.reader(io.StringIO(to_csv(rep))))
    assert rows[0] == ["kind", "name", "npu_hours"]
    assert ["account", "lab", "12.000000"] in rows and ["user", "ana", "2.000000"] in rows
    assert rows[rows.index([]) + 2][0] == "2025-03-03T00:00:00+00:00"


@pytest.mark.parametrize("ext", ["png", "svg"])
def test_plot_draws_the_table(ledger, fake_clock, tmp_path, ext):
    seed(ledger, fake_clock)
    with ledger.session_factory() as s:
        rep = usage_report(s, choose_range("week", now=NOW), now=NOW)
    out = tmp_path / f"usage.{ext}"
    drawn = plot_usage(rep, out, lang="zh_CN")
    head = out.read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if ext == "png" else b"<svg" in out.read_bytes()[:2000]
    assert drawn["by_account"] == rep.by_account
    assert sum(drawn["held"]) == pytest.approx(rep.total)
    assert drawn["held"] == [h for _, h, _, _ in rep.utilization]


def test_plot_format_from_the_extension():
    assert format_of("a/b.SVG") == "svg"
    with pytest.raises(ValueError, match="must end in .png or .svg"):
        format_of("usage.pdf")


def test_empty_range_plots_without_data(ledger, tmp_path):
    rng = Range(NOW - timedelta(days=1), NOW, timedelta(hours=1))
    with ledger.session_factory() as s:
        rep = usage_report(s, rng, now=NOW - timedelta(days=2))
    assert rep.total == 0 and rep.utilization == []
    assert plot_usage(rep, tmp_path / "empty.png")["held"] == []


def test_cli_usage_csv_and_plot(ledger, fake_clock, tmp_path):
    seed(ledger, fake_clock)
    args = argparse.Namespace(
        period="week", since=None, until=None, account=None, csv=True, lang="en",
        plot=str(tmp_path / "u.svg"),
    )  # fmt: skip
    out = io.StringIO()
    assert reports_cli.usage(args, ledger.session_factory, out=out) == 0
    assert "account,lab,12.000000" in out.getvalue()
    assert (tmp_path / "u.svg").read_bytes().lstrip().startswith(b"<?xml")
    args.csv, args.plot = False, None
    out = io.StringIO()
    reports_cli.usage(args, ledger.session_factory, out=out)
    assert "lab" in out.getvalue() and "12.00" in out.getvalue()
