"""Batch jobs, the pure parts: request validation, host names, the container spec as a
literal dict, log chunks, failure reasons, the config section."""

from __future__ import annotations

import types

import pytest
from dockerspawner import DockerSpawner

from npuhub.hub.binding import Device
from npuhub.hub.configcheck import ConfigProblem, check_config_file
from npuhub.hub.jobs.common import (
    InvalidRequest,
    container_spec,
    exit_reason,
    home_volume,
    job_network,
    log_chunk,
    log_piece,
    parse_request,
    read_range,
)
from npuhub.hub.jobs.config import JobsConfig, load_jobs_config
from npuhub.hub.jobs.models import Job
from npuhub.hub.settings import NPUHub


def parse(body, admin=False):
    return parse_request(body, max_time_limit=3600, default_time_limit=600, is_admin=admin)


def test_request_defaults():
    assert parse({"source": "work/train.ipynb"}) == {
        "source": "work/train.ipynb",
        "npus": 0,
        "account": None,
        "image": None,
        "datasets": None,
        "time_limit": 600,
        "parameters": {},
        "name": "train",
        "priority": 0,
    }


def test_request_full():
    body = {
        "source": "a b/run me.py",
        "npus": 2,
        "account": "lab-1",
        "time_limit": 3600,
        "parameters": {"lr": 0.01, "epochs": 3, "tag": "x y", "flag": True, "none": None},
        "name": "my.job_1",
        "datasets": ["imagenet"],
    }
    got = parse(body)
    assert got["name"] == "my.job_1" and got["npus"] == 2 and got["time_limit"] == 3600
    assert got["parameters"] == body["parameters"]
    assert parse({"source": "run me!.py"})["name"] == "run-me"
    assert parse({"source": "x.py", "priority": 5}, admin=True)["priority"] == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "source must be a path relative to your home"),
        ({"source": "/etc/passwd.py"}, "relative to your home"),
        ({"source": "../other/x.ipynb"}, "without '..'"),
        ({"source": "a/../../x.py"}, "without '..'"),
        ({"source": "-rf.py"}, "relative to your home"),
        ({"source": "~root/x.py"}, "relative to your home"),
        ({"source": "x\n.py"}, "relative to your home"),
        ({"source": "train.sh"}, "a notebook (.ipynb) or a script (.py)"),
        ({"source": "x.py", "npus": -1}, "npus must be a whole number from 0 to 64"),
        ({"source": "x.py", "npus": True}, "npus must be a whole number"),
        ({"source": "x.py", "npus": "2"}, "npus must be a whole number"),
        (
            {"source": "x.py", "time_limit": 3601},
            "time_limit must be from 1 second to 1:00:00, got 1:00:01",
        ),
        ({"source": "x.py", "time_limit": 0}, "time_limit"),
        ({"source": "x.py", "name": "a;rm -rf"}, "name must be 1-64 letters"),
        ({"source": "x.py", "name": "-x"}, "name must be"),
        ({"source": "x.py", "parameters": [1]}, "parameters must be a JSON object"),
        ({"source": "x.py", "time_limit": "2 hours"}, "time_limit '2 hours' is not a duration"),
        ({"source": "x.py", "time_limit": "1:99:00"}, "time_limit '1:99:00' is not a duration"),
        ({"source": "x.py", "parameters": "lr"}, "parameters: line 1 is not name=value"),
        ({"source": "x.py", "parameters": "{nope"}, "parameters is not a JSON object"),
        ({"source": "x.py", "parameters": {"a b": 1}}, "must be a Python identifier"),
        ({"source": "x.py", "parameters": {"x": [1, 2]}}, "string, number, true, false or null"),
        ({"source": "x.py", "parameters": {"x": {"y": 1}}}, "string, number"),
        ({"source": "x.py", "parameters": {"x": float("nan")}}, "finite"),
        ({"source": "x.py", "account": "a b"}, "account must be"),
        ({"source": "x.py", "datasets": ["../x"]}, "datasets must be a list of dataset names"),
        ({"source": "x.py", "datasets": ["a", "a"]}, "twice"),
        ({"source": "x.py", "priority": 9}, "only administrators"),
        ({"source": "x.py", "command": "sh"}, "Unknown field(s) command"),
    ],
)
def test_request_refusals(body, message):
    with pytest.raises(InvalidRequest) as e:
        parse(body)
    assert message in str(e.value)


@pytest.mark.parametrize("user", ["alice", "Bob", "a-b", "a.b@c", "ü", "x_1"])
def test_home_volume_is_the_spawners(user):
    assert home_volume("npuhub", user) == f"npuhub-home-{DockerSpawner._escape(user)}"


def job(**kw) -> Job:
    fields = dict(
        id=7, user="ana", groups=[], account="lab", name="t", source="w/t.ipynb", npus=2,
        image="npuhub/base:latest", profile="base", device_type=None, datasets=[],
        parameters={"lr": 0.1}, time_limit=60, priority=0, backend="local",
    )  # fmt: skip
    fields.update(kw)
    return Job(**fields)


def test_container_spec_is_hardened_and_bound(tmp_path):
    driver = tmp_path / "Ascend" / "driver"
    driver.mkdir(parents=True)
    cfg = types.SimpleNamespace(
        prefix="npuhub", binding_mode="devices", network="none", memory="2G",
        cpu_limit=1.5, pids_limit=256, driver_paths=[str(driver), "/nonexistent/npu-smi"],
        log_max_size="5m", log_max_files=2,
    )  # fmt: skip
    devs = [Device("sim", 2, "/s/davinci2"), Device("sim", 3, "/s/davinci3")]
    spec = container_spec(job(datasets=[["/data/mnist", "mnist"]]), devs, cfg)
    assert spec == {
        "image": "npuhub/base:latest",
        "command": ["python", "-m", "npuhub.extensions.jobrunner", "w/t.ipynb", '{"lr":0.1}'],
        "name": "npuhub-job-7",
        "labels": {"npuhub.job": "7", "npuhub.prefix": "npuhub", "npuhub.user": "ana"},
        "user": "1000:100",
        "working_dir": "/home/jovyan",
        "environment": {
            "NPUHUB_NPUS": "2",
            "NPUHUB_ACCOUNT": "lab",
            "ASCEND_VISIBLE_DEVICES": "2,3",
            "HOME": "/home/jovyan",
            "NPUHUB_JOB_ID": "7",
            "NPUHUB_OUTPUT_DIR": "/home/jovyan/jobs/7",
        },
        "volumes": {
            "npuhub-home-ana": {"bind": "/home/jovyan", "mode": "rw"},
            "/data/mnist": {"bind": "/home/jovyan/datasets/mnist", "mode": "ro"},
            str(driver): {"bind": str(driver), "mode": "ro"},
        },
        "network_mode": "none",
        "mem_limit": "2G",
        "memswap_limit": "2G",
        "nano_cpus": 1_500_000_000,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": 256,
        "init": False,
        "devices": [
            "/s/davinci2:/dev/davinci2:rwm",
            "/s/davinci3:/dev/davinci3:rwm",
            "/s/davinci_manager:/dev/davinci_manager:rwm",
            "/s/devmm_svm:/dev/devmm_svm:rwm",
            "/s/hisi_hdc:/dev/hisi_hdc:rwm",
        ],
        "log_config": {"type": "json-file", "config": {"max-size": "5m", "max-file": "2"}},
    }
    assert not any("TOKEN" in k for k in spec["environment"])


def test_log_chunks():
    data = "line 1\nligne 2 é\npartial".encode()
    first = log_chunk(data, 0, final=False)
    assert first == {"text": "line 1\nligne 2 é\n", "offset": 18, "done": False}
    assert log_chunk(data, first["offset"], final=False) == {
        "text": "",
        "offset": 18,
        "done": False,
    }
    assert log_chunk(data, 18, final=True) == {"text": "partial", "offset": 25, "done": True}
    assert log_chunk(data, 99, final=True)["done"] is True
    assert log_chunk(b"", 0, final=True) == {"text": "", "offset": 0, "done": True}
    # a long line is cut, but never inside a character
    long = ("é" * 10).encode()
    chunk = log_chunk(long, 0, final=False, limit=5)
    assert chunk["text"] == "éé" and chunk["offset"] == 4


def test_a_log_is_read_as_a_bounded_range(tmp_path):
    """The logs API reads at most `limit` bytes of a kept log, from the offset asked."""
    path = tmp_path / "7.log"
    path.write_bytes(b"x" * 99 + b"\n" + b"end\n")
    assert read_range(path, 90, limit=8) == (b"x" * 8, 90, 104)
    assert read_range(path, 500, limit=8) == (b"", 104, 104)
    assert read_range(path, -3, limit=2) == (b"xx", 0, 104)
    assert read_range(tmp_path / "none.log", 0) == (b"", 0, 0)
    data = path.read_bytes()
    for offset, final in [(0, False), (95, True), (100, True), (100, False), (104, True)]:
        piece, start, size = read_range(path, offset, limit=16)
        assert log_piece(piece, start, size, final, 16) == log_chunk(data, offset, final, 16)


def test_exit_reasons():
    log = b"--- cell 2\nnpuhub-runner: failed: ZeroDivisionError: division by zero\n"
    assert exit_reason(log, 1) == "ZeroDivisionError: division by zero"
    assert exit_reason(b"whatever\n", 3) == "exited with code 3; see the log"
    assert exit_reason(b"", 137) == "killed by signal 9"


def test_job_network_is_npuhubs_own_and_outbound_per_profile():
    cfg = types.SimpleNamespace(network="", internal_network="nh", outbound_network="nh-out",
                                internet_profiles={"web"})
    assert job_network(job(), cfg) == "nh"
    assert job_network(job(profile="web"), cfg) == "nh-out"
    cfg.network = "none"  # the operator's choice wins
    assert job_network(job(profile="web"), cfg) == "none"


def test_config_defaults_follow_the_deployment(tmp_path):
    cfg_file = tmp_path / "c.py"
    cfg_file.write_text(
        "c.NPUSpawner.prefix = 'npuhubtest-x'\nc.JobsConfig.backend = 'slurm'\n"
        "c.JobsConfig.slurm_partition = 'npu'\n"
    )
    settings = NPUHub(state_dir=str(tmp_path), mem_limit="1G", cpu_limit="2", pids_limit=300)
    cfg = load_jobs_config(str(cfg_file), settings)
    assert (cfg.backend, cfg.prefix, cfg.binding_mode) == ("slurm", "npuhubtest-x", "devices")
    assert (cfg.memory, cfg.cpu_limit, cfg.pids_limit, cfg.network) == ("1G", 2.0, 300, "")
    assert (cfg.internal_network, cfg.outbound_network) == ("npuhub", "npuhub-out")
    assert cfg.slurm_log_dir == str(tmp_path / "slurm-logs") and cfg.slurm_memory == "1G"
    assert cfg.driver_paths == ["/usr/local/Ascend/driver", "/usr/local/dcmi", "/usr/local/bin/npu-smi"]
    cfg_file.write_text(cfg_file.read_text() + "c.NPUSpawner.driver_paths = ['/opt/npu']\n")
    assert load_jobs_config(str(cfg_file), settings).driver_paths == ["/opt/npu"]
    check_config_file(str(cfg_file))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c.JobsConfig.backend = 'k8s'\n", "c.JobsConfig.backend = 'k8s' is wrong"),
        ("c.JobsConfig.poll_intervall = 1\n", "did you mean c.JobsConfig.poll_interval?"),
    ],
)
def test_config_check(tmp_path, text, message):
    p = tmp_path / "c.py"
    p.write_text(text)
    with pytest.raises(ConfigProblem) as e:
        check_config_file(str(p))
    assert message in str(e.value)


def test_config_validators():
    with pytest.raises(Exception, match="slurm_partition must be a Slurm name"):
        JobsConfig(slurm_partition="a b")
    with pytest.raises(Exception, match="memory must look like"):
        JobsConfig(memory="lots")
