"""What a Slurm job finds out on its node for its record (its provenance): the node's
name, the NPUs Slurm granted, the image's content digest, the sha256 of the job's source
and the node's NPU driver and CANN version files. Gathered by the job script itself (bash
from :func:`node_facts_sh`, in the batch job script of :mod:`.sbatch` and the server
script of :mod:`npuhub.spawners.slurm_script`), never by the user's container, and
written to ``{log_dir}/slurm-{slurm_id}.node`` on the storage the hub and the nodes share;
the hub parses it (:func:`parse_node_facts`) and merges it with what it knows itself
into one record (:func:`npuhub.hub.jobs.provenance.record` or ``session_record``).

The file is lines of ``key=value`` (``node``, ``devices``, ``image``, ``source``) and the
version files' lines prefixed with ``driver:`` or ``cann:``: no quoting of anything the
node read is needed, and a line the parser does not know is ignored.
"""

from __future__ import annotations

import re
import shlex

from . import provenance
from .provenance import CANN_CFG, DRIVER_INFO, parse_cann_cfg, parse_driver_info

__all__ = ["facts_path", "job_record", "node_facts_sh", "parse_node_facts", "record_path"]

MAX_FACTS = 256 * 1024  # bytes of a facts file read
NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")

_SH = """# What this run is on, for its record (npuhub.hub.jobs.node_facts): the node, the NPUs
# Slurm granted, the image's content digest, the node's NPU driver and CANN versions.
FACTS={log_dir}/slurm-"$SLURM_JOB_ID".node
{{
    echo "node=${{SLURMD_NODENAME:-$(hostname -s)}}"
    echo "devices=$ASCEND_VISIBLE_DEVICES"
    echo "image=$("$DOCKER" image inspect --format '{{{{.Id}}}}' {image} 2>/dev/null)"
{source}    head -c 65536 {driver} 2>/dev/null | sed 's/^/driver:/'
    head -c 65536 {cann} 2>/dev/null | sed 's/^/cann:/'
}} > "$FACTS.part"; mv -f "$FACTS.part" "$FACTS"
"""

_SOURCE = """    if sum=$("$DOCKER" cp {path} - 2>/dev/null | tar -xO 2>/dev/null | sha256sum); then
        echo "source=${{sum%% *}}"
    fi
"""


def facts_path(log_dir: str, slurm_id: str) -> str:
    return f"{log_dir}/slurm-{slurm_id}.node"


def record_path(log_dir: str, slurm_id: str) -> str:
    """Where the hub writes a batch job's merged record for its script to copy home."""
    return f"{log_dir}/slurm-{slurm_id}.provenance.json"


def node_facts_sh(*, log_dir: str, image: str, node_root: str, source: str | None = None) -> str:
    """Bash that writes the facts file of this job (needs $DOCKER, $SLURM_JOB_ID and
    $ASCEND_VISIBLE_DEVICES set). `source`: ``CONTAINER:PATH`` of the job's source in a
    created container, hashed with ``docker cp`` (batch jobs only). All values are
    validated by the caller and shell-quoted here."""
    q = shlex.quote
    root = node_root.rstrip("/")
    return _SH.format(
        log_dir=q(log_dir),
        image=q(image),
        source=_SOURCE.format(path=q(source)) if source else "",
        driver=q(f"{root}/{DRIVER_INFO}"),
        cann=q(f"{root}/{CANN_CFG}"),
    )


def parse_node_facts(text: str) -> dict:
    """A facts file → {"node", "devices": [int], "image_id", "source_sha256",
    "versions": {"driver", "cann"}}; a value that is not what the script writes is None."""
    fields: dict[str, str] = {}
    files: dict[str, list[str]] = {"driver": [], "cann": []}
    for line in text[:MAX_FACTS].splitlines():
        prefix, colon, rest = line.partition(":")
        if colon and prefix in files and "=" not in prefix:
            files[prefix].append(rest)
            continue
        key, sep, value = line.partition("=")
        if sep and key in ("node", "devices", "image", "source"):
            fields.setdefault(key, value.strip())
    node = fields.get("node", "")
    devices = fields.get("devices", "")
    ok_devices = all(d.isdigit() for d in devices.split(",")) if devices else True
    return {
        "node": node if NODE.match(node) else None,
        "devices": [int(d) for d in devices.split(",") if d] if ok_devices else [],
        "image_id": fields.get("image") if DIGEST.match(fields.get("image", "")) else None,
        "source_sha256": fields.get("source") if SHA256.match(fields.get("source", "")) else None,
        "versions": {
            "driver": parse_driver_info("\n".join(files["driver"])),
            "cann": parse_cann_cfg("\n".join(files["cann"])),
        },
    }


def job_record(job, facts: dict, datasets: list[dict]) -> dict:
    """The record of a Slurm batch job: the node's `facts` (parse_node_facts) merged with
    the hub's (the job itself: user, account, profile, image reference, parameters, time
    limit, rerun_of; `datasets` with their versions) by the one builder, record()."""
    return provenance.record(
        job, image_id=facts["image_id"],
        devices=[(facts["node"], i, None) for i in facts["devices"]],
        datasets=datasets, source_sha256=facts["source_sha256"], versions=facts["versions"],
        backend="slurm",
    )  # fmt: skip
