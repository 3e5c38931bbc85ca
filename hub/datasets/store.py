"""Database operations on the datasets tables. Every method is one short transaction and
returns plain dicts (callers on an event loop run them in an executor)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from npuhub.hub import clock, db

from .catalog import DatasetError, check_access
from .models import Dataset, DatasetGrant, DatasetMount


def as_dict(d: Dataset) -> dict:
    return {
        "name": d.name,
        "title": d.title,
        "description": d.description,
        "source": d.source,
        "version": d.version,
        "license": d.license,
        "access": d.access,
        "symlinks": bool(d.symlinks),
        "grants": [g.group for g in d.grants],
        "size": d.size,
        "files": d.files,
        "scanned": d.scanned.isoformat() if d.scanned else None,
        "created": d.created.isoformat() if d.created else None,
        "updated": d.updated.isoformat() if d.updated else None,
    }


class DatasetStore(db.Store):
    @staticmethod
    def _get(s, name: str) -> Dataset:
        d = Dataset.find(s, name)
        if d is None:
            raise DatasetError("no_dataset", name=repr(name))
        return d

    # ------------------------------------------------------------------ catalog

    def all(self) -> list[dict]:
        with self._read() as s:
            return [as_dict(d) for d in s.scalars(select(Dataset).order_by(Dataset.name))]

    def get(self, name: str) -> dict | None:
        with self._read() as s:
            d = Dataset.find(s, name)
            return as_dict(d) if d else None

    def create(self, spec: dict) -> dict:
        try:
            with self._write() as s:
                if Dataset.find(s, spec["name"]) is not None:
                    raise DatasetError("dataset_exists", name=repr(spec["name"]))
                d = Dataset(**{"access": "public", **spec})
                s.add(d)
                s.flush()
                return as_dict(d)
        except IntegrityError:
            raise DatasetError("dataset_exists", name=repr(spec["name"])) from None

    def update(self, name: str, spec: dict) -> tuple[dict, dict | None]:
        """Create or change `name`; returns (new, old) (old None when created). A new
        source clears the cached size and file count."""
        with self._write() as s:
            d = Dataset.find(s, name)
            old = as_dict(d) if d else None
            if d is None:
                if "source" not in spec:
                    raise DatasetError("missing field(s): source")
                d = Dataset(name=name, access="public")
                s.add(d)
            for key, value in spec.items():
                if key != "name":
                    setattr(d, key, value)
            if old is not None and old["source"] != d.source:
                d.size = d.files = d.scanned = None
            s.flush()
            return as_dict(d), old

    def delete(self, name: str) -> list[str]:
        """Remove `name` with its grants and remembered mounts; returns the users who had
        it mounted."""
        with self._write() as s:
            d = self._get(s, name)
            mounts = list(s.scalars(select(DatasetMount).where(DatasetMount.dataset_id == d.id)))
            users = sorted(m.user for m in mounts)
            for m in mounts:
                s.delete(m)
            s.delete(d)
            return users

    def set_scan(self, name: str, size: int, files: int, source: str) -> None:
        """Cache the scan of `source` (ignored if the source changed meanwhile)."""
        with self._write() as s:
            d = Dataset.find(s, name)
            if d is not None and d.source == source:
                d.size, d.files, d.scanned = size, files, clock.utcnow()

    def grant(self, name: str, group: str) -> None:
        check_access([group])
        with self._write() as s:
            d = self._get(s, name)
            if group not in {g.group for g in d.grants}:
                d.grants.append(DatasetGrant(group=group))

    def revoke(self, name: str, group: str) -> None:
        with self._write() as s:
            d = self._get(s, name)
            d.grants = [g for g in d.grants if g.group != group]

    def granted_to(self, group: str) -> list[str]:
        """The datasets granted to `group` (a course's groups)."""
        with self._read() as s:
            q = select(Dataset.name).join(DatasetGrant).where(DatasetGrant.group == group)
            return sorted(s.scalars(q))

    # ------------------------------------------------------------------ mounts

    def mounted(self, user: str) -> list[dict]:
        """The datasets `user` has mounted (remembered), as catalog dicts."""
        with self._read() as s:
            q = (
                select(Dataset)
                .join(DatasetMount, DatasetMount.dataset_id == Dataset.id)
                .where(DatasetMount.user == user)
                .order_by(Dataset.name)
            )
            return [as_dict(d) for d in s.scalars(q)]

    def remember(self, user: str, name: str) -> None:
        with self._write() as s:
            d = self._get(s, name)
            if DatasetMount.find(s, user, d.id) is None:
                s.add(DatasetMount(user=user, dataset_id=d.id))

    def forget(self, user: str, name: str) -> None:
        with self._write() as s:
            d = Dataset.find(s, name)
            m = DatasetMount.find(s, user, d.id) if d else None
            if m is not None:
                s.delete(m)

    def users_of(self, name: str) -> list[str]:
        with self._read() as s:
            q = select(DatasetMount.user).join(Dataset).where(Dataset.name == name)
            return sorted(s.scalars(q))

    def all_mounts(self) -> dict[str, list[dict]]:
        """Every user's remembered mounts: {user: [catalog dicts]}."""
        with self._read() as s:
            out: dict[str, list[dict]] = defaultdict(list)
            q = select(DatasetMount.user, Dataset).join(Dataset).order_by(Dataset.name)
            for user, d in s.execute(q):
                out[user].append(as_dict(d))
            return dict(out)


def restore_user(
    store: DatasetStore, root: str, user: str, groups, admin: bool = False
) -> dict:
    """Make the host mounts of `user` match what they asked for and may still use:
    remembered mounts they lost access to are forgotten. I/O: database and mounts."""
    from . import mounter
    from .catalog import may_mount

    wanted, follow, lost = {}, set(), []
    for d in store.mounted(user):
        if may_mount(d["access"], d["grants"], groups, admin):
            wanted[d["name"]] = d["source"]
            if d["symlinks"]:
                follow.add(d["name"])
        else:
            lost.append(d["name"])
    for name in lost:
        store.forget(user, name)
    done = mounter.restore(root, user, wanted, follow=follow)
    done["forgotten"] = lost
    return done


def wanted_datasets(store: DatasetStore, user: str, groups, admin: bool = False) -> list[dict]:
    """The datasets `user` has mounted and may still use (catalog dicts); remembered
    mounts they lost access to are forgotten. I/O: database (cluster mode: the nodes
    mount them, hub/datasets/node_mount.py)."""
    from .catalog import may_mount

    keep = []
    for d in store.mounted(user):
        if may_mount(d["access"], d["grants"], groups, admin):
            keep.append(d)
        else:
            store.forget(user, d["name"])
    return keep


def drop_lost(store: DatasetStore, root: str, user: str, groups, admin: bool = False) -> list[str]:
    """Unmount and forget the mounts of `user` that their groups of now no longer allow
    (a group left, a grant revoked); the names dropped. I/O: database and mounts."""
    from . import mounter
    from .catalog import may_mount

    lost = [d["name"] for d in store.mounted(user)
            if not may_mount(d["access"], d["grants"], groups, admin)]
    for name in lost:
        mounter.unmount(root, user, name)
        store.forget(user, name)
    return lost


def apply_dataset(doc: dict, store: DatasetStore, state_dir: str) -> str:
    """`npuhub apply -f` of a `kind: Dataset` document: declare or change the dataset and
    scan it (when new or moved). Raises DatasetError with the reason."""
    from .catalog import resolve_source, scan, validate_spec

    spec = validate_spec({k: v for k, v in doc.items() if k != "kind"})
    spec["source"] = resolve_source(spec["source"], [state_dir])
    new, old = store.update(spec["name"], spec)
    if old is None or old["source"] != new["source"] or new["files"] is None:
        size, files = scan(new["source"])
        store.set_scan(new["name"], size, files, new["source"])
        new.update(size=size, files=files)
    return f"dataset {new['name']} applied ({new['files']} files, {new['size']} bytes)"
