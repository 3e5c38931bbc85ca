"""Datasets: a catalog of read-only data on the host's storage, and live mounts of them
into users' running servers at ``~/datasets/{name}``.

- :mod:`.catalog`: pure rules (names, fields, who may mount what, paths) and the size and
  file-count scan;
- :mod:`.models`: the tables (datasets, grants to groups, each user's remembered mounts);
- :mod:`.store`: the database operations on them;
- :mod:`.mounter`: the host-side mount operations (root only).
"""

from __future__ import annotations


def job_mounts(settings, user: str, groups, names=None) -> list[tuple[str, str]]:
    """(host source, name) of the datasets a batch job of `user` mounts read-only at
    ~/datasets/{name}: `names`, or (None) the datasets the user has mounted now. Raises
    LookupError for an unknown name or a dataset outside the user's access."""
    from .catalog import DatasetError, check_name, may_mount
    from .store import get_store

    store = get_store(settings.db_url)
    if names is None:
        chosen = store.mounted(user)
    else:
        chosen = []
        for name in names:
            try:
                d = store.get(check_name(name))
            except DatasetError as e:
                raise LookupError(str(e)) from None
            if d is None:
                raise LookupError(f"there is no dataset {name!r}")
            chosen.append(d)
    out = []
    for d in chosen:
        if not may_mount(d["access"], d["grants"], groups):
            raise LookupError(f"you may not use dataset {d['name']!r}")
        out.append((d["source"], d["name"]))
    return out
