"""Execute a notebook for grading, inside the grader's container.

    python -m npuhub.extensions.autograde IN.ipynb OUT.ipynb --timeout N
        [--total-timeout T] [--files DIR] [--cell-output-limit B] [--output-limit B]
        [--secret-file F] [--kernel-user UID:GID]

Every code cell runs with nbclient (`allow_errors`, so a failing test does not stop the
others), each within N seconds: a cell past its time is interrupted and gets a
`CellTimeoutError` error output, then the next cell runs. Past T seconds in all, the cells
left are not run. Outputs are capped while they arrive (B bytes per cell, B in all; error
outputs are always kept, shortened), so a cell that prints gigabytes costs time, not
memory. A dead kernel (out of memory, killed) ends the run with status "crashed".

The student's code is not trusted to report its own failures. Started as root (the
grader's container), the runner reads IN and the secret F (files only root can read),
then starts the kernel as UID:GID with no other group: the kernel cannot read the tests'
file, signal the runner or reach its output. The kernel loads `autograde_guard`, which
reports to the runner on a pipe, signed with a key only the guard holds. Before each test
cell the runner checks that the kernel still reports errors honestly: the guard compares
the kernel with its snapshot, and a probe `assert False, NONCE` must come back as an
AssertionError, shown and answered as an error. A check that fails, an alarm from the
guard (the grader's files reached for), a test whose error was answered but not shown,
or the result marker in an output, flag that cell and every graded cell after it in
`metadata.npuhub.autograde.review` ([{grade_id, reason}]): they get no automatic points.

OUT `-` writes the executed notebook to stdout as a single line after `RESULT_MARKER` and
the secret, which the grader reads from the container's (size-capped) log: the container
then needs no writable folder on the host. The run's status is in
`metadata.npuhub.autograde`.

Imports nothing from npuhub.hub: this runs in the user image, against untrusted code.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import hmac
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from queue import Empty
from time import monotonic

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async
from nbformat.v4 import new_output
from traitlets import Int

from .autograde_guard import CHECK_EVENT, sign

RESULT_MARKER = "NPUHUB-AUTOGRADE-RESULT "
TIMEOUT_ENAME = "CellTimeoutError"
GUARD_EXTENSION = "npuhub.extensions.autograde_guard"
CHECK_TIMEOUT = 15.0


def _size(content: dict) -> int:
    body = content.get("text", content.get("data", content.get("traceback", "")))
    return len(body) if isinstance(body, str) else len(json.dumps(body, default=str))


def _short(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more]"


class CappedClient(NotebookClient):
    """NotebookClient that keeps at most `cell_output_limit` bytes of outputs per cell and
    `output_limit` in all, counted as messages arrive."""

    cell_output_limit = Int(100_000, help="Bytes of outputs kept per cell.").tag(config=True)
    output_limit = Int(2_000_000, help="Bytes of outputs kept in all.").tag(config=True)

    def __init__(self, nb, **kw):
        super().__init__(nb, **kw)
        self.replies: dict[int, dict] = {}
        self.used: dict[int, int] = {}
        self.total = 0
        self.cut: set[int] = set()
        self.timed_out = False

    def output(self, outs, msg, display_id, cell_index):
        content = msg["content"]
        if msg["msg_type"] == "error":  # always kept: the grade depends on it
            content = {**content, "evalue": _short(str(content.get("evalue", ""))),
                       "traceback": [_short(line) for line in content.get("traceback", [])[-30:]]}
            return super().output(outs, {**msg, "content": content}, display_id, cell_index)
        room = min(self.cell_output_limit - self.used.get(cell_index, 0),
                   self.output_limit - self.total)
        size = _size(content)
        if size <= room:
            self._count(cell_index, size)
            return super().output(outs, msg, display_id, cell_index)
        if msg["msg_type"] == "stream" and room > 0:
            self._count(cell_index, room)
            cut = {**msg, "content": {**content, "text": content["text"][:room]}}
            super().output(outs, cut, display_id, cell_index)
        if cell_index not in self.cut:
            self.cut.add(cell_index)
            outs.append(new_output("stream", name="stderr", text=(
                f"\n[output truncated by the autograder: {self.cell_output_limit} bytes per "
                f"cell, {self.output_limit} in all]\n")))
        return None

    def _count(self, cell_index: int, size: int) -> None:
        self.used[cell_index] = self.used.get(cell_index, 0) + size
        self.total += size

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        if exec_reply is not None:
            self.replies[cell_index] = exec_reply.get("content", {})
        return await super()._check_raise_for_error(cell, cell_index, exec_reply)


class SharedKernelManager(AsyncKernelManager):
    """Makes the connection file readable by a kernel that runs as another user."""

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # the runner's own runtime folder; the key in it is the kernel's anyway
        os.chmod(os.path.dirname(os.path.abspath(self.connection_file)), 0o755)  # noqa: S103
        os.chmod(self.connection_file, 0o644)
        return await super()._async_launch_kernel(kernel_cmd, **kw)


class Guard:
    """The runner's end of the guard's pipe: signed reports, checked."""

    def __init__(self):
        self.key = secrets.token_hex(32).encode()
        self.read_fd, self.report_fd = os.pipe()
        key_r, key_w = os.pipe()
        os.write(key_w, self.key + b"\n")
        os.close(key_w)
        self.key_fd = key_r
        fcntl.fcntl(self.read_fd, fcntl.F_SETFL, os.O_NONBLOCK)
        self.buffer = b""
        self.closed = False
        self.checks: dict[str, list] = {}
        self.alarms: list[str] = []

    def kernel_fds(self) -> tuple[int, int]:
        return self.report_fd, self.key_fd

    def launched(self) -> None:
        """Close the kernel's ends here: the pipe then closes when the kernel closes it."""
        for fd in self.kernel_fds():
            os.close(fd)

    def poll(self) -> None:
        while not self.closed:
            try:
                chunk = os.read(self.read_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                self.closed = True
                self.alarms.append("the guard's channel was closed by the kernel")
                break
            self.buffer += chunk
            if len(self.buffer) > 1_000_000:
                self.buffer = b""
                self.alarms.append("the guard's channel was flooded")
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self._line(line.decode(errors="replace"))

    def _line(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        nonce, _, rest = rest.partition(" ")
        payload, _, _mac = rest.rpartition(" ")
        try:
            value = json.loads(payload)
        except ValueError:
            value = None
        if value is None or not hmac.compare_digest(sign(self.key, kind, nonce, value),
                                                    (line + "\n").encode()):
            self.alarms.append("a forged report on the guard's channel")
        elif kind == "check":
            self.checks[nonce] = value if isinstance(value, list) else ["bad report"]
        else:
            self.alarms.append(str(value)[:300])

    async def check(self, nonce: str, deadline: float) -> list | None:
        while monotonic() < deadline:
            self.poll()
            if nonce in self.checks:
                return self.checks.pop(nonce)
            if self.closed:
                return None
            await asyncio.sleep(0.01)
        return None

    def close(self) -> None:
        os.close(self.read_fd)


def _error(cell, ename: str, evalue: str, replace: tuple[str, ...] = ()) -> None:
    outs = [o for o in cell.get("outputs", []) if o.get("ename") not in replace]
    if not any(o.get("output_type") == "error" for o in outs):
        outs.append(new_output("error", ename=ename, evalue=evalue,
                               traceback=[f"{ename}: {evalue}"]))
    cell["outputs"] = outs


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader") or {}


def _is_test(cell) -> bool:
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


async def _request(client, code: str, expressions: dict, timeout: float):
    """Run `code` outside the notebook; (reply content, error outputs) or None."""
    kc = client.kc
    msg_id = kc.execute(code, silent=False, store_history=False, allow_stdin=False,
                        user_expressions=expressions, stop_on_error=False)
    deadline = monotonic() + timeout
    errors = []
    try:
        while True:
            msg = await kc.get_iopub_msg(timeout=max(0.05, deadline - monotonic()))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                errors.append(msg["content"])
            elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                break
        while True:
            reply = await kc.get_shell_msg(timeout=max(0.05, deadline - monotonic()))
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return reply["content"], errors
    except Empty:
        return None


async def honest(client, guard: Guard, timeout: float = CHECK_TIMEOUT) -> str | None:
    """None if the kernel still reports errors honestly, else what is wrong."""
    deadline = monotonic() + timeout
    nonce = secrets.token_hex(12)
    got = await _request(client, "pass",
                         {"g": f"__import__('sys').audit({CHECK_EVENT!r}, {nonce!r})"}, timeout)
    if got is None:
        if not await ensure_async(client.km.is_alive()):  # a crash, not tampering
            raise DeadKernelError("the kernel died")
        return "the kernel did not answer the integrity check"
    findings = await guard.check(nonce, deadline)
    if findings is None:
        return "the kernel's guard did not confirm the integrity check"
    if findings:
        return "; ".join(str(f) for f in findings)[:300]
    nonce = secrets.token_hex(12)
    got = await _request(client, f"assert False, {nonce!r}", {}, max(1.0, deadline - monotonic()))
    if got is None:
        return "the kernel did not answer the failing probe"
    reply, errors = got
    shown = [e for e in errors if e.get("ename") == "AssertionError" and e.get("evalue") == nonce]
    if reply.get("status") != "error" or reply.get("ename") != "AssertionError":
        return "a failing assert was not answered as an AssertionError"
    if not shown:
        return "a failing assert was not shown as an error"
    return None


def _after_cell(client, cell, index: int) -> str | None:
    """What a cell's own run shows of tampering."""
    for out in cell.get("outputs", []):
        text = out.get("text") or json.dumps(out.get("data", {})) + "".join(
            out.get("traceback", []) if isinstance(out.get("traceback"), list) else [])
        if RESULT_MARKER.strip() in str(text):
            return "an output imitates the runner's result"
    reply = client.replies.get(index, {})
    if (_is_test(cell) and reply.get("status") == "error"
            and not any(o.get("output_type") == "error" for o in cell.get("outputs", []))):
        return "a test's error was answered but not shown"
    return None


def _kernel_options(guard: Guard | None, kernel_user: tuple[int, int] | None,
                    home: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPUHUB_")}
    kw: dict = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if kernel_user is not None:
        env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
        env["HOME"] = home or "/tmp"
        kw.update(user=kernel_user[0], group=kernel_user[1], extra_groups=[])
    if guard is not None:
        report_fd, key_fd = guard.kernel_fds()
        env.update(NPUHUB_GUARD_FD=str(report_fd), NPUHUB_GUARD_KEY_FD=str(key_fd))
        kw["pass_fds"] = guard.kernel_fds()
    kw["env"] = env
    return kw


async def execute(nb, *, timeout: int, total_timeout: float | None = None, cwd: str,
                  cell_output_limit: int = 100_000, output_limit: int = 2_000_000,
                  guarded: bool = True, kernel_user: tuple[int, int] | None = None,
                  kernel_home: str | None = None):
    """Execute `nb` in place; returns its status: "ok", "timeout" or "crashed". The cells
    not vouched for are in `nb.metadata.npuhub.autograde.review`."""
    guard = Guard() if guarded else None
    client = CappedClient(
        nb, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []},
        startup_timeout=60, resources={"metadata": {"path": cwd}}, record_timing=False,
        cell_output_limit=cell_output_limit, output_limit=output_limit,
        kernel_manager_class=SharedKernelManager if kernel_user else AsyncKernelManager,
        extra_arguments=[f"--IPKernelApp.extensions={GUARD_EXTENSION}"] if guarded else [])
    deadline = monotonic() + total_timeout if total_timeout else None
    status, index, cell = "ok", 0, None
    review: list[dict] = []
    tampered: str | None = None
    since = len(nb.cells)
    try:
        # the kernel's own stdout/stderr (os.system, C code) reach the notebook through
        # ipykernel's capture; its echo to our stdout would only be noise in the result
        async with client.async_setup_kernel(**_kernel_options(guard, kernel_user, kernel_home)):
            if guard is not None:
                guard.launched()
            for index, cell in enumerate(nb.cells):
                if deadline is not None:
                    left = deadline - monotonic()
                    if left < 1:
                        status = "timeout"
                        break
                    client.timeout = max(1, int(min(timeout, left)))
                if guard is not None and tampered is None and _is_test(cell):
                    left = CHECK_TIMEOUT if deadline is None else deadline - monotonic()
                    reason = await honest(client, guard, min(CHECK_TIMEOUT, max(1.0, left)))
                    if reason and deadline is not None and deadline - monotonic() < 1:
                        status = "timeout"  # out of time, not proof of tampering
                        break
                    tampered = reason
                client.timed_out = False
                await client.async_execute_cell(cell, index,
                                                execution_count=client.code_cells_executed + 1)
                if client.timed_out:
                    _error(cell, TIMEOUT_ENAME, f"cell did not finish within {client.timeout} s",
                           replace=("KeyboardInterrupt",))
                if guard is not None and tampered is None:
                    guard.poll()
                    tampered = (guard.alarms[0] if guard.alarms else None) or _after_cell(
                        client, cell, index)
                since = min(since, index) if tampered is not None else since
                if tampered is not None and _nbgrader(cell).get("grade"):
                    review.append({"grade_id": _nbgrader(cell).get("grade_id"),
                                   "reason": tampered})
    except DeadKernelError:
        status = "crashed"
        if cell is not None and cell.cell_type == "code":
            _error(cell, "DeadKernelError", "the kernel died (out of memory or killed)")
    finally:
        if guard is not None:
            guard.close()
    if tampered is not None:  # cells not reached are not vouched for either
        done = {r["grade_id"] for r in review}
        review += [{"grade_id": _nbgrader(c).get("grade_id"), "reason": tampered}
                   for c in nb.cells[since:]
                   if _nbgrader(c).get("grade") and _nbgrader(c).get("grade_id") not in done]
    record = nb.metadata.setdefault("npuhub", {}).setdefault("autograde", {})
    record.update(status=status, review=review)
    return status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m npuhub.extensions.autograde",
                                description="Execute a notebook for grading.")
    p.add_argument("input")
    p.add_argument("output", help="path, or - for one line on stdout after the marker")
    p.add_argument("--timeout", type=int, required=True, help="seconds per cell")
    p.add_argument("--total-timeout", type=float, default=None, help="seconds in all")
    p.add_argument("--files", help="folder copied into the working directory first")
    p.add_argument("--cell-output-limit", type=int, default=100_000)
    p.add_argument("--output-limit", type=int, default=2_000_000)
    p.add_argument("--secret-file", help="a secret written before the result (stdout only)")
    p.add_argument("--kernel-user", help="UID:GID the kernel runs as (the runner is root)")
    p.add_argument("--kernel-home", default="/home/jovyan", help="the kernel user's home")
    args = p.parse_args(argv)

    nb = nbformat.read(args.input, as_version=4)
    secret = Path(args.secret_file).read_text().strip() if args.secret_file else ""
    user = tuple(int(x) for x in args.kernel_user.split(":")) if args.kernel_user else None
    home = Path(args.kernel_home if user else Path.home())
    cwd = home / "assignment"
    if user is not None:
        # the runner's own files live apart; the kernel's folder is made by the kernel's user
        runtime = Path(f"/tmp/npuhub-runner-{secrets.token_hex(8)}")
        runtime.mkdir(mode=0o755)
        os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)
        copy = ("import os, shutil, sys; os.makedirs(sys.argv[1], exist_ok=True); "
                "sys.argv[2] and shutil.copytree(sys.argv[2], sys.argv[1], dirs_exist_ok=True)")
        subprocess.run([sys.executable, "-c", copy, str(cwd), args.files or ""], check=True,
                       user=user[0], group=user[1], extra_groups=[], env={"HOME": str(home)},
                       cwd="/")
    else:
        cwd.mkdir(parents=True, exist_ok=True)
        if args.files:
            shutil.copytree(args.files, cwd, dirs_exist_ok=True)
    started = monotonic()
    status = asyncio.run(execute(
        nb, timeout=args.timeout, total_timeout=args.total_timeout, cwd=str(cwd),
        cell_output_limit=args.cell_output_limit, output_limit=args.output_limit,
        kernel_user=user, kernel_home=str(home)))
    record = nb.metadata["npuhub"]["autograde"]
    record.update(status=status, duration=round(monotonic() - started, 3))
    if args.output == "-":
        sys.stdout.flush()
        text = RESULT_MARKER + (secret + " " if secret else "") + json.dumps(
            nb, separators=(",", ":")) + "\n"
        os.write(1, text.encode())  # straight to fd 1, past any buffering
    else:
        tmp = f"{args.output}.tmp"
        nbformat.write(nb, tmp)
        os.replace(tmp, args.output)
    print(f"autograde: {status} in {record['duration']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
