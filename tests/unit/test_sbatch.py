"""The Slurm backend's pure parts: sbatch argv and job script as literals, validation of
user values, parsing of scontrol output, state mapping, time formats.

One test runs the generated script with bash against a fake `scontrol` and a fake
`docker` that records its argv, to check the shell side (IDX ranges, quoting) without a
cluster; the real cluster is in tests/integration/test_slurm.py.
"""

import hashlib
import json
import os
import re
import socket
import subprocess
import textwrap

import pytest

from npuhub.hub.jobs.node_facts import parse_node_facts
from npuhub.hub.jobs.sbatch import (
    InvalidJob,
    JobSpec,
    SlurmConfig,
    format_time_limit,
    job_script,
    log_path,
    sbatch_args,
)
from npuhub.hub.jobs.slurm import (
    job_state,
    npu_indices,
    parse_details,
    parse_duration,
    parse_exit_code,
    parse_idx,
    parse_scontrol,
)

CFG = SlurmConfig(
    device_dir="/var/lib/npuhub-slurm/devices",
    log_dir="/srv/npuhub/slurm-logs",
    slurm_conf="/var/lib/npuhub-slurm/slurm.conf",
)


def job(**overrides) -> JobSpec:
    values = dict(
        id=42,
        user="alice",
        name="train-resnet",
        source="work/train.ipynb",
        npus=2,
        time_limit=5400,
        parameters={"lr": 0.1, "epochs": 3},
        image="npuhub/base:latest",
        home_volume="jupyterhub-user-alice",
        datasets=(("/srv/datasets/imagenet", "imagenet"),),
    )
    values.update(overrides)
    return JobSpec(**values)


# --- sbatch argv ----------------------------------------------------------------------


def test_sbatch_args():
    assert sbatch_args(job(), CFG) == [
        "sbatch",
        "--parsable",
        "--job-name=npuhub-42-train-resnet",
        "--comment=npuhub job 42 of alice",
        "--nodes=1",
        "--ntasks=1",
        "--mem=2G",
        "--gres=npu:2",
        "--time=0-01:30:00",
        "--output=/srv/npuhub/slurm-logs/slurm-%j.out",
        "--chdir=/srv/npuhub/slurm-logs",
        "--export=NONE",
        "--no-requeue",
    ]


def test_sbatch_args_cpu_only_with_account_and_partition():
    cfg = SlurmConfig(
        partition="ascend",
        account="lab-vision",
        log_dir="/srv/logs",
        memory="8G",
        sbatch="/opt/slurm/bin/sbatch",
    )
    assert sbatch_args(job(npus=0, time_limit=None), cfg) == [
        "/opt/slurm/bin/sbatch",
        "--parsable",
        "--job-name=npuhub-42-train-resnet",
        "--comment=npuhub job 42 of alice",
        "--nodes=1",
        "--ntasks=1",
        "--mem=8G",
        "--account=lab-vision",
        "--partition=ascend",
        "--output=/srv/logs/slurm-%j.out",
        "--chdir=/srv/logs",
        "--export=NONE",
        "--no-requeue",
    ]


def test_log_path_matches_output_pattern():
    assert log_path(CFG, "17") == "/srv/npuhub/slurm-logs/slurm-17.out"
    pattern = [a for a in sbatch_args(job(), CFG) if a.startswith("--output=")][0]
    assert pattern.removeprefix("--output=").replace("%j", "17") == log_path(CFG, "17")


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (60, "1"),
        (59 * 60, "59"),
        (90, "0-00:01:30"),
        (3600, "0-01:00:00"),
        (5400, "0-01:30:00"),
        (86400 + 3661, "1-01:01:01"),
        (7 * 86400, "7-00:00:00"),
    ],
)
def test_format_time_limit(seconds, expected):
    assert format_time_limit(seconds) == expected
    # and Slurm's format reads back to at least the seconds asked for
    assert parse_duration(expected) == seconds


@pytest.mark.parametrize("seconds", [0, -60, 1.5, True, "60"])
def test_format_time_limit_refuses(seconds):
    with pytest.raises(InvalidJob):
        format_time_limit(seconds)


# --- the job script --------------------------------------------------------------------

EXPECTED_RUN = """\
"$DOCKER" create --rm \\
    --name npuhub-job-42 \\
    --label npuhub.job=42 \\
    --label "npuhub.slurm_job=$SLURM_JOB_ID" \\
    --network none \\
    --user 1000:100 \\
    --cap-drop ALL \\
    --security-opt no-new-privileges \\
    --pids-limit 512 \\
    --log-driver json-file \\
    --log-opt max-size=10m \\
    --log-opt max-file=3 \\
    --memory 2G \\
    -v jupyterhub-user-alice:/home/jovyan \\
    -v /srv/datasets/imagenet:/home/jovyan/datasets/imagenet:ro \\
    "${devices[@]}" \\
    -e "ASCEND_VISIBLE_DEVICES=$ASCEND_VISIBLE_DEVICES" \\
    -e NPUHUB_NPUS=2 \\
    -e NPUHUB_JOB_ID=42 \\
    -e NPUHUB_OUTPUT_DIR=/home/jovyan/jobs/42 \\
    --workdir /home/jovyan \\
    npuhub/base:latest python -m npuhub.extensions.jobrunner work/train.ipynb \
'{"epochs":3,"lr":0.1}' >/dev/null || exit 125

"""

EXPECTED_FACTS = """\
FACTS=/srv/npuhub/slurm-logs/slurm-"$SLURM_JOB_ID".node
{
    echo "node=${SLURMD_NODENAME:-$(hostname -s)}"
    echo "devices=$ASCEND_VISIBLE_DEVICES"
    echo "image=$("$DOCKER" image inspect --format '{{.Id}}' npuhub/base:latest 2>/dev/null)"
    if sum=$("$DOCKER" cp npuhub-job-42:/home/jovyan/work/train.ipynb - 2>/dev/null \
| tar -xO 2>/dev/null | sha256sum); then
        echo "source=${sum%% *}"
    fi
    head -c 65536 /usr/local/Ascend/driver/version.info 2>/dev/null | sed 's/^/driver:/'
    head -c 65536 /usr/local/Ascend/ascend-toolkit/latest/version.cfg 2>/dev/null \
| sed 's/^/cann:/'
} > "$FACTS.part"; mv -f "$FACTS.part" "$FACTS"
"""

EXPECTED_TAIL = """\
RECORD=/srv/npuhub/slurm-logs/slurm-"$SLURM_JOB_ID".provenance.json
for ((t = 0; t < 60; t++)); do [[ -s $RECORD ]] && break; sleep 0.5; done
if [[ -s $RECORD ]]; then
    tmp=$(mktemp -d)
    mkdir -p "$tmp/jobs/42" && cp "$RECORD" "$tmp/jobs/42/provenance.json" &&
        chmod -R u=rwX,go=rX "$tmp/jobs" &&
        tar -C "$tmp" --owner=1000 --group=100 --numeric-owner -c jobs |
        "$DOCKER" cp - "$NAME:/home/jovyan"
    rm -rf "$tmp"
fi
"$DOCKER" start -a "$NAME" &
wait $!
rc=$?
echo "npuhub: job 42 exited with code $rc"
exit $rc
"""


def test_job_script_runs_the_container_like_the_notebook():
    script = job_script(job(), CFG)
    assert script.startswith("#!/bin/bash\n# npuhub batch job 42 of alice:")
    assert "\nexport SLURM_CONF=/var/lib/npuhub-slurm/slurm.conf\n" in script
    assert "\nDEVICE_DIR=/var/lib/npuhub-slurm/devices\nNPUS=2\n" in script
    assert '"$SCONTROL" show job -d "$SLURM_JOB_ID"' in script
    assert "\n\n" + EXPECTED_RUN in script


def test_job_script_gathers_node_facts_then_puts_the_record_home():
    """On the node, before the job starts: the facts file beside the Slurm log (node,
    devices, image digest, source sha256, driver and CANN files), then the hub's record
    into ~/jobs/ID as the user's; all paths and names shell-quoted literals."""
    script = job_script(job(), CFG)
    assert EXPECTED_FACTS in script
    assert script.endswith(EXPECTED_TAIL)
    assert script.index(EXPECTED_RUN) < script.index(EXPECTED_FACTS) < script.index(EXPECTED_TAIL)
    cfg = SlurmConfig(log_dir="/srv/logs", node_root="/srv/node-root", provenance_wait=0)
    odd = job_script(job(source="my dir/it's.py"), cfg)
    assert "\nFACTS=/srv/logs/slurm-\"$SLURM_JOB_ID\".node\n" in odd
    assert "head -c 65536 /srv/node-root/usr/local/Ascend/driver/version.info " in odd
    assert "cp 'npuhub-job-42:/home/jovyan/my dir/it'\"'\"'s.py' - " in odd
    assert "for ((t = 0; t < 0; t++))" in odd


def test_job_script_without_slurm_conf_leaves_slurm_default():
    cfg = SlurmConfig(log_dir="/srv/logs")
    script = job_script(job(), cfg)
    assert "SLURM_CONF" not in script
    assert "\nDEVICE_DIR=/dev\n" in script


def test_hostile_values_stay_single_quoted_words():
    params = {"cmd": "$(touch /tmp/pwned) `id` '; rm -rf / #", "nl": "a\nb"}
    script = job_script(job(parameters=params, source="my dir/it's.py"), CFG)
    last = script.split("npuhub/base:latest ", 1)[1].split(" >/dev/null", 1)[0]
    assert last == (
        "python -m npuhub.extensions.jobrunner 'my dir/it'\"'\"'s.py' "
        '\'{"cmd":"$(touch /tmp/pwned) `id` \'"\'"\'; rm -rf / #","nl":"a\\nb"}\''
    )


def test_bash_accepts_the_script():
    subprocess.run(["bash", "-n"], input=job_script(job(), CFG), text=True, check=True)


def _fake(path, body):
    path.write_text("#!/bin/bash\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("idx, visible", [("0-1", "0,1"), ("0,2-3", "0,2,3"), ("3", "3")])
def test_script_maps_granted_idx_to_devices_and_quotes_argv(tmp_path, idx, visible):
    """Run the real script with a fake scontrol (the GRES line) and a fake docker that
    records the argv of `docker run`, one NUL-terminated word each."""
    devdir = tmp_path / "devices"
    devdir.mkdir()
    (devdir / "davinci_manager").touch()  # present; devmm_svm and hisi_hdc are not
    driver = tmp_path / "driver"
    driver.mkdir()
    argv_file = tmp_path / "argv"
    scontrol = _fake(
        tmp_path / "scontrol",
        f"""\
        echo "JobId=$4 JobName=npuhub-42-train"
        echo "   JOB_GRES=npu:{len(visible.split(","))}"
        echo "     Nodes=vm CPU_IDs=0 Mem=512 GRES=npu:{len(visible.split(","))}(IDX:{idx})"
        """,
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.ipynb").write_text("the source")
    docker = _fake(
        tmp_path / "docker",
        f"""\
        case "$1 $2" in
            "create "*) printf '%s\\0' "$@" > {argv_file} ;;
            "image inspect") echo sha256:{"ab" * 32} ;;
            "cp npuhub-job-42:/home/jovyan/work/train.ipynb") tar -C {tmp_path}/src -c train.ipynb ;;
            "cp -") tar -t -v --numeric-owner > {tmp_path}/home.lst ;;
            "start -a") exit 7 ;;
        esac
        """,
    )
    root = tmp_path / "node"
    (root / "usr/local/Ascend/driver").mkdir(parents=True)
    (root / "usr/local/Ascend/driver/version.info").write_text("Version=23.0.rc3\n")
    (tmp_path / "slurm-99.provenance.json").write_text('{"job": 42}\n')  # the hub's
    cfg = SlurmConfig(
        device_dir=str(devdir),
        log_dir=str(tmp_path),
        docker=docker,
        scontrol=scontrol,
        driver_paths=(str(driver), "/nonexistent/npu-smi"),
        node_root=str(root),
    )
    params = {"q": "$(touch pwned)'\"`", "n": [1, 2]}
    spec = job(npus=len(visible.split(",")), parameters=params, datasets=())
    proc = subprocess.run(
        ["bash"],
        input=job_script(spec, cfg),
        text=True,
        capture_output=True,
        env={"SLURM_JOB_ID": "99", "PATH": os.environ["PATH"]},
        cwd=tmp_path,
    )
    assert proc.returncode == 7, proc.stderr  # docker's exit code is the job's
    assert f"NPUs: {visible}" in proc.stdout
    assert "exited with code 7" in proc.stdout
    assert not (tmp_path / "pwned").exists()
    facts = parse_node_facts((tmp_path / "slurm-99.node").read_text())
    assert facts == {
        "node": socket.gethostname().split(".")[0],  # no SLURMD_NODENAME here
        "devices": [int(i) for i in visible.split(",")],
        "image_id": "sha256:" + "ab" * 32,
        "source_sha256": hashlib.sha256(b"the source").hexdigest(),
        "versions": {"driver": {"version": "23.0.rc3"}, "cann": None},
    }
    home = (tmp_path / "home.lst").read_text()  # the record, the user's, into the home
    assert re.search(r"-rw-r--r-- 1000/100 +12 .* jobs/42/provenance.json", home), home
    argv = argv_file.read_bytes().decode().split("\0")[:-1]
    devices = []
    for i in visible.split(","):
        devices += ["--device", f"{devdir}/davinci{i}:/dev/davinci{i}"]
    devices += ["--device", f"{devdir}/davinci_manager:/dev/davinci_manager"]
    devices += ["-v", f"{driver}:{driver}:ro"]
    assert argv == [
        "create",
        "--rm",
        "--name",
        "npuhub-job-42",
        "--label",
        "npuhub.job=42",
        "--label",
        "npuhub.slurm_job=99",
        "--network",
        "none",
        "--user",
        "1000:100",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--pids-limit",
        "512",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=10m",
        "--log-opt",
        "max-file=3",
        "--memory",
        "2G",
        "-v",
        "jupyterhub-user-alice:/home/jovyan",
        *devices,
        "-e",
        f"ASCEND_VISIBLE_DEVICES={visible}",
        "-e",
        f"NPUHUB_NPUS={len(visible.split(','))}",
        "-e",
        "NPUHUB_JOB_ID=42",
        "-e",
        "NPUHUB_OUTPUT_DIR=/home/jovyan/jobs/42",
        "--workdir",
        "/home/jovyan",
        "npuhub/base:latest",
        "python",
        "-m",
        "npuhub.extensions.jobrunner",
        "work/train.ipynb",
        json.dumps(params, sort_keys=True, separators=(",", ":")),
    ]


def test_script_refuses_when_slurm_granted_fewer_npus(tmp_path):
    scontrol = _fake(
        tmp_path / "scontrol", 'echo "  Nodes=vm CPU_IDs=0 Mem=512 GRES=npu:1(IDX:2)"\n'
    )
    docker = _fake(tmp_path / "docker", "exit 0\n")
    cfg = SlurmConfig(log_dir=str(tmp_path), docker=docker, scontrol=scontrol)
    proc = subprocess.run(
        ["bash"],
        input=job_script(job(npus=2), cfg),
        text=True,
        capture_output=True,
        env={"SLURM_JOB_ID": "5", "PATH": os.environ["PATH"]},
    )
    assert proc.returncode == 1
    assert "Slurm granted '2', not 2 NPUs" in proc.stderr


def test_cpu_only_job_sees_no_npus(tmp_path):
    argv_file = tmp_path / "argv"
    docker = _fake(
        tmp_path / "docker",
        f"if [[ $1 == create ]]; then printf '%s\\0' \"$@\" > {argv_file}; fi\n",
    )
    scontrol = _fake(tmp_path / "scontrol", "exit 1\n")  # never asked for a CPU-only job
    cfg = SlurmConfig(log_dir=str(tmp_path), docker=docker, scontrol=scontrol,
                      provenance_wait=0)  # fmt: skip
    proc = subprocess.run(
        ["bash"],
        input=job_script(job(npus=0), cfg),
        text=True,
        capture_output=True,
        env={"SLURM_JOB_ID": "6", "PATH": os.environ["PATH"]},
    )
    assert proc.returncode == 0, proc.stderr
    argv = argv_file.read_bytes().decode().split("\0")
    assert "--device" not in argv
    assert "ASCEND_VISIBLE_DEVICES=" in argv
    assert "NPUHUB_NPUS=0" in argv


# --- validation of user values --------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "a;b"),
        ("name", "-x"),
        ("name", ""),
        ("name", "x" * 65),
        ("user", "al ice"),
        ("user", "a\nb"),
        ("source", "../etc/passwd"),
        ("source", "work/../../x"),
        ("source", "/etc/passwd"),
        ("source", "-rf"),
        ("source", "a\nb.py"),
        ("source", ""),
        ("image", "npuhub/base; rm -rf /"),
        ("image", "--privileged"),
        ("image", "NPUHUB/Base"),
        ("image", "npuhub/base:la test"),
        ("image", "$(id)"),
        ("home_volume", "vol:/etc"),
        ("home_volume", "/home/../etc"),
        ("home_volume", "-v"),
        ("datasets", (("/srv/a", "../x"),)),
        ("datasets", (("relative", "x"),)),
        ("datasets", (("/srv/a:/etc", "x"),)),
        ("datasets", (("/srv/a", "x"), ("/srv/b", "x"))),
        ("datasets", ("/srv/a",)),
        ("output_dir", "/etc"),
        ("output_dir", "/home/jovyan/../../etc"),
        ("npus", -1),
        ("npus", 65),
        ("npus", "2"),
        ("npus", True),
        ("time_limit", 0),
        ("time_limit", 400 * 86400),
        ("time_limit", 60.0),
        ("parameters", ["not", "a", "dict"]),
        ("parameters", {1: "x"}),
        ("parameters", {"x": float("nan")}),
        ("parameters", {"x": object()}),
        ("parameters", {"x": "y" * 70000}),
        ("id", 0),
        ("id", "42"),
    ],
)
def test_refuses_bad_values_with_a_message_naming_them(field, value):
    with pytest.raises(InvalidJob) as e:
        job(**{field: value})
    assert field.split("_")[0] in str(e.value).lower() or "dataset" in str(e.value)


@pytest.mark.parametrize(
    "image",
    [
        "npuhub/base:latest",
        "npuhub/base",
        "ubuntu",
        "registry.example.org:5000/lab/ascend-torch:2.1.0-cann8",
        "localhost/npuhub/base@sha256:" + "a" * 64,
        "swr.cn-south-1.myhuaweicloud.com/ascendhub/ascend-pytorch:24.0.RC1-A2",
    ],
)
def test_accepts_real_image_names(image):
    assert job(image=image).image == image


def test_accepts_host_path_home_and_custom_output_dir():
    spec = job(home_volume="/srv/homes/alice", output_dir="/home/jovyan/results/run-1")
    assert "-v /srv/homes/alice:/home/jovyan" in job_script(spec, CFG)
    assert "-e NPUHUB_OUTPUT_DIR=/home/jovyan/results/run-1" in job_script(spec, CFG)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"partition": "npu;x"},
        {"account": "a b"},
        {"memory": "2 GB"},
        {"memory": "0G"},
        {"pids_limit": 0},
        {"docker": "docker; id"},
        {"device_dir": "dev"},
        {"log_dir": "/tmp/a b"},
        {"runner_command": ()},
        {"slurm_conf": "relative.conf"},
    ],
)
def test_config_refuses_bad_settings(kwargs):
    with pytest.raises(InvalidJob) as e:
        SlurmConfig(**kwargs)
    assert f"SlurmConfig.{next(iter(kwargs))}" in str(e.value)


# --- parsing scontrol -------------------------------------------------------------------

RUNNING = """\
JobId=7 JobName=npuhub-42-train-resnet
   UserId=root(0) GroupId=root(0) MCS_label=N/A
   Priority=4294901759 Nice=0 Account=(null) QOS=(null)
   JobState=RUNNING Reason=None Dependency=(null)
   Requeue=0 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0
   DerivedExitCode=0:0
   RunTime=00:00:03 TimeLimit=01:30:00 TimeMin=N/A
   Partition=npu AllocNode:Sid=localhost:16657
   NodeList=vm
   BatchHost=vm
   NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:*
   TRES=cpu=1,mem=2G,node=1,billing=1,gres/npu=2
   Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=*
   JOB_GRES=npu:2
     Nodes=vm CPU_IDs=0 Mem=2048 GRES=npu:2(IDX:1-2)
   MinCPUsNode=1 MinMemoryNode=2G MinTmpDiskNode=0
   Command=/srv/my jobs/run.sh
   WorkDir=/srv/npuhub/slurm-logs
   Comment=npuhub job 42 of alice
   StdOut=/srv/npuhub/slurm-logs/slurm-7.out
   Power=
   TresPerNode=gres:npu:2

"""


def test_parse_scontrol():
    fields = parse_scontrol(RUNNING)
    assert fields["JobId"] == "7"
    assert fields["JobState"] == "RUNNING"
    assert fields["ExitCode"] == "0:0"
    assert fields["TRES"] == "cpu=1,mem=2G,node=1,billing=1,gres/npu=2"
    assert fields["Command"] == "/srv/my jobs/run.sh"
    assert fields["Comment"] == "npuhub job 42 of alice"
    assert fields["AllocNode:Sid"] == "localhost:16657"
    assert fields["Power"] == ""
    assert "GRES" not in fields and "CPU_IDs" not in fields
    assert parse_details(RUNNING) == [
        {"Nodes": "vm", "CPU_IDs": "0", "Mem": "2048", "GRES": "npu:2(IDX:1-2)"}
    ]


def test_parse_scontrol_one_line_and_first_record_only():
    text = "JobId=8 JobName=a JobState=PENDING Reason=Priority ExitCode=0:0\n\nJobId=9 JobState=X\n"
    assert parse_scontrol(text) == {
        "JobId": "8",
        "JobName": "a",
        "JobState": "PENDING",
        "Reason": "Priority",
        "ExitCode": "0:0",
    }


@pytest.mark.parametrize(
    "spec, expected",
    [("0-1,3", [0, 1, 3]), ("2", [2]), ("0-3", [0, 1, 2, 3]), ("", []), ("N/A", [])],
)
def test_parse_idx(spec, expected):
    assert parse_idx(spec) == expected


@pytest.mark.parametrize("spec", ["3-1", "a", "1-", "-1", "1,,2"])
def test_parse_idx_refuses(spec):
    with pytest.raises(ValueError):
        parse_idx(spec)


@pytest.mark.parametrize(
    "gres, expected",
    [
        ("npu:2(IDX:0-1)", [0, 1]),
        ("npu:910b:2(IDX:4,6)", [4, 6]),
        ("gpu:1(IDX:0),npu:3(IDX:0-1,3)", [0, 1, 3]),
        ("npu:0(IDX:N/A)", []),
        ("", []),
        ("gpu:2(IDX:0-1)", []),
    ],
)
def test_npu_indices(gres, expected):
    assert npu_indices(gres) == expected


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("1-02:03:04", 93784),
        ("02:03:04", 7384),
        ("03:04", 184),
        ("5", 300),
        ("1-02", 93600),
        ("UNLIMITED", None),
        ("N/A", None),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text, code", [("0:0", 0), ("2:0", 2), ("0:15", 143), ("143:0", 143), ("0:9", 137)]
)
def test_parse_exit_code(text, code):
    assert parse_exit_code(text) == code


def fields(state, exit_code="0:0", reason="None", **more):
    return {"JobState": state, "ExitCode": exit_code, "Reason": reason, **more}


@pytest.mark.parametrize(
    "given, expected",
    [
        (
            fields("PENDING", reason="Resources"),
            ("queued", None, "waiting for free NPUs, CPUs or memory"),
        ),
        (
            fields("PENDING", reason="Priority"),
            ("queued", None, "waiting behind jobs of higher priority"),
        ),
        (fields("PENDING", reason="QOSFoo"), ("queued", None, "waiting (QOSFoo)")),
        (
            fields("PENDING", reason="ReqNodeNotAvail,_UnavailableNodes:vm"),
            ("queued", None, "the nodes it needs are not available (down or drained)"),
        ),
        (fields("RUNNING", NodeList="vm"), ("running", None, "running on vm")),
        (fields("COMPLETING", NodeList="vm"), ("running", None, "running on vm (completing)")),
        (fields("COMPLETED"), ("succeeded", 0, "completed")),
        (fields("FAILED", "3:0", "NonZeroExitCode"), ("failed", 3, "exited with code 3")),
        (
            fields("FAILED", "125:0"),
            ("failed", 125, "the container could not be started (docker exit code 125)"),
        ),
        (fields("FAILED", "0:9"), ("failed", 137, "killed by signal 9")),
        (fields("OUT_OF_MEMORY", "0:125"), ("failed", 253, "ran out of memory")),
        (fields("NODE_FAIL"), ("failed", 0, "the node failed")),
        (fields("CANCELLED", "143:0"), ("cancelled", 143, "cancelled")),
        (
            fields("TIMEOUT", "0:15", TimeLimit="00:01:00"),
            ("timed_out", 143, "time limit of 00:01:00 reached"),
        ),
        (fields("DEADLINE"), ("timed_out", 0, "its deadline passed")),
        ({"State": "CANCELLED by 0", "ExitCode": "0:15"}, ("cancelled", 143, "cancelled")),
        ({"State": "COMPLETED", "ExitCode": "0:0"}, ("succeeded", 0, "completed")),
        (fields("WEIRD"), ("failed", None, "unknown Slurm state WEIRD")),
    ],
)
def test_job_state(given, expected):
    assert job_state(given) == expected


def test_job_state_from_real_text():
    assert job_state(parse_scontrol(RUNNING)) == ("running", None, "running on vm")
