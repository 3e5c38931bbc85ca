"""The center's monthly report from seeded records: the utilization it states is the
one the records give; NPU-hours by kind of organization, courses, jobs and waits."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime

import pytest

from npuhub.hub.courses.models import Course
from npuhub.hub.jobs.queue import JobQueue
from npuhub.hub.reports import cli as reports_cli
from npuhub.hub.reports.models import Organization, set_kind
from npuhub.hub.reports.monthly import month_range, monthly_report, render_html


def at(day, hour=0):
    return datetime(2025, 2, day, hour, tzinfo=UTC)


def seed(ledger, fake_clock):
    """February 2025 on 16 NPUs: lab-a holds 8 for the first 14 days, a cs101 student 1
    for 10 h, bob's job 2 for 5 h after waiting 30 min; a server of January ends on the
    1st at 02:00 (2 NPUs: 4 h inside February)."""
    ledger.policies.set("lab-a", max_npus_per_server=8, max_npus=8)
    fake_clock.set(datetime(2025, 1, 31, 22, tzinfo=UTC))
    old = ledger.allocate(user="eve", groups=[], kind="server", holder="", npus=2)
    fake_clock.set(at(1))
    lab = ledger.allocate(user="ana", groups=["lab-a"], account="lab-a", kind="server",
                          holder="", npus=8)  # fmt: skip
    fake_clock.set(at(1, 2))
    ledger.release(old.allocation_id)
    fake_clock.set(at(3, 8))
    course = ledger.allocate(user="stu", groups=["course-cs101-students"],
                             account="course-cs101-students", kind="server", holder="", npus=1)  # fmt: skip
    fake_clock.set(at(3, 18))
    ledger.release(course.allocation_id)
    queue = JobQueue(ledger.session_factory)
    fake_clock.set(at(10, 10))
    job = queue.submit(user="bob", groups=[], account="bob", name="t", source="t.py", npus=2,
                       image="npuhub/base:latest", time_limit=60000, backend="local")  # fmt: skip
    queue.claim(job["id"])
    fake_clock.set(at(10, 10).replace(minute=30))
    grant = ledger.allocate(user="bob", groups=[], kind="job", holder=str(job["id"]), npus=2)
    queue.move(job["id"], ["starting"], "running", started=fake_clock(), reason="running")
    fake_clock.set(at(10, 15).replace(minute=30))
    ledger.release(grant.allocation_id)
    queue.finish(job["id"], "succeeded", "completed", 0)
    fake_clock.set(at(15))
    ledger.release(lab.allocation_id)
    with ledger.session_factory() as s, s.begin():
        s.add(Course(name="cs101", title="Intro to NPUs", image="npuhub/base:latest"))
    set_kind(ledger.session_factory, "lab-a", "lab")
    fake_clock.set(datetime(2025, 3, 5, 10, tzinfo=UTC))


HELD = 8 * 14 * 24 + 10 + 2 * 5 + 2 * 2  # NPU-hours of February
CAPACITY = 16 * 28 * 24


def test_month_range():
    assert month_range("2026-12").end == datetime(2027, 1, 1, tzinfo=UTC)
    assert len(month_range("2024-02").steps()) == 29
    with pytest.raises(ValueError, match="month must look like 2026-11"):
        month_range("November")


def test_monthly_report_from_records(ledger, fake_clock):
    seed(ledger, fake_clock)
    with ledger.session_factory() as s:
        rep = monthly_report(s, "2025-02")
        assert Organization.kinds(s) == {"lab-a": "lab"}
    assert rep.usage.total == pytest.approx(HELD)
    assert rep.average == pytest.approx(HELD / CAPACITY * 100)
    assert len(rep.daily) == 28 and rep.daily[0] == ("2025-02-01", pytest.approx(
        round((8 * 24 + 4) / (16 * 24) * 100, 2)))  # fmt: skip
    assert rep.daily[20] == ("2025-02-21", 0)
    assert rep.by_kind == pytest.approx(
        {"lab": 8 * 14 * 24, "course": 10, "individual": 10 + 4}
    )
    assert rep.courses == [
        {"name": "cs101", "title": "Intro to NPUs", "students": 1, "npu_hours": pytest.approx(10)}
    ]
    assert rep.students == 1
    assert rep.sessions == {"count": 2, "users": 2}  # eve's began in January
    assert rep.jobs["count"] == 1 and rep.jobs["succeeded"] == 1
    assert rep.waits["count"] == 1 and rep.waits["median"] == 1800


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_report_page_states_the_utilization(ledger, fake_clock, tmp_path, lang):
    seed(ledger, fake_clock)
    out = tmp_path / "report.html"
    args = argparse.Namespace(month="2025-02", out=str(out), pdf=None, lang=lang)
    assert reports_cli.report(args, ledger.session_factory) == 0
    html = out.read_text()
    stated = re.search(r'<span class="big">([0-9.]+) %</span>', html).group(1)
    assert stated == f"{HELD / CAPACITY * 100:.1f}"
    assert 'src="data:image/png;base64,' in html
    assert "Intro to NPUs" in html and "0:30:00" in html
    if lang == "zh_CN":
        assert "平均利用率" in html and 'lang="zh-CN"' in html
    else:
        assert "Courses run: 1. Students served: 1." in html


def test_report_plot_draws_the_days(ledger, fake_clock):
    seed(ledger, fake_clock)
    with ledger.session_factory() as s:
        rep = monthly_report(s, "2025-02")
    _, drawn = render_html(rep)
    assert drawn == dict(rep.daily)


def test_org_kinds(ledger):
    set_kind(ledger.session_factory, "acme", "company")
    set_kind(ledger.session_factory, "acme", "university")
    with pytest.raises(ValueError, match="kind must be one of university, company, lab, course"):
        set_kind(ledger.session_factory, "acme", "club")
    with ledger.session_factory() as s:
        assert Organization.kinds(s) == {"acme": "university"}
    set_kind(ledger.session_factory, "acme", None)
    with ledger.session_factory() as s:
        assert Organization.kinds(s) == {}


def test_every_report_string_has_a_chinese_translation_and_a_font():
    from pathlib import Path

    from matplotlib import font_manager

    from npuhub.hub.reports.i18n import translation

    root = Path(__file__).parents[2] / "hub" / "reports"
    files = [root / "plots.py", root / "monthly.py", *(root / "templates").glob("*.html")]
    pattern = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)""")
    found = {m.group(1) or m.group(2) for f in files for m in pattern.finditer(f.read_text())}
    zh = translation("zh_CN")
    missing = sorted(s for s in found if zh.gettext(s) == s)
    assert len(found) > 40 and missing == []
    assert "wqy" in font_manager.findfont("WenQuanYi Micro Hei", fallback_to_default=False).lower()


def test_models_match_migrations(db_engine):
    """organizations (0007) and the jobs' provenance columns (0008) as the models say."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import npuhub.hub.jobs.models  # noqa: F401
    import npuhub.hub.reports.models  # noqa: F401
    from npuhub.hub import orm

    tables = {"organizations", "jobs"}

    def include_object(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in tables

    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        assert compare_metadata(ctx, orm.Base.metadata) == []
