"""Cluster mode's dataset mounts on the nodes (hub/datasets/node_mount.py, node_step.py):
the node helper's checked request, the Slurm step that runs it in a server's allocation,
finding a user's server jobs, and telling the nodes only what changed."""

from __future__ import annotations

import json

import pytest

from npuhub.hub.datasets import node_step
from npuhub.hub.datasets.node_mount import main, parse_spec
from npuhub.hub.datasets.node_step import (
    NodeMounts,
    escaped,
    helper_argv,
    result,
    server_jobs,
    spec_for,
    step_argv,
)
from npuhub.spawners.slurm_script import server_script
from tests.unit.test_slurm_script import job

IMAGENET = {"name": "imagenet", "source": "/data/imagenet", "symlinks": False}
HF = {"name": "hf-cache", "source": "/data/hf", "symlinks": True}


def test_spec_for_is_what_the_node_checks():
    spec = spec_for("/srv/mounts", "li.wei", [IMAGENET, HF])
    assert spec == {"root": "/srv/mounts", "user": "li.wei", "follow": ["hf-cache"],
                    "wanted": {"imagenet": "/data/imagenet", "hf-cache": "/data/hf"}}
    assert parse_spec(json.dumps(spec)) == spec


@pytest.mark.parametrize("bad", [
    {"root": "mounts", "user": "a", "wanted": {}},  # relative root
    {"root": "/m/../etc", "user": "a", "wanted": {}},
    {"root": "/m", "user": "../root", "wanted": {}},
    {"root": "/m", "user": "a", "wanted": {"../x": "/data"}},
    {"root": "/m", "user": "a", "wanted": {"x": "data"}},
    {"root": "/m", "user": "a", "wanted": {"x": "/data/../etc"}},
    {"root": "/m", "user": "a", "wanted": {}, "shell": "id"},  # unknown key
    {"root": "/m", "user": "a", "wanted": ["x"]},
])
def test_the_node_refuses_a_bad_request(bad, capsys):
    with pytest.raises(ValueError):
        parse_spec(json.dumps(bad))
    assert main([json.dumps(bad)]) == 1
    assert "error" in json.loads(capsys.readouterr().out)


def test_the_hub_checks_the_request_as_the_node_does():
    with pytest.raises(ValueError):
        spec_for("/srv/mounts", "alice", [{"name": "../x", "source": "/data"}])
    with pytest.raises(ValueError):
        spec_for("/srv/mounts", "alice", [{"name": "x", "source": "/data/../etc"}])


def test_the_step_runs_the_helper_in_the_server_s_allocation():
    spec = spec_for("/srv/mounts", "alice", [IMAGENET])
    assert step_argv("123", "/opt/npuhub/bin/python", spec) == [
        "srun", "--jobid=123", "--overlap", "--nodes=1", "--ntasks=1", "--gres=none",
        "--quiet", "/opt/npuhub/bin/python", "-m", "npuhub.hub.datasets.node_mount",
        '{"follow":[],"root":"/srv/mounts","user":"alice",'
        '"wanted":{"imagenet":"/data/imagenet"}}',
    ]
    with pytest.raises(ValueError):
        step_argv("123; id", "/usr/bin/python3", spec)
    with pytest.raises(ValueError):
        helper_argv("python3", spec)  # not an absolute path


def test_a_user_s_running_server_jobs_by_name():
    out = ("11 npuhub-alice-- RUNNING\n12 npuhub-alice--gpu RUNNING\n"
           "13 npuhub-alice-- PENDING\n14 npuhub-alicia-- RUNNING\n"
           "15 npuhub-li-2ewei-- RUNNING\n16 other-alice-- RUNNING\nbad line\n")
    assert server_jobs(out, "npuhub", "alice") == ["11", "12"]
    assert escaped("li.wei") == "li-2ewei"
    from dockerspawner import DockerSpawner

    for name in ("alice", "li.wei", "Bob_2", "a-b", "张伟", "x@y.org"):
        assert escaped(name) == DockerSpawner._escape(name)
    assert server_jobs(out, "npuhub", "li.wei") == ["15"]
    with pytest.raises(ValueError):
        server_jobs(out, "-x", "alice")


def test_result_is_the_helper_s_json_line():
    assert result('srun: warning\n{"node": "n2", "mounted": ["a"]}\n') == {
        "node": "n2", "mounted": ["a"]}
    assert result("nothing\n") is None


def test_nodes_are_told_only_what_changed(monkeypatch):
    calls = []

    def sync_user(**kw):
        calls.append((kw["user"], sorted(d["name"] for d in kw["datasets"])))
        return [{"node": "n1"}]

    monkeypatch.setattr(node_step, "sync_user", sync_user)
    nodes = NodeMounts(slurm_conf=None, prefix="npuhub", python="/usr/bin/python3",
                       root="/srv/mounts")
    mounts = {"alice": [IMAGENET], "bob": [HF]}
    assert nodes.reconcile(mounts, ["alice", "bob", "carol"]) == ["alice", "bob", "carol"]
    assert calls == [("alice", ["imagenet"]), ("bob", ["hf-cache"]), ("carol", [])]
    calls.clear()
    assert nodes.reconcile(mounts, ["alice", "bob", "carol"]) == []  # nothing new
    # a grant revoked (bob forgot it), imagenet moved: unmounted first, then again
    moved = {**IMAGENET, "source": "/data2/imagenet"}
    assert nodes.reconcile({"alice": [moved]}, ["alice", "bob"]) == ["alice", "bob"]
    assert calls == [("alice", []), ("alice", ["imagenet"]), ("bob", [])]
    # carol's server stopped: forgotten, and told again when it runs again
    assert "carol" not in nodes.told


def test_the_job_script_mounts_the_datasets_on_its_node_before_the_container():
    setup = tuple(helper_argv("/opt/npuhub/bin/python",
                              spec_for("/srv/mounts", "alice", [IMAGENET])))
    script = server_script(job(datasets_setup=setup))
    line = ("/opt/npuhub/bin/python -m npuhub.hub.datasets.node_mount "
            "'{\"follow\":[],\"root\":\"/srv/mounts\",\"user\":\"alice\","
            "\"wanted\":{\"imagenet\":\"/data/imagenet\"}}' || echo")
    assert line in script
    assert script.index(line) < script.index('"$DOCKER" run --rm')
    assert "node_mount" not in server_script(job())


def test_the_service_mounts_on_nodes_in_cluster_mode_only():
    from traitlets.config import Config

    from npuhub.hub.datasets.node_step import node_mounts_for
    from npuhub.hub.settings import NPUHub

    def settings(**spawner):
        c = Config()
        c.NPUHub.engine = "slurm"
        c.NPUHub.state_dir = "/srv/npuhub"
        c.NPUSpawner.prefix = "npuhubtest-x"
        for k, v in spawner.items():
            setattr(c.SlurmNPUSpawner, k, v)
        return NPUHub(config=c)

    nodes = node_mounts_for(settings(slurm_conf="/etc/slurm/slurm.conf"))
    assert nodes.args == {"slurm_conf": "/etc/slurm/slurm.conf", "prefix": "npuhubtest-x",
                          "python": nodes.args["python"], "root": "/srv/npuhub/mounts"}
    assert nodes.args["python"].startswith("/")
    assert node_mounts_for(settings(node_python="")) is None  # the hub's host mounts
    single = settings()
    single.engine = "docker"
    assert node_mounts_for(single) is None
