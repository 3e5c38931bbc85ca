"""Feedback: the graded notebook as one HTML page, with the score on top.

nbconvert's HTMLExporter (lab template) with `sanitize_html`: the student's markdown and
outputs are their own text, and an instructor opens this page too, so scripts, event
attributes and unknown tags are escaped, and javascript outputs dropped. nbconvert's own
`clean_html` filter escapes <p> and <h1> too (markdown shows as tags), so ours replaces it
with a wider allow-list of harmless tags. The summary (a table of the graded cells) is
ours and goes in as escaped HTML after `<body>`; each graded cell is followed by a
one-line verdict. Hidden tests are shown, as nbgrader's feedback does: feedback is returned
after the due date. Serve the page with `Content-Security-Policy: sandbox` all the same.
"""

from __future__ import annotations

import copy
import html
import re

import bleach
from nbconvert import HTMLExporter
from nbformat.v4 import new_markdown_cell

from npuhub.hub import i18n

from .assignment import grade_id, is_grade, is_task

TAGS = frozenset(bleach.ALLOWED_TAGS) | {
    "p", "div", "span", "pre", "code", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "img", "sup", "sub",
    "del", "details", "summary", "dl", "dt", "dd", "kbd", "samp", "var", "figure",
    "figcaption"}
ATTRIBUTES = {"*": ["class", "id", "title", "align"], "a": ["href", "title"],
              "img": ["src", "alt", "width", "height"]}
PROTOCOLS = ["http", "https", "mailto", "data"]
SCRIPT_TYPES = ("application/javascript", "text/javascript")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
STYLE = ("font-family:sans-serif;margin:1em 2em;padding:.5em 1em;border:1px solid #ccc;"
         "background:#f8f8f8")


def _num(x) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{round(x, 2)}"


def _verdict(entry: dict, lang: str = i18n.DEFAULT) -> str:
    _ = i18n.translation(lang).gettext
    most = _num(entry["max_points"])
    if entry.get("manual_points") is not None:
        text = _("{points} / {max} points, graded by hand").format(
            points=_num(entry["manual_points"]), max=most)
    elif entry.get("review"):
        text = _("needs review by the instructor (0 / {max} for now): {reason}").format(
            max=most, reason=entry["review"])
    elif entry["manual"]:
        text = _("needs manual grading (0 / {max} for now)").format(max=most)
    else:
        text = _("{points} / {max} points").format(points=_num(entry["points"]), max=most)
        text += f" — {entry['error']}" if entry["error"] else ""
    if entry.get("comment"):
        text += " — " + _("comment: {comment}").format(comment=entry["comment"])
    return text


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def clean_html(element) -> str:
    """The HTML of a markdown cell or an output, without scripts or event handlers."""
    text = element.decode() if isinstance(element, bytes) else str(element)
    return bleach.clean(text, tags=TAGS, attributes=ATTRIBUTES, protocols=PROTOCOLS)


def _late_note(late: dict | None, raw, lang: str) -> str | None:
    _ = i18n.translation(lang).gettext
    if not late or not late.get("late"):
        return None
    if late.get("zero"):
        return _("Submitted {days} day(s) late, past the last day accepted: 0 points.").format(
            days=late["days"])
    return _("Submitted {days} day(s) late (due {due}): {percent}% taken from {raw} "
             "points.").format(days=late["days"], due=late.get("due") or "",
                               percent=_num(late["percent"]), raw=_num(raw))


def summary_html(result: dict, lang: str = i18n.DEFAULT, grade: dict | None = None) -> str:
    """The table on top of the page: `result` is one notebook's (with the cells), `grade`
    the whole submission's (manual.combine: late penalty, total) when known."""
    _ = i18n.translation(lang).gettext
    rows = "".join(
        f"<tr><td><code>{html.escape(str(c['grade_id']))}</code></td>"
        f"<td>{html.escape(_verdict(c, lang))}</td></tr>" for c in result["cells"])
    notes = []
    if result.get("status", "ok") != "ok":
        notes.append(_("The run ended early ({status}): cells not reached score 0.").format(
            status=result["status"]))
    if any(c.get("review") and c.get("manual_points") is None for c in result["cells"]):
        notes.append(_("The autograder could not vouch for some cells: the instructor "
                       "reviews them, and they score 0 until then."))
    if any(c["manual"] and c.get("manual_points") is None for c in result["cells"]):
        notes.append(_("Some answers need manual grading: this score is not final yet."))
    score, most = result["score"], result["max_score"]
    if grade is not None:
        late = _late_note(grade.get("late"), grade["raw_score"], lang)
        notes += [late] if late else []
        if len(grade.get("notebooks") or {}) > 1:
            notes.append(_("Assignment total: {score} / {max}").format(
                score=_num(grade["score"]), max=_num(grade["max_score"])))
        else:
            score, most = grade["score"], grade["max_score"]
    paragraphs = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    heading = _("Score: {score} / {max}").format(score=_num(score), max=_num(most))
    return (f'<section class="npuhub-feedback" style="{STYLE}">'
            f"<h2>{html.escape(heading)}</h2>"
            f'{paragraphs}<table style="text-align:left"><tr><th>{html.escape(_("cell"))}</th>'
            f"<th>{html.escape(_('result'))}</th></tr>{rows}</table></section>")


def feedback_html(executed_nb, result: dict, lang: str = i18n.DEFAULT,
                  grade: dict | None = None) -> str:
    """A standalone HTML page of `executed_nb` (not modified) scored as in `result` (one
    notebook's), in `lang`; `grade`: the submission's combined grade (manual.combine)."""
    nb = copy.deepcopy(executed_nb)
    verdicts = {c["grade_id"]: c for c in result["cells"]}
    cells = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):  # so that an output's HTML form is shown
            for key in SCRIPT_TYPES:
                out.get("data", {}).pop(key, None)
        cells.append(cell)
        entry = verdicts.get(grade_id(cell)) if is_grade(cell) or is_task(cell) else None
        if entry is not None:
            cells.append(new_markdown_cell(f"**{_md(str(entry['grade_id']))}**: "
                                           f"{_md(_verdict(entry, lang))}"))
    nb.cells = cells
    exporter = HTMLExporter(template_name="lab", sanitize_html=True,
                            filters={"clean_html": clean_html})
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": "Feedback"}})
    top = summary_html(result, lang, grade)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + top, body, count=1)
