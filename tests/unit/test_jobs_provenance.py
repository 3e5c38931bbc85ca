"""A job's provenance (pure parts): the Ascend version files of a node, the record, the
file written into the home; re-runs with `like`."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from npuhub.hub.jobs import provenance, rerun
from npuhub.hub.jobs.common import InvalidRequest

DATA = Path(__file__).parents[1] / "data" / "ascend"


def test_parse_driver_info_sample():
    info = provenance.parse_driver_info((DATA / "driver-version.info").read_text())
    assert info == {
        "version": "23.0.rc3",
        "package_version": "23.0.rc3",
        "inner_version": "V100R001C13SPC002B220",
    }
    assert provenance.parse_driver_info("garbage\n") is None


def test_parse_cann_cfg_samples():
    cfg = provenance.parse_cann_cfg((DATA / "toolkit-version.cfg").read_text())
    assert cfg == {"version": "7.0.RC1", "inner_version": "7.0.0.5.242"}
    old = provenance.parse_cann_cfg((DATA / "toolkit-version-old.cfg").read_text())
    assert old == {"version": "5.1.RC2"}
    assert provenance.parse_cann_cfg("# nothing\n") is None


def test_node_versions_of_a_node_root(tmp_path):
    assert provenance.node_versions(tmp_path) == {"driver": None, "cann": None}
    for rel, sample in ((provenance.DRIVER_INFO, "driver-version.info"),
                        (provenance.CANN_CFG, "toolkit-version.cfg")):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True)
        shutil.copy(DATA / sample, tmp_path / rel)
    v = provenance.node_versions(tmp_path)
    assert v["driver"]["version"] == "23.0.rc3" and v["cann"]["version"] == "7.0.RC1"


def job(**kw):
    fields = dict(id=5, user="ana", account="lab", image="npuhub/base:latest", profile="base",
                  source="exp/train.ipynb", parameters={"lr": 0.1}, time_limit=600,
                  rerun_of=None, npus=2, name="train", datasets=[["/data/rs", "rs"]],
                  provenance=None)  # fmt: skip
    fields.update(kw)
    return SimpleNamespace(**fields)


def test_record():
    prov = provenance.record(
        job(), image_id="sha256:abc", devices=[("n1", 2, "/dev/davinci2"), ("n1", 3, "/d3")],
        datasets=[{"name": "rs", "version": "2025.1"}], source_sha256="f" * 64,
        versions={"driver": {"version": "23.0.rc3"}, "cann": None}, backend="local",
    )  # fmt: skip
    assert prov["image"] == {"reference": "npuhub/base:latest", "digest": "sha256:abc"}
    assert prov["node"] == "n1" and prov["devices"] == [
        {"node": "n1", "index": 2}, {"node": "n1", "index": 3}]  # fmt: skip
    assert prov["npu_driver"] == {"version": "23.0.rc3"} and prov["cann"] is None
    assert prov["source"] == {"path": "exp/train.ipynb", "sha256": "f" * 64}
    assert prov["parameters"] == {"lr": 0.1} and prov["datasets"][0]["version"] == "2025.1"


def test_file_for_the_home_and_the_source_hash():
    data = provenance.as_file({"job": 9}, 9)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar}
        body = tar.extractfile(members["jobs/9/provenance.json"]).read()
    assert json.loads(body) == {"job": 9}
    assert {(m.uid, m.gid) for m in members.values()} == {(1000, 100)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("train.ipynb")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    digest = provenance.sha256_of_tar_member([buf.getvalue()[:100], buf.getvalue()[100:]])
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_like_body_copies_the_job_and_merges_parameters():
    old = job(provenance={"image": {"digest": "sha256:abc"}, "datasets": [
        {"name": "rs", "version": "2025.1"}]})  # fmt: skip
    body = rerun.like_body(old, {"like": 5})
    assert body == {"source": "exp/train.ipynb", "npus": 2, "account": "lab", "time_limit": 600,
                    "name": "train", "datasets": ["rs"], "parameters": {"lr": 0.1}}  # fmt: skip
    more = rerun.like_body(old, {"like": 5, "parameters": {"epochs": 3}, "npus": 1})
    assert more["parameters"] == {"lr": 0.1, "epochs": 3} and more["npus"] == 1
    with pytest.raises(InvalidRequest, match="runs on the image of the job it repeats"):
        rerun.like_body(old, {"like": 5, "image": "other:latest"})
    assert rerun.pinned_image(old) == "sha256:abc"
    assert rerun.pinned_image(job()) == "npuhub/base:latest"
    assert rerun.dataset_drift(old, {"rs": "2025.1"}) == []
    assert rerun.dataset_drift(old, {"rs": "2025.2"}) == [
        "dataset rs is now version 2025.2, job 5 ran with version 2025.1"]  # fmt: skip
    for bad in (True, "5", 0, -1):
        with pytest.raises(InvalidRequest, match="like must be the id"):
            rerun.like_id(bad)


def test_session_record_shares_the_jobs_builder():
    args = dict(image_id="sha256:abc", devices=[("n1", 2, "/dev/davinci2")],
                datasets=[{"name": "rs", "version": "2025.1"}],
                versions={"driver": {"version": "23.0.rc3"}, "cann": {"version": "7.0.RC1"}},
                backend="docker")  # fmt: skip
    prov = provenance.session_record(
        user="ana", server="", account="lab", profile="base", image_ref="npuhub/base:latest",
        started="2026-12-06T10:00:00+00:00", **args,
    )
    assert prov == {
        "kind": "session", "server": "", "user": "ana", "account": "lab", "backend": "docker",
        "image": {"reference": "npuhub/base:latest", "digest": "sha256:abc"},
        "profile": "base", "node": "n1", "devices": [{"node": "n1", "index": 2}],
        "npu_driver": {"version": "23.0.rc3"}, "cann": {"version": "7.0.RC1"},
        "datasets": [{"name": "rs", "version": "2025.1"}],
        "started": "2026-12-06T10:00:00+00:00",
    }
    job_prov = provenance.record(job(), source_sha256=None, **args)
    shared = set(prov) - {"kind", "server", "started"}
    assert {k for k in shared if k not in ("user", "account", "profile")} <= set(job_prov)
    assert job_prov["kind"] == "job"
