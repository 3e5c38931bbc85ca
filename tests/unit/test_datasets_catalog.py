"""The pure rules of the datasets catalog: names, declarations, access, paths, the scan
and the parsing of /proc/self/mountinfo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from npuhub.hub.datasets import catalog
from npuhub.hub.datasets.catalog import DatasetError
from npuhub.hub.datasets.mounter import parse_mountinfo, unescape

GOOD = ["imagenet", "coco-2017", "a", "ds.v2", "x_y", "0day", "a" * 63]
BAD = [
    "",
    ".",
    "..",
    "../etc",
    "a/b",
    "/abs",
    "a\x00b",
    "a b",
    "Upper",
    "-lead",
    ".hidden",
    "a..b",
    "a" * 64,
    "tab\t",
    "new\nline",
    "é",
    "a;rm",
    "$(x)",
    None,
    3,
    ["a"],
]


@pytest.mark.parametrize("name", GOOD)
def test_good_names(name):
    assert catalog.check_name(name) == name


@pytest.mark.parametrize("name", BAD)
def test_junk_names_refused_with_400(name):
    with pytest.raises(DatasetError) as e:
        catalog.check_name(name)
    assert e.value.status == 400 and "invalid dataset name" in str(e.value)


@pytest.mark.parametrize("user", ["alice", "u1234", "first.last", "a@example.org", "A-b_c+d"])
def test_user_names_that_make_a_folder(user):
    assert catalog.check_user(user) == user


@pytest.mark.parametrize("user", ["", "..", "a/b", "../x", "a\x00", "with space", ".x", None])
def test_user_names_refused(user):
    with pytest.raises(DatasetError):
        catalog.check_user(user)


def test_paths_are_built_from_checked_parts_only(tmp_path):
    assert catalog.user_folder(tmp_path, "alice") == tmp_path / "alice"
    assert catalog.mount_target(tmp_path, "alice", "coco") == tmp_path / "alice" / "coco"
    assert catalog.container_path("coco") == "/home/jovyan/datasets/coco"
    for user, name in [("..", "coco"), ("alice", ".."), ("alice", "a/../../b"), ("a/b", "c")]:
        with pytest.raises(DatasetError):
            catalog.mount_target(tmp_path, user, name)
    with pytest.raises(DatasetError):
        catalog.container_path("../../etc")


@pytest.mark.parametrize(
    ("access", "grants", "groups", "admin", "allowed"),
    [
        ("public", [], [], False, True),
        (["lab"], [], ["lab"], False, True),
        (["lab"], [], ["other"], False, False),
        (["lab"], [], [], False, False),
        (["lab"], ["cs101"], ["cs101"], False, True),
        ([], [], ["lab"], False, False),
        ([], [], [], True, True),
        (["lab", "lab2"], [], ["x", "lab2"], False, True),
    ],
)
def test_access_decision(access, grants, groups, admin, allowed):
    assert catalog.may_mount(access, grants, groups, admin) is allowed


def test_validate_spec_fields():
    spec = catalog.validate_spec(
        {"name": "coco", "source": "/data/coco", "title": "COCO", "access": ["b", "a", "a"]}
    )
    assert spec == {"name": "coco", "source": "/data/coco", "title": "COCO", "access": ["a", "b"]}
    assert catalog.validate_spec({"title": "x"}, partial=True) == {"title": "x"}
    assert catalog.validate_spec({"symlinks": True}, partial=True) == {"symlinks": True}
    assert catalog.validate_spec({"description": "two\nlines"}, partial=True)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"source": "/d"}, "name: missing (required)"),
        ({"name": "x"}, "source: missing (required)"),
        ({"name": "x", "source": "rel/path"}, "absolute path"),
        ({"name": "x", "source": "/d\x00"}, "absolute path"),
        ({"name": "x", "source": "/d", "owner": "me"}, "unknown field 'owner'; allowed: name,"),
        ({"name": "x", "source": "/d", "access": "everyone"}, 'access: expected "public" or'),
        ({"name": "x", "source": "/d", "access": ["a/b"]}, "access must be"),
        ({"name": "x", "source": "/d", "title": 5}, "title: input should be a valid string"),
        ({"name": "x", "source": "/d", "title": "a\x1bb"}, "control characters"),
        ({"name": "x", "source": "/d", "version": "v" * 65}, "at most 64 characters"),
        ({"name": "../x", "source": "/d"}, "invalid dataset name"),
        ({"name": "x", "source": "/d", "symlinks": "yes"}, "symlinks: input should be a valid boolean"),
    ],
)
def test_validate_spec_refusals(body, words):
    with pytest.raises(DatasetError) as e:
        catalog.validate_spec(body)
    assert words in str(e.value)


def test_resolve_source(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    link = tmp_path / "link"
    link.symlink_to(data)
    state = tmp_path / "state"
    state.mkdir()
    assert catalog.resolve_source(str(link), [str(state)]) == str(data)
    for bad in ("/", "/etc", "/proc/self", str(tmp_path / "nope"), str(state), str(tmp_path)):
        with pytest.raises(DatasetError):
            catalog.resolve_source(bad, [str(state)])
    (state / "mounts").mkdir()
    with pytest.raises(DatasetError, match="may not be, contain or lie inside"):
        catalog.resolve_source(str(state / "mounts"), [str(state)])
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        catalog.resolve_source(str(tmp_path / "file"))


def test_scan_counts_regular_files_and_never_follows_symlinks(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "f1").write_bytes(b"x" * 10)
    (tmp_path / "a" / "f2").write_bytes(b"y" * 5)
    (tmp_path / "a" / "b" / "f3").write_bytes(b"")
    big = Path("/usr")
    (tmp_path / "out").symlink_to(big)  # would add thousands of files if followed
    (tmp_path / "loop").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    assert catalog.scan(tmp_path) == (15, 3)
    assert catalog.scan(tmp_path / "missing") == (0, 0)


def test_public_view_hides_the_source_from_users():
    d = {
        "name": "coco",
        "title": "COCO",
        "description": "",
        "version": "1",
        "license": "CC",
        "access": "public",
        "source": "/srv/coco",
        "grants": ["g"],
        "size": 3,
        "files": 1,
        "scanned": None,
    }
    user = catalog.public_view(d, mounted=True, admin=False)
    assert "source" not in user and "grants" not in user
    assert user["mounted"] is True and user["path"] == "/home/jovyan/datasets/coco"
    assert catalog.public_view(d, mounted=False, admin=True)["source"] == "/srv/coco"


MOUNTINFO = r"""27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
758 27 254:0 /s/mounts /s/mounts rw,relatime shared:20 - ext4 /dev/vda rw
755 758 254:0 /src /s/mounts/alice/coco ro,nosymfollow shared:23 master:2 - ext4 /dev/vda rw
756 758 254:0 /src /s/mounts/bob/with\040space ro - ext4 /dev/vda rw
garbage line
"""


def test_parse_mountinfo():
    assert parse_mountinfo(MOUNTINFO) == [
        ("/", False),
        ("/s/mounts", True),
        ("/s/mounts/alice/coco", True),
        ("/s/mounts/bob/with space", False),
    ]
    assert unescape(r"a\011b\134c") == "a\tb\\c"
