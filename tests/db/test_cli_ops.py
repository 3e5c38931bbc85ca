"""The operators' commands as a person reads them: `npuhub devices` (held devices as
held, a summary line), `npuhub quota list` (users' own overrides), `npuhub usage`
(rounded, most used first, quiet when its reader closes the pipe). Each runs as the
real command against a migrated platform database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture
def npuhub(ledger, migrated_url, tmp_path):
    config = tmp_path / "npuhub_config.py"
    config.write_text(f"c.NPUHub.db_url = {migrated_url!r}\n")

    def run(*args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        return subprocess.run(
            [sys.executable, "-m", "npuhub.hub.cli", "--config", str(config),
             "--state-dir", str(tmp_path), *args],
            stderr=subprocess.PIPE, text=True, timeout=120, **kw,
        )  # fmt: skip

    return run


def test_devices_shows_held_devices_as_held_and_sums_up(ledger, npuhub):
    ledger.allocate(user="ana", groups=["lab"], account="lab", kind="server", holder="", npus=2)
    ledger.allocate(user="bob", groups=[], kind="job", holder="7", npus=1)
    ledger.inventory.drain("n910", 5)
    r = npuhub("devices")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    held = [line for line in lines if " held " in line]
    assert len(held) == 3 and sum("ana: server" in line for line in held) == 2
    assert any("bob: job 7" in line for line in held)
    assert not any("available" in line for line in lines)
    assert lines[-1] == "16 devices: 3 held, 12 free, 1 drained"


def test_quota_list_shows_user_overrides(ledger, npuhub):
    assert "no per-user overrides" in npuhub("quota").stdout
    ledger.policies.set("lab", max_npus=4)
    ledger.policies.set_user("zoe", max_npus=8, npu_hours=12.5, period="day")
    out = npuhub("quota", "list").stdout
    group_part, user_part = out.split("user override")
    assert "lab" in group_part
    row = next(line for line in user_part.splitlines() if line.startswith("zoe"))
    assert row.split()[:6] == ["zoe", "-", "8", "12.5", "day", "-"]


def test_usage_rounds_and_sorts_by_use(ledger, npuhub):
    from datetime import timedelta

    from npuhub.hub import clock
    from npuhub.hub.orm import Allocation

    now = clock.utcnow()
    # 60 NPUs for a few seconds: hours worth rounding, all inside today
    with ledger.session_factory() as s, s.begin():
        for user, seconds in (("ana", 20), ("bob", 100), ("cy", 7)):
            s.add(Allocation(user=user, account=user, kind="server", holder="", npus=60,
                             devices=[], started=now - timedelta(seconds=seconds + 1),
                             ended=now - timedelta(seconds=1), state="released",
                             reason="stopped"))  # fmt: skip
    r = npuhub("usage", "--period", "day")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["user", "NPU-hours"])
    users = [line.split() for line in lines[header + 2: header + 5]]
    assert users == [["bob", "1.67"], ["ana", "0.33"], ["cy", "0.12"]]
    total = next(line for line in lines if line.startswith("npu_hours"))
    assert total.split() == ["npu_hours", "2.12"]


def test_usage_is_quiet_when_the_reader_has_gone(ledger, npuhub):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write fails (EPIPE)
    try:
        for args in (("usage",), ("devices",), ("usage", "--since", "2026-01-01")):
            r = npuhub(*args, stdout=write)
            assert r.returncode == 0 and r.stderr == "", (args, r.stderr)
    finally:
        os.close(write)
