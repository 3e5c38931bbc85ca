"""Every benchmark script still starts: its imports resolve against today's code and its
options parse (`--help`). The measurements themselves run on demand (`make bench`), but a
benchmark that no longer imports is found here, not the day someone needs its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py")
                 if "def main" in p.read_text() or "__main__" in p.read_text())


def test_there_are_benchmarks():
    assert {"allocator.py", "placement.py", "scheduling.py", "spawn.py"} <= {
        p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_starts(script):
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                       timeout=120, cwd=BENCHMARKS.parent)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage:" in r.stdout
