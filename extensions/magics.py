"""IPython line magics `%dataset`, `%job` and `%course` (after `%load_ext npuhub.extensions`).

    %dataset list | mount NAME | unmount NAME
    %job submit train.ipynb --npus 2 -p lr=0.01 [-p k=v ...] [--time-limit 1:00:00] [--name N]
    %job submit --like ID [-p k=v ...]   (re-run job ID on its image, datasets, parameters)
    %job list | logs ID [--follow] | cancel ID | status ID
    %course list | fetch C A | submit C A | feedback C A

Lines are split with shlex and parsed with argparse; nothing reaches a shell. An error
prints one readable line.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from typing import Any

from . import courses, datasets, jobs
from .client import NPUHubError
from .util import elapsed, format_duration, human_size, table


class UsageError(NPUHubError):
    """A magic line that does not parse."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None):
        raise _Exit(message or "")


class _Exit(Exception):
    """`--help` was printed."""


def _subparsers(prog: str) -> tuple[_Parser, Any]:
    parser = _Parser(prog=prog, add_help=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    return parser, sub


def dataset_parser() -> _Parser:
    parser, sub = _subparsers("%dataset")
    sub.add_parser("list", help="the datasets you may use")
    for cmd in ("mount", "unmount"):
        sub.add_parser(cmd, help=f"{cmd} a dataset at ~/datasets/NAME").add_argument("name")
    return parser


def job_parser() -> _Parser:
    parser, sub = _subparsers("%job")
    s = sub.add_parser("submit", help="queue a notebook or script of your home")
    s.add_argument("source", nargs="?")
    s.add_argument("--like", type=int, default=None, metavar="ID")
    s.add_argument("--npus", type=int, default=None)
    s.add_argument("-p", "--param", action="append", default=[], metavar="K=V")
    s.add_argument("--time-limit", default=None)
    s.add_argument("--name", default=None)
    s.add_argument("--account", default=None)
    s.add_argument("--image", default=None)
    s.add_argument("--dataset", action="append", default=None, metavar="NAME")
    sub.add_parser("list", help="your jobs")
    for cmd in ("logs", "cancel", "status"):
        p = sub.add_parser(cmd, help=f"{cmd} of a job")
        p.add_argument("id")
        if cmd == "logs":
            p.add_argument("-f", "--follow", action="store_true")
    return parser


def course_parser() -> _Parser:
    parser, sub = _subparsers("%course")
    sub.add_parser("list", help="your courses and assignments")
    for cmd in ("fetch", "submit", "feedback"):
        p = sub.add_parser(cmd, help=f"{cmd} an assignment")
        p.add_argument("course")
        p.add_argument("assignment")
    return parser


PARSERS = {"dataset": dataset_parser, "job": job_parser, "course": course_parser}


def parse(kind: str, line: str) -> argparse.Namespace:
    """Parse a magic line, e.g. parse("job", "submit a.ipynb -p lr=0.01")."""
    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise UsageError(f"%{kind}: {e}") from None
    ns = PARSERS[kind]().parse_args(argv)
    if kind == "job" and ns.command == "submit":
        # one name=value per -p, sent as typed: the service reads them (as the Lab's)
        ns.parameters = "\n".join(ns.param) or None
        if ns.source is None and ns.like is None:
            raise UsageError(
                "%job submit: the following arguments are required: source (or --like ID)"
            )
        if ns.source is not None and ns.like is not None:
            raise UsageError("%job submit: give a source or --like ID, not both")
        if ns.like is None and ns.npus is None:
            ns.npus = 0
    return ns


# --- actions: each returns the text to print -----------------------------------------


def _dataset(ns: argparse.Namespace, out: Callable[[str], None]) -> None:
    if ns.command == "list":
        rows = [
            [d.get("name"), d.get("title"), human_size(d.get("size")),
             "mounted" if d.get("mounted") else ""]
            for d in datasets.list()
        ]  # fmt: skip
        out(table(rows, ["name", "title", "size", "mounted"]) if rows else "no datasets")
    elif ns.command == "mount":
        out(f"mounted {ns.name} at {datasets.mount(ns.name)}")
    else:
        datasets.unmount(ns.name)
        out(f"unmounted {ns.name}")


def job_rows(items: list[dict]) -> list[list[Any]]:
    return [
        [j.get("id"), j.get("name"), j.get("state"), j.get("npus"), j.get("source"),
         format_duration(elapsed(j))]
        for j in items
    ]  # fmt: skip


def _job(ns: argparse.Namespace, out: Callable[[str], None]) -> None:
    if ns.command == "submit":
        job = jobs.submit(
            ns.source, npus=ns.npus, parameters=ns.parameters, time_limit=ns.time_limit,
            name=ns.name, account=ns.account, image=ns.image, datasets=ns.dataset,
            like=ns.like,
        )  # fmt: skip
        out(f"submitted job {job.get('id')} ({job.get('state')}); %job logs {job.get('id')}")
    elif ns.command == "list":
        items = jobs.list()
        header = ["id", "name", "state", "npus", "source", "elapsed"]
        out(table(job_rows(items), header) if items else "no jobs")
    elif ns.command == "logs":
        if ns.follow:
            for chunk in jobs.logs(ns.id, follow=True):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        else:
            out(jobs.logs(ns.id))
    elif ns.command == "cancel":
        out(f"job {ns.id}: {jobs.cancel(ns.id).get('state')}")
    else:
        j = jobs.get(ns.id)
        reason = f" ({j['reason']})" if j.get("reason") else ""
        out(f"job {ns.id}: {j.get('state')}{reason}")


def _course(ns: argparse.Namespace, out: Callable[[str], None]) -> None:
    if ns.command == "list":
        rows = []
        for c in courses.list():
            for a in c.get("assignments") or [{}]:
                rows.append([c.get("id"), c.get("role"), a.get("name"), a.get("due"),
                             assignment_state(a)])  # fmt: skip
        out(table(rows, ["course", "role", "assignment", "due", "state"]) if rows else "none")
    elif ns.command == "fetch":
        path = courses.fetch(ns.course, ns.assignment)
        kept = f"; kept your {', '.join(path.skipped)}" if path.skipped else ""
        out(f"fetched into {path}{kept}")
    elif ns.command == "submit":
        r = courses.submit(ns.course, ns.assignment)
        late = " (late)" if r.get("late") else ""
        out(f"submitted {ns.course}/{ns.assignment} at {r.get('submitted_at')}{late}")
    else:
        out(f"feedback in {courses.feedback(ns.course, ns.assignment)}")


def assignment_state(a: dict) -> str:
    """'graded 8/10', 'feedback', 'submitted (late)', 'released', 'not released'."""
    if a.get("score") is not None:
        return f"graded {a['score']}/{a.get('max_score')}"
    if a.get("submitted_at"):
        state = "submitted (late)" if a.get("late") else "submitted"
        held = a.get("feedback_held") or {}
        if held.get("until") == "instructor":
            state += ", feedback held until the instructor returns it"
        elif held.get("until") == "due":
            state += f", feedback after the due date {held.get('when') or held.get('due')}"
        return state
    if a.get("released"):
        return "released"
    return "not released" if a else ""


ACTIONS = {"dataset": _dataset, "job": _job, "course": _course}


def run(kind: str, line: str, out: Callable[[str], None] = print) -> None:
    """Run one magic line; errors print one line to stderr and never raise."""
    try:
        ACTIONS[kind](parse(kind, line), out)
    except _Exit as e:
        if str(e):
            print(str(e).strip(), file=sys.stderr)
    except NPUHubError as e:
        print(f"npuhub: {e}", file=sys.stderr)


def register(ip: Any) -> None:
    """Register %dataset, %job, %course on an IPython shell."""
    for kind in ACTIONS:

        def magic(line: str, kind: str = kind) -> None:
            run(kind, line)

        magic.__doc__ = PARSERS[kind]().format_help()
        ip.register_magic_function(magic, magic_kind="line", magic_name=kind)
