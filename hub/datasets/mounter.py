"""Host-side mount operations (root only): read-only bind mounts of datasets into the
per-user folders `<root>/<user>/<name>`, which the spawner bind-mounts into each user's
container at ~/datasets with `rslave` propagation.

How a dataset is mounted, and why not `mount --bind` + `mount -o remount,bind,ro`: a
remount changes only the host's mount; the copy already propagated into a running
container stays read-write (checked on this kernel). So the mount is built detached with
the new mount API (Linux >= 5.12): `open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)` of the
source, `mount_setattr` ro, nosuid, nodev, nosymfollow, `move_mount` onto the target.
nosymfollow is left out for a dataset declared with `symlinks: true` (a Hugging Face
cache's snapshots/ → blobs/ links): its links then resolve inside the user's container,
which sees only that user's own files and the datasets, never the host's.
Both ends are opened with O_NOFOLLOW and used as file descriptors: the source must be
its recorded real path exactly, the target folders root-owned directories. No user string
reaches a shell; names are checked by the catalog before they become path components.

Operations take an exclusive lock (`<root>.lock`), shared by the hub and the service.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import stat
from collections.abc import Iterator, Mapping, Set
from contextlib import contextmanager, suppress
from pathlib import Path

from ..refusals import Refusal
from .catalog import check_name, check_user

log = logging.getLogger("npuhub.datasets")

# syscall numbers are the same on every architecture for these (asm-generic, since 5.2)
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442
OPEN_TREE_CLONE, AT_RECURSIVE, AT_EMPTY_PATH = 0x1, 0x8000, 0x1000
MOVE_MOUNT_F_EMPTY_PATH, MOVE_MOUNT_T_EMPTY_PATH = 0x4, 0x40
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
MS_BIND, MS_REC, MS_PRIVATE, MS_SHARED = 0x1000, 0x4000, 1 << 18, 1 << 20
MNT_DETACH, UMOUNT_NOFOLLOW = 0x2, 0x8
DATASET_ATTRS = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSYMFOLLOW
FOLLOWING_ATTRS = DATASET_ATTRS & ~MOUNT_ATTR_NOSYMFOLLOW  # a dataset with `symlinks: true`

_libc = ctypes.CDLL(None, use_errno=True)


class MountError(Refusal):
    """A mount operation that could not be done (409, code ``mount_failed``; the detail
    says why)."""

    fallback = "mount_failed"


class _MountAttr(ctypes.Structure):
    _fields_ = [(f, ctypes.c_uint64) for f in ("attr_set", "attr_clr", "propagation", "userns")]


def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def _syscall(nr: int, *args, what: str) -> int:
    return _check(_libc.syscall(ctypes.c_long(nr), *args), what)


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source else None
    _check(_libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None), "mount")


# ---------------------------------------------------------------------- mountinfo


def unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[tuple[str, bool]]:
    """(mount point, shared?) of each line of /proc/self/mountinfo, in order."""
    out = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        optional = fields[6 : fields.index("-", 6)]
        out.append((unescape(fields[4]), any(o.startswith("shared:") for o in optional)))
    return out


def mountinfo() -> list[tuple[str, bool]]:
    with open("/proc/self/mountinfo") as f:
        return parse_mountinfo(f.read())


def is_mountpoint(path: str | os.PathLike) -> bool:
    p = os.fspath(path)
    return any(mp == p for mp, _ in mountinfo())


def mounted(root: str | os.PathLike, user: str) -> set[str]:
    """Names of the datasets mounted on the host for `user`."""
    folder = os.path.join(os.path.realpath(root), check_user(user)) + "/"
    names = {mp[len(folder) :] for mp, _ in mountinfo() if mp.startswith(folder)}
    return {n for n in names if n and "/" not in n}


# ---------------------------------------------------------------------- folders


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    fd = os.open(f"{root}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _root_owned_dir(fd: int, what: str) -> None:
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0:
        raise MountError(f"{what} is not a directory owned by root; refusing to mount there")
    if stat.S_IMODE(st.st_mode) != 0o755:
        os.fchmod(fd, 0o755)


def _open_dir(name: str, dir_fd: int | None, what: str, *, create: bool) -> int:
    """Open (creating it if asked) a root-owned 0755 directory, never through a symlink."""
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        except FileExistsError:
            pass
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError as e:
        raise MountError(f"{what}: {e.strerror} (a symlink or not a folder?)") from None
    try:
        _root_owned_dir(fd, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def ensure_shared(root: str | os.PathLike) -> None:
    """Create `root` (root-owned, 0755) and make it a shared mount, once: a bind mount of
    itself (recursive, so mounts already below it stay visible), then rshared."""
    root = Path(os.path.realpath(root))
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.close(_open_dir(str(root), None, str(root), create=False))
    with _locked(root):
        entries = [shared for mp, shared in mountinfo() if mp == str(root)]
        if entries and entries[-1]:
            return
        if not entries:
            _mount(str(root), str(root), MS_BIND | MS_REC)
        _mount(None, str(root), MS_SHARED | MS_REC)
        log.info("Made %s a shared mount for live dataset mounts", root)


def prepare_user(root: str | os.PathLike, user: str) -> Path:
    """The user's folder `<root>/<user>` (root-owned 0755: the user can create nothing
    in ~/datasets), with `root` a shared mount. Returns its path."""
    check_user(user)
    root = Path(os.path.realpath(root))
    ensure_shared(root)
    with _locked(root):
        top = _open_dir(str(root), None, str(root), create=False)
        try:
            os.close(_open_dir(user, top, f"datasets folder of {user}", create=True))
        finally:
            os.close(top)
    return root / user


# ---------------------------------------------------------------------- mount / unmount


def _open_source(source: str) -> int:
    try:
        fd = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise MountError(f"the dataset's folder is not available: {e.strerror}") from None
    if os.readlink(f"/proc/self/fd/{fd}") != source:
        os.close(fd)
        raise MountError(
            "the dataset's folder moved or became a symlink; an admin must declare it again"
        )
    return fd


def mount(
    source: str, root: str | os.PathLike, user: str, name: str, symlinks: bool = False
) -> bool:
    """Mount `source` read-only at `<root>/<user>/<name>`; False if it was mounted
    already. `source` must be the real path recorded by the catalog; `symlinks`: the
    links inside are followed (else none is)."""
    check_user(user)
    check_name(name)
    root = Path(os.path.realpath(root))
    ensure_shared(root)
    fds: list[int] = []
    try:
        with _locked(root):
            if is_mountpoint(root / user / name):
                return False
            fds.append(_open_source(source))
            flags = AT_EMPTY_PATH | OPEN_TREE_CLONE | AT_RECURSIVE | os.O_CLOEXEC
            tree = _syscall(SYS_OPEN_TREE, fds[-1], b"", flags, what="open_tree")
            fds.append(tree)
            attrs = FOLLOWING_ATTRS if symlinks else DATASET_ATTRS
            attr = _MountAttr(attrs, 0, MS_PRIVATE, 0)
            size = ctypes.c_size_t(ctypes.sizeof(attr))
            at = AT_EMPTY_PATH | AT_RECURSIVE
            _syscall(SYS_MOUNT_SETATTR, tree, b"", at, ctypes.byref(attr), size, what="setattr")
            fds.append(_open_dir(str(root), None, str(root), create=False))
            fds.append(_open_dir(user, fds[-1], f"datasets folder of {user}", create=True))
            fds.append(_open_dir(name, fds[-1], f"mount point of {name}", create=True))
            move = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH
            _syscall(SYS_MOVE_MOUNT, tree, b"", fds[-1], b"", move, what="move_mount")
            return True
    except OSError as e:
        if len(fds) == 5:  # the mount point was made for this mount: remove it again
            with suppress(OSError):
                os.rmdir(name, dir_fd=fds[3])
        raise MountError(f"could not mount {name} for {user}: {e}") from None
    finally:
        for fd in fds:
            os.close(fd)


def unmount(root: str | os.PathLike, user: str, name: str) -> bool:
    """Unmount `<root>/<user>/<name>` (detaching it even if a process still uses it)
    and remove the empty mount point; False if nothing was mounted."""
    check_user(user)
    check_name(name)
    root = Path(os.path.realpath(root))
    target = root / user / name
    was = False
    with _locked(root):
        for _ in range(16):  # stacked mounts, should any exist
            if not is_mountpoint(target):
                break
            _check(_libc.umount2(str(target).encode(), MNT_DETACH | UMOUNT_NOFOLLOW), "umount")
            was = True
        try:
            folder = _open_dir(str(root / user), None, f"datasets folder of {user}", create=False)
        except MountError:
            return was
        try:
            os.rmdir(name, dir_fd=folder)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EBUSY):
                raise
        finally:
            os.close(folder)
    return was


def restore(
    root: str | os.PathLike, user: str, wanted: Mapping[str, str], follow: Set[str] = frozenset()
) -> dict:
    """Make the host match `wanted` ({name: source}) for `user`: mount what is missing
    (following symlinks in the datasets named in `follow`), unmount what is not wanted.
    Errors are logged and returned, never raised, so that a dataset gone from the storage
    does not stop a server from starting."""
    folder = prepare_user(root, user)
    done: dict = {"folder": str(folder), "mounted": [], "unmounted": [], "errors": {}}
    for name in sorted(mounted(root, user) - set(wanted)):
        try:
            unmount(root, user, name)
            done["unmounted"].append(name)
        except (OSError, MountError, ValueError) as e:
            done["errors"][name] = str(e)
    for name, source in sorted(wanted.items()):
        try:
            if mount(source, root, user, name, symlinks=name in follow):
                done["mounted"].append(name)
        except (MountError, ValueError) as e:
            done["errors"][name] = str(e)
    for name, err in done["errors"].items():
        log.warning("Dataset %s of %s: %s", name, user, err)
    return done


def unmount_all(root: str | os.PathLike) -> int:
    """Detach every mount at or below `root`, deepest first (removing a state dir, e.g.
    at the end of a test session); returns how many."""
    root = os.path.realpath(root)
    below = [mp for mp, _ in mountinfo() if mp == root or mp.startswith(root + "/")]
    for mp in reversed(below):
        _libc.umount2(mp.encode(), MNT_DETACH)
    return len(below)
