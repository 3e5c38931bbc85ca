"""The user's home volume, created with a size limit where Docker can enforce one.

Docker's local volume driver takes ``size`` (moby#41330, Docker 20.10) when its volumes
live on XFS mounted with project quotas (``pquota``); on any other file system Docker
refuses the option. :func:`ensure_home` creates a user's home volume with the limit the
first time, and, where Docker cannot enforce it, creates the volume without and says so
once in the hub's log (the README tells an operator what to do: XFS project quotas
under /var/lib/docker/volumes). An existing volume is left as it is.
"""

from __future__ import annotations

import re

from docker.errors import APIError, NotFound

SIZE = re.compile(r"^[1-9][0-9]{0,5}[KMGT]?$")
_unenforced_said = False


def check_size(value: str) -> str:
    if value and not SIZE.match(value):
        raise ValueError(f"c.NPUSpawner.home_size = {value!r}: a size like 10G or 500M")
    return value


async def ensure_home(docker, name: str, size: str, labels: dict, log) -> bool:
    """Create volume `name` with `size` if it does not exist; True if Docker enforces the
    size. `docker`: DockerSpawner.docker (the low-level client's method names)."""
    global _unenforced_said
    try:
        await docker("inspect_volume", name)
        return False
    except NotFound:
        pass
    try:
        await docker("create_volume", name=name, driver="local", driver_opts={"size": size},
                     labels=labels)
        return True
    except APIError as e:
        if "quota" not in str(e).lower() and "size" not in str(e).lower():
            raise
        if not _unenforced_said:
            _unenforced_said = True
            log.warning("c.NPUSpawner.home_size=%s is not enforced: Docker's volumes are not "
                        "on XFS with project quotas (%s)", size, getattr(e, "explanation", e))
    await docker("create_volume", name=name, driver="local", labels=labels)
    return False
