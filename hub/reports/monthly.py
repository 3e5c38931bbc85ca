"""The center's monthly report: the month's utilization (average, and per day), NPU-hours
by kind of organization and by account, courses run and students served, batch jobs and
notebook sessions, and how long jobs waited in the queue. :func:`monthly_report` reads
the database; :func:`render_html` writes one self-contained HTML page (the daily plot
embedded), in English or Simplified Chinese."""

from __future__ import annotations

import base64
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jinja2
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from npuhub.hub import clock
from npuhub.hub.courses.course_file import students_group
from npuhub.hub.courses.models import Assignment, Course, Submission
from npuhub.hub.idle.models import reclaimed
from npuhub.hub.jobs.models import TERMINAL, Job
from npuhub.hub.orm import Allocation

from . import TEMPLATES_DIR
from .i18n import gettext_for
from .models import Organization
from .usage import Range, UsageReport, usage_report


def month_range(month: str) -> Range:
    """'2026-11' → [2026-11-01, 2026-12-01) in daily steps (UTC)."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=UTC)
    except (ValueError, TypeError):
        raise ValueError(f"month must look like 2026-11, got {month!r:.20}") from None
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
    return Range(start, end, timedelta(days=1))


@dataclass
class MonthlyReport:
    month: str
    usage: UsageReport
    by_kind: dict[str, float] = field(default_factory=dict)
    daily: list[tuple[str, float]] = field(default_factory=list)  # (YYYY-MM-DD, percent)
    courses: list[dict] = field(default_factory=list)  # {name, title, students, npu_hours}
    students: int = 0
    sessions: dict = field(default_factory=dict)
    jobs: dict = field(default_factory=dict)
    waits: dict | None = None  # seconds: count, mean, median, p95, max
    # servers stopped for idle NPUs: servers, npus, idle_npu_hours (held idle until then)
    reclaimed: dict = field(default_factory=dict)

    @property
    def average(self) -> float | None:
        avg = self.usage.average_utilization()
        return None if avg is None else avg * 100


def kind_of(account: str, kinds: dict[str, str], course_groups: set[str], users: set[str]):
    if account in kinds:
        return kinds[account]
    if account in course_groups:
        return "course"
    return "individual" if account in users else "unclassified"


def monthly_report(s: Session, month: str, now: datetime | None = None) -> MonthlyReport:
    now = now or clock.utcnow()
    rng = month_range(month)
    rep = MonthlyReport(month, usage_report(s, rng, None, now))
    end = min(rng.end, now)
    for t, held, _, free in rep.usage.utilization:
        service = held + free
        rep.daily.append((t.date().isoformat(), round(held / service * 100, 2) if service else 0))

    courses = list(s.scalars(select(Course).order_by(Course.name)))
    groups = {students_group(c.name): c for c in courses}
    in_month = (
        Allocation.started < end,
        or_(Allocation.ended.is_(None), Allocation.ended > rng.start),
    )
    charged = s.execute(
        select(Allocation.account, Allocation.user).where(Allocation.npus >= 0, *in_month)
    ).all()
    users_of = {}
    for account, user in charged:
        users_of.setdefault(account, set()).add(user)
    kinds = Organization.kinds(s)
    own_names = {u for _, u in charged}
    for account, hours in rep.usage.by_account.items():
        k = kind_of(account, kinds, set(groups), own_names)
        rep.by_kind[k] = rep.by_kind.get(k, 0.0) + hours

    served: set[str] = set()
    for group, c in groups.items():
        submitters = set(
            s.scalars(
                select(Submission.user)
                .join(Assignment, Submission.assignment_id == Assignment.id)
                .where(
                    Assignment.course_id == c.id,
                    Submission.submitted_at >= rng.start,
                    Submission.submitted_at < end,
                )
            )
        )
        students = users_of.get(group, set()) | submitters
        if students:
            served |= students
            rep.courses.append({
                "name": c.name, "title": c.title, "students": len(students),
                "npu_hours": rep.usage.by_account.get(group, 0.0),
            })  # fmt: skip
    rep.students = len(served)

    sessions = s.execute(
        select(func.count(), func.count(func.distinct(Allocation.user))).where(
            Allocation.kind == "server", Allocation.started >= rng.start, Allocation.started < end
        )
    ).one()
    rep.sessions = {"count": sessions[0], "users": sessions[1]}
    rep.reclaimed = reclaimed(s, rng.start, end)
    jobs = dict(
        s.execute(
            select(Job.state, func.count())
            .where(Job.created >= rng.start, Job.created < end)
            .group_by(Job.state)
        ).all()
    )
    rep.jobs = {"count": sum(jobs.values()), **{k: jobs.get(k, 0) for k in TERMINAL}}
    waits = [
        max((started - created).total_seconds(), 0.0)
        for created, started in s.execute(
            select(Job.created, Job.started).where(
                Job.started.is_not(None), Job.started >= rng.start, Job.started < end
            )
        )
    ]
    if waits:
        waits.sort()
        rep.waits = {
            "count": len(waits),
            "mean": statistics.fmean(waits),
            "median": statistics.median(waits),
            "p95": waits[min(len(waits) - 1, int(0.95 * len(waits)))],
            "max": waits[-1],
        }
    return rep


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


def render_html(rep: MonthlyReport, lang: str = "en") -> tuple[str, dict]:
    """The report as one HTML page, and the daily series its plot drew."""
    from .plots import daily_figure, render  # matplotlib only when a report is written

    fig, drawn = daily_figure(rep.daily, lang)
    png = base64.b64encode(render(fig, "png")).decode()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
    _ = gettext_for(lang)
    html = env.get_template("npuhub-monthly.html").render(
        r=rep,
        _=_,
        lang=lang.replace("_", "-"),
        plot_png=png,
        duration=_duration,
        kind_label={
            "university": _("university"),
            "company": _("company"),
            "lab": _("lab"),
            "course": _("course"),
            "individual": _("individual"),
            "unclassified": _("unclassified"),
        },  # fmt: skip
        generated=clock.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
    )
    return html, drawn
