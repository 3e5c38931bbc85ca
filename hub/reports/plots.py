"""Plots drawn on the server with matplotlib (a Figure per call, no pyplot state, so no GUI
backend and nothing shared between threads):
NPU-hours per account and the cluster's utilization over time. Each function returns
the series it drew, so a test can compare the picture with the table. Chinese labels
use WenQuanYi Micro Hei where it is installed (fonts-wqy-microhei), else DejaVu Sans.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib import rc_context
from matplotlib.figure import Figure

from .i18n import gettext_for
from .usage import UsageReport

FONTS = {"font.sans-serif": ["WenQuanYi Micro Hei", "DejaVu Sans"], "font.family": "sans-serif"}
FORMATS = ("png", "svg")


def format_of(path: str | Path) -> str:
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"the plot file must end in .png or .svg, got {Path(path).name!r:.80}")
    return ext


def usage_figure(rep: UsageReport, lang: str = "en") -> tuple[Figure, dict]:
    """Two panels: NPU-hours per account (bars), utilization per step (stacked held,
    drained, free). Returns the figure and {"by_account": {name: hours},
    "held"|"drained"|"free": [hours per step]}."""
    _ = gettext_for(lang)
    accounts = sorted(rep.by_account.items(), key=lambda kv: (-kv[1], kv[0]))
    steps = [t for t, *_ in rep.utilization]
    series = {
        "by_account": dict(accounts),
        "held": [h for _, h, _, _ in rep.utilization],
        "drained": [d for _, _, d, _ in rep.utilization],
        "free": [f for _, _, _, f in rep.utilization],
    }
    with rc_context(FONTS):
        fig = Figure(figsize=(10, 7.5), layout="constrained")
        top, bottom = fig.subplots(2, 1)
        names = [n for n, _ in accounts] or ["-"]
        top.barh(names[::-1], [h for _, h in accounts][::-1] or [0], color="#3b7dd8")
        top.set_xlabel(_("NPU-hours"))
        top.set_title(_("NPU-hours per account"))
        step_h = rep.range.step.total_seconds() / 3600
        bottom.stackplot(
            steps or [rep.range.start],
            [[v / step_h for v in series[k]] or [0] for k in ("held", "drained", "free")],
            labels=[_("held"), _("drained"), _("free")],
            colors=["#d9534f", "#999999", "#5cb85c"],
            step="post",
        )
        bottom.set_ylabel(_("NPUs"))
        bottom.set_title(_("Cluster utilization"))
        bottom.legend(loc="upper left")
        fig.suptitle(
            _("Usage from {start} to {end}").format(
                start=rep.range.start.date().isoformat(),
                end=(rep.range.end.date()).isoformat(),
            )
        )
    return fig, series


def daily_figure(days: list[tuple[str, float]], lang: str = "en") -> tuple[Figure, dict]:
    """Utilization per day (0..100 %) as bars; returns the figure and {day: percent}."""
    _ = gettext_for(lang)
    with rc_context(FONTS):
        fig = Figure(figsize=(10, 3.5), layout="constrained")
        ax = fig.subplots()
        ax.bar([d[-2:] for d, _ in days], [p for _, p in days], color="#3b7dd8")
        ax.set_ylim(0, 100)
        ax.set_ylabel(_("Utilization (%)"))
        ax.set_xlabel(_("Day of the month"))
        ax.set_title(_("Utilization per day"))
    return fig, dict(days)


def render(fig: Figure, fmt: str) -> bytes:
    with rc_context(FONTS):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=100)
    return buf.getvalue()


def plot_usage(rep: UsageReport, path: str | Path, lang: str = "en") -> dict:
    """Write the usage figure to `path` (PNG or SVG by its extension); the series drawn."""
    fig, series = usage_figure(rep, lang)
    Path(path).write_bytes(render(fig, format_of(path)))
    return series
