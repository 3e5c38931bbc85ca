"""c.NPUSpawner.home_size: a size Docker's `size` option takes, or nothing."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from npuhub.spawners.npu import NPUSpawner


@pytest.mark.parametrize("value", ["10G", "500M", "1T", ""])
def test_sizes_docker_takes(value):
    assert NPUSpawner(home_size=value).home_size == value


@pytest.mark.parametrize("value", ["10GB", "-1G", "0", "10 G", "1G,uid=0", "x" * 20])
def test_anything_else_is_refused_by_name(value):
    with pytest.raises(TraitError, match="c.NPUSpawner.home_size"):
        NPUSpawner(home_size=value)
