"""InstructorPanel: release, collect and autograde an assignment; grades and their CSV;
grading by hand (a student's answers that need a person: points and comments).

    from npuhub.extensions import InstructorPanel
    InstructorPanel()

The functions and `InstructorPanelModel` hold the logic without widgets.
"""

from __future__ import annotations

import base64
from typing import Any

import ipywidgets as w

from . import courses
from .i18n import N_, _, ngettext
from .ui import StatusLine, esc, guarded, html_table, link, set_options
from .util import home

GRADE_COLUMNS = ["student", "assignment", "score", "max_score", "submitted_at", "late"]
GRADE_HEADINGS = [N_("Student"), N_("Assignment"), N_("Score"), N_("Out of"), N_("Submitted"),
                  N_("Late")]  # fmt: skip


def _num(x: Any) -> str:
    x = float(x or 0)
    return str(int(x)) if x.is_integer() else f"{round(x, 2)}"


def manual_summary(sheet: dict) -> str:
    """One line on a submission's grade: total, automatic and by-hand parts, lateness."""
    parts = [_("automatic {points}").format(points=_num(sheet.get("auto_score"))),
             _("by hand {points}").format(points=_num(sheet.get("manual_score")))]
    late = sheet.get("late") or {}
    if late.get("late"):
        days = int(late.get("days") or 0)
        parts.append(ngettext("{days} day late: -{percent}%", "{days} days late: -{percent}%",
                              days).format(days=days, percent=_num(late.get("percent"))))
    text = _("{student}: {score} / {max_score} ({details})").format(
        student=sheet.get("student"), score=_num(sheet.get("score")),
        max_score=_num(sheet.get("max_score")), details=_(", ").join(parts),
    )  # fmt: skip
    if sheet.get("needs_manual_grading"):
        text += _("; answers still to grade")
    return text


def manual_cells(sheet: dict) -> list[dict]:
    """The cells to grade by hand, each with its notebook."""
    return [{**c, "notebook": nb.get("notebook")} for nb in sheet.get("notebooks") or []
            for c in nb.get("cells") or []]


def cell_html(cell: dict) -> str:
    """A cell to grade: its id and points, the answer, the mark scheme (escaped)."""
    pre = "<pre style='white-space:pre-wrap;background:#f6f6f6;padding:4px'>{}</pre>"
    at_most = _("(at most {points} points)").format(points=_num(cell.get("max_points")))
    out = f"<b>{esc(cell.get('notebook'))} / {esc(cell.get('grade_id'))}</b> {esc(at_most)}"
    if cell.get("review"):
        flagged = _("flagged by the autograder: {why}").format(why=cell["review"])
        out += f"<br><i>{esc(flagged)}</i>"
    out += "<br>" + esc(_("Answer:")) + pre.format(esc(cell.get("answer") or ""))
    if cell.get("mark_scheme"):
        out += esc(_("Mark scheme:")) + pre.format(esc(cell["mark_scheme"]))
    elif cell.get("solution"):
        out += esc(_("Solution:")) + pre.format(esc(cell["solution"]))
    return out


def instructor_courses(items: list[dict]) -> list[dict]:
    return [c for c in items if c.get("role") == "instructor"]


def grade_rows(grades: list[dict]) -> list[list[Any]]:
    """Grades as table rows, sorted by assignment then student; `late` as 'late' or ''."""
    ordered = sorted(grades, key=lambda g: (str(g.get("assignment")), str(g.get("student"))))
    return [
        [g.get(c) if c != "late" else (_("late") if g.get("late") else "") for c in GRADE_COLUMNS]
        for g in ordered
    ]


def csv_data_url(text: str) -> str:
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


def action_message(action: str, course: str, assignment: str, result: dict) -> str:
    what = f"{course}/{assignment}"
    if action == "release":
        n = len(result.get("files") or [])
        text = ngettext("Released {what}: {n} file", "Released {what}: {n} files", n)
    elif action == "collect":
        n = int(result.get("submissions", 0) or 0)
        text = ngettext("Collected {n} submission of {what}", "Collected {n} submissions of {what}",
                        n)  # fmt: skip
    else:
        n = int(result.get("graded", 0) or 0)
        text = ngettext("Autograded {n} submission of {what}",
                        "Autograded {n} submissions of {what}", n)  # fmt: skip
    return text.format(what=what, n=n)


def grading_progress(course: str, assignment: str, state: dict) -> str:
    total = int(state.get("total", 0) or 0)
    text = ngettext("Grading {what}: {done} of {total} submission done…",
                    "Grading {what}: {done} of {total} submissions done…", total)  # fmt: skip
    return text.format(what=f"{course}/{assignment}", done=state.get("done", 0), total=total)


ACTION_LABELS = {"release": N_("Release"), "collect": N_("Collect"), "autograde": N_("Autograde")}
ACTION_RUNNING = {"release": N_("Release running…"), "collect": N_("Collect running…"),
                  "autograde": N_("Autograde running…")}  # fmt: skip


class InstructorPanelModel:
    ACTIONS = ("release", "collect", "autograde")

    def __init__(self) -> None:
        self.courses: list[dict] = []
        self.grades: list[dict] = []

    def refresh(self) -> None:
        self.courses = instructor_courses(courses.list())

    def assignments(self, course: str) -> list[str]:
        for c in self.courses:
            if str(c.get("id")) == course:
                return [str(a.get("name")) for a in c.get("assignments") or []]
        return []

    def run(self, action: str, course: str, assignment: str, progress=None) -> str:
        """Do `action`; autograde reports its progress to `progress(message)`."""
        if action not in self.ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if action == "autograde":

            def report(state: dict) -> None:
                if progress:
                    progress(grading_progress(course, assignment, state))

            result = courses.autograde(course, assignment, progress=report)
        else:
            result = getattr(courses, action)(course, assignment) or {}
        return action_message(action, course, assignment, result)

    def load_grades(self, course: str) -> list[list[Any]]:
        self.grades = courses.grades(course)
        return grade_rows(self.grades)

    def manual_sheet(self, course: str, assignment: str, student: str) -> dict:
        return courses.submission_grades(course, assignment, student)

    def save_manual(self, course: str, assignment: str, student: str,
                    grades: list[dict]) -> dict:
        return courses.grade(course, assignment, student, grades)

    def save_csv(self, course: str) -> tuple[str, str]:
        """Write `~/courses/{course}/grades.csv`; returns (path, data: URL)."""
        rel = f"courses/{course}/grades.csv"
        text = courses.grades_csv(course, rel)
        return str(home() / rel), csv_data_url(text)


class InstructorPanel(w.VBox):
    """Pick a course and assignment; Release, Collect, Autograde; grade table; CSV."""

    def __init__(self, **kwargs: Any) -> None:
        self.model = InstructorPanelModel()
        self.course = w.Dropdown(description=_("Course"), options=[])
        self.assignment = w.Dropdown(description=_("Assignment"), options=[])
        self.buttons = {
            a: w.Button(description=_(ACTION_LABELS[a]), button_style="primary")
            for a in InstructorPanelModel.ACTIONS
        }
        self.grades_button = w.Button(description=_("Grades"), icon="table")
        self.csv_button = w.Button(description="CSV", icon="download")
        self.status = StatusLine()
        self.csv_link = w.HTML()
        self.grade_table = w.HTML()
        self.student = w.Text(description=_("Student"), placeholder=_("user name"))
        self.load_button = w.Button(description=_("Grade by hand"), icon="pencil")
        self.save_button = w.Button(description=_("Save grades"), button_style="success",
                                    disabled=True)
        self.sheet_summary = w.HTML()
        self.sheet_box = w.VBox([])
        self.inputs: list[tuple[dict, w.BoundedFloatText, w.Checkbox, w.Textarea]] = []
        super().__init__(
            [
                w.HBox([self.course, self.assignment]),
                w.HBox([*self.buttons.values(), self.grades_button, self.csv_button]),
                self.status, self.csv_link, self.grade_table,
                w.HBox([self.student, self.load_button, self.save_button]),
                self.sheet_summary, self.sheet_box,
            ],
            **kwargs,
        )  # fmt: skip
        self.load_button.on_click(lambda _: self.on_load_sheet())
        self.save_button.on_click(lambda _: self.on_save_sheet())
        self.course.observe(lambda _: self._course_changed(), names="value")
        for action, button in self.buttons.items():
            button.on_click(lambda _b, a=action: self.on_action(a))
        self.grades_button.on_click(lambda _: self.on_grades())
        self.csv_button.on_click(lambda _: self.on_csv())
        self.reload()

    def reload(self) -> None:
        guarded(self.status)(self.model.refresh)()
        set_options(self.course, [
            (f"{c.get('title') or c.get('id')} ({c.get('id')})", str(c.get("id")))
            for c in self.model.courses
        ])  # fmt: skip
        if not self.model.courses:
            self.status.show(_("You teach no course here."), "info")
        self._course_changed()

    def _course_changed(self) -> None:
        set_options(self.assignment, self.model.assignments(self.course.value or ""))

    def on_action(self, action: str) -> None:
        @guarded(self.status)
        def run() -> None:
            if not (self.course.value and self.assignment.value):
                self.status.show(_("Choose a course and an assignment first."), "error")
                return
            self.status.show(_(ACTION_RUNNING[action]))
            self.status.show(
                self.model.run(
                    action, self.course.value, self.assignment.value, progress=self.status.show
                ),
                "ok",
            )

        run()

    def on_grades(self) -> None:
        @guarded(self.status)
        def run() -> None:
            rows = self.model.load_grades(self.course.value or "")
            self.grade_table.value = html_table(rows, [_(h) for h in GRADE_HEADINGS])
            self.status.show(ngettext("{n} grade", "{n} grades", len(rows)).format(n=len(rows)),
                             "info")  # fmt: skip

        run()

    def show_sheet(self, sheet: dict) -> None:
        self.sheet_summary.value = esc(manual_summary(sheet))
        self.inputs, rows = [], []
        for cell in manual_cells(sheet):
            given = cell.get("points") is not None
            points = w.BoundedFloatText(value=float(cell.get("points") or 0), min=0,
                                        max=float(cell.get("max_points") or 0),
                                        description=_("Points"))
            graded = w.Checkbox(value=given, description=_("graded"), indent=False)
            comment = w.Textarea(value=cell.get("comment") or "", description=_("Comment"))
            self.inputs.append((cell, points, graded, comment))
            rows.append(w.VBox([w.HTML(cell_html(cell)), w.HBox([points, graded]), comment]))
        self.sheet_box.children = rows
        self.save_button.disabled = not self.inputs
        if not self.inputs:
            self.status.show(_("Nothing to grade by hand in this submission."), "info")

    def on_load_sheet(self) -> None:
        @guarded(self.status)
        def run() -> None:
            self.show_sheet(self.model.manual_sheet(
                self.course.value or "", self.assignment.value or "", self.student.value))

        run()

    def on_save_sheet(self) -> None:
        @guarded(self.status)
        def run() -> None:
            grades = [{"notebook": c["notebook"], "grade_id": c["grade_id"],
                       "points": p.value if g.value or p.value else None,
                       "comment": t.value} for c, p, g, t in self.inputs]
            sheet = self.model.save_manual(self.course.value or "", self.assignment.value or "",
                                           self.student.value, grades)
            self.show_sheet(sheet)
            self.status.show(_("Saved: {summary}").format(summary=manual_summary(sheet)), "ok")

        run()

    def on_csv(self) -> None:
        @guarded(self.status)
        def run() -> None:
            course = self.course.value or ""
            path, url = self.model.save_csv(course)
            self.csv_link.value = (
                link(url, _("download grades.csv"), download=f"{course}-grades.csv")
                + " " + esc(_("(saved to {path})").format(path=path))
            )

        run()
