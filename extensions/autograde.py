"""Execute a notebook for grading, inside the grader's container.

    python -m npuhub.extensions.autograde IN.ipynb OUT.ipynb --timeout N
        [--total-timeout T] [--files DIR] [--cell-output-limit B] [--output-limit B]

Every code cell runs with nbclient (`allow_errors`, so a failing test does not stop the
others), each within N seconds: a cell past its time is interrupted and gets a
`CellTimeoutError` error output, then the next cell runs. Past T seconds in all, the cells
left are not run. Outputs are capped while they arrive (B bytes per cell, B in all; error
outputs are always kept, shortened), so a cell that prints gigabytes costs time, not
memory. A dead kernel (out of memory, killed) ends the run with status "crashed".

OUT `-` writes the executed notebook to stdout as a single line after `RESULT_MARKER`,
which the grader reads from the container's (size-capped) log: the container then needs
no writable folder on the host. The run's status is in `metadata.npuhub.autograde`.

Imports nothing from npuhub.hub: this runs in the user image, against untrusted code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from time import monotonic

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from traitlets import Int

RESULT_MARKER = "NPUHUB-AUTOGRADE-RESULT "
TIMEOUT_ENAME = "CellTimeoutError"


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


def _error(cell, ename: str, evalue: str, replace: tuple[str, ...] = ()) -> None:
    outs = [o for o in cell.get("outputs", []) if o.get("ename") not in replace]
    if not any(o.get("output_type") == "error" for o in outs):
        outs.append(new_output("error", ename=ename, evalue=evalue,
                               traceback=[f"{ename}: {evalue}"]))
    cell["outputs"] = outs


async def execute(nb, *, timeout: int, total_timeout: float | None = None, cwd: str,
                  cell_output_limit: int = 100_000, output_limit: int = 2_000_000):
    """Execute `nb` in place; returns its status: "ok", "timeout" or "crashed"."""
    client = CappedClient(
        nb, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []},
        startup_timeout=60, resources={"metadata": {"path": cwd}}, record_timing=False,
        cell_output_limit=cell_output_limit, output_limit=output_limit)
    deadline = monotonic() + total_timeout if total_timeout else None
    status, index, cell = "ok", 0, None
    try:
        # the kernel's own stdout/stderr (os.system, C code) reach the notebook through
        # ipykernel's capture; its echo to our stdout would only be noise in the result
        async with client.async_setup_kernel(stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                if deadline is not None:
                    left = deadline - monotonic()
                    if left < 1:
                        return "timeout"
                    client.timeout = max(1, int(min(timeout, left)))
                client.timed_out = False
                await client.async_execute_cell(cell, index,
                                                execution_count=client.code_cells_executed + 1)
                if client.timed_out:
                    _error(cell, TIMEOUT_ENAME, f"cell did not finish within {client.timeout} s",
                           replace=("KeyboardInterrupt",))
    except DeadKernelError:
        status = "crashed"
        if cell is not None and cell.cell_type == "code":
            _error(cell, "DeadKernelError", "the kernel died (out of memory or killed)")
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
    args = p.parse_args(argv)

    nb = nbformat.read(args.input, as_version=4)
    cwd = Path.home() / "assignment"
    cwd.mkdir(parents=True, exist_ok=True)
    if args.files:
        shutil.copytree(args.files, cwd, dirs_exist_ok=True)
    started = monotonic()
    status = asyncio.run(execute(
        nb, timeout=args.timeout, total_timeout=args.total_timeout, cwd=str(cwd),
        cell_output_limit=args.cell_output_limit, output_limit=args.output_limit))
    record = {"status": status, "duration": round(monotonic() - started, 3)}
    nb.metadata.setdefault("npuhub", {})["autograde"] = record
    if args.output == "-":
        sys.stdout.flush()
        text = RESULT_MARKER + json.dumps(nb, separators=(",", ":")) + "\n"
        os.write(1, text.encode())  # straight to fd 1, past any buffering
    else:
        tmp = f"{args.output}.tmp"
        nbformat.write(nb, tmp)
        os.replace(tmp, args.output)
    print(f"autograde: {status} in {record['duration']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
