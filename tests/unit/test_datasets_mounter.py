"""The host-side mounter on this kernel (root only: real mounts in a temp folder)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from npuhub.hub.datasets import mounter
from npuhub.hub.datasets.catalog import DatasetError
from npuhub.hub.datasets.mounter import MountError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@pytest.fixture
def setup(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("hello")
    os.chmod(src, 0o777)  # writable for anyone: only the mount makes it read-only
    (src / "escape").symlink_to("/etc/hostname")
    root = tmp_path / "mounts"
    yield str(src), root
    mounter.unmount_all(tmp_path)


def test_mount_is_read_only_nosymfollow_and_idempotent(setup):
    src, root = setup
    assert mounter.mount(src, root, "alice", "demo") is True
    assert mounter.mount(src, root, "alice", "demo") is False
    target = root / "alice" / "demo"
    assert (target / "sub" / "f.txt").read_text() == "hello"
    with pytest.raises(OSError) as e:
        (target / "new").write_text("x")
    assert e.value.errno == errno.EROFS
    with pytest.raises(OSError) as e:
        (target / "escape").read_text()
    assert e.value.errno == errno.ELOOP  # nosymfollow: no symlink is followed at all
    assert mounter.mounted(root, "alice") == {"demo"}
    st = os.stat(root / "alice")
    assert st.st_uid == 0 and oct(st.st_mode & 0o777) == "0o755"
    assert [shared for mp, shared in mounter.mountinfo() if mp == str(root)] == [True]
    mounter.ensure_shared(root)
    assert [mp for mp, _ in mounter.mountinfo() if mp == str(root)] == [str(root)]
    assert mounter.unmount(root, "alice", "demo") is True
    assert not target.exists() and mounter.mounted(root, "alice") == set()
    assert mounter.unmount(root, "alice", "demo") is False


def test_a_dataset_with_symlinks_follows_its_links_and_stays_read_only(setup):
    src, root = setup
    # a Hugging Face cache: snapshots/<rev>/file -> ../../blobs/<hash>
    os.makedirs(f"{src}/blobs")
    os.makedirs(f"{src}/snapshots/main")
    Path(f"{src}/blobs/abc").write_text("weights")
    os.symlink("../../blobs/abc", f"{src}/snapshots/main/model.bin")
    assert mounter.restore(root, "alice", {"hf": src}, follow={"hf"})["mounted"] == ["hf"]
    target = root / "alice" / "hf"
    assert (target / "snapshots" / "main" / "model.bin").read_text() == "weights"
    with pytest.raises(OSError) as e:
        (target / "blobs" / "new").write_text("x")
    assert e.value.errno == errno.EROFS
    mounter.mount(src, root, "bob", "hf")  # the default: no link is followed
    with pytest.raises(OSError) as e:
        (root / "bob" / "hf" / "snapshots" / "main" / "model.bin").read_text()
    assert e.value.errno == errno.ELOOP


def test_refuses_symlinked_folders_and_sources(setup, tmp_path):
    src, root = setup
    mounter.prepare_user(root, "alice")
    os.symlink(tmp_path, root / "mallory")  # a planted symlink as a user folder
    with pytest.raises(MountError, match="symlink"):
        mounter.mount(src, root, "mallory", "demo")
    os.symlink(tmp_path, root / "alice" / "planted")  # ... or as a mount point
    with pytest.raises(MountError, match="symlink"):
        mounter.mount(src, root, "alice", "planted")
    assert mounter.mounted(root, "alice") == set()
    link = tmp_path / "link"
    link.symlink_to(src)
    with pytest.raises(MountError, match="not available|symlink"):
        mounter.mount(str(link), root, "alice", "demo")
    with pytest.raises(MountError, match="moved or became a symlink"):
        mounter.mount(str(link / "sub"), root, "alice", "demo")
    assert not (root / "alice" / "demo").exists()
    (root / "bob").mkdir()
    os.chown(root / "bob", 1000, 100)
    with pytest.raises(MountError, match="not a directory owned by root"):
        mounter.mount(src, root, "bob", "demo")
    for user, name in (("..", "demo"), ("alice", ".."), ("alice", "a/b")):
        with pytest.raises(DatasetError):
            mounter.mount(src, root, user, name)


def test_restore_makes_the_host_match(setup, tmp_path):
    src, root = setup
    mounter.mount(src, root, "alice", "old")
    done = mounter.restore(root, "alice", {"a": src, "b": src, "gone": str(tmp_path / "nope")})
    assert done["mounted"] == ["a", "b"] and done["unmounted"] == ["old"]
    assert "gone" in done["errors"] and done["folder"] == str(root / "alice")
    assert mounter.mounted(root, "alice") == {"a", "b"}
    assert sorted(os.listdir(root / "alice")) == ["a", "b"]
    assert mounter.restore(root, "alice", {"a": src})["unmounted"] == ["b"]
    assert mounter.unmount_all(root) == 2  # the shared root and "a"
    assert not any(mp.startswith(str(root)) for mp, _ in mounter.mountinfo())
