"""Datasets: a catalog of read-only data on the host's storage, and live mounts of them
into users' running servers at ``~/datasets/{name}``.

- :mod:`.catalog`: pure rules (names, fields, who may mount what, paths) and the size and
  file-count scan;
- :mod:`.models`: the tables (datasets, grants to groups, each user's remembered mounts);
- :mod:`.store`: the database operations on them;
- :mod:`.mounter`: the host-side mount operations (root only).
"""
