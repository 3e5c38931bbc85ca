"""The record of what a notebook session runs on (its provenance), kept on its usage
record once the server answers: the same builder as a batch job's
(:func:`npuhub.hub.jobs.provenance.build`). Read back with ``GET …/me/session``."""

from __future__ import annotations

from npuhub.hub import clock
from npuhub.hub.jobs import provenance


def session_provenance(
    platform, *, user: str, server: str, account: str, profile: str | None, image_ref: str,
    image_id: str | None, devices, node_root: str, backend: str, allocation_id: int,
    with_datasets: bool = True, versions: dict | None = None,
) -> dict:  # fmt: skip
    """Build the session's record (datasets mounted now, with their versions; the node's
    driver and CANN versions, read at `node_root` unless given as `versions`, as a Slurm
    node reports them) and keep it on allocation `allocation_id`. I/O: database, the
    node's version files."""
    datasets = (
        [{"name": d["name"], "version": d["version"]} for d in platform.datasets.mounted(user)]
        if with_datasets else []
    )  # fmt: skip
    record = provenance.session_record(
        user=user, server=server, account=account, profile=profile, image_ref=image_ref,
        image_id=image_id, devices=devices, datasets=datasets,
        versions=versions if versions is not None else provenance.node_versions(node_root),
        backend=backend,
        started=clock.utcnow().isoformat(),
    )  # fmt: skip
    platform.ledger.usage.set_provenance(allocation_id, record)
    return record
