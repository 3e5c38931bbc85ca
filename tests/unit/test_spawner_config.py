"""NPUSpawner's container config reaches DockerSpawner through its callable
`extra_host_config`, and a deployment cannot replace it (it carries the NPU devices and
the hardening)."""

import pytest
from traitlets import TraitError
from traitlets.config import Config

from npuhub.spawners.npu import NPUSpawner, npu_host_config


def test_extra_host_config_is_npuhubs_callable():
    assert NPUSpawner().extra_host_config is npu_host_config


@pytest.mark.parametrize("section", ["NPUSpawner", "DockerSpawner"])
def test_a_configured_extra_host_config_is_refused(section):
    c = Config()
    c[section].extra_host_config = {"cap_add": ["SYS_ADMIN"]}
    with pytest.raises(TraitError, match="extra_host_config is npuhub's own"):
        NPUSpawner(config=c)
