"""Small helpers shared by the widgets: escaped HTML, status lines, links into the server."""

from __future__ import annotations

import functools
import html
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import ipywidgets as w

COLORS = {"error": "#b00020", "ok": "#1b5e20", "info": "#555"}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def status_html(message: str, kind: str = "info") -> str:
    """One status line; `kind` is error, ok or info."""
    if not message:
        return ""
    return f'<span style="color:{COLORS.get(kind, COLORS["info"])}">{esc(message)}</span>'


def html_table(rows: list[list[Any]], header: list[str]) -> str:
    """An escaped HTML table."""
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 8px'>{esc(c)}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def server_url(kind: str, rel: str) -> str:
    """A link into this Jupyter server for a path relative to home:
    kind 'tree' (JupyterLab file browser) or 'files' (the raw file)."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    if not prefix.endswith("/"):
        prefix += "/"
    middle = "lab/tree/" if kind == "tree" else "files/"
    return prefix + middle + quote(rel.strip("/"))


def link(url: str, text: str, download: str | None = None) -> str:
    extra = f' download="{esc(download)}"' if download else ""
    return f'<a href="{esc(url)}" target="_blank"{extra}>{esc(text)}</a>'


def set_options(dropdown: w.Dropdown, options: list) -> None:
    """Replace a dropdown's options, keeping its value if still offered, else the first."""
    previous = dropdown.value
    dropdown.options = options
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    dropdown.value = previous if previous in values else (values or [None])[0]


class StatusLine(w.HTML):
    """An HTML widget that shows what the last action did, or why it failed."""

    def show(self, message: str, kind: str = "info") -> None:
        self.value = status_html(message, kind)


def guarded(status: StatusLine) -> Callable:
    """Decorate a button callback: errors are shown in `status`, never raised."""

    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # shown to the user, never raised in the front end
                status.show(str(e) or type(e).__name__, "error")
                return None

        return inner

    return deco
