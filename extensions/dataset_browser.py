"""DatasetBrowser: search the datasets you may use and mount or unmount them in one click.

    from npuhub.extensions import DatasetBrowser
    DatasetBrowser()

`DatasetBrowserModel` holds the logic (rows, labels, what a click does) without widgets.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import datasets
from .client import NPUHubError
from .i18n import _, ngettext
from .ui import StatusLine, esc, guarded
from .util import human_size


def button_label(mounted: bool) -> str:
    return _("Unmount") if mounted else _("Mount")


def matches(item: dict, query: str) -> bool:
    """Case-insensitive search in name, title and description; every word must occur."""
    text = " ".join(str(item.get(k) or "") for k in ("name", "title", "description")).lower()
    return all(word in text for word in query.lower().split())


def dataset_row(item: dict) -> dict[str, Any]:
    mounted = bool(item.get("mounted"))
    return {
        "name": item.get("name", ""),
        "title": item.get("title") or item.get("name", ""),
        "description": item.get("description") or "",
        "size": human_size(item.get("size")),
        "license": item.get("license") or "",
        "version": item.get("version") or "",
        "access": item.get("access") or "",
        "mounted": mounted,
        "label": button_label(mounted),
        "style": "warning" if mounted else "primary",
    }


class DatasetBrowserModel:
    """The datasets as last read from the service and what a Mount/Unmount click does."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def refresh(self) -> None:
        self.items = datasets.list()

    def rows(self, query: str = "") -> list[dict[str, Any]]:
        return [dataset_row(d) for d in self.items if matches(d, query)]

    def mounted(self, name: str) -> bool:
        return any(d.get("name") == name and d.get("mounted") for d in self.items)

    def toggle(self, name: str) -> str:
        """Mount or unmount `name`, then re-read the real state; returns the message to
        show. On a refusal the state is re-read too and the refusal is raised."""
        was = self.mounted(name)
        try:
            if was:
                datasets.unmount(name)
                message = _("Unmounted {name}.").format(name=name)
            else:
                message = _("Mounted {name} at {path}").format(name=name, path=datasets.mount(name))
        finally:
            try:
                self.refresh()
            except NPUHubError:
                pass
        return message


class DatasetBrowser(w.VBox):
    """Search box, one row per dataset (title, description, size, license, version) and a
    Mount/Unmount button whose label follows the real state."""

    def __init__(self, **kwargs: Any) -> None:
        self.model = DatasetBrowserModel()
        self.search = w.Text(placeholder=_("search datasets"), layout=w.Layout(width="40%"))
        self.refresh_button = w.Button(description=_("Refresh"), icon="refresh")
        self.status = StatusLine()
        self.list_box = w.VBox()
        super().__init__(
            [w.HBox([self.search, self.refresh_button]), self.status, self.list_box], **kwargs
        )
        self.search.observe(lambda _: self.render(), names="value")
        self.refresh_button.on_click(lambda _: self.reload())
        self.reload()

    def reload(self) -> None:
        @guarded(self.status)
        def run() -> None:
            self.model.refresh()
            n = len(self.model.items)
            self.status.show(ngettext("{n} dataset", "{n} datasets", n).format(n=n), "info")

        run()
        self.render()

    def render(self) -> None:
        rows = self.model.rows(self.search.value)
        empty = w.HTML(f"<i>{esc(_('no datasets'))}</i>")
        self.list_box.children = [self._row(r) for r in rows] or [empty]

    def _row(self, row: dict) -> w.Widget:
        meta = " · ".join(
            x for x in (row["size"], row["license"], row["version"] and f"v{row['version']}") if x
        )
        info = w.HTML(
            f"<b>{esc(row['title'])}</b> <code>{esc(row['name'])}</code><br>"
            f"{esc(row['description'])}<br><small>{esc(meta)}</small>",
            layout=w.Layout(width="80%"),
        )
        button = w.Button(description=row["label"], button_style=row["style"])
        button.on_click(lambda _b, name=row["name"]: self.click(name))
        return w.HBox([info, button], layout=w.Layout(border_bottom="1px solid #ddd"))

    def click(self, name: str) -> None:
        @guarded(self.status)
        def run() -> None:
            text = _("Unmounting {name}…") if self.model.mounted(name) else _("Mounting {name}…")
            self.status.show(text.format(name=name))
            self.status.show(self.model.toggle(name), "ok")

        run()
        self.render()
