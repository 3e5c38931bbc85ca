"""The operators' commands: `npuhub usage` over a chosen range with a plot (PNG or SVG)
and CSV, and `npuhub report --month` (see :mod:`.monthly`). Wired in by hub/cli.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

from .usage import by_use, choose_range, to_csv, usage_report


def wants_report(args) -> bool:
    """Whether `npuhub usage` was asked for more than the budget table."""
    return bool(args.plot or args.csv or args.since)


def usage(args, session_factory, out=sys.stdout) -> int:
    rng = choose_range(args.period, args.since, args.until)
    accounts = [args.account] if args.account else None
    with session_factory() as s:
        rep = usage_report(s, rng, accounts)
    if args.csv:
        out.write(to_csv(rep))
    else:
        out.write(f"{rng.start:%Y-%m-%d %H:%M} .. {rng.end:%Y-%m-%d %H:%M} UTC\n\n")
        rows = by_use(rep.by_account)
        out.write(tabulate(rows, headers=["account", "NPU-hours"], floatfmt=".2f") + "\n\n")
        rows = rep.top_users()
        out.write(tabulate(rows, headers=["top user", "NPU-hours"], floatfmt=".2f") + "\n")
        avg = rep.average_utilization()
        if avg is not None:
            out.write(f"\naverage utilization: {avg * 100:.1f} %\n")
    if args.plot:
        from .plots import plot_usage  # matplotlib only when a plot is asked for

        plot_usage(rep, args.plot, args.lang)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


def add_usage_options(parser) -> None:
    parser.add_argument("--since", help="first day YYYY-MM-DD (instead of --period)")
    parser.add_argument("--until", help="last day YYYY-MM-DD (default: today)")
    parser.add_argument("--plot", metavar="FILE", help="also draw the usage to FILE.png|.svg")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of tables")
    parser.add_argument("--lang", default="en", choices=["en", "zh_CN"], help="plot labels")


def report(args, session_factory) -> int:
    """`npuhub report --month YYYY-MM --out FILE.html [--pdf FILE.pdf]`."""
    from .monthly import monthly_report, render_html

    if not args.out.lower().endswith((".html", ".htm")):
        raise ValueError("--out must name an .html file")
    with session_factory() as s:
        rep = monthly_report(s, args.month)
    html, _ = render_html(rep, args.lang)
    Path(args.out).write_text(html, encoding="utf-8")
    avg = "-" if rep.average is None else f"{rep.average:.1f} %"
    print(f"report of {args.month} written to {args.out} (average utilization {avg})")
    if args.pdf:
        to_pdf(Path(args.out), Path(args.pdf))
        print(f"PDF written to {args.pdf}")
    return 0


PDF_CONVERTERS = ("chromium", "chromium-browser", "google-chrome")


def to_pdf(html: Path, pdf: Path) -> None:
    """Print the page to PDF with a headless Chromium, where one is installed."""
    exe = next((shutil.which(c) for c in PDF_CONVERTERS if shutil.which(c)), None)
    if exe is None:
        raise ValueError(f"no PDF converter found (one of {', '.join(PDF_CONVERTERS)})")
    with tempfile.TemporaryDirectory(prefix="npuhub-pdf-") as profile:
        r = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             f"--user-data-dir={profile}", "--no-pdf-header-footer",
             f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    if r.returncode != 0 or not pdf.exists():
        raise ValueError(f"{exe} could not print the PDF: {r.stderr.strip()[-300:]}")


def org(args, session_factory) -> int:
    """`npuhub org set GROUP KIND`, `npuhub org unset GROUP`, `npuhub org list`."""
    from .models import Organization, set_kind

    if args.action == "list":
        with session_factory() as s:
            rows = sorted(Organization.kinds(s).items())
        print(tabulate(rows, headers=["group", "kind"]))
        return 0
    if not args.group:
        raise ValueError(f"org {args.action} needs a GROUP")
    if args.action == "set" and not args.kind:
        raise ValueError("org set needs a KIND: university, company, lab or course")
    set_kind(session_factory, args.group, args.kind if args.action == "set" else None)
    return 0


def add_commands(sub, run) -> None:
    """The `report` and `org` subcommands; `run(fn)` wraps fn(args, session_factory)."""
    from .models import KINDS

    r = sub.add_parser("report", help="the center's monthly report as one HTML page")
    r.add_argument("--month", required=True, help="YYYY-MM")
    r.add_argument("--out", required=True, help="FILE.html")
    r.add_argument("--pdf", help="also FILE.pdf (needs a headless Chromium)")
    r.add_argument("--lang", default="en", choices=["en", "zh_CN"])
    r.set_defaults(func=run(report))
    o = sub.add_parser("org", help="the kind of organization of a group (for the report)")
    o.add_argument("action", choices=["list", "set", "unset"])
    o.add_argument("group", nargs="?")
    o.add_argument("kind", nargs="?", choices=KINDS)
    o.set_defaults(func=run(org))
