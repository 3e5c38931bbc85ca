"""The device binding as literal dicts (kubespawner's test_objects.py style)."""

import pytest

from npuhub.hub.binding import Device, binding
from npuhub.hub.containers import hardening

TWO = [Device("n1", 2, "/dev/davinci2"), Device("n1", 3, "/dev/davinci3")]
PRESENT = {"/usr/local/Ascend/driver", "/usr/local/bin/npu-smi"}


def test_ascend_by_devices():
    assert binding(TWO, account="cs101", exists=PRESENT.__contains__) == {
        "host_config": {
            "devices": [
                "/dev/davinci2:/dev/davinci2:rwm",
                "/dev/davinci3:/dev/davinci3:rwm",
                "/dev/davinci_manager:/dev/davinci_manager:rwm",
                "/dev/devmm_svm:/dev/devmm_svm:rwm",
                "/dev/hisi_hdc:/dev/hisi_hdc:rwm",
            ]
        },
        "binds": {
            "/usr/local/Ascend/driver": {"bind": "/usr/local/Ascend/driver", "mode": "ro"},
            "/usr/local/bin/npu-smi": {"bind": "/usr/local/bin/npu-smi", "mode": "ro"},
        },
        "env": {"NPUHUB_NPUS": "2", "NPUHUB_ACCOUNT": "cs101", "ASCEND_VISIBLE_DEVICES": "2,3"},
    }


def test_simulated_devices_bind_from_their_folder():
    devs = [Device("sim", 0, "/var/lib/npuhub/devices/davinci0")]
    b = binding(devs, account="alice", exists=lambda p: False)
    assert b["host_config"]["devices"] == [
        "/var/lib/npuhub/devices/davinci0:/dev/davinci0:rwm",
        "/var/lib/npuhub/devices/davinci_manager:/dev/davinci_manager:rwm",
        "/var/lib/npuhub/devices/devmm_svm:/dev/devmm_svm:rwm",
        "/var/lib/npuhub/devices/hisi_hdc:/dev/hisi_hdc:rwm",
    ]
    assert b["binds"] == {}


def test_ascend_by_runtime():
    assert binding(TWO, account="lab", mode="runtime") == {
        "host_config": {"runtime": "ascend"},
        "binds": {},
        "env": {"NPUHUB_NPUS": "2", "NPUHUB_ACCOUNT": "lab", "ASCEND_VISIBLE_DEVICES": "2,3"},
    }


def test_nvidia():
    assert binding(TWO, account="lab", mode="nvidia") == {
        "host_config": {
            "device_requests": [
                {"Driver": "nvidia", "DeviceIDs": ["2", "3"], "Capabilities": [["gpu"]]}
            ]
        },
        "binds": {},
        "env": {"NPUHUB_NPUS": "2", "NPUHUB_ACCOUNT": "lab", "NVIDIA_VISIBLE_DEVICES": "2,3"},
    }


def test_no_npus():
    assert binding([], account="alice") == {
        "host_config": {},
        "binds": {},
        "env": {"NPUHUB_NPUS": "0", "NPUHUB_ACCOUNT": "alice", "ASCEND_VISIBLE_DEVICES": ""},
    }


def test_unknown_mode():
    with pytest.raises(ValueError, match="binding mode 'fpga' is not one of devices, runtime, nvidia"):
        binding(TWO, account="x", mode="fpga")


def test_hardening():
    assert hardening(pids_limit=256) == {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": 256,
        "init": False,
    }
