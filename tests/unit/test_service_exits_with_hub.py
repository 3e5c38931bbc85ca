"""The platform service dies with the JupyterHub that started it, even when the hub is
killed with SIGKILL (npuhub.hub.service.app.exit_with_parent): an orphaned service would
keep its port, and the next hub's service could not start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

CHILD = """
import asyncio, os, sys
from npuhub.hub.service.app import exit_with_parent, stop_on_signals

async def main():
    stop_on_signals()
    exit_with_parent()
    print(os.getpid(), flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""

# the "hub": starts the service, says its pid, then waits to be killed
PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
child.wait()
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waits only for its reaper
        return f.read().split(") ", 1)[1][0] != "Z"


def test_the_service_stops_when_the_hub_is_killed():
    hub = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    service = int(hub.stdout.readline())
    assert alive(service)
    hub.send_signal(signal.SIGKILL)
    hub.wait()
    deadline = time.monotonic() + 30
    while alive(service) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(service), "the service outlived the hub that started it"
