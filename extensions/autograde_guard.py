"""The autograder's guard inside the kernel that runs a student's submission.

Loaded as an IPython extension when the grading kernel starts, before any of the
student's code (`--IPKernelApp.extensions=npuhub.extensions.autograde_guard`), it:

- reads a key from a pipe (fd `NPUHUB_GUARD_KEY_FD`, then closed) and keeps it only in a
  closure: the student's code never holds it;
- takes a snapshot of what makes the kernel report errors honestly: the shell's and the
  kernel's methods that run code and show tracebacks, the input and AST transformers,
  the pre-execution event callbacks, custom exception handlers, `AssertionError` and the
  other builtin exceptions, `sys.excepthook`, `sys.stdout`/`sys.stderr`, the display hook
  and the number printers (a returned number is partial credit);
- installs an audit hook (which Python cannot remove) that, on the event
  `npuhub.guard.check` with a nonce, compares the kernel with the snapshot and writes the
  differences to the runner's pipe (fd `NPUHUB_GUARD_FD`), and that reports at once, on
  the same pipe, an attempt to read the grader's files (`/autograde`), the runner's or
  PID 1's /proc entries, or to walk the interpreter's objects with `gc`.

Each report line is signed with the key (HMAC-SHA256): the runner accepts no report the
student's code wrote itself. The guard never raises into the student's code (its frames
would carry the key). What this can and cannot prove: see the README ("Autograding").
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import os
import sys

CHECK_EVENT = "npuhub.guard.check"
WATCHED_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "subprocess.Popen",
                            "os.system", "os.exec", "os.posix_spawn", "gc.get_objects",
                            "gc.get_referrers", "gc.get_referents", CHECK_EVENT})
SHELL_METHODS = ("showtraceback", "_showtraceback", "showsyntaxerror", "run_cell",
                 "run_cell_async", "run_ast_nodes", "run_code", "transform_cell",
                 "transform_ast", "user_expressions", "_get_exc_info", "get_exception_only",
                 "excepthook", "should_run_async")
KERNEL_METHODS = ("do_execute", "execute_request", "send_response")
EXCEPTIONS = ("AssertionError", "BaseException", "Exception", "NotImplementedError",
              "TypeError", "ValueError", "NameError", "AttributeError", "KeyError",
              "IndexError", "ZeroDivisionError", "SystemExit", "KeyboardInterrupt")
TRANSFORMER_LISTS = ("input_transformers_cleanup", "input_transformers_post",
                     "ast_transformers")
MANAGER_LISTS = ("cleanup_transforms", "line_transforms", "token_transformers")


def sign(key: bytes, kind: str, nonce: str, payload) -> bytes:
    """One report line: `kind nonce payload-json mac`."""
    body = f"{kind} {nonce} {json.dumps(payload, separators=(',', ':'))}"
    mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    return f"{body} {mac}\n".encode()


def _snapshot(shell) -> dict:
    kernel = getattr(shell, "kernel", None)
    plain = shell.display_formatter.formatters.get("text/plain")
    return {
        "shell_class": type(shell),
        "shell": {n: (vars(shell).get(n), getattr(type(shell), n, None))
                  for n in SHELL_METHODS},
        "kernel_class": type(kernel),
        "kernel": {n: (vars(kernel).get(n) if kernel is not None else None,
                       getattr(type(kernel), n, None)) for n in KERNEL_METHODS},
        "session_send": getattr(type(getattr(kernel, "session", None)), "send", None),
        "lists": {n: list(getattr(shell, n, [])) for n in TRANSFORMER_LISTS},
        "manager": {n: list(getattr(shell.input_transformer_manager, n, []))
                    for n in MANAGER_LISTS},
        "events": {e: list(shell.events.callbacks.get(e, []))
                   for e in ("pre_execute", "pre_run_cell")},
        "custom_exceptions": shell.custom_exceptions,
        "exceptions": {n: getattr(builtins, n) for n in EXCEPTIONS},
        "excepthook": sys.excepthook,
        "streams": (sys.stdout, sys.stderr),
        "stream_write": _writes(),
        "displayhook": shell.displayhook,
        "displayhook_call": type(shell.displayhook).__call__,
        "printers": {t: plain.type_printers.get(t) for t in (int, float, str, bool)},
        "printer_count": (len(plain.type_printers), len(plain.deferred_printers)),
    }


def _writes() -> tuple:
    """Each stream's write; IPython's history tee leaves the class's own bound method on
    the instance after a cell (seen as the class's)."""
    out = []
    for stream in (sys.stdout, sys.stderr):
        own = vars(stream).get("write") if hasattr(stream, "__dict__") else None
        if (getattr(own, "__self__", None) is stream
                and getattr(own, "__func__", None) is type(stream).write):
            own = None
        out.append((own, type(stream).write))
    return tuple(out)


def _differences(shell, snap: dict) -> list[str]:  # noqa: C901 - one flat list of checks
    found = []
    kernel = getattr(shell, "kernel", None)
    if type(shell) is not snap["shell_class"]:
        found.append("the shell's class was replaced")
    for name, (own, func) in snap["shell"].items():
        if vars(shell).get(name) is not own:
            found.append(f"shell.{name} replaced on the instance")
        elif getattr(type(shell), name, None) is not func:
            found.append(f"shell.{name} replaced on the class")
    if type(kernel) is not snap["kernel_class"]:
        found.append("the kernel's class was replaced")
    for name, (own, func) in snap["kernel"].items():
        if kernel is not None and vars(kernel).get(name) is not own:
            found.append(f"kernel.{name} replaced on the instance")
        elif getattr(type(kernel), name, None) is not func:
            found.append(f"kernel.{name} replaced on the class")
    session = getattr(kernel, "session", None)
    send = getattr(type(session), "send", None)
    if session is not None and ("send" in vars(session) or send is not snap["session_send"]):
        found.append("the kernel's message sending was replaced")
    for name, items in snap["lists"].items():
        if list(getattr(shell, name, [])) != items:
            found.append(f"input transformers changed ({name})")
    for name, items in snap["manager"].items():
        if list(getattr(shell.input_transformer_manager, name, [])) != items:
            found.append(f"input transformers changed ({name})")
    for event, items in snap["events"].items():
        if list(shell.events.callbacks.get(event, [])) != items:
            found.append(f"{event} callbacks changed")
    if shell.custom_exceptions != snap["custom_exceptions"]:
        found.append("custom exception handlers installed")
    for name, exc in snap["exceptions"].items():
        if getattr(builtins, name, None) is not exc:
            found.append(f"builtins.{name} rebound")
    if sys.excepthook is not snap["excepthook"]:
        found.append("sys.excepthook replaced")
    if (sys.stdout, sys.stderr) != snap["streams"]:
        found.append("sys.stdout or sys.stderr replaced")
    elif _writes() != snap["stream_write"]:
        found.append("writing to sys.stdout or sys.stderr replaced")
    if shell.displayhook is not snap["displayhook"] or (
            type(shell.displayhook).__call__ is not snap["displayhook_call"]):
        found.append("the display hook was replaced")
    plain = shell.display_formatter.formatters.get("text/plain")
    if plain is None or any(plain.type_printers.get(t) is not f
                            for t, f in snap["printers"].items()):
        found.append("the printing of numbers was changed")
    return found


def _watched_path(event: str, args, ppid: int) -> str | None:
    """The grader path an event reaches for, or None."""
    if event in ("open", "os.listdir", "os.scandir"):
        values = args[:1]
    else:  # subprocess.Popen (executable, args, cwd, env), os.system (command,), os.exec...
        values = [a for arg in args[:2]
                  for a in (arg if isinstance(arg, list | tuple) else [arg])]
    for value in values:
        if isinstance(value, bytes | str | os.PathLike):
            text = os.fsdecode(value) if not isinstance(value, str) else value
            for bad in ("/autograde", "/proc/1/", f"/proc/{ppid}/"):
                if bad in text or os.path.abspath(text) == bad.rstrip("/"):
                    return text[:200]
    return None


def install(shell, key: bytes, report_fd: int) -> None:
    """Snapshot `shell` and install the audit hook (once per process)."""
    snap = _snapshot(shell)
    ppid = os.getppid()
    state = {"busy": False, "alarms": 0}

    def report(kind: str, nonce: str, payload) -> None:
        try:
            os.write(report_fd, sign(key, kind, nonce, payload))
        except OSError:
            pass  # the runner sees the channel closed or the report missing

    def hook(event, args):
        if event not in WATCHED_EVENTS:
            return
        try:
            if event == CHECK_EVENT:
                if state["busy"]:
                    return
                state["busy"] = True
                try:
                    nonce = str(args[0])[:64] if args else ""
                    report("check", nonce, _differences(shell, snap))
                finally:
                    state["busy"] = False
                return
            if event.startswith("gc."):
                what = "walked the interpreter's objects (" + event + ")"
            else:
                path = _watched_path(event, args, ppid)
                if path is None:
                    return
                what = f"reached for the grader's files ({event} {path})"
            state["alarms"] += 1
            report("alarm", f"a{state['alarms']}", what)
        except Exception:  # noqa: S110 - never raise into the student's code
            pass

    sys.addaudithook(hook)


def load_ipython_extension(shell) -> None:
    report_fd = int(os.environ.get("NPUHUB_GUARD_FD", "-1"))
    key_fd = int(os.environ.get("NPUHUB_GUARD_KEY_FD", "-1"))
    if report_fd < 0 or key_fd < 0:
        return  # not under the runner: nothing reports, and the runner flags every cell
    with os.fdopen(key_fd, "rb") as f:
        key = f.read(256).strip()
    for name in ("NPUHUB_GUARD_FD", "NPUHUB_GUARD_KEY_FD"):
        os.environ.pop(name, None)
    install(shell, key, report_fd)
