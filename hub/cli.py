"""The `npuhub` command: start the platform, and administer devices, quotas, usage,
users and declared resources."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tabulate import tabulate

from . import clock
from .ledger.quota import GROUP_ONLY_FIELDS
from .reports import cli as reports_cli
from .reports.usage import by_use
from .settings import NPUHub, load_settings


def _cli_env(args) -> None:
    """--state-dir and --port reach the hub process and the service as environment."""
    if getattr(args, "state_dir", None):
        os.environ["NPUHUB_STATE_DIR"] = args.state_dir
    if getattr(args, "port", None):
        os.environ["NPUHUB_PORT"] = str(args.port)


def _settings(args) -> NPUHub:
    _cli_env(args)
    return load_settings(args.config or os.environ.get("NPUHUB_CONFIG") or None)


def _platform(args):
    from . import db
    from .platform import platform_for

    settings = _settings(args)
    db.upgrade(settings.db_url)
    return platform_for(settings.db_url)


def _ledger(args):
    return _platform(args).ledger


def _device_ref(ref: str) -> tuple[str, int]:
    node, sep, index = ref.rpartition(":")
    if not sep or not node or not index.isdigit():
        raise SystemExit(f"npuhub: {ref!r} is not NODE:INDEX (see `npuhub devices`)")
    return node, int(index)


def cmd_up(args) -> int:
    from .up import UpError, up

    _cli_env(args)
    try:
        return up(args.config or os.environ.get("NPUHUB_CONFIG") or None)
    except UpError as e:
        print(f"npuhub up: {e}", file=sys.stderr)
        return 1


def cmd_devices(args) -> int:
    ledger = _ledger(args)
    if args.action in ("drain", "undrain"):
        if not args.device:
            raise SystemExit(f"npuhub devices {args.action} NODE:INDEX | NODE")
        if ":" not in args.device:
            return _node_drain(args, ledger)
        node, index = _device_ref(args.device)
        getattr(ledger.inventory, args.action)(node, index)
        print(f"{node}:{index} {args.action}ed")
        return 0
    from .reports.overview import devices, duration, holder_label, summary_line

    with ledger.session_factory() as s:
        rows = devices(s, clock.utcnow())
    table = [
        [d["node"], d["index"], d["type"], d["state"], holder_label(d["holder"]),
         d["since"].strftime("%Y-%m-%d %H:%M") if d["since"] else "-",
         duration(d["held_seconds"])]
        for d in rows
    ]  # fmt: skip
    print(tabulate(table, headers=["node", "device", "type", "state", "holder", "since", "held"]))
    print()
    print(summary_line(d["state"] for d in rows))
    return 0


def cmd_queue(args) -> int:
    from .jobs.config import load_jobs_config
    from .line.keeper import current

    settings = _settings(args)
    platform = _platform(args)
    cfg = load_jobs_config(args.config or os.environ.get("NPUHUB_CONFIG") or None, settings)
    line = current(platform.ledger, platform.line, platform.jobs,
                   cfg.fairshare_half_life * 86400, settings.line_session_limit or None)
    rows = [
        [e["position"], e["kind"], e["user"], e["account"], e["npus"],
         _when(e["submitted"]), _when(e["estimated_start"]) or "unknown"]
        for e in line
    ]
    print(tabulate(rows, headers=["position", "kind", "user", "account", "NPUs",
                                  "waiting since", "estimated start"]))
    if not rows:
        print("(nobody waits for NPUs)")
    return 0


def _when(iso: str | None) -> str:
    """An ISO time of the line as the table shows it (UTC, to the minute)."""
    if iso is None:
        return ""
    from datetime import datetime

    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


def _node_drain(args, ledger) -> int:
    """Every chip of a node (and, in cluster mode, the node in Slurm)."""
    from .node_drain import set_node
    from .refusals import Refusal

    try:
        done = set_node(ledger, _settings(args), args.device, args.action == "drain",
                        args.reason)
    except Refusal as e:
        raise SystemExit(f"npuhub: {e}") from None
    where = " (and in Slurm)" if done["slurm"] else ""
    print(f"{done['node']}: {done['devices']} devices {args.action}ed{where}")
    return 0


LIMIT_OPTIONS = {
    "max_npus_per_server": int,
    "max_npus": int,
    "group_max_npus": int,
    "npu_hours": float,
    "npu_hours_per_member": float,
    "period": str,
    "max_session_hours": float,
}


def cmd_quota(args) -> int:
    ledger = _ledger(args)
    if args.action == "set":
        limits = {k: getattr(args, k) for k in LIMIT_OPTIONS if getattr(args, k) is not None}
        if args.profiles is not None:
            limits["profiles"] = [p for p in args.profiles.split(",") if p]
        if args.user:
            ledger.policies.set_user(args.user, **limits)
            print(f"quota of user {args.user} set")
        elif args.group:
            ledger.policies.set(args.group, **limits)
            print(f"quota of group {args.group} set")
        else:
            raise SystemExit("npuhub quota set GROUP [--max-npus N …] (or --user NAME)")
        return 0
    rows = [
        [p["group"]]
        + [p.get(k) if p.get(k) is not None else "-" for k in LIMIT_OPTIONS]
        + [",".join(p["profiles"]) if p.get("profiles") else "all"]
        for p in ledger.policies.all()
    ]
    print(tabulate(rows, headers=["group", *LIMIT_OPTIONS, "profiles"]))
    users = ledger.policies.users()
    fields = [k for k in LIMIT_OPTIONS if k not in GROUP_ONLY_FIELDS]
    print()
    if not users:
        print("no per-user overrides (npuhub quota set --user NAME …)")
        return 0
    rows = [
        [u["user"]] + [u.get(k) if u.get(k) is not None else "-" for k in fields]
        + [",".join(u["profiles"]) if u.get("profiles") else "-"]
        for u in users
    ]
    print(tabulate(rows, headers=["user override", *fields, "profiles"]))
    return 0


def cmd_usage(args) -> int:
    ledger = _ledger(args)
    if reports_cli.wants_report(args):
        return reports_cli.usage(args, ledger.session_factory)
    u = ledger.usage.report(account=args.account, period=args.period)
    rows = [[k, "-" if v is None else f"{v:.2f}" if isinstance(v, float) else v]
            for k, v in u.items() if not isinstance(v, list | dict)]  # fmt: skip
    print(tabulate(rows, headers=["", "value"], disable_numparse=True))
    for key in ("by_account", "by_user"):
        if isinstance(u.get(key), dict) and u[key]:
            print()
            print(tabulate(by_use(u[key]), headers=[key[3:], "NPU-hours"], floatfmt=".2f"))
    return 0


def cmd_user(args) -> int:
    from .hubapi import HubAPI, HubAPIError

    api = HubAPI.from_settings(_settings(args))
    for name in args.names:
        if args.action == "add":
            api.create_user(name, admin=args.admin, groups=args.group or [])
        try:
            link = api.activation_link(name, reset=args.reset)
        except HubAPIError as e:
            if args.action != "add" or ": 409 " not in str(e):
                raise
            print(f"user {name} exists and is active (a new link: npuhub user link --reset)")
            continue
        print(f"user {name}: activation link (shown once; valid until {link['expires']}): "
              f"{link['url']}")
    return 0


def cmd_apply(args) -> int:
    from .apply import apply_file

    settings = _settings(args)
    for line in apply_file(Path(args.file), settings):
        print(line)
    return 0


def cmd_course(args) -> int:
    from .courses import service_ops
    from .courses.course_file import CourseError
    from .courses.grades import grades_csv

    store = _platform(args).courses
    need = {"release": 2, "collect": 2, "autograde": 2, "grades": 1,
            "return": 2}.get(args.action, 0)
    if args.action == "export" and len(args.names) in (2, 3):
        need = len(args.names)
    elif args.action == "export":
        raise SystemExit("npuhub course export COURSE [ASSIGNMENT] DIR")
    if len(args.names) != need:
        usage = " ".join(["COURSE", "ASSIGNMENT"][:need])
        raise SystemExit(f"npuhub course {args.action} {usage}".rstrip())
    try:
        if args.action == "list":
            rows = [[c["id"], c["title"], c["term"], ", ".join(a["name"] for a in c["assignments"])]
                    for c in store.courses_of("", [], admin=True)]
            print(tabulate(rows, headers=["course", "title", "term", "assignments"]))
        elif args.action == "release":
            r = service_ops.release_assignment(store, *args.names)
            print(f"released {args.names[1]} at {r['released_at']}: {', '.join(r['files'])}")
        elif args.action == "return":
            r = store.return_feedback(*args.names, by="cli")
            print(f"feedback of {args.names[1]} returned at {r['returned_at']} "
                  f"({r['students']} students graded)")
        elif args.action == "collect":
            print(f"{store.collect(*args.names)} submissions collected")
        elif args.action == "export":
            from .courses.export import export_course

            *which, folder = args.names
            n = export_course(store.export_data(*which), folder)
            print(f"exported {which[0]} to {folder} (nbgrader's course folder and "
                  f"gradebook.db): {n['students']} students, {n['assignments']} "
                  f"assignments, {n['submissions']} submissions")
        elif args.action == "autograde":
            from .jobs.config import load_jobs_config

            config = args.config or os.environ.get("NPUHUB_CONFIG") or None
            deployment = load_jobs_config(config, _settings(args)).prefix
            results = service_ops.autograde_assignment(store, *args.names,
                                                       deployment=deployment)
            rows = [[r["student"], r["attempt"], r["score"], r["max_score"], r["status"],
                     ",".join(r["tampered"]) or "-"] for r in results]
            print(tabulate(rows, headers=["student", "attempt", "score", "max", "status",
                                          "tampered"]))
        elif args.csv:
            sys.stdout.write(grades_csv(store.grades(args.names[0])))
        else:
            print(tabulate(store.grades(args.names[0]), headers="keys"))
    except CourseError as e:
        print(f"npuhub course {args.action}: {e}", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="npuhub", description=__doc__)
    p.add_argument("--config", "-c", help="deployment config file (traitlets, Python)")
    p.add_argument(
        "--state-dir", help="state folder (default $NPUHUB_STATE_DIR or /var/lib/npuhub)"
    )
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start hub, proxy and platform service")
    up.add_argument("--port", type=int, help="public port (default 8000)")
    up.set_defaults(func=cmd_up)

    dev = sub.add_parser("devices", help="NPUs: list, drain, undrain")
    dev.add_argument("action", nargs="?", default="list", choices=["list", "drain", "undrain"])
    dev.add_argument("device", nargs="?", help="NODE:INDEX, or NODE for all its devices "
                     "(cluster mode: the node is drained or resumed in Slurm too)")
    dev.add_argument("--reason", help="why a node is drained (Slurm's reason, cluster mode)")
    dev.set_defaults(func=cmd_devices)

    qu = sub.add_parser("queue", help="the line for NPUs: waiting servers and queued jobs")
    qu.set_defaults(func=cmd_queue)

    q = sub.add_parser("quota", help="quota policies: list, set")
    q.add_argument("action", nargs="?", default="list", choices=["list", "set"])
    q.add_argument("group", nargs="?", help="group ('*' is the default policy)")
    q.add_argument("--user", help="set a per-user override instead of a group policy")
    for k, t in LIMIT_OPTIONS.items():
        q.add_argument("--" + k.replace("_", "-"), dest=k, type=t)
    q.add_argument("--profiles", help="comma-separated profile slugs allowed")
    q.set_defaults(func=cmd_quota)

    u = sub.add_parser("usage", help="NPU-hours by account and user")
    u.add_argument("--account")
    u.add_argument("--period", default="week", choices=["day", "week", "month"])
    reports_cli.add_usage_options(u)
    u.set_defaults(func=cmd_usage)

    us = sub.add_parser("user", help="create users (each gets a one-time activation link); "
                        "link: a new link")
    us.add_argument("action", choices=["add", "link"])
    us.add_argument("names", nargs="+")
    us.add_argument("--admin", action="store_true")
    us.add_argument("--group", action="append", help="add to this group (repeatable)")
    us.add_argument("--reset", action="store_true",
                    help="link: also for an active account (a password reset)")
    us.set_defaults(func=cmd_user)

    ap = sub.add_parser("apply", help="apply a file of declared resources (kubectl-style)")
    ap.add_argument("-f", "--file", required=True)
    ap.set_defaults(func=cmd_apply)

    co = sub.add_parser("course", help="courses: list, release, collect, autograde, return "
                        "(feedback to students), grades, export (nbgrader's course folder "
                        "and gradebook)")
    co.add_argument("action", choices=["list", "release", "collect", "autograde", "return",
                                       "grades", "export"])
    co.add_argument("names", nargs="*", help="COURSE [ASSIGNMENT]; export: COURSE "
                    "[ASSIGNMENT] DIR")
    co.add_argument("--csv", action="store_true", help="grades as CSV")
    co.set_defaults(func=cmd_course)

    reports_cli.add_commands(sub, lambda fn: lambda args: fn(args, _ledger(args).session_factory))
    return p


def main(argv: list[str] | None = None) -> int:
    from .apply import ApplyError
    from .hubapi import HubAPIError
    from .ledger.quota import LedgerError

    args = parser().parse_args(argv)
    try:
        rc = args.func(args) or 0
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        # the reader has gone (`npuhub usage | head -1`): stop quietly, as `cat` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ApplyError, HubAPIError, LedgerError, ValueError, FileNotFoundError) as e:
        # bad input or a refusal: one line that says what, no traceback
        print(f"npuhub {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
