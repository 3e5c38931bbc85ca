"""The server job of cluster mode: sbatch argv, job script, and reading `scontrol`."""

from __future__ import annotations

import subprocess

import pytest

from npuhub.spawners.slurm_query import parse_fields, parse_job
from npuhub.spawners.slurm_script import InvalidJob, ServerJob, sbatch_args, server_script


def job(**kw) -> ServerJob:
    values = dict(
        name="npuhub-alice--",
        label="alice/",
        image="npuhub/base:latest",
        npus=2,
        partition="npu",
        time_limit=8 * 3600,
        slurm_memory="1G",
        memory="4G",
        cpus=2.0,
        pids_limit=512,
        home_volume="npuhub-home-alice",
        datasets_folder="/var/lib/npuhub/mounts/alice",
        env_file="/var/lib/npuhub/slurm/servers/npuhub-alice--.env",
        base_url="/user/alice/",
        args=("jupyterhub-singleuser",),
        device_dir="/var/lib/npuhub-cluster/devices",
        per_node_devices=True,
        driver_paths=("/usr/local/Ascend/driver",),
        log_dir="/var/lib/npuhub/slurm/logs",
        slurm_conf="/var/lib/npuhub-cluster/slurm.conf",
    )
    values.update(kw)
    return ServerJob(**values)


def test_sbatch_args():
    assert sbatch_args(job()) == [
        "sbatch",
        "--parsable",
        "--job-name=npuhub-alice--",
        "--comment=npuhub server alice/",
        "--nodes=1",
        "--ntasks=1",
        "--mem=1G",
        "--gres=npu:2",
        "--partition=npu",
        "--time=0-08:00:00",
        "--output=/var/lib/npuhub/slurm/logs/slurm-%j.out",
        "--chdir=/var/lib/npuhub/slurm/logs",
        "--export=NONE",
        "--no-requeue",
    ]
    args = sbatch_args(job(npus=0, partition=None, time_limit=None))
    assert not any(a.startswith(("--gres", "--partition", "--time")) for a in args)


def test_script_runs_the_hardened_container_and_reports_its_address():
    script = server_script(job())
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    # the server's port: below the node's ephemeral range (outgoing connections take
    # their ports there) and used by no socket of any state
    assert "< /proc/sys/net/ipv4/ip_local_port_range" in script
    assert 'ss -Hatn "sport = :$p"' in script
    assert "DEVICE_DIR=/var/lib/npuhub-cluster/devices/\"$SLURMD_NODENAME\"\n" in script
    assert "export SLURM_CONF=/var/lib/npuhub-cluster/slurm.conf\n" in script
    for line in (
        '"$DOCKER" run --rm \\',
        "--name npuhub-alice-- \\",
        "--network host \\",
        "--user 1000:100 \\",
        "--cap-drop ALL \\",
        "--security-opt no-new-privileges \\",
        "--pids-limit 512 \\",
        "--log-driver json-file \\",
        "--log-opt max-size=10m \\",
        "--log-opt max-file=3 \\",
        "--memory 4G \\",
        "--cpus 2 \\",
        "-v npuhub-home-alice:/home/jovyan \\",
        "--mount type=bind,source=/var/lib/npuhub/mounts/alice,target=/home/jovyan/datasets,"
        "bind-propagation=rslave \\",
        '"${devices[@]}" \\',
        "--env-file /var/lib/npuhub/slurm/servers/npuhub-alice--.env \\",
        '-e "ASCEND_VISIBLE_DEVICES=$ASCEND_VISIBLE_DEVICES" \\',
        '-e "JUPYTERHUB_SERVICE_URL=http://$ADDR:$PORT/user/alice/" \\',
        "npuhub/base:latest jupyterhub-singleuser &",
    ):
        assert f"    {line}\n" in script or script.count(line) == 1, line
    assert 'comment="npuhub=$ADDR:$PORT"' in script
    assert "trap 'echo \"npuhub: server stopped by signal\" >&2; cleanup; exit 143' TERM INT" \
        in script
    assert "TOKEN" not in script  # the hub's environment is in the 0600 env file only


def test_script_writes_the_sessions_node_facts_before_the_server_starts():
    script = server_script(job(node_root="/srv/node-root"))
    facts = (
        'FACTS=/var/lib/npuhub/slurm/logs/slurm-"$SLURM_JOB_ID".node\n'
        "{\n"
        '    echo "node=${SLURMD_NODENAME:-$(hostname -s)}"\n'
        '    echo "devices=$ASCEND_VISIBLE_DEVICES"\n'
        "    echo \"image=$(\"$DOCKER\" image inspect --format '{{.Id}}' npuhub/base:latest"
        ' 2>/dev/null)"\n'
        "    head -c 65536 /srv/node-root/usr/local/Ascend/driver/version.info 2>/dev/null"
        " | sed 's/^/driver:/'\n"
        "    head -c 65536 /srv/node-root/usr/local/Ascend/ascend-toolkit/latest/version.cfg"
        " 2>/dev/null | sed 's/^/cann:/'\n"
        '} > "$FACTS.part"; mv -f "$FACTS.part" "$FACTS"\n'
    )
    assert facts in script
    assert script.index("ASCEND_VISIBLE_DEVICES=$(IFS=,") < script.index(facts)
    assert script.index(facts) < script.index('"$DOCKER" run --rm')
    assert "docker\" cp" not in script  # a server has no source to hash


def test_values_are_validated():
    with pytest.raises(InvalidJob):
        job(base_url="/user/$(id)/")
    with pytest.raises(InvalidJob):
        job(partition="npu;rm")
    with pytest.raises(InvalidJob):
        job(env_file="/tmp/../etc/x")
    with pytest.raises(InvalidJob):
        job(image="Bad Image")
    quoted = server_script(job(args=("jupyterhub-singleuser", "--x=a b'c")))
    assert "jupyterhub-singleuser '--x=a b'\"'\"'c' &" in quoted


def test_parse_job():
    line = (
        "JobId=7 JobName=npuhub-alice-- UserId=root(0) JobState=RUNNING Reason=None "
        "ExitCode=0:0 Partition=npu NodeList=n2 Nodes=n2 CPU_IDs=0 Mem=100 "
        "GRES=npu:2(IDX:1-2) Comment=npuhub=127.0.0.1:34567 TresPerNode=gres:npu:2"
    )
    info = parse_job("7", line)
    assert (info.state, info.node, info.indices, info.address, info.partition) == (
        "RUNNING", "n2", (1, 2), ("127.0.0.1", 34567), "npu"
    )
    assert info.active
    pending = parse_job("8", "JobId=8 JobState=PENDING Reason=Resources NodeList=(null) "
                             "Comment=npuhub server erin/ Partition=npu")
    assert (pending.node, pending.address, pending.reason) == (None, None, "Resources")
    assert parse_fields("A=1 Comment=npuhub server x/ B=2") == {
        "A": "1", "Comment": "npuhub server x/", "B": "2"
    }
    assert not parse_job("9", "JobId=9 JobState=FAILED ExitCode=125:0").active
