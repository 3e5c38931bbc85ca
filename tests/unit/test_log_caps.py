"""The Slurm job scripts cap their containers' logs like single-host mode does
(npuhub.hub.containers.log_args); what an operator configures is checked before it is
written into a script."""

from __future__ import annotations

import pytest

from npuhub.hub.containers import log_args
from npuhub.hub.jobs.sbatch import InvalidJob, SlurmConfig


def test_log_args_are_docker_run_options():
    assert log_args(max_size="10m", max_files=3) == [
        "--log-driver json-file", "--log-opt max-size=10m", "--log-opt max-file=3"]
    assert log_args(max_size="1G", max_files=1)[1] == "--log-opt max-size=1G"


@pytest.mark.parametrize("size, files", [
    ("10m; rm -rf /", 3), ("0m", 3), ("10", 3), ("10 m", 3), ("", 3), (None, 3),
    ("10m", 0), ("10m", 101), ("10m", "3"),
])
def test_bad_log_limits_are_refused(size, files):
    with pytest.raises(ValueError):
        log_args(max_size=size, max_files=files)


def test_slurm_config_refuses_a_bad_log_size():
    with pytest.raises(InvalidJob, match="log size"):
        SlurmConfig(log_max_size="lots")
