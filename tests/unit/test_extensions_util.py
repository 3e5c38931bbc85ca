"""Pure helpers of npuhub.extensions: names, safe joins, durations, sizes."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from npuhub.extensions.client import NPUHubError
from npuhub.extensions.util import (
    check_name,
    elapsed,
    format_duration,
    human_size,
    safe_join,
    table,
)


@pytest.mark.parametrize("good", ["ai101", "hw-1", "imagenet_1k", "v1.2", "42"])
def test_check_name_accepts(good):
    assert check_name(good) == good


@pytest.mark.parametrize("bad", ["", "..", "a/b", "../x", ".hidden", "a..b", "a b", "x" * 129])
def test_check_name_refuses(bad):
    with pytest.raises(NPUHubError, match="invalid course id"):
        check_name(bad, "course id")


def test_safe_join_inside(tmp_path):
    assert safe_join(tmp_path, "a/b.ipynb") == tmp_path / "a" / "b.ipynb"
    assert safe_join(tmp_path, "data.csv") == tmp_path / "data.csv"


@pytest.mark.parametrize(
    "bad", ["../x", "a/../../x", "/etc/passwd", "", ".", "a//b", "a\\..\\b", "a/./b", "x\x00"]
)
def test_safe_join_refuses_traversal(tmp_path, bad):
    with pytest.raises(NPUHubError, match="refusing"):
        safe_join(tmp_path, bad)


def test_safe_join_refuses_symlinked_parent(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(NPUHubError, match="outside"):
        safe_join(root, "link/x.ipynb")


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (10 * 2**20, "10.0 MiB"),
     (150 * 2**30, "150 GiB"), (3 * 2**40, "3.0 TiB"), (None, "?"), ("12 GB", "12 GB")],
)  # fmt: skip
def test_human_size(n, text):
    assert human_size(n) == text


def test_durations():
    assert format_duration(3723) == "1:02:03"
    assert format_duration(None) == ""
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert elapsed({"started": "2025-01-01T11:00:00Z"}, now) == 3600
    job = {"started": "2025-01-01T10:00:00", "finished": "2025-01-01T10:00:30"}
    assert elapsed(job, now) == 30
    assert elapsed({"state": "queued"}, now) is None


def test_table():
    text = table([["a", 1], ["bbb", None]], ["name", "n"])
    assert text.splitlines() == ["name  n", "----  -", "a     1", "bbb"]
