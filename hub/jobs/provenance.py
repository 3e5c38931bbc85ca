"""The record of what a batch job or a notebook session ran on, so a result can be
reproduced: the image (its reference and content digest), the node and device indices,
the NPU driver and CANN versions of the node where it has them, the datasets mounted
with their versions, the parameters and the sha256 of the notebook or script. Written to
``~/jobs/{id}/provenance.json`` and kept with the job (``GET …/jobs/{id}``); a
session's is kept on its usage record (``GET …/me/session``). One builder for both.

The parsers and :func:`record` are pure; :func:`node_versions` reads the two files an
Ascend node has: ``/usr/local/Ascend/driver/version.info`` (``Version=23.0.rc3``) and
``/usr/local/Ascend/ascend-toolkit/latest/version.cfg``
(``toolkit_running_version=[7.0.0.5.242:7.0.RC1]``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

DRIVER_INFO = "usr/local/Ascend/driver/version.info"
CANN_CFG = "usr/local/Ascend/ascend-toolkit/latest/version.cfg"
MAX_SOURCE = 256 * 1024 * 1024  # a larger source is not hashed
_RUNNING = re.compile(r"^(\w+)_running_version=\[([^:\]]*):?([^\]]*)\]\s*$")


def parse_driver_info(text: str) -> dict | None:
    """version.info of the Ascend driver → {"version", "package_version", "inner_version"}
    (the keys found), or None if it names no version."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    out = {
        "version": fields.get("version") or fields.get("package_version"),
        "package_version": fields.get("package_version"),
        "inner_version": fields.get("innerversion"),
    }
    out = {k: v for k, v in out.items() if v}
    return out if "version" in out else None


def parse_cann_cfg(text: str) -> dict | None:
    """version.cfg of the CANN toolkit → {"version": "7.0.RC1", "inner_version":
    "7.0.0.5.242"} (the toolkit's running version, else the runtime's, else any), or None."""
    running = {}
    for line in text.splitlines():
        m = _RUNNING.match(line.strip())
        if m:
            running[m.group(1)] = (m.group(2), m.group(3))
    for part in ("toolkit", "runtime", *running):
        if part in running:
            inner, release = running[part]
            out = {"version": release or inner, "inner_version": inner}
            return {k: v for k, v in out.items() if v}
    for line in text.splitlines():  # older toolkits: version=7.0.RC1
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "version" and value.strip():
            return {"version": value.strip()}
    return None


def node_versions(root: str | Path = "/") -> dict:
    """{"driver": {...} | None, "cann": {...} | None} of the node whose file system is at
    `root` (absent files, unreadable files: None)."""
    out: dict[str, Any] = {}
    files = (("driver", DRIVER_INFO, parse_driver_info), ("cann", CANN_CFG, parse_cann_cfg))
    for key, rel, parse in files:
        try:
            out[key] = parse(Path(root, rel).read_text(errors="replace")[:65536])
        except OSError:
            out[key] = None
    return out


def sha256_of_tar_member(stream) -> str | None:
    """sha256 of the one regular file in a tar stream (Docker's get_archive), or None
    if it is not a regular file or is larger than MAX_SOURCE."""
    data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = next(iter(tar), None)
        if member is None or not member.isfile() or member.size > MAX_SOURCE:
            return None
        f = tar.extractfile(member)
        return hashlib.sha256(f.read()).hexdigest() if f else None


def build(
    kind: str, *, user: str, account: str, profile: str | None, image_ref: str,
    image_id: str | None, devices, datasets: list[dict], versions: dict, backend: str,
) -> dict:  # fmt: skip
    """What a session or a job runs on, the part both share. `devices`: (node, index,
    path) granted; `datasets`: [{"name", "version"}]; `versions`: node_versions()."""
    nodes = sorted({n for n, _, _ in devices})
    return {
        "kind": kind,
        "user": user,
        "account": account,
        "backend": backend,
        "image": {"reference": image_ref, "digest": image_id},
        "profile": profile,
        "node": nodes[0] if len(nodes) == 1 else (nodes or None),
        "devices": [{"node": n, "index": i} for n, i, _ in devices],
        "npu_driver": versions.get("driver"),
        "cann": versions.get("cann"),
        "datasets": datasets,
    }


def record(
    job, *, image_id: str | None, devices, datasets: list[dict], source_sha256: str | None,
    versions: dict, backend: str,
) -> dict:  # fmt: skip
    """The provenance of `job` starting now: build()'s, and what the job itself ran."""
    common = build(
        "job", user=job.user, account=job.account, profile=job.profile, image_ref=job.image,
        image_id=image_id, devices=devices, datasets=datasets, versions=versions,
        backend=backend,
    )  # fmt: skip
    return {
        "job": job.id,
        **common,
        "source": {"path": job.source, "sha256": source_sha256},
        "parameters": dict(job.parameters or {}),
        "time_limit": job.time_limit,
        "rerun_of": job.rerun_of,
    }


def session_record(
    *, user: str, server: str, account: str, profile: str | None, image_ref: str,
    image_id: str | None, devices, datasets: list[dict], versions: dict, backend: str,
    started: str,
) -> dict:  # fmt: skip
    """The provenance of a notebook session (a user's server) that has just started."""
    common = build(
        "session", user=user, account=account, profile=profile, image_ref=image_ref,
        image_id=image_id, devices=devices, datasets=datasets, versions=versions,
        backend=backend,
    )  # fmt: skip
    return {"server": server, **common, "started": started}


def as_file(prov: dict, job_id: int) -> bytes:
    """A tar to extract at the home: jobs/{id}/provenance.json, owned by the user."""
    body = json.dumps(prov, indent=2, sort_keys=True).encode() + b"\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("jobs", f"jobs/{job_id}"):
            d = tarfile.TarInfo(name)
            d.type, d.mode, d.uid, d.gid = tarfile.DIRTYPE, 0o755, 1000, 100
            tar.addfile(d)
        f = tarfile.TarInfo(f"jobs/{job_id}/provenance.json")
        f.size, f.mode, f.uid, f.gid = len(body), 0o644, 1000, 100
        tar.addfile(f, io.BytesIO(body))
    return buf.getvalue()
