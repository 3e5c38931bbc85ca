"""The facts a Slurm job script gathers on its node (hub/jobs/node_facts.py): the file's
parser, and the merge with the hub's facts into the same record as a local job's."""

from __future__ import annotations

from pathlib import Path

from npuhub.hub.jobs import node_facts, provenance
from tests.unit.test_jobs_provenance import job

DATA = Path(__file__).parents[1] / "data" / "ascend"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def facts_text() -> str:
    driver = (DATA / "driver-version.info").read_text().splitlines()
    cann = (DATA / "toolkit-version.cfg").read_text().splitlines()
    return "\n".join([
        "node=n2", "devices=1,3", f"image={DIGEST}", "source=" + "e" * 64,
        *("driver:" + line for line in driver), *("cann:" + line for line in cann),
    ]) + "\n"  # fmt: skip


def test_parse_node_facts():
    facts = node_facts.parse_node_facts(facts_text())
    assert facts == {
        "node": "n2", "devices": [1, 3], "image_id": DIGEST, "source_sha256": "e" * 64,
        "versions": {
            "driver": provenance.parse_driver_info((DATA / "driver-version.info").read_text()),
            "cann": {"version": "7.0.RC1", "inner_version": "7.0.0.5.242"},
        },
    }  # fmt: skip


def test_parse_node_facts_keeps_only_what_the_script_writes():
    facts = node_facts.parse_node_facts(
        "node=n1; rm -rf /\ndevices=0,x\nimage=ubuntu\nsource=abc\nother=1\n"
    )
    assert facts == {"node": None, "devices": [], "image_id": None, "source_sha256": None,
                     "versions": {"driver": None, "cann": None}}  # fmt: skip
    empty = node_facts.parse_node_facts("node=n3\ndevices=\nimage=\n")  # a CPU-only job
    assert empty["node"] == "n3" and empty["devices"] == [] and empty["image_id"] is None


def test_job_record_merges_node_and_hub_facts_like_a_local_job():
    j = job(rerun_of=4)
    datasets = [{"name": "rs", "version": "2025.1"}]
    prov = node_facts.job_record(j, node_facts.parse_node_facts(facts_text()), datasets)
    local = provenance.record(
        j, image_id=DIGEST, devices=[("n2", 1, "/dev/davinci1"), ("n2", 3, "/dev/davinci3")],
        datasets=datasets, source_sha256="e" * 64,
        versions=provenance.node_versions(Path("/nonexistent")), backend="slurm",
    )  # fmt: skip
    assert set(prov) == set(local)
    assert {k: v for k, v in prov.items() if k not in ("npu_driver", "cann")} == {
        k: v for k, v in local.items() if k not in ("npu_driver", "cann")
    }
    assert prov["node"] == "n2" and prov["devices"] == [{"node": "n2", "index": 1},
                                                        {"node": "n2", "index": 3}]  # fmt: skip
    assert prov["image"] == {"reference": "npuhub/base:latest", "digest": DIGEST}
    assert prov["cann"]["version"] == "7.0.RC1" and prov["npu_driver"]["version"] == "23.0.rc3"
    assert prov["backend"] == "slurm" and prov["rerun_of"] == 4
    assert prov["parameters"] == {"lr": 0.1} and prov["time_limit"] == 600


def test_paths_beside_the_slurm_log():
    assert node_facts.facts_path("/srv/logs", "17") == "/srv/logs/slurm-17.node"
    assert node_facts.record_path("/srv/logs", "17") == "/srv/logs/slurm-17.provenance.json"
