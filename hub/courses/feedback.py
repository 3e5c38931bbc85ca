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

from .assignment import grade_id, is_grade

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


def _verdict(entry: dict) -> str:
    if entry.get("review"):
        return (f"needs review by the instructor (0 / {_num(entry['max_points'])} for now): "
                f"{entry['review']}")
    if entry["manual"]:
        return f"needs manual grading (0 / {_num(entry['max_points'])} for now)"
    text = f"{_num(entry['points'])} / {_num(entry['max_points'])} points"
    return text + (f" — {entry['error']}" if entry["error"] else "")


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def clean_html(element) -> str:
    """The HTML of a markdown cell or an output, without scripts or event handlers."""
    text = element.decode() if isinstance(element, bytes) else str(element)
    return bleach.clean(text, tags=TAGS, attributes=ATTRIBUTES, protocols=PROTOCOLS)


def summary_html(result: dict) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(str(c['grade_id']))}</code></td>"
        f"<td>{html.escape(_verdict(c))}</td></tr>" for c in result["cells"])
    notes = []
    if result.get("status", "ok") != "ok":
        notes.append(f"The run ended early ({result['status']}): cells not reached score 0.")
    if result.get("needs_review"):
        notes.append("The autograder could not vouch for some cells: the instructor reviews "
                     "them, and they score 0 until then.")
    if result.get("needs_manual_grading"):
        notes.append("Some answers need manual grading: this score is not final yet.")
    paragraphs = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return (f'<section class="npuhub-feedback" style="{STYLE}">'
            f"<h2>Score: {_num(result['score'])} / {_num(result['max_score'])}</h2>"
            f'{paragraphs}<table style="text-align:left"><tr><th>cell</th><th>result</th></tr>'
            f"{rows}</table></section>")


def feedback_html(executed_nb, result: dict) -> str:
    """A standalone HTML page of `executed_nb` (not modified) scored as in `result`."""
    nb = copy.deepcopy(executed_nb)
    verdicts = {c["grade_id"]: c for c in result["cells"]}
    cells = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):  # so that an output's HTML form is shown
            for key in SCRIPT_TYPES:
                out.get("data", {}).pop(key, None)
        cells.append(cell)
        entry = verdicts.get(grade_id(cell)) if is_grade(cell) else None
        if entry is not None:
            cells.append(new_markdown_cell(f"**{_md(str(entry['grade_id']))}**: "
                                           f"{_md(_verdict(entry))}"))
    nb.cells = cells
    exporter = HTMLExporter(template_name="lab", sanitize_html=True,
                            filters={"clean_html": clean_html})
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": "Feedback"}})
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + summary_html(result), body, count=1)
