"""The batch job runner, inside the job's container:

    python -m npuhub.extensions.jobrunner SOURCE PARAMETERS_JSON

SOURCE is a path relative to the home. A notebook (.ipynb) runs with papermill: the
parameters as a cell injected after the cell tagged ``parameters`` (at the top when there
is none; an older injected cell is replaced), the executed copy saved in
``$NPUHUB_OUTPUT_DIR`` (``~/jobs/{id}/``) as it runs and an HTML report written there,
even when a cell fails. A script (.py) runs with
the parameters as ``--key value`` arguments. Everything the job prints goes to stdout and
to ``log.txt`` there; a failure exits non-zero, its last line ``npuhub-runner: failed:
<why>``, which the platform shows as the job's reason.

Imports nothing of npuhub.hub: this runs in the user's image.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

FAILED = "npuhub-runner: failed: "
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class JobFailed(Exception):
    """The job failed; the message says why, for people."""


class Log:
    """Lines to stdout and to log.txt, flushed at once (the platform follows them)."""

    def __init__(self, path: Path | None):
        self.file = open(path, "w", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, text: str) -> None:
        if not text:
            return
        sys.stdout.write(text)
        sys.stdout.flush()
        if self.file:
            self.file.write(text)
            self.file.flush()

    def line(self, text: str) -> None:
        self.write(text.rstrip("\n") + "\n")


def home() -> Path:
    return Path(os.environ.get("HOME") or "/home/jovyan")


def resolve_source(source: str) -> Path:
    root = home().resolve()
    path = (root / source).resolve()
    if source.startswith("/") or ".." in Path(source).parts or not path.is_relative_to(root):
        raise JobFailed(f"{source} is not inside your home")
    if not path.is_file():
        raise JobFailed(f"no such file in your home: {source}")
    return path


def injected_index(nb) -> int | None:
    """Index of the cell papermill injected the parameters as (None: no parameters)."""
    for i, c in enumerate(nb.cells):
        if "injected-parameters" in (c.get("metadata", {}).get("tags") or []):
            return i
    return None


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", "") + "\n")
        elif out.get("output_type") == "error":
            parts.append(ANSI.sub("", "\n".join(out.get("traceback", []))) + "\n")
    return "".join(parts)


def run_notebook(path: Path, parameters: dict, out: Path, log: Log) -> None:
    """Run the notebook with papermill: first the parameterized copy is written to the
    outputs (papermill's convention: after the cell tagged `parameters`, an older
    `injected-parameters` cell replaced, values in the kernel's language), then it runs
    there, saved after every cell (and every 30 s of a long one), so a long job's
    progress can be opened while it runs."""
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    target = out / path.name
    kernel = (nbformat.read(path, as_version=4).metadata.get("kernelspec") or {}).get("name")
    # the run works in its own folder (relative writes land in ~/jobs/ID, never over the
    # interactive session's files); the notebook's folder is $NPUHUB_SOURCE_DIR, readable
    common = {"kernel_name": kernel or "python3", "progress_bar": False, "cwd": str(out)}
    error = None
    try:
        pm.execute_notebook(path, target, parameters=parameters, prepare_only=True, **common)
        nb = nbformat.read(target, as_version=4)
        at = injected_index(nb)
        if at is not None:
            log.line(f"npuhub-runner: parameters injected as cell {at + 1}: {parameters}")
        code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]

        def on_start(cell, cell_index):
            if cell_index in code:
                log.line(f"--- cell {cell_index + 1} ({code.index(cell_index) + 1}/{len(code)})")

        def on_executed(cell, cell_index, execute_reply):
            log.write(_outputs_text(cell))

        pm.execute_notebook(
            target, target, request_save_on_cell_execute=True, autosave_cell_every=30,
            on_cell_start=on_start, on_cell_executed=on_executed, **common,
        )  # fmt: skip
    except Exception as e:  # a failing cell, no such kernel, a kernel that died, …
        error = e
    finally:
        if target.exists():
            try:
                nb = nbformat.read(target, as_version=4)
                html, _ = HTMLExporter().from_notebook_node(nb)
                target.with_suffix(".html").write_text(html, encoding="utf-8")
            except Exception as e:
                log.line(f"npuhub-runner: no HTML report: {type(e).__name__}: {e}")
            log.line(f"npuhub-runner: executed notebook in {target}")
    if isinstance(error, pm.PapermillExecutionError):
        raise JobFailed(f"{error.ename}: {error.evalue}".strip(": ")[:300])
    if error is not None:
        raise JobFailed(f"{type(error).__name__}: {error}"[:300])


def script_args(parameters: dict) -> list[str]:
    args = []
    for key, value in parameters.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def run_script(path: Path, parameters: dict, out: Path, log: Log) -> None:
    argv = [sys.executable, "-u", str(path), *script_args(parameters)]
    proc = subprocess.Popen(
        argv,
        cwd=out,  # its own folder, as a notebook's run
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    for line in proc.stdout:
        log.write(line)
    code = proc.wait()
    if code != 0:
        raise JobFailed(f"{path.name} exited with code {code}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(os.environ.get("NPUHUB_OUTPUT_DIR") or Path.cwd() / "job-output")
    try:
        out.mkdir(parents=True, exist_ok=True)
        log = Log(out / "log.txt")
    except OSError as e:
        print(f"{FAILED}cannot write the job's outputs to {out}: {e.strerror}", flush=True)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    t0 = time.monotonic()
    try:
        if len(argv) != 2:
            raise JobFailed("usage: python -m npuhub.extensions.jobrunner SOURCE PARAMETERS_JSON")
        source, params = argv
        try:
            parameters = json.loads(params)
        except ValueError:
            raise JobFailed("the parameters are not valid JSON") from None
        if not isinstance(parameters, dict):
            raise JobFailed("the parameters must be a JSON object")
        path = resolve_source(source)
        job = os.environ.get("NPUHUB_JOB_ID", "?")
        npus = os.environ.get("ASCEND_VISIBLE_DEVICES") or "none"
        log.line(f"npuhub-runner: job {job}: {source}, NPUs {npus}, outputs in {out}")
        # the notebook's folder stays readable: by $NPUHUB_SOURCE_DIR, and its modules
        # import as they do in the session
        os.environ["NPUHUB_SOURCE_DIR"] = str(path.parent)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(path.parent), os.environ.get("PYTHONPATH")) if p)
        if path.suffix == ".ipynb":
            run_notebook(path, parameters, out, log)
        elif path.suffix == ".py":
            run_script(path, parameters, out, log)
        else:
            raise JobFailed(f"{source} is neither a notebook (.ipynb) nor a script (.py)")
    except JobFailed as e:
        log.line(f"{FAILED}{e}")
        return 1
    except KeyboardInterrupt:
        log.line(f"{FAILED}stopped (cancelled or out of time)")
        return 143
    log.line(f"npuhub-runner: succeeded in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
