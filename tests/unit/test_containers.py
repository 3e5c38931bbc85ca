"""The containers npuhub runs, as literal dicts (kubespawner's test_objects.py style):
the user server's whole npuhub config, and the hardening the Slurm script shares."""

from docker.types import LogConfig, Mount

from npuhub.hub.binding import Device
from npuhub.hub.containers import (
    datasets_mount,
    hardening_args,
    log_config,
    server_container,
)

TWO = [Device("n1", 2, "/dev/davinci2"), Device("n1", 3, "/dev/davinci3")]


def test_server_container_with_npus_datasets_and_language():
    config = server_container(
        devices=TWO,
        account="lab-vision",
        mode="devices",
        driver_paths=["/usr/local/Ascend/driver", "/usr/local/dcmi"],
        pids_limit=512,
        api_url="http://10.213.0.1:8000/services/npuhub/api/v1",
        lang="zh_CN",
        datasets_folder="/var/lib/npuhub/mounts/ana",
        log_max_size="20m",
        log_max_files=5,
        exists={"/usr/local/Ascend/driver"}.__contains__,
    )
    assert config == {
        "user": "1000:100",
        "environment": {
            "NPUHUB_NPUS": "2",
            "NPUHUB_ACCOUNT": "lab-vision",
            "ASCEND_VISIBLE_DEVICES": "2,3",
            "NPUHUB_API_URL": "http://10.213.0.1:8000/services/npuhub/api/v1",
            "NPUHUB_LANG": "zh_CN",
        },
        "host_config": {
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "pids_limit": 512,
            "init": False,
            "devices": [
                "/dev/davinci2:/dev/davinci2:rwm",
                "/dev/davinci3:/dev/davinci3:rwm",
                "/dev/davinci_manager:/dev/davinci_manager:rwm",
                "/dev/devmm_svm:/dev/devmm_svm:rwm",
                "/dev/hisi_hdc:/dev/hisi_hdc:rwm",
            ],
            "binds": {
                "/usr/local/Ascend/driver": {"bind": "/usr/local/Ascend/driver", "mode": "ro"},
            },
            "log_config": {"type": "json-file", "config": {"max-size": "20m", "max-file": "5"}},
            "mounts": [
                {
                    "Target": "/home/jovyan/datasets",
                    "Source": "/var/lib/npuhub/mounts/ana",
                    "Type": "bind",
                    "ReadOnly": False,
                    "BindOptions": {"Propagation": "rslave"},
                }
            ],
        },
    }


def test_server_container_cpu_only():
    config = server_container(
        devices=[],
        account="course-cs101-students",
        mode="devices",
        driver_paths=["/usr/local/Ascend/driver"],
        pids_limit=256,
        api_url="http://127.0.0.1:8000/services/npuhub/api/v1",
        exists=lambda p: True,
    )
    assert config == {
        "user": "1000:100",
        "environment": {
            "NPUHUB_NPUS": "0",
            "NPUHUB_ACCOUNT": "course-cs101-students",
            "ASCEND_VISIBLE_DEVICES": "",
            "NPUHUB_API_URL": "http://127.0.0.1:8000/services/npuhub/api/v1",
        },
        "host_config": {
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "pids_limit": 256,
            "init": False,
            "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
        },
    }


def test_log_config_is_dockers_log_config():
    """Docker's HostConfig takes the plain dict as its LogConfig."""
    config = log_config(max_size="10m", max_files=3)
    assert LogConfig(**config) == LogConfig(
        type="json-file", config={"max-size": "10m", "max-file": "3"}
    )


def test_datasets_mount_is_dockers_mount():
    assert datasets_mount("/m/ana") == Mount(
        "/home/jovyan/datasets", "/m/ana", type="bind", propagation="rslave"
    )


def test_slurm_run_options_are_the_same_hardening():
    assert hardening_args(pids_limit=128) == [
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        "--pids-limit 128",
    ]
