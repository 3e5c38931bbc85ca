"""Who holds a TCP port: the listening socket in /proc/net/tcp{,6} and the process whose
file descriptors include it, so that `npuhub up` can name it in its refusal."""

from __future__ import annotations

import os
from pathlib import Path

LISTEN = "0A"


def listening_inodes(port: int, proc: Path = Path("/proc")) -> set[str]:
    """Socket inodes listening on `port` (any address, IPv4 or IPv6)."""
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == LISTEN and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    return inodes


def holders(port: int, proc: Path = Path("/proc")) -> list[str]:
    """"pid N (command)" of each process holding a socket that listens on `port` (only
    the processes this user may inspect)."""
    inodes = {f"socket:[{i}]" for i in listening_inodes(port, proc)}
    found = []
    if not inodes:
        return found
    for pid in sorted((p for p in os.listdir(proc) if p.isdigit()), key=int):
        if _links(proc / pid / "fd") & inodes:
            try:
                comm = (proc / pid / "comm").read_text().strip()
            except OSError:
                comm = "?"
            found.append(f"pid {pid} ({comm})")
    return found


def _links(fd_dir: Path) -> set[str]:
    """What the file descriptors in `fd_dir` point to (those that can be read)."""
    links = set()
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return links
    for fd in fds:
        try:
            links.add(os.readlink(fd_dir / fd))
        except OSError:  # closed meanwhile (e.g. the listing's own descriptor)
            continue
    return links


def describe(port: int) -> str:
    """" (held by pid N (command))", or "" when the holder cannot be seen."""
    who = holders(port)
    return f" (held by {', '.join(who)})" if who else ""
