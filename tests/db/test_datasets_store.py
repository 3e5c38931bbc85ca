"""The datasets tables through the store (SQLite and PostgreSQL), `npuhub apply` of a
Dataset and the grants of courses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from npuhub.hub import db
from npuhub.hub.apply import ApplyError, apply_file
from npuhub.hub.datasets import catalog
from npuhub.hub.datasets.catalog import DatasetError, check_name
from npuhub.hub.platform import platform_for


@pytest.fixture
def store(migrated_url):
    return platform_for(migrated_url).datasets


def test_migration_is_a_head_beside_the_others(migrated_url):
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config(migrated_url))
    assert script.get_revision("0002_datasets").down_revision == "0001_ledger"


def test_create_get_update_delete(store):
    d = store.create({"name": "coco", "source": "/srv/coco", "title": "COCO"})
    assert d["access"] == "public" and d["size"] is None and d["grants"] == []
    with pytest.raises(DatasetError) as e:
        store.create({"name": "coco", "source": "/srv/other"})
    assert e.value.status == 409
    store.set_scan("coco", 100, 3, "/srv/coco")
    assert store.get("coco")["files"] == 3 and store.get("coco")["scanned"]
    new, old = store.update("coco", {"access": ["lab"], "title": "COCO 2017"})
    assert old["access"] == "public" and new["access"] == ["lab"] and new["size"] == 100
    new, _ = store.update("coco", {"source": "/srv/coco2"})
    assert new["size"] is None and new["files"] is None  # a moved source is scanned again
    store.set_scan("coco", 5, 1, "/srv/coco")  # a late scan of the old source is dropped
    assert store.get("coco")["size"] is None
    created, old = store.update("mnist", {"source": "/srv/mnist"})
    assert old is None and created["name"] == "mnist"
    assert [d["name"] for d in store.all()] == ["coco", "mnist"]
    store.remember("alice", "coco")
    assert store.delete("coco") == ["alice"]
    assert store.get("coco") is None and store.mounted("alice") == []
    with pytest.raises(DatasetError) as e:
        store.delete("coco")
    assert e.value.status == 404


def test_remembered_mounts(store):
    store.create({"name": "a", "source": "/srv/a"})
    store.create({"name": "b", "source": "/srv/b"})
    store.remember("alice", "b")
    store.remember("alice", "a")
    store.remember("alice", "a")  # twice: once
    store.remember("bob", "a")
    assert [d["name"] for d in store.mounted("alice")] == ["a", "b"]
    assert store.users_of("a") == ["alice", "bob"]
    assert {u: [d["name"] for d in ds] for u, ds in store.all_mounts().items()} == {
        "alice": ["a", "b"],
        "bob": ["a"],
    }
    store.forget("alice", "a")
    store.forget("alice", "nope")
    assert [d["name"] for d in store.mounted("alice")] == ["b"]


def test_grant_for_courses(store):
    store.create({"name": "course-data", "source": "/srv/c", "access": []})
    store.grant("course-data", "cs101")
    store.grant("course-data", "cs101")
    d = store.get("course-data")
    assert d["grants"] == ["cs101"]
    assert catalog.may_mount(d["access"], d["grants"], ["cs101"])
    store.revoke("course-data", "cs101")
    assert store.get("course-data")["grants"] == []
    with pytest.raises(DatasetError):
        check_name("../x")


def test_apply_dataset_file(tmp_path, migrated_url):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.txt").write_text("hello")
    (data / "b.bin").write_bytes(b"\0" * 10)
    state = tmp_path / "state"
    state.mkdir()
    spec = tmp_path / "ds.yaml"
    spec.write_text(
        "kind: Dataset\nname: demo\ntitle: Demo\nsource: " + str(tmp_path / "." / "data") + "\n"
        "access: [lab]\nlicense: CC-BY-4.0\nversion: '1'\n"
    )
    settings = SimpleNamespace(db_url=migrated_url, state_dir=str(state))
    assert list(apply_file(spec, settings)) == ["dataset demo applied (2 files, 15 bytes)"]
    assert list(apply_file(spec, settings)) == ["dataset demo applied (2 files, 15 bytes)"]
    d = platform_for(migrated_url).datasets.get("demo")
    assert d["source"] == str(data) and d["access"] == ["lab"] and d["license"] == "CC-BY-4.0"
    spec.write_text(f"kind: Dataset\nname: bad\nsource: {state}\n")
    with pytest.raises(ApplyError, match="Dataset: source"):
        list(apply_file(spec, settings))
    spec.write_text("kind: Dataset\nname: ../bad\nsource: /srv\n")
    with pytest.raises(ApplyError, match="invalid dataset name"):
        list(apply_file(spec, settings))
