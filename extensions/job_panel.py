"""JobPanel: send a notebook or script to the batch queue, watch your jobs, follow logs,
cancel, open outputs.

    from npuhub.extensions import JobPanel
    JobPanel()

`JobPanelModel` and the functions above it hold the logic without widgets.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import Any

import ipywidgets as w

from . import jobs
from .client import NPUHubError
from .i18n import _
from .ui import StatusLine, esc, guarded, link, server_url, set_options
from .util import elapsed, format_duration, home
from .words import reason_text, state_text

SKIP_DIRS = frozenset({"datasets", "jobs", "__pycache__", "node_modules"})
ACTIVE_STATES = frozenset({"queued", "running"})


def find_sources(root: str | os.PathLike | None = None, depth: int = 4, limit: int = 500):
    """The .ipynb and .py files under the home (relative paths, sorted), skipping hidden
    folders, checkpoints, `datasets/` and `jobs/`."""
    root = os.fspath(root or home())
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        level = 0 if rel_dir == "." else rel_dir.count(os.sep) + 1
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and not (level == 0 and d in SKIP_DIRS)
            and d != "__pycache__" and level < depth
        )  # fmt: skip
        for fn in sorted(filenames):
            if fn.endswith((".ipynb", ".py")) and not fn.startswith("."):
                found.append(os.path.normpath(os.path.join(rel_dir, fn)).replace(os.sep, "/"))
                if len(found) >= limit:
                    return sorted(found)
    return sorted(found)


def job_row(job: dict, now: datetime | None = None) -> dict[str, Any]:
    state = job.get("state") or ""
    return {
        "id": str(job.get("id", "")),
        "name": job.get("name") or "",
        "state": _("{state} ({reason})").format(state=state_text(state),
                                                 reason=reason_text(job["reason"]))
        if job.get("reason") else state_text(state),
        "npus": job.get("npus", 0),
        "source": job.get("source") or "",
        "elapsed": format_duration(elapsed(job, now)),
        "active": state in ACTIVE_STATES,
        "output": server_url("tree", f"jobs/{job.get('id')}") if not state == "queued" else "",
    }


def form_kwargs(source: str, npus: int, time_limit: str, params: str, name: str) -> dict:
    """The form's fields as `jobs.submit` keyword arguments (sent as typed: the service
    reads the time limit and the name=value lines)."""
    if not source:
        raise NPUHubError(_("choose a notebook or script to run"))
    return {
        "source": source,
        "npus": int(npus),
        "time_limit": time_limit.strip() or None,
        "parameters": params.strip() or None,
        "name": name.strip() or None,
    }


class JobPanelModel:
    """Your jobs as last read, and the log being followed."""

    def __init__(self) -> None:
        self.jobs: list[dict] = []
        self.following: str | None = None
        self.offset = 0
        self.log = ""
        self.log_done = True

    def refresh(self) -> None:
        self.jobs = jobs.list()

    def rows(self, now: datetime | None = None) -> list[dict[str, Any]]:
        return [job_row(j, now) for j in self.jobs]

    def active(self) -> bool:
        return any(j.get("state") in ACTIVE_STATES for j in self.jobs) or not self.log_done

    def submit(self, **form: Any) -> dict:
        job = jobs.submit(**form_kwargs(**form))
        self.refresh()
        return job

    def cancel(self, job_id: str) -> str:
        job = jobs.cancel(job_id)
        self.refresh()
        return _("Job {id}: {state}").format(id=job_id, state=state_text(job.get("state")))

    def follow(self, job_id: str) -> None:
        self.following, self.offset, self.log, self.log_done = job_id, 0, "", False
        self.poll_log()

    def poll_log(self, max_reads: int = 50) -> str:
        """Read what the followed log has gained; returns the new text."""
        new = ""
        for _read in range(max_reads):
            if self.following is None or self.log_done:
                break
            r = jobs.log_chunk(self.following, self.offset)
            text, offset = r.get("text") or "", r.get("offset", self.offset)
            new += text
            if r.get("done") and not text:
                self.log_done = True
            if offset == self.offset:
                break
            self.offset = offset
        self.log += new
        return new


class JobPanel(w.VBox):
    """A form to submit a job, the table of your jobs (refreshed by a button, and every
    few seconds while one is active when the kernel has an event loop), logs, cancel."""

    def __init__(self, interval: float = 5.0, **kwargs: Any) -> None:
        self.model = JobPanelModel()
        self.interval = interval
        self._task: asyncio.Task | None = None
        self.source = w.Dropdown(description=_("Source"), options=[])
        self.npus = w.BoundedIntText(value=0, min=0, max=64, description=_("NPUs"))
        self.time_limit = w.Text(description=_("Time limit"), placeholder="1:00:00")
        self.name = w.Text(description=_("Name"), placeholder=_("optional"))
        self.params = w.Textarea(description=_("Parameters"), placeholder="lr=0.01\nepochs=3")
        self.submit_button = w.Button(description=_("Submit"), button_style="primary")
        self.refresh_button = w.Button(description=_("Refresh"), icon="refresh")
        self.status = StatusLine()
        self.table = w.VBox()
        self.log_title = w.HTML()
        self.log_view = w.Textarea(layout=w.Layout(width="100%", height="240px"), disabled=True)
        form = w.VBox([
            w.HBox([self.source, self.npus]), w.HBox([self.time_limit, self.name]),
            self.params, w.HBox([self.submit_button, self.refresh_button]),
        ])  # fmt: skip
        super().__init__(
            [form, self.status, self.table, self.log_title, self.log_view], **kwargs
        )
        self.submit_button.on_click(lambda _: self.on_submit())
        self.refresh_button.on_click(lambda _: self.reload())
        self.reload()

    def reload(self) -> None:
        @guarded(self.status)
        def run() -> None:
            set_options(self.source, find_sources())
            self.model.refresh()
            self.model.poll_log()

        run()
        self.render()
        self.start_auto_refresh()

    def render(self) -> None:
        rows = self.model.rows()
        names = (_("id"), _("name"), _("state"), _("NPUs"), _("source"), _("elapsed"))
        header = w.HTML(f"<b>{esc(' · '.join(names))}</b>")
        self.table.children = [header] + [self._row(r) for r in rows] if rows else []
        if self.model.following:
            done = _(" (finished)") if self.model.log_done else ""
            title = _("Log of job {id}").format(id=self.model.following)
            self.log_title.value = f"<b>{esc(title)}</b>{esc(done)}"
            self.log_view.value = self.model.log

    def _row(self, r: dict) -> w.Widget:
        cells = " · ".join(esc(r[k]) for k in ("id", "name", "state", "npus", "source"))
        info = w.HTML(f"{cells} · {esc(r['elapsed'])}", layout=w.Layout(width="60%"))
        logs = w.Button(description=_("Logs"), layout=w.Layout(width="70px"))
        logs.on_click(lambda _b, i=r["id"]: self.on_follow(i))
        cancel = w.Button(description=_("Cancel"), disabled=not r["active"],
                          button_style="danger", layout=w.Layout(width="70px"))  # fmt: skip
        cancel.on_click(lambda _b, i=r["id"]: self.on_cancel(i))
        out = w.HTML(link(r["output"], _("outputs")) if r["output"] else "")
        return w.HBox([info, logs, cancel, out])

    def on_submit(self) -> None:
        @guarded(self.status)
        def run() -> None:
            job = self.model.submit(
                source=self.source.value or "", npus=self.npus.value,
                time_limit=self.time_limit.value, params=self.params.value,
                name=self.name.value,
            )  # fmt: skip
            text = _("Submitted job {id} ({state})")
            self.status.show(text.format(id=job.get("id"), state=state_text(job.get("state"))),
                             "ok")  # fmt: skip
            self.model.follow(str(job.get("id")))

        run()
        self.render()
        self.start_auto_refresh()

    def on_cancel(self, job_id: str) -> None:
        guarded(self.status)(lambda: self.status.show(self.model.cancel(job_id), "ok"))()
        self.render()

    def on_follow(self, job_id: str) -> None:
        guarded(self.status)(self.model.follow)(job_id)
        self.render()
        self.start_auto_refresh()

    # --- background refresh --------------------------------------------------------

    def start_auto_refresh(self) -> None:
        """Refresh every `interval` seconds while a job is active, if an event loop runs
        (as in an IPython kernel); otherwise the Refresh button does it."""
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self.model.active():
            self._task = loop.create_task(self._auto_refresh())

    async def _auto_refresh(self) -> None:
        loop = asyncio.get_running_loop()
        while self.model.active():
            await asyncio.sleep(self.interval)
            try:  # the HTTP calls block: run them off the kernel's loop
                await loop.run_in_executor(None, self._poll)
            except Exception as e:  # shown in the panel; the refresh goes on
                self.status.show(str(e) or type(e).__name__, "error")
            self.render()

    def _poll(self) -> None:
        self.model.refresh()
        self.model.poll_log()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        super().close()
