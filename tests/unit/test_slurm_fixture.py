"""Which Slurm jobs a test session cancels on the shared cluster (tests/slurm_fixture.py):
its own, and those of test sessions that ended without cleaning up; never another live
session's, nor anyone else's."""

from __future__ import annotations

import os

from tests.slurm_fixture import jobs_to_cancel, mark_session, owner_alive, session_root

TMP = "/tmp"
SQUEUE = "\n".join([
    "11|/tmp/npuhubtest-slurm-mine/",                 # this session's batch job
    "12|/tmp/npuhubtest-mine/npuhubtest-ab12cd/slurm/logs",  # this session's server
    "13|/tmp/npuhubtest-slurm-other",                 # a live session's batch job
    "14|/tmp/npuhubtest-other/npuhubtest-ef34/slurm/logs",   # a live session's server
    "15|/tmp/npuhubtest-dead/npuhubtest-9999/slurm/logs",    # a killed session's server
    "16|/home/someone/work",                          # not a test's
    "17|/tmp/other-thing/npuhubtest-x",               # not under a session folder
    "garbage line",
])


def test_a_session_cancels_its_own_jobs_and_those_of_ended_sessions_only():
    mine = ("/tmp/npuhubtest-slurm-mine", "/tmp/npuhubtest-mine")
    alive = {*mine, "/tmp/npuhubtest-slurm-other", "/tmp/npuhubtest-other"}.__contains__
    assert jobs_to_cancel(SQUEUE, TMP, mine, alive) == ["11", "12", "15"]
    # at its start (nothing of its own yet): only the ended session's
    assert jobs_to_cancel(SQUEUE, TMP, (), alive) == ["15"]


def test_session_root_is_the_test_folder_under_tmp():
    assert session_root("/tmp/npuhubtest-a/x/y", "/tmp") == "/tmp/npuhubtest-a"
    assert session_root("/tmp/npuhubtest-slurm-b", "/tmp/") == "/tmp/npuhubtest-slurm-b"
    assert session_root("/tmp/other/npuhubtest-a", "/tmp") is None
    assert session_root("/var/tmp/npuhubtest-a", "/tmp") is None


def test_owner_alive_reads_the_mark(tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    mark_session(live)  # this pytest process
    assert owner_alive(str(live))
    dead = tmp_path / "dead"
    dead.mkdir()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    (dead / "session.pid").write_text(f"{pid}\n")
    assert not owner_alive(str(dead))
    assert not owner_alive(str(tmp_path / "gone"))  # removed: nobody owns its jobs
    unmarked = tmp_path / "unmarked"
    unmarked.mkdir()
    assert owner_alive(str(unmarked))  # a session being set up
