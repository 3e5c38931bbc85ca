"""CoursePanel: your courses and assignments, with Fetch, Submit and Feedback buttons.

    from npuhub.extensions import CoursePanel
    CoursePanel()

`assignment_row` and `CoursePanelModel` hold the logic without widgets.
"""

from __future__ import annotations

import os
from typing import Any

import ipywidgets as w

from . import courses
from .i18n import _, ngettext
from .magics import assignment_state
from .ui import StatusLine, esc, guarded, link, server_url
from .util import home


def assignment_row(course: dict, a: dict) -> dict[str, Any]:
    """What a student sees of one assignment and which buttons are enabled."""
    cid, name = str(course.get("id", "")), str(a.get("name", ""))
    fetched = (home() / "courses" / cid / name).is_dir() if cid and name else False
    released = bool(a.get("released"))
    return {
        "course": cid,
        "course_title": course.get("title") or cid,
        "assignment": name,
        "due": a.get("due") or "",
        "state": assignment_state(a),
        "late": bool(a.get("late")),
        "fetched": fetched,
        "can_fetch": released,
        "can_submit": released and fetched,
        "can_feedback": bool(a.get("feedback")),
        "fetch_label": _("Fetch again") if fetched else _("Fetch"),
    }


def student_rows(items: list[dict]) -> list[dict[str, Any]]:
    return [
        assignment_row(c, a)
        for c in items
        if c.get("role", "student") == "student"
        for a in c.get("assignments") or []
    ]


def feedback_links(folder: str) -> list[tuple[str, str]]:
    """(file name, URL) of the HTML files in a feedback folder."""
    out = []
    root = home()
    for fn in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if fn.endswith(".html"):
            rel = os.path.relpath(os.path.join(folder, fn), root).replace(os.sep, "/")
            out.append((fn, server_url("files", rel)))
    return out


class CoursePanelModel:
    def __init__(self) -> None:
        self.courses: list[dict] = []

    def refresh(self) -> None:
        self.courses = courses.list()

    def rows(self) -> list[dict[str, Any]]:
        return student_rows(self.courses)

    def fetch(self, course: str, assignment: str) -> str:
        path = courses.fetch(course, assignment)
        n = len(path.written)
        text = ngettext("Fetched {n} file into {path}", "Fetched {n} files into {path}", n)
        text = text.format(n=n, path=path)
        if path.skipped:
            text += _("; kept your own {files}").format(files=_(", ").join(path.skipped))
        return text

    def submit(self, course: str, assignment: str) -> str:
        r = courses.submit(course, assignment)
        self.refresh()
        text = (_("Submitted {what} (attempt {attempt}), late") if r.get("late")
                else _("Submitted {what} (attempt {attempt})"))
        return text.format(what=f"{course}/{assignment}", attempt=r.get("attempt"))

    def feedback(self, course: str, assignment: str) -> tuple[str, list[tuple[str, str]]]:
        folder = courses.feedback(course, assignment)
        return _("Feedback saved in {path}").format(path=folder), feedback_links(folder)


class CoursePanel(w.VBox):
    """One row per assignment of your courses: state, due date, Fetch, Submit, Feedback."""

    def __init__(self, **kwargs: Any) -> None:
        self.model = CoursePanelModel()
        self.refresh_button = w.Button(description=_("Refresh"), icon="refresh")
        self.status = StatusLine()
        self.links = w.HTML()
        self.list_box = w.VBox()
        super().__init__([self.refresh_button, self.status, self.list_box, self.links], **kwargs)
        self.refresh_button.on_click(lambda _: self.reload())
        self.reload()

    def reload(self) -> None:
        guarded(self.status)(self.model.refresh)()
        self.render()

    def render(self) -> None:
        rows = self.model.rows()
        self.list_box.children = [self._row(r) for r in rows] or [
            w.HTML(f"<i>{esc(_('no assignments yet'))}</i>")
        ]

    def _row(self, r: dict) -> w.Widget:
        due = " · " + esc(_("due {date}").format(date=r["due"])) if r["due"] else ""
        info = w.HTML(
            f"<b>{esc(r['course_title'])}</b> / {esc(r['assignment'])}{due} · {esc(r['state'])}",
            layout=w.Layout(width="60%"),
        )
        buttons = []
        for label, action, enabled in (
            (r["fetch_label"], self.on_fetch, r["can_fetch"]),
            (_("Submit"), self.on_submit, r["can_submit"]),
            (_("Feedback"), self.on_feedback, r["can_feedback"]),
        ):
            b = w.Button(description=label, disabled=not enabled, layout=w.Layout(width="100px"))
            b.on_click(lambda _b, f=action, c=r["course"], a=r["assignment"]: f(c, a))
            buttons.append(b)
        return w.HBox([info, *buttons])

    def _act(self, fn: Any, *args: str) -> None:
        guarded(self.status)(lambda: self.status.show(fn(*args), "ok"))()
        self.render()

    def on_fetch(self, course: str, assignment: str) -> None:
        self._act(self.model.fetch, course, assignment)

    def on_submit(self, course: str, assignment: str) -> None:
        self._act(self.model.submit, course, assignment)

    def on_feedback(self, course: str, assignment: str) -> None:
        @guarded(self.status)
        def run() -> None:
            message, files = self.model.feedback(course, assignment)
            self.status.show(message, "ok")
            self.links.value = " ".join(link(url, name) for name, url in files)

        run()
